# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the stop/resume engine against the simulator: confirmation, idempotence and QEM quirks."""

import pytest

from ansible_collections.qem.replicate.plugins.module_utils.client import QemClient, QemInputError
from ansible_collections.qem.replicate.plugins.module_utils.task_action import ActionSettings, TaskActionRunner

USER = "CORP\\svc_qem"
PASSWORD = "S3cret-pw"


def _scenario(tasks, **overrides):
    scenario = {
        "time_scale": 0.05,
        "users": [{"username": USER, "password": PASSWORD}],
        "servers": [{"name": "rep-01", "type": "replicate", "tasks": tasks}],
    }
    scenario.update(overrides)
    return scenario


def _run(sim, names, state, check_mode=False, **settings):
    settings.setdefault("poll_interval", 0.05)
    settings.setdefault("wait_timeout", 10)
    warnings = []
    with QemClient(sim.host, USER, PASSWORD, ca_path=sim.ca_path) as client:
        runner = TaskActionRunner(client, "rep-01", ActionSettings(**settings), warn=warnings.append)
        outcome = runner.run(names, state, check_mode=check_mode)
    outcome["warnings"] = warnings
    return outcome


def _by_name(outcome):
    return {item["name"]: item for item in outcome["results"]}


def _requests(sim, endpoint):
    return [event for event in sim.events() if event.get("endpoint") == endpoint and event.get("status") != 401]


