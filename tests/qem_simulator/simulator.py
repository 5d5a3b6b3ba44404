"""The Simulator class: one simulated Enterprise Manager on 127.0.0.1."""

import logging
import shutil
import tempfile
import threading

from . import tls
from .handler import QemHTTPServer
from .model import Model
from .scenario import load_scenario, normalise_fault

LOG = logging.getLogger("qem_simulator")

BIND_ADDRESS = "127.0.0.1"


class Simulator:
    """A QEM simulator driven by a scenario (a dict, a YAML/JSON file path, or None).

    ``start()`` generates the certificates (with TLS), binds 127.0.0.1:port (0 picks a
    free port) and serves in a background thread; ``stop()`` shuts it down. Use it as a
    context manager to do both.
    """

    def __init__(self, scenario=None, port=0, tls=True, state_dir=None):  # pylint: disable=redefined-outer-name
        self.scenario = load_scenario(scenario)
        self.tls = tls
        self.port = port
        self.state_dir = state_dir
        self.ca_path = None
        self._own_state_dir = False
        self._model = Model(self.scenario)
        self._server = None
        self._thread = None

    # Life cycle -----------------------------------------------------------

    def start(self):
        """Start serving; return self."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        context = None
        if self.tls:
            if self.state_dir is None:
                self.state_dir = tempfile.mkdtemp(prefix="qem-sim-")
                self._own_state_dir = True
            self.ca_path, cert_path, key_path = tls.write_certificates(str(self.state_dir))
            context = tls.server_context(cert_path, key_path)
        self._server = QemHTTPServer((BIND_ADDRESS, self.port), self._model, context)
        self.port = self._server.server_address[1]
        self._model.start_clock()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"qem-simulator-{self.port}", daemon=True)
        self._thread.start()
        LOG.info("QEM simulator listening on %s", self.base_url)
        return self

    def stop(self):
        """Stop serving, close open connections and remove a state directory the simulator created."""
        if self._server is None:
            return
        self._model.close()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        LOG.info("QEM simulator on port %s stopped", self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # Addresses ------------------------------------------------------------

    @property
    def scheme(self):
        """Return https, or http when TLS is off."""
        return "https" if self.tls else "http"

    @property
    def host(self):
        """Return host:port as the client's `host` option takes it."""
        return f"{BIND_ADDRESS}:{self.port}"

    @property
    def base_url(self):
        """Return the API base URL."""
        return f"{self.scheme}://{self.host}/attunityenterprisemanager/api/v1"

    @property
    def control_url(self):
        """Return the URL of the /_sim control endpoints."""
        return f"{self.scheme}://{self.host}/_sim"

    @property
    def users(self):
        """Return the scenario's users as (username, password) pairs."""
        return [(user["username"], user["password"]) for user in self.scenario["users"]]

    @property
    def username(self):
        """Return the first user's name."""
        return self.scenario["users"][0]["username"]

    @property
    def password(self):
        """Return the first user's password."""
        return self.scenario["users"][0]["password"]

    def info(self):
        """Return the addresses that the command line prints as JSON."""
        return {"base_url": self.base_url, "host": self.host, "ca_path": self.ca_path, "control_url": self.control_url}

    # Observation ----------------------------------------------------------

    def events(self, **match):
        """Return the event log ordered by time, optionally only events whose fields equal `match`."""
        return self._model.events(**match)

    def violations(self, kind=None):
        """Return the violation events, optionally of one kind."""
        match = {"endpoint": "violation"}
        if kind is not None:
            match["kind"] = kind
        return self._model.events(**match)

    def counters(self):
        """Return the request count per endpoint."""
        return self._model.counters()

    def sessions_issued(self):
        """Return every session id the simulator issued."""
        return self._model.sessions_issued()

    def expire_sessions(self):
        """End every open session now; the next request with one of them gets INVALID_SESSION_ID."""
        return self._model.expire_sessions()

    def reset_log(self):
        """Clear the event log and the counters."""
        self._model.reset_log()

    def task(self, server, name):
        """Return the current details of a task (no stale reads), plus `pending` and `stop_reason`."""
        return self._model.task_snapshot(server, name)

    def connections_accepted(self):
        """Return how many TCP connections the server accepted since it started."""
        return self._server.connections_accepted if self._server else 0

    def now(self):
        """Return the scenario time in scenario seconds."""
        return self._model.now()

    # Changes --------------------------------------------------------------

    def set_task(self, server, task, **fields):
        """Change a task's fields now; a new `state` cancels its pending stop or run."""
        self._model.set_task(server, task, fields)

    def set_server(self, server, **fields):
        """Change a server's fields now; `not_connected_for=N` starts an N-second outage now."""
        self._model.set_server(server, fields)

    def add_fault(self, **fault):
        """Add a fault with the keys of a scenario fault entry."""
        self._model.add_fault(normalise_fault(fault, "add_fault"))
