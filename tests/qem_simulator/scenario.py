"""Load and validate simulator scenarios.

A scenario is a YAML or JSON mapping, or a Python dict, that describes the Enterprise
Manager the simulator plays: its users, Replicate and Compose servers, their tasks with
their life cycle, and the faults to inject. ``load_scenario`` returns a normalised copy
with every default filled in, and raises ``ScenarioError`` naming the offending key.
Times are scenario seconds, which the simulator multiplies by ``time_scale``.
"""

import copy
import os
import re

import yaml

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "qem-demo-pass"

ENDPOINTS = ("login", "logout", "servers", "server", "task_list", "task_details", "stop", "run")
SERVER_STATES = ("MONITORED", "ERROR", "NOT_MONITORED")
SERVER_TYPES = ("replicate", "compose")
PLATFORMS = ("WINDOWS", "LINUX")
DETAILS_KEYS = ("server_details", "serverDetails")
RECOVERING_SPELLINGS = ("RECOVERY", "RECOVERING")
ROLES = ("viewer", "operator", "admin")

# Internal canonical task states. The recovering state is stored as RECOVERING and
# spelled on output as the scenario sets it (RECOVERY or RECOVERING).
RUNNING = "RUNNING"
STOPPED = "STOPPED"
ERROR = "ERROR"
RECOVERING = "RECOVERING"
KNOWN_TASK_STATES = (RUNNING, STOPPED, ERROR, RECOVERING)
ACTIVE_STATES = (RUNNING, RECOVERING)

DEFAULT_STOP_REASONS = {
    RUNNING: "NONE",
    STOPPED: "NORMAL",
    ERROR: "FATAL_ERROR",
    RECOVERING: "RECOVERABLE_ERROR",
}

_LATENCY_RE = re.compile(r"^\d{1,6}:[0-5]\d:[0-5]\d$")

_TOP_KEYS = {
    "description", "time_scale", "latency_ms", "session_idle_timeout", "task_details_wrapped",
    "recovering_spelling", "details_recovering_spelling", "users", "servers", "faults",
}
_USER_KEYS = {"username", "password", "role"}
_SERVER_KEYS = {
    "name", "type", "state", "message", "description", "host", "port", "platform", "version",
    "details_key", "not_connected", "tasks",
}
_TASK_KEYS = {
    "name", "state", "stop_reason", "message", "tags", "description", "profile",
    "source_endpoint", "target_endpoint", "reads_from", "log_stream_staging", "full_load",
    "cdc_only", "latency", "memory_mb", "cpu_percentage", "disk_usage_mb", "stop_duration",
    "run_duration", "stale_reads", "never_stops", "after_run", "recovering_after_run",
    "table_errors",
}
_FULL_LOAD_KEYS = {"tables_loading", "tables_queued", "tables_completed", "completed", "remaining", "records_per_table", "then"}
_LATENCY_KEYS = {"source", "total", "drain"}
_AFTER_RUN_KEYS = {"state", "message", "after", "stop_reason"}
_RECOVERING_KEYS = {"after", "duration"}
_WINDOW_KEYS = {"start", "duration"}
_FAULT_KEYS = {"endpoint", "server", "task", "times", "skip", "status", "error_code", "error_message", "reset", "delay", "apply"}


class ScenarioError(ValueError):
    """Invalid scenario; the message names the key path and the value."""


def load_scenario(source=None):
    """Return a normalised scenario from a dict, a YAML/JSON file path, or None (empty)."""
    if source is None:
        raw = {}
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
    else:
        raise ScenarioError(f"scenario: expected a dict or a file path, got {type(source).__name__}")
    if not isinstance(raw, dict):
        raise ScenarioError("scenario: the top level must be a mapping")
    return normalise_scenario(raw)


