"""HTTP(S) server and request handler of the simulator.

The server is a ThreadingHTTPServer speaking HTTP/1.1 with keep-alive. With TLS, each
connection's handshake runs in that connection's thread, so a client that never finishes
its handshake cannot block the accept loop. Request logs go to the ``qem_simulator``
logger at DEBUG level and contain the method, path and status only, never headers.
"""

import contextlib
import json
import logging
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

from . import api
from .model import ApiError
from .scenario import ScenarioError, normalise_fault

LOG = logging.getLogger("qem_simulator")

CONTROL_PREFIX = "/_sim"
_CONNECTION_IDLE_SECONDS = 120
_MAX_BODY = 1024 * 1024


class QemHTTPServer(ThreadingHTTPServer):
    """Threaded server bound to 127.0.0.1 that keeps track of its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, model, ssl_context=None):
        self.model = model
        self.ssl_context = ssl_context
        self._connections = set()
        self._connections_lock = threading.Lock()
        self.connections_accepted = 0
        super().__init__(address, QemRequestHandler)

    def finish_request(self, request, client_address):
        """Run the TLS handshake (if any) in this connection's thread, then serve the connection."""
        connection = request
        with self._connections_lock:
            self.connections_accepted += 1
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                connection = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                LOG.debug("TLS handshake with %s:%s failed: %s", client_address[0], client_address[1], exc)
                return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            if connection is not request:
                with contextlib.suppress(OSError):
                    connection.close()

    def close_connections(self):
        """Shut down every open client connection, so that keep-alive clients see the server stop."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):
        LOG.debug("Connection from %s:%s ended with an error", client_address[0], client_address[1], exc_info=True)


class QemRequestHandler(BaseHTTPRequestHandler):
    """Handle the Enterprise Manager API paths and the /_sim control paths."""

    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    timeout = _CONNECTION_IDLE_SECONDS
    # Without TCP_NODELAY, headers and body in separate writes wait for delayed ACKs (about 40 ms a request).
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        LOG.debug("%s - %s", self.client_address[0], format % args)

    def do_GET(self):  # pylint: disable=invalid-name
        self._dispatch("GET")

    def do_POST(self):  # pylint: disable=invalid-name
        self._dispatch("POST")

    def do_PUT(self):  # pylint: disable=invalid-name
        self._dispatch("PUT")

    def do_DELETE(self):  # pylint: disable=invalid-name
        self._dispatch("DELETE")

    def do_PATCH(self):  # pylint: disable=invalid-name
        self._dispatch("PATCH")

    # Dispatch -------------------------------------------------------------

    def _dispatch(self, method):
        raw_path, separator, query = self.path.partition("?")
        if not separator:
            query = ""
        body, has_length = self._read_body()
        if body is None and has_length:
            return
        if raw_path == CONTROL_PREFIX or raw_path.startswith(CONTROL_PREFIX + "/"):
            self._control(method, raw_path, query, body)
            return
        self._api(method, raw_path, query, body, has_length)

    def _api(self, method, raw_path, query, body, has_length):
        model = self.server.model
        started = model.now()
        event = {"method": method, "path": raw_path, "query": query, "endpoint": None, "server": None, "task": None,
                 "action": None, "option": None, "status": None, "error_code": None, "state_before": None, "state_after": None}
        reply = self._api_reply(method, raw_path, query, body, has_length, event)

        if reply is not None:
            event["status"] = reply.status
            event["error_code"] = reply.error_code
        if event["task"] is not None:
            event["state_after"] = model.current_state(event["server"], event["task"])
        event["duration"] = round((model.now() - started) * model.time_scale, 6)
        # The event is logged before the reply goes out, so a client that reads the log
        # right after the response finds its request there.
        model.record(event, started)

        if reply is None:
            self._reset_connection()
        else:
            self._send(reply)

    def _api_reply(self, method, raw_path, query, body, has_length, event):
        """Return the reply to an API request, or None to reset the connection; fill in `event`."""
        model = self.server.model
        route = api.match_route(raw_path)
        if route is None:
            return api.Reply(404, text="Not Found")
        if method not in route.methods:
            return api.Reply(405, text="Method Not Allowed", headers={"Allow": ", ".join(route.methods)})

        try:
            params = api.parse_query(query)
            query_error = None
        except ApiError as error:
            params = {}
            query_error = error
        endpoint = route.endpoint
        if endpoint == "task_details" and method == "POST":
            endpoint = api.action_endpoint(params)
        event.update(endpoint=endpoint, server=route.server, task=route.task)
        model.count(endpoint)
        if route.task is not None:
            event["state_before"] = model.current_state(route.server, route.task)

        if model.scenario["latency_ms"]:
            time.sleep(model.scenario["latency_ms"] / 1000.0)
        if method == "POST" and not has_length:
            # HTTP.sys returns 411 Length Required for a POST without Content-Length (API guide: send Content-Length: 0).
            # The body framing is unknown, so the connection closes after the reply.
            self.close_connection = True
            return api.Reply(411, text="Length Required")

        fault = self._take_fault(endpoint, route, event)
        if fault is not None and not fault["apply"]:
            return _fault_reply(fault)
        if query_error is not None:
            reply = api.Reply.from_error(query_error)
        else:
            request = api.Request(method, route, params, self.headers, body)
            try:
                reply = api.handle(model, request)
            except Exception:  # pylint: disable=broad-except
                LOG.exception("Simulator error on %s %s", method, raw_path)
                reply = api.Reply(500, {"error_code": "SIMULATOR_INTERNAL_ERROR", "error_message": "Internal simulator error; see its log."})
            event.update({key: value for key, value in request.info.items() if key in ("action", "option", "cdcposition", "state_returned")})
        if fault is not None:
            return _fault_reply(fault)
        return reply

    def _take_fault(self, endpoint, route, event):
        """Apply a matching fault's delay; return the fault if it also replaces the reply."""
        fault = self.server.model.take_fault(endpoint, route.server, route.task)
        if fault is None:
            return None
        if fault["reset"]:
            event["fault"] = "reset"
        elif fault["status"] is not None:
            event["fault"] = "status"
        else:
            event["fault"] = "delay"
        if fault["delay"]:
            time.sleep(fault["delay"])
        if fault["reset"] or fault["status"] is not None:
            return fault
        return None

    # Control endpoints ----------------------------------------------------

    def _control(self, method, raw_path, query, body):
        if self.client_address[0] != "127.0.0.1":
            self._send(api.Reply(403, {"error": "control endpoints accept requests from 127.0.0.1 only"}))
            return
        model = self.server.model
        segments = [unquote(segment) for segment in raw_path[len(CONTROL_PREFIX):].strip("/").split("/")]
        try:
            reply = self._control_reply(model, method, segments, query, body)
        except (KeyError, LookupError) as exc:
            reply = api.Reply(404, {"error": str(exc.args[0]) if exc.args else str(exc)})
        except (ScenarioError, ValueError, TypeError) as exc:
            reply = api.Reply(400, {"error": str(exc)})
        self._send(reply)

    @staticmethod
    def _control_reply(model, method, segments, query, body):
        fields = {}
        if method == "POST" and body:
            fields = json.loads(body.decode("utf-8"))
            if not isinstance(fields, dict):
                raise ValueError("the request body must be a JSON object")
        route = (method, len(segments), segments[0] if segments else "")
        if route == ("GET", 1, "events"):
            match = dict(parse_qsl(query))
            return api.Reply(200, {"events": model.events(**match)})
        if route == ("GET", 1, "counters"):
            return api.Reply(200, {"counters": model.counters()})
        if route == ("GET", 1, "sessions"):
            return api.Reply(200, {"sessions": model.sessions_issued()})
        if route == ("POST", 1, "reset"):
            model.reset_log()
            return api.Reply(200, {"reset": True})
        if route == ("POST", 2, "sessions") and segments[1] == "expire":
            return api.Reply(200, {"expired": model.expire_sessions()})
        if route == ("POST", 1, "faults"):
            model.add_fault(normalise_fault(fields, "fault"))
            return api.Reply(200, {"added": True})
        if route[2] == "servers" and len(segments) == 2 and method == "POST":
            model.set_server(segments[1], fields)
            return api.Reply(200, {"server": segments[1]})
        if route[2] == "servers" and len(segments) == 4 and segments[2] == "tasks":
            if method == "POST":
                model.set_task(segments[1], segments[3], fields)
            return api.Reply(200, model.task_snapshot(segments[1], segments[3]))
        return api.Reply(404, {"error": f"no control endpoint {method} /{'/'.join(segments)}"})

    # HTTP plumbing --------------------------------------------------------

    def _read_body(self):
        """Return (body bytes or None, whether the request framed a body with Content-Length or chunks)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(), True
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", False
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0 or size > _MAX_BODY:
            self.close_connection = True
            self._send(api.Reply(400, text="Bad Request: invalid Content-Length"))
            return None, True
        return self.rfile.read(size) if size else b"", True

    def _read_chunked(self):
        chunks = []
        while True:
            line = self.rfile.readline(1024).strip()
            size = int(line.split(b";")[0] or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _send(self, reply):
        if reply.payload is not None:
            data = json.dumps(reply.payload).encode("utf-8")
            content_type = "application/json; charset=utf-8"
        elif reply.text is not None:
            data = reply.text.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        else:
            data = b""
            content_type = None
        self.send_response(reply.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data:
            self.wfile.write(data)
        self.wfile.flush()

    def _reset_connection(self):
        """Close the connection without a response; SO_LINGER 0 makes the close send a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _fault_reply(fault):
    """Return the reply a fault sends, or None for a connection reset."""
    if fault["reset"]:
        return None
    status = fault["status"]
    if fault["error_code"] is None:
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
        return api.Reply(status, text=reason.get(status, "Injected fault"))
    message = fault["error_message"] or f"Injected fault {fault['error_code']}"
    return api.Reply(status, {"error_code": fault["error_code"], "error_message": message}, error_code=fault["error_code"])
