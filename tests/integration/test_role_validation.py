# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Final validation of the qem_tasks role: safe to patch, comparison with the backup, stale and recovering states."""

import datetime

from ansible_collections.qem.replicate.plugins.module_utils.backup import write_backup
from role_support import load_scenario, output_tail, requests_of


def test_stale_state_single_request(qem_sim, role_run):
    sim = qem_sim(load_scenario("stale_states"))

    run = role_run(sim, "stop_tasks.yml")

    assert run.rc == 0, output_tail(run)
    assert sorted(requests_of(sim, "stop")) == [("rep-01", "T1"), ("rep-01", "T2")]
    assert run.row("T1")["result"] == "stopped"
    assert run.row("T1")["final_state"] == "STOPPED"
    assert "safe to patch: yes" in run.output


def test_recovering_task_fails_validation(qem_sim, role_run):
    sim = qem_sim(load_scenario("recovery_after_resume"))

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "A", "qem_validate_timeout": 4, "qem_wait_timeout": 8})

    assert run.rc != 0
    assert run.row("T2")["validation"] == "ok"
    assert run.row("T1")["validation"] == "ok"
    assert "RECOVERING" in run.row("T3")["validation"]
    assert "validation failed" in run.output


def test_unsafe_when_tasks_active(qem_sim, role_run):
    sim = qem_sim(load_scenario("log_stream"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "S"}, host_vars={"rep-01": {"qem_selected_tasks": ["X"]}})

    assert run.rc == 0, output_tail(run)
    assert requests_of(sim, "stop") == [("rep-01", "X")]
    assert "safe to patch: no. Still active: LS, C1, C2." in run.output


def test_failed_resume_fails_play(qem_sim, role_run):
    sim = qem_sim(load_scenario("resume_fails"))

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "A"})

    assert run.rc != 0
    assert run.row("T1")["final_state"] == "ERROR"
    assert run.row("T2")["validation"] == "ok"
    assert "validation failed for 1 tasks" in run.output


def test_old_backup_warns_operator(qem_sim, role_run, tmp_path):
    sim = qem_sim(load_scenario("staging_fails"))
    captured = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=50)
    tasks = [{"name": "LS", "state": "RUNNING"}, {"name": "X", "state": "RUNNING"}, {"name": "Gone", "state": "RUNNING"}]
    backup = write_backup(str(tmp_path / "old"), "rep-01", "before-stop", tasks, now=captured)

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "F", "qem_task_file": backup})

    assert "longer than the Log Stream retention of 48 hours" in run.output
    assert "Log Stream staging tasks LS may have lost" in run.output
    assert "so they are not resumed: Gone." in run.output
    assert run.row("Gone")["result"] == "missing"


def test_not_connected_server_waited_for(qem_sim, role_run):
    sim = qem_sim(load_scenario("not_connected"))

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "A", "qem_not_connected_timeout": 10})

    assert run.rc == 0, output_tail(run)
    assert requests_of(sim, "run") == [("rep-01", "T1")]
    assert "AEM_SERVER_NOT_CONNECTED" in " ".join(event.get("error_code") or "" for event in sim.events(endpoint="task_list"))


def test_not_connected_without_window_fails(qem_sim, role_run):
    sim = qem_sim(load_scenario("not_connected"))

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "A"})

    assert run.rc != 0
    assert requests_of(sim, "run") == []
    assert run.backups() == []
