"""Server and task read endpoints: shapes, keys and business errors."""

import time

import pytest

SCENARIO = {
    "time_scale": 0.01,
    "servers": [
        {
            "name": "rep-01",
            "platform": "WINDOWS",
            "version": "2024.11.0",
            "tasks": [
                {"name": "T1", "state": "RUNNING", "tags": ["sales", "eu"], "memory_mb": 0,
                 "latency": {"source": "00:00:02", "total": "120:00:05"}, "table_errors": 2},
                {"name": "T2", "state": "STOPPED", "stop_reason": "FULL_LOAD_ONLY_FINISHED", "memory_mb": 12},
                {"name": "T3", "state": "RECOVERY", "message": "Target not reachable", "cdc_only": True},
                {"name": "T5", "state": "STARTING"},
                {"name": "T4", "state": "ERROR", "message": "ORA-01017", "log_stream_staging": False,
                 "full_load": {"tables_loading": 3, "tables_queued": 10, "remaining": 1000}},
            ],
        },
        {"name": "rep-02", "details_key": "serverDetails", "tasks": [{"name": "X"}]},
        {"name": "rep-down", "state": "ERROR", "message": "Connection refused", "tasks": [{"name": "X"}]},
        {"name": "rep-off", "state": "NOT_MONITORED", "tasks": [{"name": "X"}]},
        {"name": "compose-01", "type": "compose", "tasks": [{"name": "Load__Warehouse", "state": "STOPPED"}]},
    ],
}

SERVER_KEYS = {"$type", "name", "description", "host", "port", "state", "message", "platform", "version", "last_connection"}
DETAIL_KEYS = {
    "name", "description", "state", "message", "task_stop_reason", "source_endpoint", "target_endpoint", "profile",
    "full_load_completed", "full_load_counters", "cdc_transactions_counters", "cdc_event_counters", "cdc_throughput",
    "full_load_throughput", "memory_mb", "cpu_percentage", "disk_usage_mb",
}
COUNTER_KEYS = {
    "tables_completed_count", "tables_loading_count", "tables_queued_count", "tables_with_error_count",
    "records_completed_count", "estimated_records_for_all_tables_count",
}


@pytest.fixture(name="api")
def api_fixture(qem_sim, qem_http):
    return qem_http(qem_sim(SCENARIO))


def test_server_list_wrapped(api):
    body = api.get("servers").json()
    assert list(body) == ["serverList"]
    assert [server["name"] for server in body["serverList"]] == ["rep-01", "rep-02", "rep-down", "rep-off", "compose-01"]


def test_server_list_keys(api):
    for server in api.get("servers").json()["serverList"]:
        assert set(server) == SERVER_KEYS


def test_server_list_types(api):
    types = {server["name"]: server["$type"] for server in api.get("servers").json()["serverList"]}
    assert types["rep-01"] == "ReplicateServerInfo"
    assert types["compose-01"] == "ComposeServerInfo"


def test_server_list_states(api):
    states = {server["name"]: server["state"] for server in api.get("servers").json()["serverList"]}
    assert states == {"rep-01": "MONITORED", "rep-02": "MONITORED", "rep-down": "ERROR", "rep-off": "NOT_MONITORED", "compose-01": "MONITORED"}


def test_server_time_has_no_zone(api):
    server = api.get("servers").json()["serverList"][0]
    time.strptime(server["last_connection"], "%Y-%m-%dT%H:%M:%S")


def test_server_details_key_default(api):
    body = api.get("servers", "rep-01").json()
    assert list(body) == ["server_details"]
    assert body["server_details"]["platform"] == "WINDOWS"
    assert body["server_details"]["task_summary"] == {"total": 5, "running": 1, "stopped": 1, "recovering": 1, "error": 1}


def test_server_details_key_camel(api):
    body = api.get("servers", "rep-02").json()
    assert list(body) == ["serverDetails"]


def test_server_details_when_down(api):
    body = api.get("servers", "rep-down").json()
    assert body["server_details"]["state"] == "ERROR"


def test_server_not_found(api):
    response = api.get("servers", "nope")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_SERVER_NOT_FOUND"
    assert response.json()["error_message"] == "The requested server nope could not be found."


def test_task_list_wrapped(api):
    body = api.get("servers", "rep-01", "tasks").json()
    assert list(body) == ["taskList"]
    assert [task["name"] for task in body["taskList"]] == ["T1", "T2", "T3", "T5", "T4"]


def test_task_list_entry_keys(api):
    for entry in api.get("servers", "rep-01", "tasks").json()["taskList"]:
        assert set(entry) == {"name", "state", "stop_reason", "message", "assigned_tags"}


def test_task_list_values(api):
    tasks = api.tasks("rep-01")
    assert tasks["T1"]["assigned_tags"] == ["sales", "eu"]
    assert tasks["T2"]["stop_reason"] == "FULL_LOAD_ONLY_FINISHED"
    assert tasks["T3"]["state"] == "RECOVERY"
    assert tasks["T3"]["stop_reason"] == "RECOVERABLE_ERROR"
    assert tasks["T4"]["message"] == "ORA-01017"


def test_unknown_state_passed_through(api):
    assert api.tasks("rep-01")["T5"]["state"] == "STARTING"
    assert api.get("servers", "rep-01", "tasks", "T5").json()["state"] == "STARTING"


