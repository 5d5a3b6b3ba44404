"""Login, sessions and logout as the Enterprise Manager API guide documents them."""

import base64
import time

import pytest
import requests

SESSION_HEADER = "EnterpriseManager.APISessionID"

USERS = [
    {"username": "CORP\\svc_qem", "password": "s3cret"},
    {"username": "svc_qem@corp.example", "password": "upn-pass"},
    {"username": "api-token:tok-123", "password": ""},
    {"username": "jwt:eyJhbGciOiJIUzI1NiJ9.e30.sig", "password": ""},
    {"username": "CORP\\ops", "password": "pässwörd-€"},
]

SCENARIO = {"time_scale": 0.01, "session_idle_timeout": 100, "users": USERS, "servers": [{"name": "rep-01"}]}


def basic(raw):
    """Return a Basic Authorization header for raw "user:password" text encoded as UTF-8."""
    return {"Authorization": "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")}


@pytest.mark.parametrize("user", USERS, ids=["domain", "upn", "api-token", "jwt", "utf8-password"])
def test_login_accepts_user_form(qem_sim, qem_http, user):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).login(user["username"], user["password"])
    assert response.status_code == 200
    assert response.headers.get(SESSION_HEADER)
    assert response.content == b""


def test_login_api_token_as_password(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).login("api-token", "tok-123")
    assert response.status_code == 200


def test_login_post_works(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).login("CORP\\svc_qem", "s3cret", method="POST")
    assert response.status_code == 200
    assert response.headers.get(SESSION_HEADER)


def test_session_id_only_in_header(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).login("CORP\\svc_qem", "s3cret")
    session_id = response.headers[SESSION_HEADER]
    assert session_id not in response.text
    assert "Set-Cookie" not in response.headers
    assert sim.sessions_issued() == [session_id]


def test_login_header_name_case_insensitive(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    helper = qem_http(sim, login=False)
    session_id = helper.login("CORP\\svc_qem", "s3cret").headers[SESSION_HEADER]
    del helper.session.headers[SESSION_HEADER]
    response = helper.session.get(f"{sim.base_url}/servers", headers={"enterprisemanager.apisessionid": session_id})
    assert response.status_code == 200


@pytest.mark.parametrize("username, password", [("CORP\\svc_qem", "wrong"), ("nobody", "s3cret"), ("CORP\\ops", "p\u00e4sswo\u0308rd-\u20ac")])
def test_login_bad_credentials_401(qem_sim, qem_http, username, password):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).login(username, password)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED_REQUEST"
    assert SESSION_HEADER not in response.headers


def test_login_latin1_encoding_rejected(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    header = {"Authorization": "Basic " + base64.b64encode("CORP\\ops:pässwörd-€".encode("cp1252")).decode("ascii")}
    response = qem_http(sim, login=False).session.get(f"{sim.base_url}/login", headers=header)
    assert response.status_code == 401


def test_login_json_body_rejected(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).session.post(f"{sim.base_url}/login", json={"username": "CORP\\svc_qem", "password": "s3cret"})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED_REQUEST"


def test_login_basic_with_body_rejected(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).session.post(f"{sim.base_url}/login", headers=basic("CORP\\svc_qem:s3cret"), json={"remember": True})
    assert response.status_code == 401


def test_login_bearer_rejected(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).session.get(f"{sim.base_url}/login", headers={"Authorization": "Bearer tok-123"})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED_REQUEST"


def test_bearer_on_api_rejected(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).session.get(f"{sim.base_url}/servers", headers={"Authorization": "Bearer tok-123"})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED_REQUEST"


def test_login_without_authorization_401(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).session.get(f"{sim.base_url}/login")
    assert response.status_code == 401


def test_unknown_session_id_401(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    response = qem_http(sim, login=False).session.get(f"{sim.base_url}/servers", headers={SESSION_HEADER: "not-a-session"})
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_SESSION_ID"


def test_session_expires_when_idle(qem_sim, qem_http):
    sim = qem_sim(dict(SCENARIO, time_scale=0.002))
    helper = qem_http(sim)
    assert helper.get("servers").status_code == 200
    time.sleep(0.3)
    response = helper.get("servers")
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_SESSION_ID"


def test_session_activity_keeps_it(qem_sim, qem_http):
    sim = qem_sim(dict(SCENARIO, time_scale=0.002))
    helper = qem_http(sim)
    for attempt in range(6):
        time.sleep(0.05)
        assert helper.get("servers").status_code == 200


def test_expired_session_relogin_works(qem_sim, qem_http):
    sim = qem_sim(dict(SCENARIO, time_scale=0.002))
    helper = qem_http(sim)
    time.sleep(0.3)
    assert helper.get("servers").status_code == 401
    assert helper.login().status_code == 200
    assert helper.get("servers").status_code == 200
    assert len(sim.sessions_issued()) == 2


def test_logout_ends_session(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    helper = qem_http(sim)
    assert helper.get("logout").status_code == 200
    response = helper.get("servers")
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_SESSION_ID"


def test_default_user_without_users(qem_sim, qem_http):
    sim = qem_sim({"servers": []})
    response = qem_http(sim, login=False).login("admin", "qem-demo-pass")
    assert response.status_code == 200


def test_event_log_has_no_secrets(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    helper = qem_http(sim)
    helper.get("servers")
    log_text = repr(sim.events())
    assert sim.password not in log_text
    for session_id in sim.sessions_issued():
        assert session_id not in log_text


def test_keep_alive_reuses_connection(qem_sim, qem_http):
    sim = qem_sim(SCENARIO)
    helper = qem_http(sim)
    for attempt in range(5):
        assert helper.get("servers").status_code == 200
    assert sim.connections_accepted() == 1


def test_requests_without_session_401(qem_sim):
    sim = qem_sim(SCENARIO)
    response = requests.Session().get(f"{sim.base_url}/servers", verify=sim.ca_path)
    assert response.status_code == 401
