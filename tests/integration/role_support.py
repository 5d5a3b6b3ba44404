# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers that run the qem_tasks playbooks against the QEM simulator.

``make_role_runner(tmp_path)`` returns ``role_run(sim, playbook, ...)``, which writes an inventory of the simulator's servers, runs one
playbook through ansible-runner (the engine of AWX) or ansible-playbook, and returns a
``RoleRun`` with the exit status, the output, and the backup and report directories.
Waits are short: a poll interval of 0.2 s and no settle delay, against scenarios with a
small time_scale.
"""

import csv
import os
import pathlib
import subprocess
import sys

import yaml

COLLECTION_ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK_DIR = COLLECTION_ROOT / "playbooks"
SCENARIO_DIR = pathlib.Path(__file__).resolve().parent / "scenarios"

USER = "CORP\\svc_qem"
PASSWORD = "Role-Test-Pw1"

# Role variables that keep every wait short; tests override them per run.
FAST_VARS = {
    "qem_poll_interval": 0.2,
    "qem_settle_reads": 2,
    "qem_settle_delay": 0,
    "qem_progress_interval": 1,
    "qem_wait_timeout": 30,
    "qem_validate_timeout": 5,
    "qem_full_load_wait_timeout": 5,
    "qem_latency_wait_timeout": 5,
    "qem_stop_timeout": 5,
}


def collections_path():
    """Return ANSIBLE_COLLECTIONS_PATH, or the directory that contains ansible_collections/qem/replicate."""
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if configured:
        return configured
    return str(COLLECTION_ROOT.parents[2])


def output_tail(run, size=4000):
    """Return the last ``size`` characters of a run's output, for assertion messages."""
    return run.output[-size:]


def load_scenario(name, **changes):
    """Load tests/integration/scenarios/NAME.yml with the test user, updated with `changes`."""
    with open(SCENARIO_DIR / f"{name}.yml", encoding="utf-8") as handle:
        scenario = yaml.safe_load(handle)
    scenario["users"] = [{"username": USER, "password": PASSWORD}]
    scenario.update(changes)
    return scenario


def read_csv(path):
    """Return the rows of a CSV file as dicts."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class RoleRun:
    """The outcome of one playbook run: exit status, output and the files it wrote."""

    def __init__(self, rc, output, backup_dir, report_dir):
        self.rc = rc
        self.output = output
        self.backup_dir = backup_dir
        self.report_dir = report_dir

    def backups(self, server=None):
        """Return the backup files written, optionally of one server, oldest first."""
        pattern = f"{server}/*.csv" if server else "*/*.csv"
        return sorted(self.backup_dir.glob(pattern))

    def run_reports(self):
        """Return the aggregated reports of the runs, oldest first."""
        return sorted(self.report_dir.glob("qem_*.csv"))

    def rows(self):
        """Return the rows of the newest aggregated report."""
        reports = self.run_reports()
        assert reports, f"no aggregated report in {self.report_dir}; output:\n{self.output[-3000:]}"
        return read_csv(reports[-1])

    def row(self, task):
        """Return the newest report's row of one task."""
        matches = [row for row in self.rows() if row["task"] == task]
        assert len(matches) == 1, f"{len(matches)} rows for task {task!r}"
        return matches[0]


def make_role_runner(tmp_path):
    """Return a function that runs a playbook of the collection against a simulator.

    ``role_run(sim, playbook, extravars=None, check=False, engine="runner", hosts=None,
    host_vars=None, env=None)``: `hosts` defaults to the Replicate servers of the scenario;
    `host_vars` maps a host to its variables; `env` adds or overrides environment variables.
    Backups and reports go to tmp_path and stay there across the runs of one test.
    """
    backup_dir = tmp_path / "backups"
    report_dir = tmp_path / "reports"
    counter = {"runs": 0}

    def run(sim, playbook, extravars=None, check=False, engine="runner", hosts=None, host_vars=None, env=None):
        counter["runs"] += 1
        work = tmp_path / f"run-{counter['runs']}"
        work.mkdir()

        if hosts is None:
            hosts = [server["name"] for server in sim.scenario["servers"] if server.get("type", "replicate") == "replicate"]
        inventory = {"qem_replicate_servers": {"hosts": {host: dict((host_vars or {}).get(host, {})) for host in hosts}}}
        inventory_path = work / "hosts.yml"
        inventory_path.write_text(yaml.safe_dump(inventory), encoding="utf-8")

        variables = dict(FAST_VARS, qem_backup_dir=str(backup_dir), qem_report_dir=str(report_dir))
        variables.update(extravars or {})

        environment = {
            "ANSIBLE_COLLECTIONS_PATH": collections_path(),
            "ANSIBLE_ASYNC_DIR": str(tmp_path / "async"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "QEM_HOST": sim.host,
            "QEM_CA_PATH": sim.ca_path,
            "QEM_USERNAME": USER,
            "QEM_PASSWORD": PASSWORD,
        }
        environment.update(env or {})
        playbook_path = PLAYBOOK_DIR / playbook

        if engine == "runner":
            rc, output = _run_with_runner(work, playbook_path, inventory_path, variables, environment, check)
        else:
            rc, output = _run_with_ansible_playbook(work, playbook_path, inventory_path, variables, environment, check)
        return RoleRun(rc, output, backup_dir, report_dir)

    return run


def _run_with_runner(work, playbook_path, inventory_path, variables, environment, check):
    import ansible_runner  # pylint: disable=import-outside-toplevel

    (work / "runner").mkdir()
    result = ansible_runner.run(
        private_data_dir=str(work / "runner"),
        playbook=str(playbook_path),
        inventory=str(inventory_path),
        extravars=variables,
        envvars=environment,
        cmdline="--check" if check else None,
        quiet=True,
        timeout=600,
    )
    output = result.stdout.read()
    scrub_secrets(work / "runner", [environment.get("QEM_PASSWORD")])
    return result.rc, output


def scrub_secrets(directory, secrets):
    """Mask secrets in every file under ``directory``.

    ansible-runner writes its whole environment, QEM_PASSWORD included, to
    artifacts/<ident>/command, and AWX-style runs keep it in env/envvars. The files stay in
    pytest's temporary directory after the run, so the password is masked there.
    """
    secrets = [secret for secret in secrets if secret]
    if not secrets:
        return
    for path in pathlib.Path(directory).rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        masked = text
        for secret in secrets:
            masked = masked.replace(secret, "MASKED-SECRET")
        if masked != text:
            path.write_text(masked, encoding="utf-8")


def _run_with_ansible_playbook(work, playbook_path, inventory_path, variables, environment, check):
    variables_path = work / "extravars.yml"
    variables_path.write_text(yaml.safe_dump(variables), encoding="utf-8")
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_path), str(playbook_path),
               "-e", f"@{variables_path}"]
    if check:
        command.append("--check")
    completed = subprocess.run(command, env=dict(os.environ, **environment), cwd=str(work), capture_output=True, text=True,
                               timeout=600, check=False)
    return completed.returncode, completed.stdout + completed.stderr


def requests_of(sim, endpoint, server=None):
    """Return the stop or run requests QEM accepted as (server, task) pairs, in time order.

    A request rejected with 401 for an expired session never reached the task, so it is left out;
    the client logs in again, re-reads the task and only then sends the request again.
    """
    events = [event for event in sim.events(endpoint=endpoint) if event.get("status") != 401]
    return [(event.get("server"), event.get("task")) for event in events if server is None or event.get("server") == server]