def test_recovering_spelling_option(qem_sim, qem_http):
    api = qem_http(qem_sim(dict(SCENARIO, recovering_spelling="RECOVERING")))
    assert api.tasks("rep-01")["T3"]["state"] == "RECOVERING"
    assert api.get("servers", "rep-01", "tasks", "T3").json()["state"] == "RECOVERING"


def test_task_list_server_down(api):
    response = api.get("servers", "rep-down", "tasks")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_SERVER_NOT_CONNECTED"
    assert "Connection refused" in response.json()["error_message"]


def test_task_list_not_monitored(api):
    response = api.get("servers", "rep-off", "tasks")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_SERVER_NOT_MONITORED"


def test_compose_task_listed(api):
    assert list(api.tasks("compose-01")) == ["Load__Warehouse"]


def test_task_details_flat(api):
    body = api.get("servers", "rep-01", "tasks", "T1").json()
    assert DETAIL_KEYS <= set(body)
    assert body["name"] == "T1"
    assert "stop_reason" not in body
    assert body["task_stop_reason"] == "NONE"


def test_task_details_wrapped(qem_sim, qem_http):
    api = qem_http(qem_sim(dict(SCENARIO, task_details_wrapped=True)))
    body = api.get("servers", "rep-01", "tasks", "T1").json()
    assert list(body) == ["task"]
    assert body["task"]["name"] == "T1"


def test_task_details_endpoints(api):
    body = api.get("servers", "rep-01", "tasks", "T1").json()
    assert set(body["source_endpoint"]) == {"name", "type"}
    assert set(body["target_endpoint"]) == {"name", "type"}


def test_task_details_counters(api):
    counters = api.get("servers", "rep-01", "tasks", "T1").json()["full_load_counters"]
    assert set(counters) == COUNTER_KEYS
    assert counters["tables_with_error_count"] == 2


def test_task_details_latency(api):
    body = api.get("servers", "rep-01", "tasks", "T1").json()
    assert body["cdc_latency"] == {"source_latency": "00:00:02", "total_latency": "120:00:05"}


def test_task_details_no_latency(api):
    body = api.get("servers", "rep-01", "tasks", "T2").json()
    assert "cdc_latency" not in body


def test_committed_misspelling_kept(api):
    counters = api.get("servers", "rep-01", "tasks", "T1").json()["cdc_transactions_counters"]
    assert len([key for key in counters if "comitted" in key]) == 3


def test_memory_independent_of_state(api):
    assert api.get("servers", "rep-01", "tasks", "T1").json()["memory_mb"] == 0
    assert api.get("servers", "rep-01", "tasks", "T2").json()["memory_mb"] == 12


def test_cdc_only_counters_zero(api):
    body = api.get("servers", "rep-01", "tasks", "T3").json()
    assert body["full_load_completed"] is False
    assert all(value == 0 for value in body["full_load_counters"].values())


def test_full_load_counters_loading(api):
    body = api.get("servers", "rep-01", "tasks", "T4").json()
    assert body["full_load_completed"] is False
    assert body["full_load_counters"]["tables_loading_count"] == 3
    assert body["full_load_counters"]["tables_queued_count"] == 10


def test_completed_full_load_default(api):
    body = api.get("servers", "rep-01", "tasks", "T2").json()
    assert body["full_load_completed"] is True
    assert body["full_load_counters"]["tables_loading_count"] == 0
    assert body["full_load_counters"]["tables_queued_count"] == 0


def test_log_stream_flag_only_when_set(api):
    assert api.get("servers", "rep-01", "tasks", "T4").json()["log_stream_staging"] is False
    assert "log_stream_staging" not in api.get("servers", "rep-01", "tasks", "T1").json()


def test_task_not_found(api):
    response = api.get("servers", "rep-01", "tasks", "t1")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_TASK_NOT_FOUND"


def test_task_details_unknown_server(api):
    response = api.get("servers", "nope", "tasks", "T1")
    assert response.json()["error_code"] == "AEM_SERVER_NOT_FOUND"


def test_unknown_path_404(api):
    response = api.session.get(f"{api.sim.base_url}/servers/rep-01/endpoints")
    assert response.status_code == 404


def test_wrong_method_405(api):
    response = api.session.post(f"{api.sim.base_url}/servers", data=b"")
    assert response.status_code == 405


def test_not_connected_window(qem_sim, qem_http):
    scenario = {"time_scale": 0.01, "servers": [{"name": "rep-01", "not_connected": {"start": 0, "duration": 30}, "tasks": [{"name": "T1"}]}]}
    api = qem_http(qem_sim(scenario))
    response = api.get("servers", "rep-01", "tasks")
    assert response.json()["error_code"] == "AEM_SERVER_NOT_CONNECTED"
    assert api.get("servers").json()["serverList"][0]["state"] == "ERROR"
    time.sleep(0.35)
    assert api.get("servers", "rep-01", "tasks").status_code == 200
    assert api.get("servers").json()["serverList"][0]["state"] == "MONITORED"


def test_latency_drains_over_time(qem_sim, qem_http):
    scenario = {"time_scale": 0.01, "servers": [{"name": "rep-01", "tasks": [
        {"name": "T1", "state": "RUNNING", "latency": {"source": "00:01:40", "total": "00:01:40", "drain": 50}}]}]}
    api = qem_http(qem_sim(scenario))
    first = api.get("servers", "rep-01", "tasks", "T1").json()["cdc_latency"]["total_latency"]
    time.sleep(0.55)
    later = api.get("servers", "rep-01", "tasks", "T1").json()["cdc_latency"]["total_latency"]
    assert first != "00:00:00"
    assert later == "00:00:00"
