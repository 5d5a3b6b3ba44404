"""Injected faults: error statuses, error codes, connection resets, delays and latency."""

import time

import pytest
import requests

SCALE = 0.01


def scenario(faults, **extra):
    """Return a scenario with two servers, tasks T1 (running) and T2, and the given faults."""
    tasks = [{"name": "T1", "state": "RUNNING", "stop_duration": 0}, {"name": "T2", "state": "RUNNING", "stop_duration": 0}]
    result = {"time_scale": SCALE, "faults": faults,
              "servers": [{"name": "rep-01", "tasks": tasks}, {"name": "rep-02", "tasks": [dict(task) for task in tasks]}]}
    result.update(extra)
    return result


def test_status_fault_times(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([{"endpoint": "task_list", "server": "rep-01", "times": 2, "status": 503}])))
    statuses = [api.get("servers", "rep-01", "tasks").status_code for attempt in range(3)]
    assert statuses == [503, 503, 200]


def test_status_fault_body_plain(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([{"endpoint": "task_list", "status": 503}])))
    response = api.get("servers", "rep-01", "tasks")
    assert response.text == "Service Unavailable"


def test_fault_matches_server_only(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([{"endpoint": "task_list", "server": "rep-01", "times": 1, "status": 503}])))
    assert api.get("servers", "rep-02", "tasks").status_code == 200
    assert api.get("servers", "rep-01", "tasks").status_code == 503


def test_error_code_fault_on_task(qem_sim, qem_http):
    sim = qem_sim(scenario([{"endpoint": "stop", "server": "rep-01", "task": "T1", "error_code": "AEM_STOP_TASK_TIMEOUT"}]))
    api = qem_http(sim)
    assert api.stop("rep-01", "T2", timeout=1).status_code == 200
    response = api.stop("rep-01", "T1", timeout=1)
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_STOP_TASK_TIMEOUT"
    assert sim.task("rep-01", "T1")["state"] == "RUNNING"


def test_applied_fault_changes_state(qem_sim, qem_http):
    sim = qem_sim(scenario([{"endpoint": "stop", "task": "T1", "error_code": "AEM_STOP_TASK_INNER_ERR", "apply": True}]))
    api = qem_http(sim)
    response = api.stop("rep-01", "T1", timeout=1)
    assert response.json()["error_code"] == "AEM_STOP_TASK_INNER_ERR"
    assert sim.task("rep-01", "T1")["state"] == "STOPPED"


def test_reset_fault_closes_connection(qem_sim, qem_http):
    sim = qem_sim(scenario([{"endpoint": "task_list", "times": 1, "reset": True}]))
    api = qem_http(sim)
    with pytest.raises(requests.ConnectionError):
        api.get("servers", "rep-01", "tasks")
    assert api.get("servers", "rep-01", "tasks").status_code == 200
    assert sim.events(endpoint="task_list")[0]["fault"] == "reset"


def test_applied_reset_runs_command(qem_sim, qem_http):
    sim = qem_sim(scenario([{"endpoint": "stop", "reset": True, "apply": True}]))
    api = qem_http(sim)
    with pytest.raises(requests.ConnectionError):
        api.stop("rep-01", "T1", timeout=1)
    assert sim.task("rep-01", "T1")["state"] == "STOPPED"


def test_delay_fault_slows_response(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([{"endpoint": "task_details", "times": 1, "delay": 0.3}])))
    started = time.monotonic()
    response = api.get("servers", "rep-01", "tasks", "T1")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.3


def test_delay_exceeds_client_timeout(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([{"endpoint": "task_details", "times": 1, "delay": 0.5}])))
    with pytest.raises(requests.Timeout):
        api.get("servers", "rep-01", "tasks", "T1", timeout=0.1)


def test_fault_skip_first_requests(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([{"endpoint": "task_list", "skip": 1, "times": 1, "status": 502}])))
    statuses = [api.get("servers", "rep-01", "tasks").status_code for attempt in range(3)]
    assert statuses == [200, 502, 200]


def test_fault_unlimited_times(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([{"endpoint": "servers", "times": -1, "status": 500, "error_code": "AEM_INTERNAL"}])))
    statuses = {api.get("servers").status_code for attempt in range(5)}
    assert statuses == {500}


def test_login_fault_then_success(qem_sim, qem_http):
    sim = qem_sim(scenario([{"endpoint": "login", "times": 1, "status": 503}]))
    api = qem_http(sim, login=False)
    assert api.login().status_code == 503
    assert api.login().status_code == 200


def test_latency_ms_per_request(qem_sim, qem_http):
    api = qem_http(qem_sim(scenario([], latency_ms=50)))
    started = time.monotonic()
    for attempt in range(3):
        api.get("servers")
    assert time.monotonic() - started >= 0.15


def test_add_fault_at_runtime(qem_sim, qem_http):
    sim = qem_sim(scenario([]))
    api = qem_http(sim)
    sim.add_fault(endpoint="run", status=500, error_code="AEM_RUN_TASK_FAILED")
    sim.set_task("rep-01", "T1", state="STOPPED")
    assert api.run("rep-01", "T1").json()["error_code"] == "AEM_RUN_TASK_FAILED"


def test_faulted_requests_counted(qem_sim, qem_http):
    sim = qem_sim(scenario([{"endpoint": "task_list", "times": 2, "status": 503}]))
    api = qem_http(sim)
    for attempt in range(3):
        api.get("servers", "rep-01", "tasks")
    assert sim.counters()["task_list"] == 3