def normalise_scenario(raw):
    """Validate a scenario mapping and fill in the defaults."""
    _check_keys(raw, _TOP_KEYS, "scenario")
    scenario = {
        "description": _string(raw.get("description", ""), "description"),
        "time_scale": _number(raw.get("time_scale", 1.0), "time_scale", minimum=0.0, exclusive=True),
        "latency_ms": _number(raw.get("latency_ms", 0), "latency_ms", minimum=0.0),
        "session_idle_timeout": _number(raw.get("session_idle_timeout", 300), "session_idle_timeout", minimum=0.0, exclusive=True),
        "task_details_wrapped": _bool(raw.get("task_details_wrapped", False), "task_details_wrapped"),
        "recovering_spelling": _choice(raw.get("recovering_spelling", "RECOVERY"), RECOVERING_SPELLINGS, "recovering_spelling"),
    }
    scenario["details_recovering_spelling"] = _choice(
        raw.get("details_recovering_spelling", scenario["recovering_spelling"]), RECOVERING_SPELLINGS, "details_recovering_spelling")

    users = raw.get("users")
    if users is None:
        users = [{"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD}]
    scenario["users"] = [normalise_user(user, f"users[{index}]") for index, user in enumerate(_list(users, "users"))]

    servers = [normalise_server(server, f"servers[{index}]") for index, server in enumerate(_list(raw.get("servers") or [], "servers"))]
    names = [server["name"] for server in servers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ScenarioError(f"servers: duplicate server names {duplicates}")
    scenario["servers"] = servers

    scenario["faults"] = [normalise_fault(fault, f"faults[{index}]") for index, fault in enumerate(_list(raw.get("faults") or [], "faults"))]
    return scenario


def normalise_user(raw, where):
    """Validate one user entry."""
    _mapping(raw, where)
    _check_keys(raw, _USER_KEYS, where)
    if "username" not in raw:
        raise ScenarioError(f"{where}: missing key 'username'")
    return {
        "username": _string(raw["username"], f"{where}.username", allow_empty=False),
        "password": _string(raw.get("password", ""), f"{where}.password"),
        "role": _choice(raw.get("role", "admin"), ROLES, f"{where}.role"),
    }


def normalise_server(raw, where):
    """Validate one server entry, its outage windows and its tasks."""
    _mapping(raw, where)
    _check_keys(raw, _SERVER_KEYS, where)
    if "name" not in raw:
        raise ScenarioError(f"{where}: missing key 'name'")
    name = _string(raw["name"], f"{where}.name", allow_empty=False)
    where = f"servers[{name}]"
    server_type = _choice(raw.get("type", "replicate"), SERVER_TYPES, f"{where}.type")
    server = {
        "name": name,
        "type": server_type,
        "state": _choice(raw.get("state", "MONITORED"), SERVER_STATES, f"{where}.state"),
        "message": _string(raw.get("message", ""), f"{where}.message"),
        "description": _string(raw.get("description", ""), f"{where}.description"),
        "host": _string(raw.get("host", f"{name}.example.internal"), f"{where}.host"),
        "port": _integer(raw.get("port", 3552 if server_type == "replicate" else 443), f"{where}.port", minimum=0),
        "platform": _choice(raw.get("platform", "LINUX"), PLATFORMS, f"{where}.platform"),
        "version": _string(str(raw.get("version", "2025.5.0")), f"{where}.version"),
        "details_key": _choice(raw.get("details_key", "server_details"), DETAILS_KEYS, f"{where}.details_key"),
        "not_connected": normalise_windows(raw.get("not_connected"), f"{where}.not_connected"),
    }

    tasks = [normalise_task(task, f"{where}.tasks[{index}]") for index, task in enumerate(_list(raw.get("tasks") or [], f"{where}.tasks"))]
    task_names = [task["name"] for task in tasks]
    duplicates = sorted({task_name for task_name in task_names if task_names.count(task_name) > 1})
    if duplicates:
        raise ScenarioError(f"{where}.tasks: duplicate task names {duplicates}")
    for task in tasks:
        staging = task["reads_from"]
        if staging is not None and staging not in task_names:
            raise ScenarioError(f"{where}.tasks[{task['name']}].reads_from: no task '{staging}' on this server")
        if staging == task["name"]:
            raise ScenarioError(f"{where}.tasks[{task['name']}].reads_from: a task cannot read from itself")
    server["tasks"] = tasks
    return server


def normalise_windows(raw, where):
    """Return a list of {start, duration} outage windows; duration -1 means no end."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    windows = []
    for index, item in enumerate(items):
        item_where = f"{where}[{index}]" if isinstance(raw, list) else where
        _mapping(item, item_where)
        _check_keys(item, _WINDOW_KEYS, item_where)
        start = _number(item.get("start", 0), f"{item_where}.start", minimum=0.0)
        duration = _number(item.get("duration", -1), f"{item_where}.duration", minimum=-1.0)
        windows.append({"start": start, "duration": duration})
    return windows


def canonical_task_state(value, where):
    """Map a scenario task state to the internal spelling (RECOVERY becomes RECOVERING)."""
    state = _string(value, where, allow_empty=False).upper()
    if state == "RECOVERY":
        return RECOVERING
    return state


def normalise_task(raw, where, partial=False):
    """Validate one task entry; with partial=True only the given keys are returned."""
    _mapping(raw, where)
    if not partial and "name" not in raw:
        raise ScenarioError(f"{where}: missing key 'name'")
    if not partial:
        where = f"{where.rsplit('[', 1)[0]}[{raw['name']}]"
    _check_keys(raw, _TASK_KEYS, where)
    task = {}
    parsers = {
        "name": lambda value, key: _string(value, key, allow_empty=False),
        "state": canonical_task_state,
        "stop_reason": lambda value, key: _string(value, key, allow_empty=False).upper(),
        "message": _string,
        "tags": _string_list,
        "description": _string,
        "profile": _string,
        "source_endpoint": _endpoint,
        "target_endpoint": _endpoint,
        "reads_from": _optional_string,
        "log_stream_staging": _optional_bool,
        "full_load": _full_load,
        "cdc_only": _bool,
        "latency": _latency,
        "memory_mb": lambda value, key: _number(value, key, minimum=0.0),
        "cpu_percentage": lambda value, key: _number(value, key, minimum=0.0),
        "disk_usage_mb": lambda value, key: _number(value, key, minimum=0.0),
        "stop_duration": lambda value, key: _number(value, key, minimum=0.0),
        "run_duration": lambda value, key: _number(value, key, minimum=0.0),
        "stale_reads": lambda value, key: _integer(value, key, minimum=0),
        "never_stops": _bool,
        "after_run": _after_run,
        "recovering_after_run": _recovering_after_run,
        "table_errors": lambda value, key: _integer(value, key, minimum=0),
    }
    for key, value in raw.items():
        task[key] = parsers[key](value, f"{where}.{key}")
    if partial:
        return task

    defaults = {
        "state": STOPPED,
        "message": "",
        "tags": [],
        "description": "",
        "profile": "Unidirectional",
        "source_endpoint": {"name": "source-db", "type": "Oracle"},
        "target_endpoint": {"name": "target-db", "type": "Microsoft SQL Server"},
        "reads_from": None,
        "log_stream_staging": None,
        "full_load": None,
        "cdc_only": False,
        "latency": None,
        "memory_mb": 0,
        "cpu_percentage": 0,
        "disk_usage_mb": 0,
        "stop_duration": 1.0,
        "run_duration": 1.0,
        "stale_reads": 0,
        "never_stops": False,
        "after_run": None,
        "recovering_after_run": None,
        "table_errors": 0,
    }
    for key, value in defaults.items():
        task.setdefault(key, value)
    task.setdefault("stop_reason", DEFAULT_STOP_REASONS.get(task["state"], "NONE"))
    if task["cdc_only"] and task["full_load"] is not None:
        raise ScenarioError(f"{where}: cdc_only and full_load exclude each other")
    return task


def normalise_fault(raw, where):
    """Validate one fault entry."""
    _mapping(raw, where)
    _check_keys(raw, _FAULT_KEYS, where)
    if "endpoint" not in raw:
        raise ScenarioError(f"{where}: missing key 'endpoint'")
    fault = {
        "endpoint": _choice(raw["endpoint"], (*ENDPOINTS, "any"), f"{where}.endpoint"),
        "server": _optional_string(raw.get("server"), f"{where}.server"),
        "task": _optional_string(raw.get("task"), f"{where}.task"),
        "times": _integer(raw.get("times", 1), f"{where}.times", minimum=-1),
        "skip": _integer(raw.get("skip", 0), f"{where}.skip", minimum=0),
        "status": None,
        "error_code": _optional_string(raw.get("error_code"), f"{where}.error_code"),
        "error_message": _optional_string(raw.get("error_message"), f"{where}.error_message"),
        "reset": _bool(raw.get("reset", False), f"{where}.reset"),
        "delay": _number(raw.get("delay", 0), f"{where}.delay", minimum=0.0),
        "apply": _bool(raw.get("apply", False), f"{where}.apply"),
    }
    if raw.get("status") is not None:
        fault["status"] = _integer(raw["status"], f"{where}.status", minimum=100)
        if fault["status"] > 599:
            raise ScenarioError(f"{where}.status: {fault['status']} is not an HTTP status")
    elif fault["error_code"] is not None:
        fault["status"] = 500
    if fault["status"] is None and not fault["reset"] and not fault["delay"]:
        raise ScenarioError(f"{where}: a fault needs at least one of status, error_code, reset or delay")
    if fault["status"] is not None and fault["reset"]:
        raise ScenarioError(f"{where}: status and reset exclude each other")
    return fault


def _full_load(value, where):
    if value is None:
        return None
    _mapping(value, where)
    _check_keys(value, _FULL_LOAD_KEYS, where)
    full_load = {
        "tables_loading": _integer(value.get("tables_loading", 0), f"{where}.tables_loading", minimum=0),
        "tables_queued": _integer(value.get("tables_queued", 0), f"{where}.tables_queued", minimum=0),
        "tables_completed": _integer(value.get("tables_completed", 0), f"{where}.tables_completed", minimum=0),
        "completed": _bool(value.get("completed", False), f"{where}.completed"),
        "remaining": None,
        "records_per_table": _integer(value.get("records_per_table", 100000), f"{where}.records_per_table", minimum=0),
        "then": _choice(value.get("then", "continue"), ("continue", "stop"), f"{where}.then"),
    }
    if value.get("remaining") is not None:
        full_load["remaining"] = _number(value["remaining"], f"{where}.remaining", minimum=0.0)
    return full_load


def _latency(value, where):
    if value is None:
        return None
    _mapping(value, where)
    _check_keys(value, _LATENCY_KEYS, where)
    latency = {}
    for key in ("source", "total"):
        text = _string(value.get(key, ""), f"{where}.{key}")
        latency[key] = text
    latency["drain"] = None
    if value.get("drain") is not None:
        latency["drain"] = _number(value["drain"], f"{where}.drain", minimum=0.0, exclusive=True)
        for key in ("source", "total"):
            if not _LATENCY_RE.match(latency[key]):
                raise ScenarioError(f"{where}.{key}: drain needs hh:mm:ss latencies, got {latency[key]!r}")
    return latency


def _after_run(value, where):
    if value is None:
        return None
    _mapping(value, where)
    _check_keys(value, _AFTER_RUN_KEYS, where)
    state = canonical_task_state(value.get("state", ERROR), f"{where}.state")
    if state not in (ERROR, STOPPED):
        raise ScenarioError(f"{where}.state: expected ERROR or STOPPED, got {state!r}")
    return {
        "state": state,
        "message": _string(value.get("message", "Task failed after it was started"), f"{where}.message"),
        "after": _number(value.get("after", 0), f"{where}.after", minimum=0.0),
        "stop_reason": _string(value.get("stop_reason", "FATAL_ERROR" if state == ERROR else "RECOVERABLE_ERROR"), f"{where}.stop_reason").upper(),
    }


def _recovering_after_run(value, where):
    if value is None:
        return None
    if isinstance(value, dict):
        _check_keys(value, _RECOVERING_KEYS, where)
        after = _number(value.get("after", 1), f"{where}.after", minimum=0.0)
        duration = _number(value.get("duration", -1), f"{where}.duration", minimum=-1.0)
    else:
        after = 1.0
        duration = _number(value, where, minimum=-1.0)
    return {"after": after, "duration": duration}


def _endpoint(value, where):
    _mapping(value, where)
    _check_keys(value, {"name", "type"}, where)
    return {"name": _string(value.get("name", ""), f"{where}.name"), "type": _string(value.get("type", ""), f"{where}.type")}


def _check_keys(raw, allowed, where):
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def _mapping(value, where):
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a mapping, got {value!r}")


def _list(value, where):
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: expected a list, got {value!r}")
    return value


def _string(value, where, allow_empty=True):
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected a string, got {value!r}")
    if not allow_empty and not value:
        raise ScenarioError(f"{where}: must not be empty")
    return value


def _optional_string(value, where):
    if value is None:
        return None
    return _string(value, where, allow_empty=False)


def _string_list(value, where):
    return [_string(item, f"{where}[{index}]") for index, item in enumerate(_list(value, where))]


def _bool(value, where):
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: expected true or false, got {value!r}")
    return value


def _optional_bool(value, where):
    if value is None:
        return None
    return _bool(value, where)


def _number(value, where, minimum=None, exclusive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    if minimum is not None and (value < minimum or (exclusive and value == minimum)):
        relation = "greater than" if exclusive else "at least"
        raise ScenarioError(f"{where}: must be {relation} {minimum}, got {value!r}")
    return value


def _integer(value, where, minimum=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: must be at least {minimum}, got {value!r}")
    return value


def _choice(value, choices, where):
    if value not in choices:
        raise ScenarioError(f"{where}: expected one of {list(choices)}, got {value!r}")
    return value
