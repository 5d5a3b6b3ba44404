"""Stop and run requests: timeout semantics, errors, stale reads and the task life cycle."""

import http.client
import json
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

SCALE = 0.01


def scenario(**task):
    """Return a one-server scenario with task T1 (defaults overridden by `task`) and a stopped task T2."""
    t1 = {"name": "T1", "state": "RUNNING", "stop_duration": 5, "run_duration": 5}
    t1.update(task)
    return {"time_scale": SCALE, "servers": [{"name": "rep-01", "tasks": [t1, {"name": "T2", "state": "STOPPED"}]}]}


def test_stop_returns_state_and_message(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(stop_duration=1)))
    response = api.stop("rep-01", "T1", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"state": "STOPPED", "error_message": ""}


def test_stop_timeout_shorter_than_stop(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(stop_duration=50)))
    started = time.monotonic()
    response = api.stop("rep-01", "T1", timeout=5)
    elapsed = time.monotonic() - started
    assert response.json()["state"] == "RUNNING"
    assert elapsed >= 5 * SCALE
    assert elapsed < 50 * SCALE


def test_stop_returns_when_stopped(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(stop_duration=5)))
    started = time.monotonic()
    response = api.stop("rep-01", "T1", timeout=60)
    elapsed = time.monotonic() - started
    assert response.json()["state"] == "STOPPED"
    assert elapsed < 30 * SCALE


def test_stop_default_timeout_60(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(never_stops=True)))
    started = time.monotonic()
    response = api.post("servers", "rep-01", "tasks", "T1", params={"action": "stop"})
    elapsed = time.monotonic() - started
    assert response.json()["state"] == "RUNNING"
    assert elapsed >= 60 * SCALE


def test_stop_completes_after_duration(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(stop_duration=10)))
    api.stop("rep-01", "T1", timeout=0)
    assert api.tasks("rep-01")["T1"]["state"] == "RUNNING"
    assert api.wait_state("rep-01", "T1", "STOPPED") == "STOPPED"
    assert api.tasks("rep-01")["T1"]["stop_reason"] == "NORMAL"


def test_stop_stopped_task_error(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario()))
    response = api.stop("rep-01", "T2")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_TASK_ALREADY_STOPPED"
    assert response.json()["error_message"] == "Replicate task T2 on server rep-01 is already stopped."


def test_stop_error_task_error(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="ERROR")))
    response = api.stop("rep-01", "T1")
    assert response.json()["error_code"] == "AEM_TASK_ALREADY_STOPPED"


def test_stop_recovering_task_works(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="RECOVERY", stop_duration=0)))
    response = api.stop("rep-01", "T1", timeout=5)
    assert response.json()["state"] == "STOPPED"


def test_stop_unknown_task(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario()))
    response = api.stop("rep-01", "nope")
    assert response.json()["error_code"] == "AEM_TASK_NOT_FOUND"


def test_stop_unknown_server(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario()))
    response = api.stop("nope", "T1")
    assert response.json()["error_code"] == "AEM_SERVER_NOT_FOUND"


def test_stop_never_stops(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(never_stops=True)))
    assert api.stop("rep-01", "T1", timeout=3).json()["state"] == "RUNNING"
    time.sleep(0.1)
    assert api.tasks("rep-01")["T1"]["state"] == "RUNNING"


def test_repeated_stop_keeps_timer(qem_sim, qem_http):
    sim = qem_sim(scenario(stop_duration=20))
    api = qem_http(sim)
    api.stop("rep-01", "T1", timeout=0)
    time.sleep(0.1)
    api.stop("rep-01", "T1", timeout=0)
    assert api.wait_state("rep-01", "T1", "STOPPED") == "STOPPED"
    first_stop = sim.events(endpoint="stop")[0]["scenario_t"]
    transitions = sim.events(endpoint="transition", task="T1")
    assert len(transitions) == 1
    assert transitions[0]["scenario_t"] == pytest.approx(first_stop + 20, abs=1)


def test_stale_reads_after_stop(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(stop_duration=0, stale_reads=2)))
    assert api.stop("rep-01", "T1", timeout=5).json()["state"] == "STOPPED"
    reads = [api.tasks("rep-01")["T1"]["state"] for attempt in range(3)]
    assert reads == ["RUNNING", "RUNNING", "STOPPED"]


