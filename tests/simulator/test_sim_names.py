"""Server and task names in the URL: each path value is percent-encoded twice by the client and decoded twice here."""

from urllib.parse import quote

import pytest

ODD_TASK = "A b&c#d%e+f'g,h"
ESCAPE_LOOKALIKE = "Sales%20EU"
NAMES = [ODD_TASK, ESCAPE_LOOKALIKE, "Orders 2024", "50% done", "a+b", "O'Brien, Sales", "Task#1 & more", "Load__Warehouse", "Übersicht ä"]
SERVER = "rep 01 & co"


@pytest.fixture(name="api")
def api_fixture(qem_sim, qem_http):
    tasks = [{"name": name, "state": "RUNNING", "stop_duration": 0, "run_duration": 0} for name in NAMES]
    return qem_http(qem_sim({"time_scale": 0.01, "servers": [{"name": SERVER, "tasks": tasks}]}))


def test_double_encoded_path_form(api):
    url = api.url("servers", SERVER, "tasks", ODD_TASK)
    assert url.endswith("/servers/rep%252001%2520%2526%2520co/tasks/A%2520b%2526c%2523d%2525e%252Bf%2527g%252Ch")


def test_task_list_odd_server(api):
    assert list(api.tasks(SERVER)) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_details_odd_names(api, name):
    response = api.get("servers", SERVER, "tasks", name)
    assert response.status_code == 200
    assert response.json()["name"] == name


@pytest.mark.parametrize("name", NAMES)
def test_stop_odd_names(api, name):
    response = api.stop(SERVER, name, timeout=1)
    assert response.json()["state"] == "STOPPED"
    assert api.sim.events(endpoint="stop")[0]["task"] == name


def test_single_encoding_misreads_escapes(api):
    single = quote(ESCAPE_LOOKALIKE, safe="")
    response = api.session.get(f"{api.sim.base_url}/servers/{quote(quote(SERVER, safe=''), safe='')}/tasks/{single}")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_TASK_NOT_FOUND"


def test_raw_hash_truncates_path(api):
    response = api.session.get(f"{api.sim.base_url}/servers/{quote(quote(SERVER, safe=''), safe='')}/tasks/Task#1 & more")
    assert response.status_code == 500
    assert response.json()["error_code"] == "AEM_TASK_NOT_FOUND"
