# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the QEM client: pure helpers, then behaviour against the simulator over HTTPS."""

import base64
import time

import pytest

from ansible_collections.qem.replicate.plugins.module_utils.client import (
    QemApiError,
    QemAuthError,
    QemClient,
    QemConnectionError,
    QemInputError,
    QemTlsError,
    basic_credentials,
    encode_path_segment,
    parse_host,
)

PASSWORD = "S3cret-pw"
SPECIAL_NAMES = ["Orders EU", "A&B", "hash#1", "pct%20", "plus+one", "O'Brien", "a,b,c", "Task__Project"]


def _scenario(**overrides):
    scenario = {
        "time_scale": 1.0,
        "users": [
            {"username": "CORP\\svc_qem", "password": PASSWORD},
            {"username": "svc_qem@corp.example", "password": PASSWORD},
            {"username": "api-token", "password": "tok-123"},
            {"username": "jwt", "password": "eyJhbGciOi.x.y"},
            {"username": "unicode", "password": "pässwörd"},
        ],
        "servers": [
            {
                "name": "rep 01&#",
                "type": "replicate",
                "tasks": [{"name": name, "state": "RUNNING", "stop_duration": 0, "run_duration": 0} for name in SPECIAL_NAMES],
            },
            {"name": "rep-02", "type": "replicate", "tasks": [{"name": "T1", "state": "STOPPED"}]},
            {"name": "compose-01", "type": "compose", "tasks": []},
        ],
    }
    scenario.update(overrides)
    return scenario


def _client(sim, username="CORP\\svc_qem", password=PASSWORD, **kwargs):
    kwargs.setdefault("ca_path", sim.ca_path)
    return QemClient(sim.host, username, password, **kwargs)


# Pure helpers

def test_parse_host_plain_name():
    assert parse_host("qem.example.com") == ("https://qem.example.com/attunityenterprisemanager/api/v1", None)


def test_parse_host_name_and_port():
    assert parse_host("qem.example.com:8443")[0] == "https://qem.example.com:8443/attunityenterprisemanager/api/v1"


def test_parse_host_https_url_trailing_slash():
    assert parse_host("https://qem.example.com:8443/")[0] == "https://qem.example.com:8443/attunityenterprisemanager/api/v1"


def test_parse_host_http_warns():
    base_url, warning = parse_host("http://127.0.0.1:8080")
    assert base_url.startswith("http://127.0.0.1:8080/")
    assert "plain http" in warning


@pytest.mark.parametrize("value", ["", "   ", "ftp://qem", "https://qem/other/path", "https://user:pw@qem", "qem:notaport"])
def test_parse_host_rejects_bad_forms(value):
    with pytest.raises(QemInputError):
        parse_host(value)


def test_encode_path_segment_twice():
    assert encode_path_segment("a b&c#d") == "a%2520b%2526c%2523d"


def test_basic_credentials_utf8():
    header = basic_credentials("unicode", "pässwörd")
    assert base64.b64decode(header.split(" ", 1)[1]).decode("utf-8") == "unicode:pässwörd"


def test_basic_credentials_token_in_username():
    header = basic_credentials("api-token:tok-123", None)
    assert base64.b64decode(header.split(" ", 1)[1]) == b"api-token:tok-123"


def test_password_colon_rejected_before_request():
    with pytest.raises(QemInputError) as error:
        QemClient("127.0.0.1:1", "CORP\\svc_qem", "pa:ss")
    assert "':'" in str(error.value)
    assert "pa:ss" not in str(error.value)


# Against the simulator

@pytest.mark.parametrize("username,password", [
    ("CORP\\svc_qem", PASSWORD),
    ("svc_qem@corp.example", PASSWORD),
    ("api-token", "tok-123"),
    ("api-token:tok-123", None),
    ("jwt", "eyJhbGciOi.x.y"),
    ("unicode", "pässwörd"),
])
def test_login_forms_accepted(qem_sim, username, password):
    sim = qem_sim(_scenario())
    with _client(sim, username, password) as client:
        assert len(client.list_servers()) == 3


def test_bad_credentials_auth_error(qem_sim):
    sim = qem_sim(_scenario())
    client = _client(sim, password="wrong")
    with pytest.raises(QemAuthError) as error:
        client.list_servers()
    assert error.value.status == 401


def test_session_id_only_in_header(qem_sim):
    sim = qem_sim(_scenario())
    with _client(sim) as client:
        client.list_tasks("rep-02")
    session_ids = sim.sessions_issued()
    assert session_ids
    for event in sim.events():
        for session_id in session_ids:
            assert session_id not in str(event.get("path"))


def test_close_logs_out(qem_sim):
    sim = qem_sim(_scenario())
    client = _client(sim)
    client.list_tasks("rep-02")
    client.close()
    assert sim.counters().get("logout") == 1


def test_session_expiry_relogin_once(qem_sim):
    sim = qem_sim(_scenario(session_idle_timeout=0.3))
    with _client(sim) as client:
        client.list_tasks("rep-02")
        time.sleep(0.6)
        client.list_tasks("rep-02")
        assert client.login_count == 2


def test_second_rejection_auth_error(qem_sim):
    faults = [{"endpoint": "task_list", "times": 2, "status": 401, "error_code": "INVALID_SESSION_ID"}]
    sim = qem_sim(_scenario(faults=faults))
    client = _client(sim)
    with pytest.raises(QemAuthError) as error:
        client.list_tasks("rep-02")
    assert "fresh login" in str(error.value)


