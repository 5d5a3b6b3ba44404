"""Benchmark of the qem_tasks role: stop and resume against the QEM simulator, timed and counted.

`make bench` runs this script in the collection copy with PYTHONPATH and ANSIBLE_COLLECTIONS_PATH
set. For each scenario of benchmarks/scenarios.py it starts the simulator and runs
playbooks/stop_tasks.yml and playbooks/resume_tasks.yml with ansible-playbook. After each of
them comes an empty run of the same playbook, with every task already in the target state, which
measures the fixed cost of Ansible and the role. The script writes benchmarks/results.json and
benchmarks/results.md, and benchmarks/README.md explains the method.

Usage: python benchmarks/run_bench.py [--scenarios a,b,c] [--results-dir DIR] [--keep-output DIR]
"""

import argparse
import ctypes
import json
import math
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import yaml

BENCH_DIR = pathlib.Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT / "tests"))

import scenarios as bench_scenarios  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOKS = {"stop": ROOT / "playbooks" / "stop_tasks.yml", "resume": ROOT / "playbooks" / "resume_tasks.yml"}
CALLBACK_DIR = BENCH_DIR / "callback_plugins"
QEM_MODULE_PREFIX = "qem.replicate."

# Role variables of every run. The poll interval is in real seconds. The stop timeout is in
# scenario seconds, because the simulator scales it like every other scenario time.
ROLE_VARS = {
    "qem_poll_interval": 1.0,
    "qem_settle_reads": 2,
    "qem_settle_delay": 0,
    "qem_progress_interval": 30,
    "qem_wait_timeout": 600,
    "qem_validate_timeout": 120,
    "qem_stop_timeout": 30,
}
DEFAULT_WORKERS = 50

# Targets checked on the results (see README.md).
WALL_FACTOR = 1.3
REQUEST_FACTOR = 1.5
RSS_LIMIT_MB = 150.0
TARGET_SCENARIO = "b"
# results.md names the runs during which other processes used at least this share of all cores.
OTHER_CPU_NOTE_SHARE = 0.1

PR_SET_CHILD_SUBREAPER = 36
RSS_SAMPLE_SECONDS = 0.2


# Process tree sampling -------------------------------------------------------------------------

def become_subreaper():
    """Make this process the reaper of its orphaned descendants.

    Ansible's async_wrapper daemonizes the module of an async task (fork, setsid, fork). Without
    this, that module process leaves the process tree of ansible-playbook and its memory would not
    be sampled. Returns False where prctl is not available.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _read_process_table():
    """Return {pid: (ppid, state, name, rss_kb)} for every process that can be read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8", errors="replace") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        rss = fields.get("VmRSS", "0 kB").split()[0]
        table[int(entry)] = (int(fields.get("PPid", "0").strip()), fields.get("State", "?").strip()[:1],
                             fields.get("Name", "?").strip(), int(rss))
    return table


