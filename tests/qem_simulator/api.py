"""Enterprise Manager REST endpoints: routing, authentication and the endpoint logic.

The HTTP handler parses the request and sends the reply; this module decides what the
reply is. Business errors are HTTP 500 with {"error_code", "error_message"}, as the
Enterprise Manager API guide documents; authentication errors are HTTP 401.
"""

import base64
import binascii
import json
import re
from urllib.parse import parse_qsl, unquote

from .model import ApiError

API_PREFIX = "/attunityenterprisemanager/api/v1"
SESSION_HEADER = "EnterpriseManager.APISessionID"

RUN_OPTIONS = (
    "RESUME_PROCESSING",
    "RELOAD_TARGET",
    "RESUME_PROCESSING_FROM_TIMESTAMP",
    "METADATA_ONLY_RECREATE_ALL_TABLES",
    "METADATA_ONLY_CREATE_MISSING_TABLES",
    "RECOVER_USING_LOCALLY_STORED_CHECKPOINT",
    "RECOVER_USING_CHECKPOINT_STORED_ON_TARGET",
    "RESUME_PROCESSING_FROM_POSITION",
)
# Run options that need a {"cdcposition": ...} request body.
POSITION_OPTIONS = ("RESUME_PROCESSING_FROM_TIMESTAMP", "RESUME_PROCESSING_FROM_POSITION", "RECOVER_USING_CHECKPOINT_STORED_ON_TARGET")
DEFAULT_ACTION_TIMEOUT = 60
# The simulator's code for a malformed request; the code a real server returns is unconfirmed.
INVALID_PARAMETER = "AEM_INVALID_PARAMETER"

_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_UNAUTHORIZED = "Unauthorized Request."


class Reply:
    """Response to send: status, JSON payload or text, extra headers and the QEM error code."""

    def __init__(self, status, payload=None, headers=None, text=None, error_code=None):
        self.status = status
        self.payload = payload
        self.headers = headers or {}
        self.text = text
        self.error_code = error_code

    @classmethod
    def from_error(cls, error):
        """Build the reply for an ApiError."""
        return cls(error.status, {"error_code": error.error_code, "error_message": error.error_message}, error_code=error.error_code)


class Route:
    """A matched API path: endpoint name, allowed methods and the decoded server and task names."""

    def __init__(self, endpoint, methods, server=None, task=None):
        self.endpoint = endpoint
        self.methods = methods
        self.server = server
        self.task = task


def decode_segment(segment):
    """Decode a path segment twice, as Qlik's SDK encodes each path value twice (a space travels as %2520)."""
    # NOTE: the SDK's double encoding is documented; that a live server decodes twice is unconfirmed.
    return unquote(unquote(segment))


def match_route(raw_path):
    """Return the Route for an API path, or None when no endpoint has that path."""
    if not raw_path.lower().startswith(API_PREFIX + "/"):
        return None
    segments = raw_path[len(API_PREFIX) + 1:].split("/")
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    values = [decode_segment(segment) for segment in segments]
    keywords = [segment.lower() for segment in segments]
    count = len(segments)

    if count == 1 and keywords[0] == "login":
        return Route("login", ("GET", "POST"))
    if count == 1 and keywords[0] == "logout":
        return Route("logout", ("GET",))
    if count == 0 or keywords[0] != "servers":
        return None
    if count == 1:
        return Route("servers", ("GET",))
    if count == 2:
        return Route("server", ("GET",), values[1])
    if keywords[2] != "tasks":
        return None
    if count == 3:
        return Route("task_list", ("GET",), values[1])
    if count == 4:
        return Route("task_details", ("GET", "POST"), values[1], values[3])
    return None


def parse_query(query):
    """Parse a query string into a dict with lower-case names; raise ApiError on a repeated name."""
    params = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        key = name.lower()
        if key in params:
            raise ApiError(500, INVALID_PARAMETER, f"Parameter '{name}' is given more than once.")
        params[key] = value
    return params


def action_endpoint(params):
    """Return the counter name of a task POST: stop, run, or task_action for a missing or unknown action."""
    action = params.get("action", "").lower()
    return action if action in ("stop", "run") else "task_action"


class Request:
    """One API request as the handler parsed it."""

    def __init__(self, method, route, params, headers, body):
        self.method = method
        self.route = route
        self.params = params
        self.headers = headers
        self.body = body
        self.info = {}


def handle(model, request):
    """Run one API request against the model and return its Reply."""
    try:
        endpoint = request.route.endpoint
        if endpoint == "login":
            return _login(model, request)
        user = _session_user(model, request)
        if endpoint == "logout":
            model.end_session(request.headers.get(SESSION_HEADER))
            return Reply(200)
        if endpoint == "servers":
            return Reply(200, {"serverList": model.server_list()})
        if endpoint == "server":
            key, details = model.server_details(request.route.server)
            return Reply(200, {key: details})
        if endpoint == "task_list":
            return Reply(200, {"taskList": model.task_list(request.route.server)})
        if request.method == "GET":
            details = model.task_details(request.route.server, request.route.task)
            request.info["state_returned"] = details["state"]
            if model.scenario["task_details_wrapped"]:
                return Reply(200, {"task": details})
            return Reply(200, details)
        return _task_action(model, request, user)
    except ApiError as error:
        return Reply.from_error(error)


