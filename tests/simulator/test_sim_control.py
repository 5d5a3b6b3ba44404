"""Control endpoints under /_sim and the Python test hooks."""

import http.client
import ssl
import time

SCALE = 0.01
SCENARIO = {"time_scale": SCALE, "servers": [{"name": "rep 01", "tasks": [
    {"name": "T 1", "state": "RUNNING", "stop_duration": 50},
    {"name": "T2", "state": "STOPPED"},
]}]}


def test_events_endpoint_lists_requests(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    api.get("servers")
    events = api.control("GET", "events").json()["events"]
    assert [event["endpoint"] for event in events] == ["login", "servers"]


def test_events_endpoint_filter(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    api.get("servers")
    events = api.control("GET", "events", params={"endpoint": "servers"}).json()["events"]
    assert len(events) == 1


def test_counters_endpoint_counts_requests(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    api.tasks("rep 01")
    api.tasks("rep 01")
    counters = api.control("GET", "counters").json()["counters"]
    assert counters == {"login": 1, "logout": 0, "servers": 0, "server": 0, "task_list": 2, "task_details": 0, "stop": 0, "run": 0}


def test_sessions_endpoint_lists_ids(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    api = qem_http(sim)
    assert api.control("GET", "sessions").json()["sessions"] == sim.sessions_issued()


def test_reset_endpoint_clears_log(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    api = qem_http(sim)
    api.get("servers")
    assert api.control("POST", "reset").status_code == 200
    assert sim.events() == []
    assert sim.counters()["login"] == 0


def test_expire_sessions_endpoint(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    assert api.control("POST", "sessions/expire").json() == {"expired": 1}
    response = api.get("servers")
    assert response.json()["error_code"] == "INVALID_SESSION_ID"


def test_faults_endpoint_adds_fault(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    assert api.control("POST", "faults", json={"endpoint": "servers", "times": 1, "status": 502}).status_code == 200
    assert api.get("servers").status_code == 502
    assert api.get("servers").status_code == 200


def test_faults_endpoint_rejects_invalid(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    response = api.control("POST", "faults", json={"endpoint": "servers"})
    assert response.status_code == 400


def test_control_not_logged(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    api = qem_http(sim)
    sim.reset_log()
    api.control("GET", "counters")
    api.control("GET", "events")
    assert sim.events() == []
    assert sum(sim.counters().values()) == 0


def test_set_task_endpoint(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    response = api.control("POST", "servers/rep%2001/tasks/T%201", json={"state": "ERROR", "message": "disk full"})
    entry = api.tasks("rep 01")["T 1"]
    assert response.status_code == 200
    assert entry["state"] == "ERROR"
    assert entry["message"] == "disk full"
    assert entry["stop_reason"] == "FATAL_ERROR"


def test_get_task_endpoint(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    body = api.control("GET", "servers/rep%2001/tasks/T2").json()
    assert body["state"] == "STOPPED"
    assert body["pending"] is None


def test_set_task_unknown_404(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    response = api.control("POST", "servers/rep%2001/tasks/nope", json={"state": "STOPPED"})
    assert response.status_code == 404


def test_set_task_bad_field_400(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    response = api.control("POST", "servers/rep%2001/tasks/T2", json={"stat": "STOPPED"})
    assert response.status_code == 400
    assert "stat" in response.json()["error"]


def test_set_server_endpoint(qem_sim, qem_http):
    api = qem_http(qem_sim(SCENARIO))
    assert api.control("POST", "servers/rep%2001", json={"not_connected_for": 1000}).status_code == 200
    response = api.get("servers", "rep 01", "tasks")
    assert response.json()["error_code"] == "AEM_SERVER_NOT_CONNECTED"


def test_control_rejects_other_address(qem_sim):
    sim = qem_sim(SCENARIO)
    context = ssl.create_default_context(cafile=sim.ca_path)
    connection = http.client.HTTPSConnection("127.0.0.1", sim.port, context=context, source_address=("127.0.0.2", 0), timeout=5)
    connection.request("GET", "/_sim/events")
    response = connection.getresponse()
    connection.close()
    assert response.status == 403


def test_set_task_cancels_pending_stop(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    api = qem_http(sim)
    api.stop("rep 01", "T 1", timeout=0)
    sim.set_task("rep 01", "T 1", state="RUNNING")
    assert sim.task("rep 01", "T 1")["pending"] is None
    time.sleep(60 * SCALE)
    assert api.tasks("rep 01")["T 1"]["state"] == "RUNNING"


def test_set_task_changes_behaviour(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    api = qem_http(sim)
    sim.set_task("rep 01", "T 1", stop_duration=0, memory_mb=42, table_errors=3)
    assert api.stop("rep 01", "T 1", timeout=1).json()["state"] == "STOPPED"
    details = api.get("servers", "rep 01", "tasks", "T 1").json()
    assert details["memory_mb"] == 42
    assert details["full_load_counters"]["tables_with_error_count"] == 3


def test_set_task_full_load(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    api = qem_http(sim)
    sim.set_task("rep 01", "T 1", full_load={"tables_loading": 4, "remaining": 1000})
    counters = api.get("servers", "rep 01", "tasks", "T 1").json()["full_load_counters"]
    assert counters["tables_loading_count"] == 4


def test_set_server_python_api(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    api = qem_http(sim)
    sim.set_server("rep 01", state="NOT_MONITORED")
    assert api.get("servers", "rep 01", "tasks").json()["error_code"] == "AEM_SERVER_NOT_MONITORED"
    sim.set_server("rep 01", state="MONITORED")
    assert api.get("servers", "rep 01", "tasks").status_code == 200


def test_task_snapshot_ignores_stale(qem_sim, qem_http):
    scenario = {"time_scale": SCALE, "servers": [{"name": "s", "tasks": [{"name": "T", "state": "RUNNING", "stop_duration": 0, "stale_reads": 5}]}]}
    sim = qem_sim(scenario)
    api = qem_http(sim)
    api.stop("s", "T", timeout=1)
    assert sim.task("s", "T")["state"] == "STOPPED"
    assert api.tasks("s")["T"]["state"] == "RUNNING"
