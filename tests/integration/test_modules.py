# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three modules run by ansible-playbook against the simulator: check mode, real run, idempotent rerun."""

import json
import os
import pathlib
import stat
import subprocess
import sys

import yaml

from role_support import collections_path

USER = "CORP\\svc_qem"
PASSWORD = "Module-Test-Pw1"


def _scenario():
    return {
        "time_scale": 0.05,
        "users": [{"username": USER, "password": PASSWORD}],
        "servers": [
            {
                "name": "rep-01",
                "type": "replicate",
                "tasks": [
                    {"name": "LS", "state": "RUNNING", "target_endpoint": {"name": "ls", "type": "Log Stream"}, "stop_duration": 1},
                    {"name": "Orders", "state": "RUNNING", "reads_from": "LS", "stop_duration": 1, "stale_reads": 2},
                    {"name": "Billing, EU", "state": "RUNNING", "stop_duration": 1},
                    {"name": "Old", "state": "STOPPED", "stop_reason": "NORMAL"},
                    {"name": "Broken", "state": "ERROR", "stop_reason": "FATAL_ERROR", "message": "ORA-00942"},
                ],
            },
        ],
    }


def _run_playbook(sim, tmp_path, tasks, check=False, extra_env=None):
    """Run a one-play playbook; each task registers ``r<N>`` and the play writes them all to out.json."""
    out = tmp_path / "out.json"
    registered = []
    play_tasks = []
    for index, task in enumerate(tasks):
        name = "r%d" % index
        task = dict(task, register=name, ignore_errors=True)
        play_tasks.append(task)
        registered.append(name)
    collect = "{{ {%s} | to_json }}" % ", ".join("'%s': %s | default(None)" % (name, name) for name in registered)
    play_tasks.append({"name": "Write results", "ansible.builtin.copy": {"content": collect, "dest": str(out), "mode": "0600"},
                       "check_mode": False})
    playbook = [{
        "name": "Module test",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "module_defaults": {"group/qem.replicate.qem": {"server": "rep-01"}},
        "tasks": play_tasks,
    }]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))

    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "QEM_HOST": sim.host,
        "QEM_USERNAME": USER,
        "QEM_PASSWORD": PASSWORD,
        "QEM_CA_PATH": sim.ca_path,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
    })
    env.update(extra_env or {})
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(path)]
    if check:
        command.append("--check")
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.exists(), completed.stdout + completed.stderr
    return json.loads(out.read_text()), completed


def _stops_and_runs(sim):
    return [event for event in sim.events() if event.get("endpoint") in ("stop", "run") and event.get("status") != 401]