def test_stale_reads_count_details(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(stop_duration=0, stale_reads=2)))
    api.stop("rep-01", "T1", timeout=5)
    first = api.get("servers", "rep-01", "tasks", "T1").json()
    second = api.tasks("rep-01")["T1"]
    third = api.get("servers", "rep-01", "tasks", "T1").json()
    assert first["state"] == "RUNNING"
    assert first["task_stop_reason"] == "NONE"
    assert second["state"] == "RUNNING"
    assert third["state"] == "STOPPED"


def test_stale_reads_after_run(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=0, stale_reads=1)))
    assert api.run("rep-01", "T1", timeout=5).json()["state"] == "RUNNING"
    reads = [api.tasks("rep-01")["T1"]["state"] for attempt in range(2)]
    assert reads == ["STOPPED", "RUNNING"]


def test_run_returns_running(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=2)))
    response = api.run("rep-01", "T1", timeout=30)
    assert response.status_code == 200
    assert response.json() == {"state": "RUNNING", "error_message": ""}


def test_run_timeout_returns_stopped(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=50)))
    response = api.run("rep-01", "T1", timeout=2)
    assert response.json()["state"] == "STOPPED"
    assert api.wait_state("rep-01", "T1", "RUNNING") == "RUNNING"


def test_run_on_running_task_harmless(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    response = api.run("rep-01", "T1", timeout=5)
    assert response.status_code == 200
    assert response.json()["state"] == "RUNNING"
    assert sim.events(endpoint="transition") == []


def test_run_error_task_works(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="ERROR", run_duration=0)))
    assert api.run("rep-01", "T1", timeout=5).json()["state"] == "RUNNING"


def test_stop_while_starting_cancels_run(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=20)))
    api.run("rep-01", "T1", timeout=0)
    assert api.stop("rep-01", "T1", timeout=0).json()["state"] == "STOPPED"
    time.sleep(0.3)
    assert api.tasks("rep-01")["T1"]["state"] == "STOPPED"


def test_after_run_falls_to_error(qem_sim, qem_http):
    after_run = {"state": "ERROR", "message": "ORA-12541: no listener", "after": 3}
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=0, after_run=after_run)))
    assert api.run("rep-01", "T1", timeout=1).json()["state"] == "RUNNING"
    assert api.wait_state("rep-01", "T1", "ERROR") == "ERROR"
    entry = api.tasks("rep-01")["T1"]
    assert entry["message"] == "ORA-12541: no listener"
    assert entry["stop_reason"] == "FATAL_ERROR"


def test_after_run_error_in_response(qem_sim, qem_http):
    after_run = {"state": "ERROR", "message": "ORA-12541: no listener", "after": 0}
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=0, after_run=after_run)))
    response = api.run("rep-01", "T1", timeout=1)
    assert response.json() == {"state": "ERROR", "error_message": "ORA-12541: no listener"}


def test_after_run_falls_to_stopped(qem_sim, qem_http):
    after_run = {"state": "STOPPED", "message": "Stopped on error", "after": 2}
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=0, after_run=after_run)))
    api.run("rep-01", "T1", timeout=1)
    assert api.wait_state("rep-01", "T1", "STOPPED") == "STOPPED"
    assert api.tasks("rep-01")["T1"]["message"] == "Stopped on error"


def test_recovering_after_run_returns(qem_sim, qem_http):
    sim = qem_sim(scenario(state="STOPPED", run_duration=0, recovering_after_run={"after": 2, "duration": 30}))
    api = qem_http(sim)
    api.run("rep-01", "T1", timeout=1)
    assert api.wait_state("rep-01", "T1", "RECOVERY") == "RECOVERY"
    assert api.wait_state("rep-01", "T1", "RUNNING") == "RUNNING"
    states = [event["state_after"] for event in sim.events(endpoint="transition", task="T1")]
    assert states == ["RUNNING", "RECOVERY", "RUNNING"]


def test_recovering_after_run_forever(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=0, recovering_after_run=-1)))
    api.run("rep-01", "T1", timeout=0)
    assert api.wait_state("rep-01", "T1", "RECOVERY") == "RECOVERY"
    time.sleep(0.2)
    assert api.tasks("rep-01")["T1"]["state"] == "RECOVERY"


