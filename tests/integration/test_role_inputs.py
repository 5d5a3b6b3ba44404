# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input errors fail before any stop or run request (playbooks run through ansible-playbook)."""

import pytest

from role_support import load_scenario, requests_of

INPUT_ERRORS = [
    ("qem_tasks.yml", {}, {}, "missing required arguments: qem_action"),
    ("qem_tasks.yml", {"qem_action": "restart"}, {}, "qem_action='restart' is invalid"),
    ("stop_tasks.yml", {"qem_mode": "X"}, {}, "qem_mode='X' is invalid"),
    ("stop_tasks.yml", {"qem_mode": "F"}, {}, "works with qem_action=resume only"),
    ("stop_tasks.yml", {"qem_mode": "S", "qem_selected_tasks": ["T1", "Nope"]}, {}, "'Nope'"),
    ("stop_tasks.yml", {"qem_mode": "S", "qem_selected_tasks": ["t1"]}, {}, "QEM spells it 'T1'"),
    ("stop_tasks.yml", {"qem_mode": "selected"}, {}, "qem_selected_tasks is empty"),
    ("resume_tasks.yml", {"qem_mode": "F"}, {}, "No before-stop backup of server 'rep-01'"),
    ("resume_tasks.yml", {"qem_mode": "F", "qem_task_file": "/nonexistent/backup.csv"}, {}, "/nonexistent/backup.csv"),
    ("stop_tasks.yml", {}, {"QEM_PASSWORD": "pass:word"}, "contains ':'"),
    ("stop_tasks.yml", {"qem_poll_interval": 0}, {}, "qem_poll_interval=0 is out of range"),
    ("stop_tasks.yml", {"qem_full_load_policy": "later"}, {}, "qem_full_load_policy"),
    ("stop_tasks.yml", {"qem_server": "rep-99"}, {}, "rep-99"),
]


@pytest.mark.parametrize("playbook, extravars, env, message", INPUT_ERRORS, ids=[case[3] for case in INPUT_ERRORS])
def test_input_error_changes_nothing(qem_sim, role_run, playbook, extravars, env, message):
    sim = qem_sim(load_scenario("backup_states"))

    run = role_run(sim, playbook, extravars=extravars, env=env, engine="ansible-playbook")

    assert run.rc != 0
    assert sim.counters()["stop"] == 0
    assert sim.counters()["run"] == 0
    assert message in run.output


def test_malformed_backup_file_rejected(qem_sim, role_run, tmp_path):
    sim = qem_sim(load_scenario("backup_states"))
    malformed = tmp_path / "malformed.csv"
    malformed.write_text("this is not,a backup\n\x00\x01", encoding="utf-8")

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "F", "qem_task_file": str(malformed)}, engine="ansible-playbook")

    assert run.rc != 0
    assert sim.counters()["run"] == 0
    assert "malformed.csv" in run.output


def test_unreadable_server_left_alone(qem_sim, role_run):
    sim = qem_sim(load_scenario("two_servers_one_down"))

    run = role_run(sim, "stop_tasks.yml", engine="ansible-playbook")

    assert run.rc != 0
    assert requests_of(sim, "stop") == [("rep-01", "T1")]
    assert run.backups("rep-02") == []
    assert len(run.backups("rep-01")) == 1
    assert "rep-02: stop, FAILED" in run.output