def test_stop_confirms_after_stale_reads(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING", "stop_duration": 1, "stale_reads": 2}]))
    outcome = _run(sim, ["T1"], "stopped")
    result = _by_name(outcome)["T1"]
    assert result["result"] == "stopped"
    assert result["after"] == "STOPPED"
    assert result["changed"] is True
    assert len(_requests(sim, "stop")) == 1


def test_stop_second_run_idempotent(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING", "stop_duration": 0}]))
    _run(sim, ["T1"], "stopped")
    second = _run(sim, ["T1"], "stopped")
    assert second["changed"] is False
    assert _by_name(second)["T1"]["result"] == "already_stopped"
    assert len(_requests(sim, "stop")) == 1


def test_check_mode_sends_nothing(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING"}, {"name": "T2", "state": "STOPPED"}]))
    outcome = _run(sim, ["T1", "T2"], "stopped", check_mode=True)
    assert _by_name(outcome)["T1"]["changed"] is True
    assert _by_name(outcome)["T2"]["changed"] is False
    assert _requests(sim, "stop") == []


def test_state_from_state_not_memory(qem_sim):
    tasks = [{"name": "T1", "state": "RUNNING", "memory_mb": 0, "stop_duration": 0},
             {"name": "T2", "state": "STOPPED", "memory_mb": 12}]
    sim = qem_sim(_scenario(tasks))
    outcome = _run(sim, ["T1", "T2"], "stopped")
    assert _by_name(outcome)["T1"]["before"] == "RUNNING"
    assert _by_name(outcome)["T1"]["result"] == "stopped"
    assert _by_name(outcome)["T2"]["result"] == "already_stopped"


def test_no_blind_repeat_while_stale(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING", "stop_duration": 2, "stale_reads": 5}]))
    outcome = _run(sim, ["T1"], "stopped")
    assert _by_name(outcome)["T1"]["result"] == "stopped"
    assert len(_requests(sim, "stop")) == 1


def test_resend_only_when_configured(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING", "never_stops": True}]))
    outcome = _run(sim, ["T1"], "stopped", wait_timeout=1.0, resend=1)
    result = _by_name(outcome)["T1"]
    assert result["result"] == "timeout"
    assert result["requests"] == 2
    assert "Request 2 was sent" in result["message"]
    assert len(_requests(sim, "stop")) == 2


def test_timeout_reports_state(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING", "never_stops": True}]))
    outcome = _run(sim, ["T1"], "stopped", wait_timeout=0.5)
    result = _by_name(outcome)["T1"]
    assert result["result"] == "timeout"
    assert "RUNNING" in result["message"]
    assert outcome["failed_tasks"] == ["T1"]
    assert len(_requests(sim, "stop")) == 1


def test_already_stopped_500_is_success(qem_sim):
    tasks = [{"name": "T1", "state": "RUNNING", "stop_duration": 0}]
    faults = [{"endpoint": "stop", "task": "T1", "times": 1, "status": 500, "error_code": "AEM_TASK_ALREADY_STOPPED"}]
    sim = qem_sim(_scenario(tasks, faults=faults))
    sim.set_task("rep-01", "T1", state="STOPPED")
    outcome = _run(sim, ["T1"], "stopped")
    assert _by_name(outcome)["T1"]["result"] == "already_stopped"


def test_stop_200_running_not_success_yet(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING", "stop_duration": 3, "stale_reads": 1}]))
    outcome = _run(sim, ["T1"], "stopped", stop_timeout=1)
    result = _by_name(outcome)["T1"]
    assert result["result"] == "stopped"
    assert result["seconds"] > 0


def test_resume_success_is_running(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "STOPPED", "run_duration": 1, "stale_reads": 2}]))
    outcome = _run(sim, ["T1"], "running")
    result = _by_name(outcome)["T1"]
    assert result["result"] == "running"
    assert result["after"] == "RUNNING"
    runs = _requests(sim, "run")
    assert len(runs) == 1
    assert runs[0].get("option") == "RESUME_PROCESSING"


def test_resume_fallback_to_error_fails(qem_sim):
    tasks = [{"name": "T1", "state": "STOPPED", "run_duration": 1, "after_run": {"state": "ERROR", "message": "ORA-01017 invalid login", "after": 1}}]
    sim = qem_sim(_scenario(tasks))
    outcome = _run(sim, ["T1"], "running", settle_reads=50, poll_interval=0.05)
    result = _by_name(outcome)["T1"]
    assert result["result"] == "failed"
    assert "ORA-01017" in result["message"]


def test_error_task_gets_no_stop(qem_sim):
    sim = qem_sim(_scenario([{"name": "T3", "state": "ERROR", "stop_reason": "FATAL_ERROR"}]))
    outcome = _run(sim, ["T3"], "stopped")
    assert _by_name(outcome)["T3"]["result"] == "skipped"
    assert _requests(sim, "stop") == []


def test_recovering_task_is_stopped(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RECOVERY", "stop_reason": "RECOVERABLE_ERROR", "stop_duration": 0}]))
    outcome = _run(sim, ["T1"], "stopped")
    assert _by_name(outcome)["T1"]["before"] == "RECOVERING"
    assert _by_name(outcome)["T1"]["result"] == "stopped"


def test_missing_task_fails_before_request(qem_sim):
    sim = qem_sim(_scenario([{"name": "Orders", "state": "RUNNING"}]))
    with pytest.raises(QemInputError) as error:
        _run(sim, ["orders"], "stopped")
    assert "QEM spells it 'Orders'" in str(error.value)
    assert _requests(sim, "stop") == []


def test_stop_error_code_reread(qem_sim):
    tasks = [{"name": "T1", "state": "RUNNING", "stop_duration": 0}]
    faults = [{"endpoint": "stop", "task": "T1", "times": 1, "status": 500, "error_code": "AEM_STOP_TASK_TIMEOUT"}]
    sim = qem_sim(_scenario(tasks, faults=faults))
    outcome = _run(sim, ["T1"], "stopped", wait_timeout=1.0)
    result = _by_name(outcome)["T1"]
    assert result["result"] == "timeout"
    assert "AEM_STOP_TASK_TIMEOUT" in result["message"]
    assert len(_requests(sim, "stop")) == 1


def test_not_connected_window_retried(qem_sim):
    scenario = _scenario([{"name": "T1", "state": "STOPPED", "run_duration": 0}])
    scenario["servers"][0]["not_connected"] = {"start": 0, "duration": 10}
    sim = qem_sim(scenario)
    outcome = _run(sim, ["T1"], "running", not_connected_timeout=5)
    assert _by_name(outcome)["T1"]["result"] == "running"


def test_not_connected_past_window_pending(qem_sim):
    scenario = _scenario([{"name": "T1", "state": "STOPPED"}])
    scenario["servers"][0]["not_connected"] = {"start": 0, "duration": 1000}
    sim = qem_sim(scenario)
    outcome = _run(sim, ["T1"], "running", not_connected_timeout=0.3)
    assert _by_name(outcome)["T1"]["result"] == "pending"
    assert _requests(sim, "run") == []


def test_one_list_read_per_poll(qem_sim):
    tasks = [{"name": "T%d" % index, "state": "RUNNING", "stop_duration": 2} for index in range(20)]
    sim = qem_sim(_scenario(tasks))
    outcome = _run(sim, [task["name"] for task in tasks], "stopped", poll_interval=0.1, workers=5)
    assert not outcome["failed_tasks"]
    assert sim.counters().get("task_details", 0) == 0
    assert len(_requests(sim, "stop")) == 20


def test_progress_counts_down_to_no_pending_task(qem_sim):
    sim = qem_sim(_scenario([{"name": "T1", "state": "RUNNING", "stop_duration": 1},
                             {"name": "T2", "state": "RUNNING", "stop_duration": 20},
                             {"name": "T3", "state": "STOPPED"}]))
    calls = []
    with QemClient(sim.host, USER, PASSWORD, ca_path=sim.ca_path) as client:
        runner = TaskActionRunner(client, "rep-01", ActionSettings(poll_interval=0.05, wait_timeout=10, stop_timeout=1, workers=1),
                                  on_progress=lambda pending, in_flight, unsent: calls.append((sorted(pending), in_flight, unsent)))
        runner.run(["T1", "T2", "T3"], "stopped")

    assert calls[:5] == [(["T1", "T2"], 0, 2), (["T1", "T2"], 1, 1), (["T1", "T2"], 0, 1), (["T1", "T2"], 1, 0), (["T1", "T2"], 0, 0)]
    assert (["T2"], 0, 0) in calls
    assert calls[-1] == ([], 0, 0)