def test_full_load_finishes_running(qem_sim, qem_http):
    full_load = {"tables_loading": 2, "tables_queued": 4, "tables_completed": 1, "remaining": 20}
    api = qem_http(qem_sim(scenario(full_load=full_load)))
    early = api.get("servers", "rep-01", "tasks", "T1").json()
    time.sleep(0.3)
    late = api.get("servers", "rep-01", "tasks", "T1").json()
    assert early["full_load_completed"] is False
    assert early["full_load_counters"]["tables_loading_count"] == 2
    assert late["full_load_completed"] is True
    assert late["full_load_counters"]["tables_loading_count"] == 0
    assert late["full_load_counters"]["tables_queued_count"] == 0
    assert late["full_load_counters"]["tables_completed_count"] == 7
    assert "full_load_end" in late


def test_full_load_paused_when_stopped(qem_sim, qem_http):
    full_load = {"tables_loading": 2, "tables_queued": 4, "remaining": 20}
    api = qem_http(qem_sim(scenario(state="STOPPED", full_load=full_load)))
    time.sleep(0.3)
    body = api.get("servers", "rep-01", "tasks", "T1").json()
    assert body["full_load_completed"] is False
    assert body["full_load_counters"]["tables_queued_count"] == 4


def test_full_load_only_stops(qem_sim, qem_http):
    full_load = {"tables_loading": 1, "remaining": 5, "then": "stop"}
    api = qem_http(qem_sim(scenario(full_load=full_load)))
    assert api.wait_state("rep-01", "T1", "STOPPED") == "STOPPED"
    assert api.tasks("rep-01")["T1"]["stop_reason"] == "FULL_LOAD_ONLY_FINISHED"


def test_reload_target_restarts_load(qem_sim, qem_http):
    full_load = {"tables_loading": 2, "completed": True}
    sim = qem_sim(scenario(state="STOPPED", run_duration=0, full_load=full_load))
    api = qem_http(sim)
    api.run("rep-01", "T1", timeout=1, option="RELOAD_TARGET")
    body = api.get("servers", "rep-01", "tasks", "T1").json()
    assert body["full_load_completed"] is False
    assert body["full_load_counters"]["tables_loading_count"] == 2


def test_replaced_load_ignores_old_end(qem_sim, qem_http):
    sim = qem_sim(scenario(full_load={"tables_loading": 2, "remaining": 10}))
    api = qem_http(sim)
    sim.set_task("rep-01", "T1", full_load={"tables_loading": 4, "remaining": 1000})
    time.sleep(15 * SCALE)
    body = api.get("servers", "rep-01", "tasks", "T1").json()
    assert body["full_load_completed"] is False
    assert body["full_load_counters"]["tables_loading_count"] == 4


def test_bodyless_post_needs_length(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    connection = http.client.HTTPSConnection("127.0.0.1", sim.port, context=ssl.create_default_context(cafile=sim.ca_path))
    path = api.url("servers", "rep-01", "tasks", "T1").split(str(sim.port), 1)[1] + "?action=stop&timeout=0"
    connection.putrequest("POST", path)
    connection.putheader("EnterpriseManager.APISessionID", api.session.headers["EnterpriseManager.APISessionID"])
    connection.endheaders()
    response = connection.getresponse()
    connection.close()
    assert response.status == 411
    assert sim.task("rep-01", "T1")["state"] == "RUNNING"


def test_post_with_zero_length_works(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario()))
    response = api.post("servers", "rep-01", "tasks", "T1", params={"action": "stop", "timeout": "0"}, headers={"Content-Length": "0"})
    assert response.status_code == 200


@pytest.mark.parametrize("params", [
    {"action": "pause"},
    {"timeout": "5"},
    {"action": "stop", "timeout": "soon"},
    {"action": "stop", "timeout": "-1"},
    {"action": "stop", "force": "true"},
    {"action": "stop", "option": "RESUME_PROCESSING"},
    {"action": "run", "option": "RESUME"},
    {"action": "run"},
    {"action": "run", "option": "RESUME_PROCESSING", "cdcposition": "2024-01-01T00:00:00"},
], ids=["unknown-action", "no-action", "text-timeout", "negative-timeout", "unknown-param", "stop-option", "unknown-option",
        "missing-option", "position-in-query"])
def test_invalid_action_parameters(qem_sim, qem_http, params):
    sim = qem_sim(scenario(state="STOPPED"))
    api = qem_http(sim)
    response = api.post("servers", "rep-01", "tasks", "T1", params=params)
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_INVALID_PARAMETER"
    assert sim.events(endpoint="transition") == []