def test_task_list_details_classify(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    results = _run_playbook(sim, tmp_path, [{"qem.replicate.qem_task_list": {"details": True}}])[0]
    listing = results["r0"]
    tasks = {task["name"]: task for task in listing["tasks"]}
    assert listing["changed"] is False
    assert listing["all_count"] == 5
    assert tasks["LS"]["log_stream_staging"] is True
    assert tasks["Orders"]["log_stream_staging"] is False
    assert tasks["Broken"]["state"] == "ERROR"


def test_task_list_missing_case(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    results = _run_playbook(sim, tmp_path, [{"qem.replicate.qem_task_list": {"names": ["orders", "Old"], "fail_on_missing": True}}])[0]
    assert results["r0"]["failed"] is True
    assert "QEM spells it 'Orders'" in results["r0"]["msg"]


def test_backup_check_then_write(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    dest = tmp_path / "backups"
    task = {"qem.replicate.qem_task_backup": {"dest": str(dest), "reason": "before-stop"}}
    checked = _run_playbook(sim, tmp_path, [task], check=True)[0]
    assert checked["r0"]["changed"] is True
    assert not dest.exists()

    written = _run_playbook(sim, tmp_path, [task])[0]
    path = pathlib.Path(written["r0"]["path"])
    assert written["r0"]["count"] == 5
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().splitlines()[0].startswith("name,state,stop_reason,message,assigned_tags")


def test_backup_unreadable_server_writes_nothing(qem_sim, tmp_path):
    scenario = _scenario()
    scenario["servers"][0]["not_connected"] = {"start": 0, "duration": 100000}
    sim = qem_sim(scenario)
    dest = tmp_path / "backups"
    results = _run_playbook(sim, tmp_path, [{"qem.replicate.qem_task_backup": {"dest": str(dest)}}])[0]
    assert results["r0"]["failed"] is True
    assert "No backup was written" in results["r0"]["msg"]
    assert not list(dest.rglob("*.csv"))


def test_action_check_real_idempotent(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    task = {"qem.replicate.qem_task_action": {"tasks": ["Orders", "Billing, EU", "Old"], "state": "stopped", "poll_interval": 0.1}}

    checked = _run_playbook(sim, tmp_path, [task], check=True)[0]
    assert checked["r0"]["changed"] is True
    assert _stops_and_runs(sim) == []

    first = _run_playbook(sim, tmp_path, [task])[0]
    results = {item["name"]: item["result"] for item in first["r0"]["results"]}
    assert first["r0"]["changed"] is True
    assert results == {"Orders": "stopped", "Billing, EU": "stopped", "Old": "already_stopped"}

    second = _run_playbook(sim, tmp_path, [task])[0]
    assert second["r0"]["changed"] is False
    assert len(_stops_and_runs(sim)) == 2


def test_action_resume_then_idempotent(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    task = {"qem.replicate.qem_task_action": {"tasks": ["Old"], "state": "running", "poll_interval": 0.1}}
    first = _run_playbook(sim, tmp_path, [task])[0]
    assert first["r0"]["results"][0]["result"] == "running"
    second = _run_playbook(sim, tmp_path, [task])[0]
    assert second["r0"]["changed"] is False
    assert second["r0"]["results"][0]["result"] == "already_running"


def test_action_progress_file_kept(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    progress = tmp_path / "progress.json"
    progress.write_text('{"target": "running", "total": 9, "pending": ["from an earlier run"]}')
    task = {"qem.replicate.qem_task_action": {"tasks": ["Orders", "Old"], "state": "stopped", "poll_interval": 0.1,
                                              "progress_interval": 0.2, "progress_file": str(progress)}}

    outcome = _run_playbook(sim, tmp_path, [task])[0]

    written = json.loads(progress.read_text())
    assert outcome["r0"]["changed"] is True
    assert written.pop("elapsed") >= 0
    assert written == {"target": "stopped", "total": 2, "pending": [], "in_flight": 0, "unsent": 0}


def test_action_progress_dir_missing_rejected(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    missing = tmp_path / "no-such-dir" / "progress.json"
    task = {"qem.replicate.qem_task_action": {"tasks": ["Orders"], "state": "stopped", "progress_file": str(missing)}}

    outcome = _run_playbook(sim, tmp_path, [task])[0]

    assert outcome["r0"]["failed"] is True
    assert "progress_file '%s': the directory %s does not exist" % (missing, missing.parent) in outcome["r0"]["msg"]
    assert _stops_and_runs(sim) == []


def test_action_password_colon_rejected(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    task = {"qem.replicate.qem_task_action": {"tasks": ["Orders"], "state": "stopped"}}
    results, completed = _run_playbook(sim, tmp_path, [task], extra_env={"QEM_PASSWORD": "bad:pw"})
    assert results["r0"]["failed"] is True
    assert "':'" in results["r0"]["msg"]
    assert sim.counters().get("login", 0) == 0
    assert "bad:pw" not in completed.stdout


def test_tls_default_fails_naming_ca_path(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    task = {"qem.replicate.qem_task_list": {}}
    results = _run_playbook(sim, tmp_path, [task], extra_env={"QEM_CA_PATH": ""})[0]
    assert results["r0"]["failed"] is True
    assert "ca_path" in results["r0"]["msg"]


def test_tls_validate_certs_false_warns(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    task = {"qem.replicate.qem_task_list": {"validate_certs": False}}
    results = _run_playbook(sim, tmp_path, [task], extra_env={"QEM_CA_PATH": ""})[0]
    assert results["r0"].get("failed") is not True
    assert any("validate_certs" in warning for warning in results["r0"].get("warnings", []))


def test_password_not_in_output(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    task = {"qem.replicate.qem_task_list": {"details": True}}
    completed = _run_playbook(sim, tmp_path, [task], extra_env={"ANSIBLE_VERBOSITY": "3"})[1]
    output = completed.stdout + completed.stderr
    assert PASSWORD not in output
    for session_id in sim.sessions_issued():
        assert session_id not in output
