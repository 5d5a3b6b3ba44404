"""Run the demo patch window against the QEM simulator: stop, then resume, on two servers.

`make demo` runs this script in the collection copy with PYTHONPATH and ANSIBLE_COLLECTIONS_PATH
set. It starts the simulator on tests/integration/scenarios/demo.yml, exports QEM_HOST,
QEM_CA_PATH, QEM_USERNAME and QEM_PASSWORD for the modules, runs playbooks/stop_tasks.yml and
playbooks/resume_tasks.yml with inventory/demo, checks the simulator's event log for ordering
violations, and prints where the backups and reports are.

Usage: python tests/tools/demo.py [--keep-going] [--output DIR]
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "integration" / "scenarios" / "demo.yml"
INVENTORY = ROOT / "inventory" / "demo"
PLAYBOOKS = ("stop_tasks.yml", "resume_tasks.yml")


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Stop and resume the demo servers of the QEM simulator with the qem_tasks role.")
    parser.add_argument("--output", help="directory for backups and reports (default: a new directory under the system temp directory)")
    parser.add_argument("--keep-going", action="store_true", help="run the resume even when the stop failed")
    return parser.parse_args(argv)


def ansible_playbook_command():
    """Return the ansible-playbook next to this Python (the venv's), or the one on PATH."""
    candidate = pathlib.Path(sys.executable).parent / "ansible-playbook"
    return str(candidate) if candidate.exists() else "ansible-playbook"


def collection_environment():
    """Return os.environ with ANSIBLE_COLLECTIONS_PATH set for this checkout.

    The Makefile sets it. Run by hand from a tree laid out as ansible_collections/qem/replicate,
    the script derives it from its own location.
    """
    env = dict(os.environ)
    if "ANSIBLE_COLLECTIONS_PATH" not in env and ROOT.parent.parent.name == "ansible_collections":
        env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT.parents[2])
    return env


def run_playbook(playbook, env, output):
    """Run one playbook of the demo and return its exit status."""
    command = [
        ansible_playbook_command(),
        "-i", str(INVENTORY),
        str(ROOT / "playbooks" / playbook),
        "-e", f"qem_backup_dir={output / 'backups'}",
        "-e", f"qem_report_dir={output / 'reports'}",
    ]
    print(f"\n=== {' '.join(command[:1] + [os.path.relpath(part, ROOT) if part.startswith(str(ROOT)) else part for part in command[1:]])}", flush=True)
    return subprocess.run(command, env=env, cwd=str(ROOT), check=False).returncode


def check_event_log(simulator):
    """Return lines that state what the simulator's event log shows about ordering."""
    violations = simulator.violations()
    counters = simulator.counters()
    lines = [f"Requests to the simulator: {counters.get('stop', 0)} stop, {counters.get('run', 0)} run, "
             f"{counters.get('task_list', 0)} task list, {counters.get('task_details', 0)} task details."]
    if violations:
        lines.append(f"Ordering violations in the event log: {len(violations)}")
        lines.extend(f"  {event.get('kind')}: server {event.get('server')}, task {event.get('task')}" for event in violations)
    else:
        lines.append("Event log: no task was stopped during a full load, the Log Stream staging task was stopped "
                     "after its readers and started before them.")
    return lines, not violations


def main(argv=None):
    """Run the demo and return 0 when both playbooks and the event-log check passed."""
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from qem_simulator import Simulator  # pylint: disable=import-outside-toplevel

    output = pathlib.Path(args.output or tempfile.mkdtemp(prefix="qem-demo-")).resolve()
    output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    statuses = {}

    with Simulator(str(SCENARIO), state_dir=str(output / "simulator")) as simulator:
        env = collection_environment()
        env.update({
            "QEM_HOST": simulator.host,
            "QEM_CA_PATH": simulator.ca_path,
            "QEM_USERNAME": simulator.username,
            "QEM_PASSWORD": simulator.password,
        })
        print(f"QEM simulator on https://{simulator.host} with scenario {SCENARIO.relative_to(ROOT)}", flush=True)
        for playbook in PLAYBOOKS:
            statuses[playbook] = run_playbook(playbook, env, output)
            if statuses[playbook] != 0 and not args.keep_going:
                break
        log_lines, log_ok = check_event_log(simulator)

    print("\n=== Demo summary")
    for playbook, status in statuses.items():
        print(f"{playbook}: {'passed' if status == 0 else f'FAILED (exit status {status})'}")
    for line in log_lines:
        print(line)
    print(f"Backups: {output / 'backups'}")
    print(f"Reports: {output / 'reports'}")
    for report in sorted((output / "reports").glob("*.csv")):
        print(f"  {report}")
    print(f"Elapsed: {time.monotonic() - started:.0f} s")

    passed = len(statuses) == len(PLAYBOOKS) and all(status == 0 for status in statuses.values()) and log_ok
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