def test_option_names_case_insensitive(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=0)))
    response = api.post("servers", "rep-01", "tasks", "T1", params={"Action": "RUN", "option": "resume_processing", "Timeout": "1"})
    assert response.json()["state"] == "RUNNING"


def test_timestamp_option_needs_body(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED")))
    response = api.run("rep-01", "T1", option="RESUME_PROCESSING_FROM_TIMESTAMP")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_INVALID_PARAMETER"


def test_timestamp_option_with_body(qem_sim, qem_http):
    sim = qem_sim(scenario(state="STOPPED", run_duration=0))
    api = qem_http(sim)
    response = api.run("rep-01", "T1", timeout=1, option="RESUME_PROCESSING_FROM_TIMESTAMP", json={"cdcposition": "2026-01-31T22:10:00"})
    assert response.json()["state"] == "RUNNING"
    assert sim.events(endpoint="run")[0]["option"] == "RESUME_PROCESSING_FROM_TIMESTAMP"
    assert sim.events(endpoint="run")[0]["cdcposition"] == "2026-01-31T22:10:00"


def test_timestamp_inline_string_body(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED", run_duration=0)))
    body = json.dumps(json.dumps({"cdcposition": "2026-01-31T22:10:00"}))
    response = api.run("rep-01", "T1", timeout=1, option="RESUME_PROCESSING_FROM_TIMESTAMP", data=body,
                       headers={"Content-Type": "application/json"})
    assert response.json()["state"] == "RUNNING"


def test_timestamp_bad_format(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED")))
    response = api.run("rep-01", "T1", option="RESUME_PROCESSING_FROM_TIMESTAMP", json={"cdcposition": "31/01/2026 22:10"})
    assert response.json()["error_code"] == "AEM_INVALID_PARAMETER"


def test_timestamp_body_not_json(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario(state="STOPPED")))
    response = api.run("rep-01", "T1", option="RESUME_PROCESSING_FROM_TIMESTAMP", data=b"cdcposition=now",
                       headers={"Content-Type": "application/json"})
    assert response.json()["error_code"] == "DESERIALIZE_TO_TYPE"


def test_compose_run_without_option(qem_sim, qem_http):
    scenario_dict = {"time_scale": SCALE, "servers": [{"name": "c-01", "type": "compose", "tasks": [
        {"name": "Load__Warehouse", "state": "STOPPED", "run_duration": 0}]}]}
    api = qem_http(qem_sim(scenario_dict))
    response = api.post("servers", "c-01", "tasks", "Load__Warehouse", params={"action": "run", "timeout": "1"})
    assert response.json()["state"] == "RUNNING"


def test_viewer_cannot_stop(qem_sim, qem_http):
    scenario_dict = scenario()
    scenario_dict["users"] = [{"username": "viewer", "password": "v", "role": "viewer"}]
    api = qem_http(qem_sim(scenario_dict))
    assert api.tasks("rep-01")["T1"]["state"] == "RUNNING"
    response = api.stop("rep-01", "T1")
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED_REQUEST"


def test_stop_server_not_connected(qem_sim, qem_http):
    scenario_dict = scenario()
    scenario_dict["servers"][0]["not_connected"] = {"start": 0, "duration": -1}
    api = qem_http(qem_sim(scenario_dict))
    response = api.stop("rep-01", "T1")
    assert response.json()["error_code"] == "AEM_SERVER_NOT_CONNECTED"
    assert api.sim.task("rep-01", "T1")["state"] == "RUNNING"


def test_stop_event_records_states(qem_sim, qem_http):
    sim = qem_sim(scenario(stop_duration=0))
    api = qem_http(sim)
    api.stop("rep-01", "T1", timeout=1)
    event = sim.events(endpoint="stop")[0]
    assert event["action"] == "stop"
    assert event["state_before"] == "RUNNING"
    assert event["state_after"] == "STOPPED"
    assert event["status"] == 200


def test_parallel_stops_wait_together(qem_sim, qem_http):
    tasks = [{"name": f"T{index}", "state": "RUNNING", "stop_duration": 30} for index in range(8)]
    sim = qem_sim({"time_scale": SCALE, "servers": [{"name": "rep-01", "tasks": tasks}]})
    api = qem_http(sim)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        states = list(pool.map(lambda task: api.stop("rep-01", task["name"], timeout=60).json()["state"], tasks))
    elapsed = time.monotonic() - started
    assert states == ["STOPPED"] * 8
    assert elapsed < 4 * 30 * SCALE
