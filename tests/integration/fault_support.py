# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the fault, bad-input and secrets tests, on top of role_support.

``start_playbook`` starts ansible-playbook without waiting, so a test can interrupt it.
``run_hosts`` runs one play over many inventory hosts, each with its own variables, and
returns the failure message of each host. It passes only the file locations as extra
variables, so that every other role variable can be set per host.
"""

import os
import pathlib
import re
import subprocess
import sys
import time

import yaml

from role_support import FAST_VARS, PASSWORD, PLAYBOOK_DIR, USER, collections_path

FATAL_RE = re.compile(r"^fatal: \[(?P<host>[^\]]+)\]: FAILED! => (?P<body>.*)$", re.MULTILINE)


def _environment(sim, tmp_path, env=None):
    # A killed playbook leaves its module's unpacked files behind, so they go under tmp_path.
    temporary = tmp_path / "tmp"
    temporary.mkdir(exist_ok=True)
    environment = dict(os.environ)
    environment.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "TMPDIR": str(temporary),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_FORKS": "10",
        "QEM_HOST": sim.host,
        "QEM_CA_PATH": sim.ca_path or "",
        "QEM_USERNAME": USER,
        "QEM_PASSWORD": PASSWORD,
    })
    environment.update(env or {})
    return environment


def _command(work, playbook, hosts, extravars):
    inventory = {"qem_replicate_servers": {"hosts": hosts}}
    inventory_path = work / "hosts.yml"
    inventory_path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    variables_path = work / "extravars.yml"
    variables_path.write_text(yaml.safe_dump(extravars), encoding="utf-8")
    return [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_path),
            str(PLAYBOOK_DIR / playbook), "-e", f"@{variables_path}"]


def start_playbook(sim, tmp_path, name, playbook, extravars=None, env=None):
    """Start ansible-playbook for the scenario's Replicate servers and return the Popen object.

    Output goes to ``tmp_path/name/output.txt``. Backups and reports go to tmp_path/backups and
    tmp_path/reports, as with role_support.
    """
    work = tmp_path / name
    work.mkdir()
    hosts = {server["name"]: {} for server in sim.scenario["servers"] if server.get("type", "replicate") == "replicate"}
    variables = dict(FAST_VARS, qem_backup_dir=str(tmp_path / "backups"), qem_report_dir=str(tmp_path / "reports"))
    variables.update(extravars or {})
    command = _command(work, playbook, hosts, variables)
    output = open(work / "output.txt", "w", encoding="utf-8")  # pylint: disable=consider-using-with
    process = subprocess.Popen(command, env=_environment(sim, tmp_path, env), cwd=str(work), stdout=output,
                               stderr=subprocess.STDOUT, text=True)
    process.output_path = work / "output.txt"
    return process


def wait_for_event(sim, timeout=60, **fields):
    """Wait until the simulator logged an event with these fields; return it, or None after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = sim.events(**fields)
        if events:
            return events[0]
        time.sleep(0.05)
    return None


def run_hosts(sim, tmp_path, name, playbook, host_vars, extravars=None, env=None, timeout=600):
    """Run one play over the hosts of `host_vars` (host -> variables); return (rc, output, failures).

    `failures` maps each failed host to the text of its last failure.
    """
    work = tmp_path / name
    work.mkdir()
    variables = {"qem_backup_dir": str(tmp_path / "backups"), "qem_report_dir": str(tmp_path / "reports")}
    variables.update(extravars or {})
    command = _command(work, playbook, host_vars, variables)
    completed = subprocess.run(command, env=_environment(sim, tmp_path, env), cwd=str(work), capture_output=True,
                               text=True, timeout=timeout, check=False)
    output = completed.stdout + completed.stderr
    failures = {}
    for match in FATAL_RE.finditer(output):
        failures[match.group("host")] = match.group("body")
    return completed.returncode, output, failures


def report_mismatches(sim, rows):
    """Return the report rows whose final_state differs from the task's state in the simulator."""
    mismatches = []
    for row in rows:
        actual = sim.task(row["server"], row["task"])["state"]
        if actual == "RECOVERY":
            actual = "RECOVERING"
        if row["final_state"] != actual:
            mismatches.append((row["task"], row["final_state"], actual))
    return mismatches


def run_runner_with_vault(sim, tmp_path, name, playbook, extravars=None, verbosity=3):
    """Run a playbook through ansible-runner with the QEM password in an Ansible Vault vars file.

    ansible-runner writes the environment of the run to artifacts/<id>/command, so a password
    passed as an environment variable ends up in the artifacts. Here the password reaches the
    role as the vault-encrypted variable qem_password, and only the vault password file's path
    is on the command line. Returns (rc, stdout, private data directory).
    """
    import ansible_runner  # pylint: disable=import-outside-toplevel
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel

    work = tmp_path / name
    (work / "runner").mkdir(parents=True)
    vault_secret = b"vault-pass-for-tests"
    vault_file = work / "vault-pass.txt"
    vault_file.write_bytes(vault_secret)
    vault_file.chmod(0o600)
    encrypted = VaultLib([("default", VaultSecret(vault_secret))]).encrypt(PASSWORD).decode("ascii")
    secret_vars = work / "secret-vars.yml"
    secret_vars.write_text("qem_password: !vault |\n" + "".join(f"  {line}\n" for line in encrypted.splitlines()), encoding="utf-8")

    hosts = {server["name"]: {} for server in sim.scenario["servers"] if server.get("type", "replicate") == "replicate"}
    inventory_path = work / "hosts.yml"
    inventory_path.write_text(yaml.safe_dump({"qem_replicate_servers": {"hosts": hosts}}), encoding="utf-8")
    variables = dict(FAST_VARS, qem_backup_dir=str(tmp_path / "backups"), qem_report_dir=str(tmp_path / "reports"))
    variables.update(extravars or {})
    environment = {key: value for key, value in _environment(sim, tmp_path).items()
                   if key.startswith("ANSIBLE_") or key in ("QEM_HOST", "QEM_CA_PATH", "QEM_USERNAME")}

    result = ansible_runner.run(
        private_data_dir=str(work / "runner"),
        playbook=str(PLAYBOOK_DIR / playbook),
        inventory=str(inventory_path),
        extravars=variables,
        envvars=environment,
        cmdline=f"-e @{secret_vars} --vault-password-file {vault_file}",
        verbosity=verbosity,
        quiet=True,
        timeout=600,
    )
    return result.rc, result.stdout.read(), work / "runner"