def _accepted_stops(sim):
    return [event for event in sim.events() if event.get("endpoint") == "stop" and event.get("status") != 401]


def test_stop_after_expiry_rereads_state(qem_sim):
    sim = qem_sim(_scenario(session_idle_timeout=0.3))
    with _client(sim) as client:
        client.list_tasks("rep 01&#")
        client.stop_task("rep 01&#", "A&B")
        time.sleep(0.6)
        response = client.stop_task("rep 01&#", "A&B")
    assert response.get("resent") is False
    assert len(_accepted_stops(sim)) == 1


def test_stop_after_expiry_resends_once(qem_sim):
    sim = qem_sim(_scenario(session_idle_timeout=0.3))
    with _client(sim) as client:
        client.list_tasks("rep 01&#")
        time.sleep(0.6)
        client.stop_task("rep 01&#", "A&B")
        assert client.login_count == 2
    assert len(_accepted_stops(sim)) == 1


def test_business_error_typed(qem_sim):
    sim = qem_sim(_scenario())
    with _client(sim) as client:
        with pytest.raises(QemApiError) as error:
            client.list_tasks("no-such-server")
    assert error.value.status == 500
    assert error.value.error_code == "AEM_SERVER_NOT_FOUND"
    assert "no-such-server" in str(error.value)


def test_already_stopped_error_code(qem_sim):
    sim = qem_sim(_scenario())
    with _client(sim) as client:
        with pytest.raises(QemApiError) as error:
            client.stop_task("rep-02", "T1")
    assert error.value.error_code == "AEM_TASK_ALREADY_STOPPED"


def test_bodyless_post_accepted(qem_sim):
    sim = qem_sim(_scenario())
    with _client(sim) as client:
        response = client.run_task("rep-02", "T1")
    assert "state" in response
    assert sim.counters().get("run") == 1


def test_special_names_reach_simulator(qem_sim):
    sim = qem_sim(_scenario())
    with _client(sim) as client:
        for name in SPECIAL_NAMES:
            details = client.get_task("rep 01&#", name)
            assert details["name"] == name
    seen = {(event.get("server"), event.get("task")) for event in sim.events() if event.get("endpoint") == "task_details"}
    assert seen == {("rep 01&#", name) for name in SPECIAL_NAMES}


def test_special_name_stop_exact(qem_sim):
    sim = qem_sim(_scenario())
    with _client(sim) as client:
        client.stop_task("rep 01&#", "O'Brien")
    assert sim.task("rep 01&#", "O'Brien")["state"] in ("STOPPED", "RUNNING")
    stops = [event for event in sim.events() if event.get("endpoint") == "stop"]
    assert [event.get("task") for event in stops] == ["O'Brien"]


def test_tls_without_ca_path_fails(qem_sim):
    sim = qem_sim(_scenario())
    client = QemClient(sim.host, "CORP\\svc_qem", PASSWORD)
    with pytest.raises(QemTlsError) as error:
        client.list_servers()
    assert "ca_path" in str(error.value)


def test_tls_validate_certs_false_warns(qem_sim):
    sim = qem_sim(_scenario())
    warnings = []
    with QemClient(sim.host, "CORP\\svc_qem", PASSWORD, validate_certs=False, warn=warnings.append) as client:
        assert client.list_servers()
    assert any("validate_certs" in warning for warning in warnings)


def test_tls_ca_path_overrides_environment(qem_sim, monkeypatch):
    sim = qem_sim(_scenario())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    with _client(sim) as client:
        assert client.list_servers()


def test_retry_on_503_succeeds(qem_sim):
    sim = qem_sim(_scenario(faults=[{"endpoint": "task_list", "times": 2, "status": 503}]))
    warnings = []
    with _client(sim, warn=warnings.append, retry_max_seconds=20) as client:
        assert client.list_tasks("rep-02")[0]["name"] == "T1"
    assert len(warnings) == 2
    assert sim.counters().get("task_list") == 3


def test_retry_bounded_total(qem_sim):
    sim = qem_sim(_scenario(faults=[{"endpoint": "task_list", "times": 100, "status": 503}]))
    started = time.monotonic()
    with _client(sim, max_retries=3, retry_max_seconds=5) as client:
        with pytest.raises(QemApiError) as error:
            client.list_tasks("rep-02")
    assert error.value.status == 503
    assert sim.counters().get("task_list") == 4
    assert time.monotonic() - started < 10


def test_stop_never_resent_after_reset(qem_sim):
    sim = qem_sim(_scenario(faults=[{"endpoint": "stop", "times": 1, "reset": True}]))
    sim_client = _client(sim)
    with pytest.raises(QemConnectionError):
        sim_client.stop_task("rep 01&#", "A&B")
    sim_client.close()
    assert sim.counters().get("stop") == 1


def test_connection_refused_clear_error():
    client = QemClient("127.0.0.1:9", "CORP\\svc_qem", PASSWORD, max_retries=1, retry_max_seconds=1, request_timeout=2)
    with pytest.raises(QemConnectionError) as error:
        client.list_servers()
    assert "could not be reached" in str(error.value)


def test_error_text_has_no_session_id(qem_sim):
    sim = qem_sim(_scenario())
    with _client(sim) as client:
        with pytest.raises(QemApiError) as error:
            client.get_task("rep-02", "nope")
    for session_id in sim.sessions_issued():
        assert session_id not in str(error.value)
    assert PASSWORD not in str(error.value)
