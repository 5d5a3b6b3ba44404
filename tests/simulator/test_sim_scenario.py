"""Scenario loading: defaults, and errors that name the offending key."""

import os

import pytest
import qem_simulator
from qem_simulator import ScenarioError, load_scenario

BASIC_SCENARIO = os.path.join(os.path.dirname(os.path.abspath(qem_simulator.__file__)), "scenarios", "basic.yml")


def one_task(**task):
    """Return a scenario with one server holding the given task."""
    return {"servers": [{"name": "rep-01", "tasks": [dict({"name": "T1"}, **task)]}]}


def test_basic_example_loads():
    scenario = load_scenario(BASIC_SCENARIO)
    assert [server["name"] for server in scenario["servers"]] == ["rep-01", "compose-01"]


def test_empty_scenario_defaults():
    scenario = load_scenario(None)
    assert scenario["time_scale"] == 1.0
    assert scenario["session_idle_timeout"] == 300
    assert scenario["users"] == [{"username": "admin", "password": "qem-demo-pass", "role": "admin"}]
    assert scenario["servers"] == []


def test_task_defaults_filled_in():
    task = load_scenario(one_task())["servers"][0]["tasks"][0]
    assert task["state"] == "STOPPED"
    assert task["stop_reason"] == "NORMAL"
    assert task["stale_reads"] == 0


def test_recovery_spelling_stored_canonical():
    task = load_scenario(one_task(state="RECOVERY"))["servers"][0]["tasks"][0]
    assert task["state"] == "RECOVERING"
    assert task["stop_reason"] == "RECOVERABLE_ERROR"


@pytest.mark.parametrize("scenario, fragment", [
    (one_task(stat="RUNNING"), "servers[rep-01].tasks[T1]: unknown keys ['stat']"),
    (one_task(reads_from="LS"), "no task 'LS'"),
    (one_task(cdc_only=True, full_load={"tables_loading": 1}), "cdc_only and full_load"),
    (one_task(stop_duration="soon"), "stop_duration: expected a number"),
    (one_task(after_run={"state": "RUNNING"}), "expected ERROR or STOPPED"),
    ({"servers": [{"name": "a"}, {"name": "a"}]}, "duplicate server names"),
    ({"servers": [{"name": "a", "tasks": [{"name": "T"}, {"name": "T"}]}]}, "duplicate task names"),
    ({"time_scale": 0}, "time_scale: must be greater than 0"),
    ({"faults": [{"endpoint": "stop"}]}, "needs at least one of"),
    ({"faults": [{"endpoint": "stopp", "status": 500}]}, "faults[0].endpoint"),
    ({"servers": [{"name": "a", "state": "UP"}]}, "servers[a].state"),
    ({"users": [{"password": "x"}]}, "users[0]: missing key 'username'"),
], ids=["unknown-key", "reads-from", "cdc-and-full-load", "number", "after-run-state", "dup-server", "dup-task",
        "time-scale", "fault-effect", "fault-endpoint", "server-state", "user-name"])
def test_invalid_scenario_named(scenario, fragment):
    with pytest.raises(ScenarioError) as raised:
        load_scenario(scenario)
    assert fragment in str(raised.value)


def test_yaml_file_top_level_list(tmp_path):
    path = tmp_path / "list.yml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ScenarioError):
        load_scenario(str(path))
