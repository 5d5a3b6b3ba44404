"""Fixtures for the simulator's own tests: a small HTTP helper built on requests, not on the collection's client."""

import time
from urllib.parse import quote

import pytest
import requests

SESSION_HEADER = "EnterpriseManager.APISessionID"


def encode_segment(value):
    """Percent-encode a path value twice, as Qlik's SDK does."""
    return quote(quote(value, safe=""), safe="")


class QemHttp:
    """Minimal API caller: one requests.Session, the simulator's CA, no environment settings."""

    def __init__(self, sim):
        self.sim = sim
        self.session = requests.Session()
        # REQUESTS_CA_BUNDLE and proxy variables of the environment must not apply to 127.0.0.1.
        self.session.trust_env = False
        self.session.verify = sim.ca_path if sim.ca_path else True

    def url(self, *segments):
        """Return the API URL of the given path values, each encoded twice."""
        path = "/".join(encode_segment(segment) if index % 2 else segment for index, segment in enumerate(segments))
        return f"{self.sim.base_url}/{path}"

    def login(self, username=None, password=None, method="GET"):
        """Log in with Basic credentials (UTF-8); keep the session id on success and return the response."""
        username = self.sim.username if username is None else username
        password = self.sim.password if password is None else password
        response = self.session.request(method, f"{self.sim.base_url}/login", auth=(username.encode("utf-8"), password.encode("utf-8")))
        if response.status_code == 200:
            self.session.headers[SESSION_HEADER] = response.headers[SESSION_HEADER]
        return response

    def get(self, *segments, **kwargs):
        """GET an API path given as path values: get("servers", "rep-01", "tasks")."""
        return self.session.get(self.url(*segments), **kwargs)

    def post(self, *segments, **kwargs):
        """POST to an API path given as path values."""
        return self.session.post(self.url(*segments), **kwargs)

    def tasks(self, server):
        """Return the taskList of a server as {name: entry}."""
        response = self.get("servers", server, "tasks")
        response.raise_for_status()
        return {entry["name"]: entry for entry in response.json()["taskList"]}

    def wait_state(self, server, task, state, limit=2.0):
        """Poll the task list until `task` shows `state` or `limit` real seconds pass; return the state last read."""
        deadline = time.monotonic() + limit
        current = None
        while time.monotonic() < deadline:
            current = self.tasks(server)[task]["state"]
            if current == state:
                break
            time.sleep(0.01)
        return current

    def stop(self, server, task, timeout=0):
        """Send a stop request."""
        return self.post("servers", server, "tasks", task, params={"action": "stop", "timeout": timeout})

    def run(self, server, task, timeout=0, option="RESUME_PROCESSING", **kwargs):
        """Send a run request."""
        return self.post("servers", server, "tasks", task, params={"action": "run", "option": option, "timeout": timeout}, **kwargs)

    def control(self, method, path, **kwargs):
        """Call a /_sim control endpoint."""
        return self.session.request(method, f"{self.sim.control_url}/{path}", **kwargs)


@pytest.fixture
def qem_http():
    """Return a factory: ``qem_http(sim, login=True)`` gives a QemHttp, logged in as the first user."""
    helpers = []

    def make(sim, login=True):
        helper = QemHttp(sim)
        if login:
            helper.login().raise_for_status()
        helpers.append(helper)
        return helper

    yield make
    for helper in helpers:
        helper.session.close()