def _command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _busy_cpu_seconds():
    """Return the CPU seconds that all cores of the machine spent busy since boot (/proc/stat)."""
    with open("/proc/stat", encoding="utf-8") as handle:
        fields = handle.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds():
    """Return the CPU seconds of this process and of its descendants that were waited for."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class TreeSampler:
    """Samples the resident memory of every descendant of this process a few times a second.

    With the subreaper flag, daemonized async modules stay descendants. The sampler also reaps
    those orphans when they exit, but never the process in ``protected`` (the ansible-playbook
    process, which subprocess waits for).
    """

    def __init__(self, protected_pid):
        self.protected_pid = protected_pid
        self.peak_kb = 0
        self.peak_process = ""
        self.samples = 0
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self._reap()

    def _loop(self):
        while not self._stop.is_set():
            self.sample()
            self._reap()
            self._stop.wait(RSS_SAMPLE_SECONDS)

    def sample(self):
        table = _read_process_table()
        me = os.getpid()
        children = {}
        for pid, (ppid, _state, _name, _rss) in table.items():
            children.setdefault(ppid, []).append(pid)
        stack = list(children.get(me, []))
        count = 0
        while stack:
            pid = stack.pop()
            stack.extend(children.get(pid, []))
            count += 1
            rss = table[pid][3]
            if rss > self.peak_kb:
                self.peak_kb = rss
                self.peak_process = f"{table[pid][2]}: {_command_line(pid)[:160]}"
        self.samples += 1
        self.max_processes = max(self.max_processes, count)

    def _reap(self):
        for pid, (ppid, state, _name, _rss) in _read_process_table().items():
            if ppid == os.getpid() and state == "Z" and pid != self.protected_pid:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass


# Running one playbook --------------------------------------------------------------------------

def ansible_playbook_command():
    """Return the ansible-playbook next to this Python (the venv's), or the one on PATH."""
    candidate = pathlib.Path(sys.executable).parent / "ansible-playbook"
    return str(candidate) if candidate.exists() else "ansible-playbook"


def write_inventory(path, scenario, extra_vars):
    hosts = {name: None for name in scenario.server_names}
    inventory = {"qem_replicate_servers": {"hosts": hosts, "vars": extra_vars}}
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")


def run_playbook(label, action, inventory, env, workdir, forks, extra_vars):
    """Run one playbook; return wall time, exit status, peak RSS and the callback's timeline."""
    timeline_path = workdir / f"{label}.timeline.json"
    log_path = workdir / f"{label}.log"
    run_env = dict(env)
    run_env["QEM_BENCH_TIMELINE"] = str(timeline_path)
    command = [ansible_playbook_command(), "-i", str(inventory), "-f", str(forks), str(PLAYBOOKS[action])]
    for key, value in extra_vars.items():
        command += ["-e", json.dumps({key: value})]

    rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    load_before = os.getloadavg()[0]
    busy_before, own_before = _busy_cpu_seconds(), _own_cpu_seconds()
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.monotonic()
        process = subprocess.Popen(command, env=run_env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
        with TreeSampler(process.pid) as sampler:
            status = process.wait()
        wall = time.monotonic() - started
    rusage_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    own_cpu = _own_cpu_seconds() - own_before
    other_cpu = max(0.0, _busy_cpu_seconds() - busy_before - own_cpu)

    timeline = json.loads(timeline_path.read_text(encoding="utf-8")) if timeline_path.exists() else []
    return {
        "label": label,
        "status": status,
        "wall_s": round(wall, 2),
        "start": started,
        "peak_rss_mb": round(sampler.peak_kb / 1024.0, 1),
        "peak_rss_process": sampler.peak_process,
        "rss_samples": sampler.samples,
        "max_processes": sampler.max_processes,
        # ru_maxrss of RUSAGE_CHILDREN is the largest waited-for descendant so far, in kB on Linux.
        # It only rises, so it describes this run only when it rose during the run.
        "children_maxrss_mb": round(rusage_after / 1024.0, 1) if rusage_after > rusage_before else None,
        "timeline": timeline,
        "log": str(log_path),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        # CPU seconds of the benchmark (ansible-playbook, its modules, the simulator) and of every
        # other process on the machine during the run. The second shows work that competed with it.
        "cpu_s": round(own_cpu, 1),
        "other_cpu_s": round(other_cpu, 1),
        "other_cpu_share": round(other_cpu / (wall * (os.cpu_count() or 1)), 2),
    }


# Bounds and checks -----------------------------------------------------------------------------

def phase_times(scenario_dict, action):
    """Return {server: [slowest transition of phase 1, of phase 2]} in scenario seconds.

    Stop: the other tasks first, then the staging task. Resume: the staging task first.
    """
    key = "stop_duration" if action == "stop" else "run_duration"
    result = {}
    for server in scenario_dict["servers"]:
        staging = [task[key] for task in server["tasks"] if task["name"] == bench_scenarios.STAGING_TASK]
        others = [task[key] for task in server["tasks"] if task["name"] != bench_scenarios.STAGING_TASK]
        phases = [others, staging] if action == "stop" else [staging, others]
        result[server["name"]] = [max(phase) if phase else 0.0 for phase in phases]
    return result


# Requests a phase cannot do without, one after the other: login, the task-list read before the
# requests, the stop or run request, and the task-list read that returns the target state.
PHASE_REQUEST_CHAIN = 4


def lower_bound(scenario_dict, action):
    """Return the lower bound of the wall time in real seconds, and the server that sets it."""
    scale = scenario_dict["time_scale"]
    latency = scenario_dict["latency_ms"] / 1000.0
    per_server = {}
    for server, phases in phase_times(scenario_dict, action).items():
        per_server[server] = sum(transition * scale + PHASE_REQUEST_CHAIN * latency for transition in phases if transition > 0)
    server = max(per_server, key=per_server.get)
    return per_server[server], server


def lower_bound_with_workers(scenario_dict, action, workers, stop_timeout):
    """Return the lower bound when each server sends at most ``workers`` requests at once.

    QEM replies to a stop or run request when the task reaches its new state or when ``stop_timeout``
    scenario seconds have passed, so a request keeps its worker that long. Tasks are sent in the order
    of the scenario, each to the first free worker. A phase ends when its last task has reached
    the new state, plus the chain of request latencies of ``lower_bound``.
    """
    scale = scenario_dict["time_scale"]
    latency = scenario_dict["latency_ms"] / 1000.0
    key = "stop_duration" if action == "stop" else "run_duration"
    per_server = []
    for server in scenario_dict["servers"]:
        staging = [task[key] for task in server["tasks"] if task["name"] == bench_scenarios.STAGING_TASK]
        others = [task[key] for task in server["tasks"] if task["name"] != bench_scenarios.STAGING_TASK]
        total = 0.0
        for phase in ([others, staging] if action == "stop" else [staging, others]):
            if not phase:
                continue
            free_at = [0.0] * min(workers, len(phase))
            finish = 0.0
            for transition in phase:
                slot = free_at.index(min(free_at))
                start = free_at[slot]
                free_at[slot] = start + min(transition, stop_timeout) * scale + latency
                finish = max(finish, start + transition * scale)
            total += finish + PHASE_REQUEST_CHAIN * latency
        per_server.append(total)
    return max(per_server)


def module_processes(timeline):
    """Return {host: number of qem.replicate module processes} from the callback's timeline."""
    counts = {}
    for record in timeline:
        if record["action"].startswith(QEM_MODULE_PREFIX) and record["status"] in ("ok", "failed"):
            counts[record["host"]] = counts.get(record["host"], 0) + 1
    return counts


def min_requests(scenario_dict, action, timeline, poll_interval, settle_reads):
    """Return the minimum request count of a run and its parts.

    The minimum is one login per module process, plus the task-list reads, plus one stop or run
    request per task that changes state. Each server and phase needs one read per poll interval
    while a task is pending, and then the settle reads that confirm the target state.
    """
    scale = scenario_dict["time_scale"]
    logins = sum(module_processes(timeline).values())
    reads = 0
    for phases in phase_times(scenario_dict, action).values():
        for transition in phases:
            if transition > 0:
                reads += math.ceil(transition * scale / poll_interval) + settle_reads
    changes = sum(len(server["tasks"]) for server in scenario_dict["servers"])
    return {"total": logins + reads + changes, "logins": logins, "task_list_reads": reads, "state_changes": changes}


def poll_spacing(events, timeline, poll_interval, run_start_sim):
    """Check that QEM gets at most one task-list read per server per poll interval.

    Two reads of one server closer than 0.9 poll intervals are allowed only when a qem.replicate
    module process started for that server between them (every module reads the list once when it
    starts). Returns the count of close pairs, the count not explained that way, and examples.
    """
    starts = {}
    for record in timeline:
        if record["action"].startswith(QEM_MODULE_PREFIX) and record["start"] is not None:
            starts.setdefault(record["host"], []).append(record["start"] - run_start_sim)
    reads = {}
    for event in events:
        if event.get("endpoint") == "task_list":
            reads.setdefault(event["server"], []).append(event["t"])

    close, unexplained, examples = 0, 0, []
    slack = 0.05
    for server, times in reads.items():
        times.sort()
        module_starts = sorted(starts.get(server, []))
        for previous, current in zip(times, times[1:]):
            if current - previous >= 0.9 * poll_interval:
                continue
            close += 1
            if any(previous - slack <= start <= current + slack for start in module_starts):
                continue
            unexplained += 1
            if len(examples) < 5:
                examples.append({"server": server, "t": round(current, 3), "gap_s": round(current - previous, 3)})
    return {"close_pairs": close, "unexplained": unexplained, "examples": examples}


def task_breakdown(timeline):
    """Return the wall time spent per task name, summed over hosts, longest first."""
    totals = {}
    for record in timeline:
        if record["start"] is None:
            continue
        key = record["task"]
        totals[key] = totals.get(key, 0.0) + (record["end"] - record["start"])
    ordered = sorted(totals.items(), key=lambda item: -item[1])
    return [{"task": name, "host_seconds": round(seconds, 2)} for name, seconds in ordered[:12]]


# One scenario ----------------------------------------------------------------------------------

def run_scenario(scenario, workdir, workers, actions=("stop", "resume"), forks_override=None):
    """Run stop, empty stop, resume and empty resume of one scenario; return the measurements."""
    from qem_simulator import Simulator  # pylint: disable=import-outside-toplevel

    scenario_dict = bench_scenarios.build(scenario)
    forks = forks_override or scenario.servers
    workdir.mkdir(parents=True, exist_ok=True)
    backups = workdir / "backups"
    empty_backups = workdir / "backups-empty"
    reports = workdir / "reports"
    role_vars = dict(ROLE_VARS, qem_workers=workers, qem_backup_dir=str(backups), qem_report_dir=str(reports))
    inventory = workdir / "inventory.yml"
    write_inventory(inventory, scenario, role_vars)

    measurements = {}
    with Simulator(scenario_dict, state_dir=str(workdir / "simulator")) as simulator:
        env = dict(os.environ)
        env.update({
            "QEM_HOST": simulator.host,
            "QEM_CA_PATH": simulator.ca_path,
            "QEM_USERNAME": simulator.username,
            "QEM_PASSWORD": simulator.password,
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
            "ANSIBLE_CALLBACKS_ENABLED": "qem_bench",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        })
        sim_origin = time.monotonic() - simulator.now() * scenario_dict["time_scale"]

        plan = (
            ("stop", "stop", {}),
            # Every task is stopped now, so mode A selects none. The backup goes elsewhere, so the
            # resume still finds the backup of the real stop as the newest pre-stop backup.
            ("stop_empty", "stop", {"qem_backup_dir": str(empty_backups)}),
            ("resume", "resume", {}),
            # Every task runs now: mode F with the same pre-stop backup selects every task, each already running.
            ("resume_empty", "resume", {"qem_mode": "F"}),
        )
        for label, action, extra in plan:
            if action not in actions:
                continue
            simulator.reset_log()
            print(f"  {scenario.name}/{label}: running ({scenario.servers} servers x {scenario.tasks_per_server} tasks, forks {forks}) ...", flush=True)
            run = run_playbook(f"{scenario.name}-{label}", action, inventory, env, workdir, forks, extra)
            run["requests_by_endpoint"] = dict(sorted(simulator.counters().items()))
            run["requests"] = sum(run["requests_by_endpoint"].values())
            events = simulator.events()
            (workdir / f"{scenario.name}-{label}.events.json").write_text(json.dumps(events), encoding="utf-8")
            run["violations"] = [event for event in events if event.get("endpoint") == "violation"]
            run["poll_spacing"] = poll_spacing(events, run["timeline"], ROLE_VARS["qem_poll_interval"], sim_origin)
            run["module_processes"] = sum(module_processes(run["timeline"]).values())
            run["breakdown"] = task_breakdown(run["timeline"])
            run["final_states"] = _state_counts(simulator, scenario)
            print(f"  {scenario.name}/{label}: exit {run['status']}, {run['wall_s']} s, {run['requests']} requests, "
                  f"peak RSS {run['peak_rss_mb']} MB", flush=True)
            measurements[label] = run

    results = {}
    for action in actions:
        run, empty = measurements[action], measurements[f"{action}_empty"]
        bound, bound_server = lower_bound(scenario_dict, action)
        minimum = min_requests(scenario_dict, action, run["timeline"], ROLE_VARS["qem_poll_interval"], ROLE_VARS["qem_settle_reads"])
        results[action] = {
            "wall_s": run["wall_s"],
            "lower_bound_s": round(bound, 2),
            "lower_bound_server": bound_server,
            "lower_bound_with_workers_s": round(lower_bound_with_workers(scenario_dict, action, workers, ROLE_VARS["qem_stop_timeout"]), 2),
            "fixed_cost_s": empty["wall_s"],
            "requests": run["requests"],
            "min_requests": minimum["total"],
            "min_requests_parts": minimum,
            "requests_by_endpoint": run["requests_by_endpoint"],
            "peak_rss_mb": max(run["peak_rss_mb"], empty["peak_rss_mb"]),
            "peak_rss_process": run["peak_rss_process"] if run["peak_rss_mb"] >= empty["peak_rss_mb"] else empty["peak_rss_process"],
            "children_maxrss_mb": run["children_maxrss_mb"],
            "exit_status": run["status"],
            "empty_run_exit_status": empty["status"],
            "empty_run_requests": empty["requests"],
            "empty_run_requests_by_endpoint": empty["requests_by_endpoint"],
            "module_processes": run["module_processes"],
            "poll_spacing": run["poll_spacing"],
            "violations": len(run["violations"]),
            "final_states": run["final_states"],
            "breakdown": run["breakdown"],
            "empty_run_breakdown": empty["breakdown"],
            "max_processes": run["max_processes"],
            "load_average": run["load_average"],
            "empty_run_load_average": empty["load_average"],
            "cpu_s": run["cpu_s"],
            "empty_run_cpu_s": empty["cpu_s"],
            "other_cpu_share": run["other_cpu_share"],
            "empty_run_other_cpu_share": empty["other_cpu_share"],
        }
    return {
        "servers": scenario.servers,
        "tasks_per_server": scenario.tasks_per_server,
        "time_scale": scenario.time_scale,
        "forks": forks,
        "qem_workers": workers,
        "actions": results,
    }


def _state_counts(simulator, scenario):
    counts = {}
    for server in scenario.server_names:
        for name in scenario.task_names():
            state = simulator.task(server, name)["state"]
            counts[state] = counts.get(state, 0) + 1
    return counts


# Machine and report ----------------------------------------------------------------------------

def machine_info():
    cpu = "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in pathlib.Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024.0 / 1024.0, 1)
    except OSError:
        pass
    try:
        from ansible.release import __version__ as ansible_version  # pylint: disable=import-outside-toplevel
    except ImportError:
        ansible_version = "unknown"
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "ansible_core": ansible_version,
        "platform": platform.platform(),
    }


def evaluate(results):
    """Return the list of target checks: {name, met, detail}."""
    checks = []
    scenarios = results["scenarios"]
    if TARGET_SCENARIO in scenarios:
        for action, data in scenarios[TARGET_SCENARIO]["actions"].items():
            allowed = WALL_FACTOR * data["lower_bound_s"] + data["fixed_cost_s"]
            checks.append({
                "name": f"({TARGET_SCENARIO}) {action}: wall time <= {WALL_FACTOR} x lower bound + fixed cost",
                "met": data["wall_s"] <= allowed,
                "detail": f"{data['wall_s']:.1f} s against {allowed:.1f} s ({WALL_FACTOR} x {data['lower_bound_s']:.1f} + {data['fixed_cost_s']:.1f})",
            })
            allowed_requests = REQUEST_FACTOR * data["min_requests"]
            checks.append({
                "name": f"({TARGET_SCENARIO}) {action}: requests <= {REQUEST_FACTOR} x minimum",
                "met": data["requests"] <= allowed_requests,
                "detail": f"{data['requests']} requests against {allowed_requests:.0f} ({REQUEST_FACTOR} x {data['min_requests']})",
            })

    spacing = [(name, action, data["poll_spacing"]) for name, scenario in scenarios.items() for action, data in scenario["actions"].items()]
    unexplained = sum(item[2]["unexplained"] for item in spacing)
    close = sum(item[2]["close_pairs"] for item in spacing)
    checks.append({
        "name": "at most one task-list read per server per poll interval (within one module process)",
        "met": unexplained == 0,
        "detail": f"{unexplained} reads closer than the poll interval without a new module process between them; "
                  f"{close} close pairs in all, each explained by a module process that started between them" if unexplained == 0 else
                  f"{unexplained} reads closer than the poll interval without a new module process between them ({close} close pairs in all)",
    })

    peak = max((data["peak_rss_mb"], name, action) for name, scenario in scenarios.items() for action, data in scenario["actions"].items())
    checks.append({
        "name": f"peak RSS of any controller process <= {RSS_LIMIT_MB:.0f} MB",
        "met": peak[0] <= RSS_LIMIT_MB,
        "detail": f"{peak[0]:.1f} MB at ({peak[1]}) {peak[2]}",
    })
    checks.extend(_scaling_checks(scenarios))

    failures = [f"({name}) {action} exit status {data['exit_status']}" for name, scenario in scenarios.items()
                for action, data in scenario["actions"].items() if data["exit_status"] != 0 or data["empty_run_exit_status"] != 0]
    violations = sum(data["violations"] for scenario in scenarios.values() for data in scenario["actions"].values())
    checks.append({
        "name": "every playbook run passed, no ordering violation",
        "met": not failures and violations == 0,
        "detail": "; ".join(failures) if failures else f"{violations} violations in the simulator's event log",
    })
    return checks


def contention_notes(results):
    """Return a note naming the runs during which other processes used a tenth of the machine's CPU or more."""
    busy = []
    for name, scenario in results["scenarios"].items():
        for action, data in scenario["actions"].items():
            for label, key in ((action, "other_cpu_share"), (f"{action} empty run", "empty_run_other_cpu_share")):
                share = data.get(key)
                if share is not None and share >= OTHER_CPU_NOTE_SHARE:
                    busy.append(f"({name}) {label} {share:.0%}")
    if not busy:
        return []
    return ["Other processes on the machine used this share of its CPU during these runs, so their times are longer "
            f"than on an idle machine: {', '.join(busy)}."]


def _scaling_checks(scenarios):
    """Compare (a) and (c): does the time above the fixed cost follow the bound with workers?

    The bound with workers grows linearly with tasks per server / qem_workers (the sum of the
    transitions divided by the workers, once tasks outnumber workers). Wall time grows no faster
    than linearly when, in (a), the time above the fixed cost is no larger a multiple of that
    bound than in (c), with 30 % allowance.
    """
    if "a" not in scenarios or "c" not in scenarios:
        return []
    checks = []
    for action in ("stop", "resume"):
        ratio = {}
        for name in ("a", "c"):
            data = scenarios[name]["actions"][action]
            ratio[name] = (max(0.0, data["wall_s"] - data["fixed_cost_s"]), data["lower_bound_with_workers_s"])
        multiple = {name: above / bound for name, (above, bound) in ratio.items()}
        checks.append({
            "name": f"{action}: wall time above the fixed cost grows no faster than linearly with tasks per server / workers",
            "met": multiple["a"] <= WALL_FACTOR * multiple["c"],
            "detail": f"(a) {ratio['a'][0]:.1f} s = {multiple['a']:.2f} x its bound with workers ({ratio['a'][1]:.1f} s); "
                      f"(c) {ratio['c'][0]:.1f} s = {multiple['c']:.2f} x ({ratio['c'][1]:.1f} s)",
        })
    return checks


def render_markdown(results):
    machine = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `make bench` (benchmarks/run_bench.py) on {results['finished_at']}; "
        f"benchmarks/README.md explains the method and the columns.",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gib']} GiB memory, "
        f"Python {machine['python']}, ansible-core {machine['ansible_core']}.",
        "",
        "Settings: " + ", ".join(f"{key}={value}" for key, value in results["settings"].items()) + ".",
        "",
        "| scenario | action | servers x tasks | forks | workers | wall s | lower bound s | bound with workers s | fixed cost s | "
        "wall / (1.3 LB + fixed) | requests | min requests | requests / min | peak RSS MB | CPU s | other CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, scenario in results["scenarios"].items():
        for action, data in scenario["actions"].items():
            ratio_wall = data["wall_s"] / (WALL_FACTOR * data["lower_bound_s"] + data["fixed_cost_s"])
            ratio_requests = data["requests"] / data["min_requests"]
            other = data.get("other_cpu_share")
            other_text = f"{other:.0%}" if other is not None else "n/a"
            cpu_text = f"{data['cpu_s']:.0f}" if "cpu_s" in data else "n/a"
            lines.append(
                f"| {name} | {action} | {scenario['servers']} x {scenario['tasks_per_server']} | {scenario['forks']} | {scenario['qem_workers']} | "
                f"{data['wall_s']:.1f} | {data['lower_bound_s']:.1f} | {data['lower_bound_with_workers_s']:.1f} | "
                f"{data['fixed_cost_s']:.1f} | {ratio_wall:.2f} | "
                f"{data['requests']} | {data['min_requests']} | {ratio_requests:.2f} | {data['peak_rss_mb']:.1f} | {cpu_text} | {other_text} |")

    lines += ["", "## Targets", "", "| target | met | numbers |", "|---|---|---|"]
    for check in results["checks"]:
        lines.append(f"| {check['name']} | {'yes' if check['met'] else '**no**'} | {check['detail']} |")

    lines += ["", "## Requests by endpoint", "", "| scenario | action | " + " | ".join(ENDPOINTS) + " |",
              "|---|---|" + "---|" * len(ENDPOINTS)]
    for name, scenario in results["scenarios"].items():
        for action, data in scenario["actions"].items():
            counts = data["requests_by_endpoint"]
            lines.append(f"| {name} | {action} | " + " | ".join(str(counts.get(endpoint, 0)) for endpoint in ENDPOINTS) + " |")

    lines += ["", "Minimum requests per run: logins (one per module process) + task-list reads + state changes.", "",
              "| scenario | action | module processes | task-list reads | state changes |", "|---|---|---|---|---|"]
    for name, scenario in results["scenarios"].items():
        for action, data in scenario["actions"].items():
            parts = data["min_requests_parts"]
            lines.append(f"| {name} | {action} | {parts['logins']} | {parts['task_list_reads']} | {parts['state_changes']} |")

    lines += ["", "## Where the time goes", "",
              "Role steps with the most host-seconds (summed over hosts) in the real run and in the empty run.", ""]
    for name, scenario in results["scenarios"].items():
        for action, data in scenario["actions"].items():
            top = ", ".join(f"{item['task'].split(' : ', 1)[-1]} {item['host_seconds']:.0f} s" for item in data["breakdown"][:5])
            empty_top = ", ".join(f"{item['task'].split(' : ', 1)[-1]} {item['host_seconds']:.0f} s" for item in data["empty_run_breakdown"][:3])
            lines.append(f"- ({name}) {action}: {top}. Empty run: {empty_top}.")

    notes = results.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    lines.append("")
    return "\n".join(lines)


ENDPOINTS = ("login", "logout", "servers", "server", "task_list", "task_details", "stop", "run")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Benchmark the qem_tasks role against the QEM simulator.")
    parser.add_argument("--scenarios", default="a,b,c", help="comma-separated scenario names (default: a,b,c)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=f"qem_workers (default {DEFAULT_WORKERS})")
    parser.add_argument("--actions", default="stop,resume", help="stop, or stop,resume (a resume needs the stop before it)")
    parser.add_argument("--time-scale", type=float, help="override the time_scale of every scenario")
    parser.add_argument("--results-dir", default=str(BENCH_DIR),
                        help="where results.json and results.md go (default: benchmarks/ of this checkout)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: evaluate the targets and write results.md again from the results.json in --results-dir")
    parser.add_argument("--keep-output", help="directory for logs, backups and timelines (default: a temporary directory, removed)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.report_only:
        return write_report(pathlib.Path(args.results_dir), None)
    if not become_subreaper():
        print("warning: prctl(PR_SET_CHILD_SUBREAPER) failed; async module processes are not sampled for memory.", flush=True)
    requested = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    known = {scenario.name: scenario for scenario in bench_scenarios.SCENARIOS}
    unknown = [name for name in requested if name not in known]
    if unknown:
        print(f"Unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}.", file=sys.stderr)
        return 2

    output = pathlib.Path(args.keep_output or tempfile.mkdtemp(prefix="qem-bench-")).resolve()
    started = time.monotonic()
    results = {"machine": machine_info(), "settings": dict(ROLE_VARS, qem_workers=args.workers), "scenarios": {}}
    try:
        for name in requested:
            scenario = known[name]
            if args.time_scale:
                scenario = bench_scenarios.BenchScenario(scenario.name, scenario.servers, scenario.tasks_per_server, args.time_scale)
            print(f"Scenario {name}: {scenario.servers} servers x {scenario.tasks_per_server} tasks, time_scale {scenario.time_scale}", flush=True)
            actions = tuple(action.strip() for action in args.actions.split(",") if action.strip())
            results["scenarios"][name] = run_scenario(scenario, output / name, args.workers, actions)
    finally:
        if not args.keep_output:
            shutil.rmtree(output, ignore_errors=True)

    results["total_s"] = round(time.monotonic() - started, 1)
    results["finished_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return write_report(pathlib.Path(args.results_dir), results)


def write_report(results_dir, results):
    """Evaluate the targets and write results.json and results.md; read results.json when ``results`` is None."""
    json_path = results_dir / "results.json"
    if results is None:
        results = json.loads(json_path.read_text(encoding="utf-8"))
    results["checks"] = evaluate(results)
    results["notes"] = contention_notes(results)
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (results_dir / "results.md").write_text(render_markdown(results), encoding="utf-8")
    print(render_markdown(results))
    print(f"Total {results['total_s']} s. Results: {json_path}, {results_dir / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