def _login(model, request):
    """Log in with HTTP Basic credentials only; the session id goes back in a response header."""
    unauthorized = ApiError(401, "UNAUTHORIZED_REQUEST", _UNAUTHORIZED)
    if request.body:
        # The login takes no body: a JSON-body login is not part of the API.
        raise unauthorized
    scheme, separator, encoded = (request.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic" or not separator or not encoded:
        raise unauthorized
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise unauthorized from exc
    if ":" not in decoded:
        raise unauthorized
    # The password may not contain ':' (API guide), so the last ':' separates it; this keeps
    # "api-token:<token>" user names whole.
    username, password = decoded.rsplit(":", 1)
    user = model.authenticate(username, password)
    if user is None:
        raise unauthorized
    session_id = model.create_session(user)
    return Reply(200, headers={SESSION_HEADER: session_id})


def _session_user(model, request):
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id:
        raise ApiError(401, "UNAUTHORIZED_REQUEST", _UNAUTHORIZED)
    return model.use_session(session_id.strip())


def _task_action(model, request, user):
    params = request.params
    action = params.get("action")
    if action is None:
        raise ApiError(500, INVALID_PARAMETER, "Parameter 'action' is missing; expected action=stop or action=run.")
    action = action.lower()
    if action not in ("stop", "run"):
        raise ApiError(500, INVALID_PARAMETER, f"Unknown action '{params['action']}'; expected stop or run.")
    allowed = {"action", "timeout"} if action == "stop" else {"action", "option", "timeout"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ApiError(500, INVALID_PARAMETER, f"Unknown parameters {unknown} for action={action}; allowed: {sorted(allowed)}.")
    timeout = _timeout(params.get("timeout"))
    request.info["action"] = action

    server = model.servers.get(request.route.server)
    option = None
    if action == "run":
        option = _run_option(params.get("option"), server.config["type"] if server else "replicate")
        request.info["option"] = option
        if option in POSITION_OPTIONS:
            request.info["cdcposition"] = _cdc_position(request.body, option)
    if user["role"] == "viewer":
        raise ApiError(401, "UNAUTHORIZED_REQUEST", _UNAUTHORIZED)

    if action == "stop":
        task = model.stop(request.route.server, request.route.task)
        model.wait_for(task, "stopped", timeout)
    else:
        task = model.run(request.route.server, request.route.task, option)
        model.wait_for(task, "running", timeout)
    with model.lock:
        state = task.state
        error_message = task.message if state == "ERROR" else ""
    return Reply(200, {"state": model.spell(state), "error_message": error_message})


def _timeout(value):
    if value is None:
        return DEFAULT_ACTION_TIMEOUT
    if not re.fullmatch(r"\d{1,9}", value):
        raise ApiError(500, INVALID_PARAMETER, f"Parameter 'timeout' must be a whole number of seconds, got '{value}'.")
    return int(value)


def _run_option(value, server_type):
    if server_type == "compose":
        # Compose tasks take no option; the .NET API spells that NONE.
        if value is None or value.upper() == "NONE":
            return None
        raise ApiError(500, INVALID_PARAMETER, f"Compose tasks take no run option, got '{value}'.")
    if value is None:
        raise ApiError(500, INVALID_PARAMETER, "Parameter 'option' is required to run a Replicate task.")
    option = value.upper()
    if option not in RUN_OPTIONS:
        raise ApiError(500, INVALID_PARAMETER, f"Unknown run option '{value}'; expected one of {list(RUN_OPTIONS)}.")
    return option


def _cdc_position(body, option):
    """Return the cdcposition of a run request body; the body may also be a JSON string holding that JSON."""
    if not body:
        raise ApiError(500, INVALID_PARAMETER, f"Run option {option} needs a JSON body {{\"cdcposition\": ...}}.")
    try:
        payload = json.loads(body.decode("utf-8"))
        if isinstance(payload, str):
            payload = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(500, "DESERIALIZE_TO_TYPE", f"Failed to deserialize JSON to type AemRunTaskReq: {exc}") from exc
    position = payload.get("cdcposition") if isinstance(payload, dict) else None
    if not isinstance(position, str) or not position:
        raise ApiError(500, INVALID_PARAMETER, f"Run option {option} needs a non-empty string 'cdcposition' in the body.")
    if option == "RESUME_PROCESSING_FROM_TIMESTAMP" and not _TIMESTAMP_RE.match(position):
        raise ApiError(500, INVALID_PARAMETER, f"cdcposition must be a timestamp YYYY-MM-DDTHH:MM:SS, got '{position}'.")
    return position
