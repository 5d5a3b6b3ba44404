# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Rules for Qlik Replicate tasks as Enterprise Manager (QEM) reports them.

Plain functions without Ansible or HTTP imports: state normalisation, classification
(Log Stream staging, full load, latency), selection by mode, ordered phases, the
full-load hold and the comparisons that decide whether a stop or a resume worked.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re

RUNNING = "RUNNING"
STOPPED = "STOPPED"
ERROR = "ERROR"
RECOVERING = "RECOVERING"
UNKNOWN = "UNKNOWN"

KNOWN_STATES = frozenset((RUNNING, STOPPED, ERROR, RECOVERING))
# A recovering task has hit a temporary error and retries by itself, so it counts as active.
ACTIVE_STATES = frozenset((RUNNING, RECOVERING))

# Qlik's SDK spells the recovering state RECOVERY, the API parameter pages RECOVERING.
_STATE_ALIASES = {"RECOVERY": RECOVERING, "RECOVERING": RECOVERING}

MODES = ("selected", "all", "file")
ACTIONS = ("stop", "resume")
_MODE_ALIASES = {"s": "selected", "selected": "selected", "a": "all", "all": "all", "f": "file", "file": "file"}
_ACTION_ALIASES = {"stop": "stop", "resume": "resume"}

PHASE_STOP = "stop tasks"
PHASE_STOP_STAGING = "stop Log Stream staging tasks"
PHASE_RESUME_STAGING = "resume Log Stream staging tasks"
PHASE_RESUME = "resume tasks"

REASON_NOT_SELECTED = "not selected"
REASON_NOT_ACTIVE = "not active"
REASON_NOT_RUNNING_BEFORE = "not running before the window"

MISSING_STATE = "MISSING"

# Labels that mark a Log Stream target endpoint type or the Log Stream Staging profile,
# after normalize_log_stream_label. The exact strings QEM returns are unconfirmed.
_LOG_STREAM_LABELS = frozenset(("logstream", "logstreamstaging"))

# hh:mm:ss with any number of hour digits, optionally preceded by "d." (days, as .NET TimeSpan
# prints it) and followed by a fraction of a second, which is dropped.
_LATENCY_RE = re.compile(r"^(?:(\d+)\.)?(\d+):([0-5]\d):([0-5]\d)(?:\.\d+)?$")

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def normalize_state(raw):
    """Map a QEM task state to RUNNING, STOPPED, ERROR or RECOVERING.

    RECOVERY and RECOVERING (any case) both become RECOVERING. Any other non-empty value is
    returned stripped and upper-cased, so an unknown state is reported as it is and never
    raises. None or an empty string becomes UNKNOWN.
    """
    if raw is None:
        return UNKNOWN
    text = str(raw).strip().upper()
    if not text:
        return UNKNOWN
    return _STATE_ALIASES.get(text, text)


def is_active(state):
    """Tell whether a task state (raw or normalised) is RUNNING or RECOVERING."""
    return normalize_state(state) in ACTIVE_STATES


def unwrap_task_details(payload):
    """Return the task details object, whether QEM sent it flat or under a ``task`` key.

    Current releases return the task object itself, but some older releases and SDK wrappers
    nest it under ``task``. Anything that is not a dict gives an empty dict.
    """
    if not isinstance(payload, dict):
        return {}
    inner = payload.get("task")
    if isinstance(inner, dict) and "name" not in payload and "state" not in payload:
        return inner
    return payload


def unwrap_server_details(payload):
    """Return the server details object from ``server_details``, ``serverDetails`` or a flat payload.

    Qlik's SDK reads ``server_details`` and the API guide documents ``serverDetails``.
    """
    if not isinstance(payload, dict):
        return {}
    for key in ("server_details", "serverDetails"):
        inner = payload.get(key)
        if isinstance(inner, dict):
            return inner
    return payload


def parse_latency(value):
    """Convert a QEM latency to whole seconds, or None when it is unknown.

    Accepted: ``hh:mm:ss`` and ``h:mm:ss`` with any number of hour digits (``123:04:05``),
    an optional ``d.`` day prefix and an optional fraction of a second (dropped), and a
    non-negative number, taken as seconds. Minutes and seconds need two digits below 60.
    A two-field ``mm:ss`` is rejected because it cannot be distinguished from ``hh:mm``.
    None, empty strings, negative values and anything else give None, and nothing raises.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if math.isnan(value) or math.isinf(value) or value < 0:
            return None
        return int(value)
    if not isinstance(value, str):
        return None

    match = _LATENCY_RE.match(value.strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    total_hours = int(hours) + 24 * int(days or 0)
    return total_hours * 3600 + int(minutes) * 60 + int(seconds)


def _to_count(value):
    """Read a table counter as a non-negative int, with 0 for a missing or invalid value."""
    if value is None or isinstance(value, bool):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return max(number, 0)


def full_load_status(details, state=None):
    """Summarise the full load of a task from its details.

    Returns ``{active, completed, tables_loading, tables_queued, tables_with_error}``.
    ``active`` is true only when the task is active (RUNNING or RECOVERING) and its
    ``full_load_counters`` show tables loading or queued. ``full_load_completed`` is reported
    as ``completed`` but never decides ``active``, because it is also false for CDC-only
    tasks, which never run a full load. Missing counters count as 0. ``state`` defaults to
    the state in the details.
    """
    details = unwrap_task_details(details)
    if state is None:
        state = details.get("state")

    counters = details.get("full_load_counters")
    if not isinstance(counters, dict):
        counters = {}
    loading = _to_count(counters.get("tables_loading_count"))
    queued = _to_count(counters.get("tables_queued_count"))
    with_error = _to_count(counters.get("tables_with_error_count"))

    return {
        "active": is_active(state) and (loading + queued) > 0,
        "completed": details.get("full_load_completed") is True,
        "tables_loading": loading,
        "tables_queued": queued,
        "tables_with_error": with_error,
    }


def normalize_log_stream_label(text):
    """Lower-case a label and drop spaces, underscores and hyphens ("LOG_STREAM" -> "logstream")."""
    if text is None:
        return ""
    return re.sub(r"[\s_-]+", "", str(text)).lower()


def _endpoint_type(details, side):
    """Return the type of the ``source`` or ``target`` endpoint in task details, or None."""
    endpoint = details.get(side + "_endpoint")
    if isinstance(endpoint, dict):
        value = endpoint.get("type")
    else:
        value = details.get(side + "_endpoint_type")
    if value is None or value == "":
        return None
    return str(value)


def is_log_stream_staging(details, name, tags, log_stream_tasks=(), log_stream_tag=None):
    """Tell whether a task is a Log Stream staging task.

    A task is staging when its target endpoint type or its profile is a Log Stream label
    ("Log Stream", "LOG_STREAM", "logstream", "Log Stream Staging", "LOG_STREAM_STAGING";
    case, spaces, underscores and hyphens are ignored), when ``name`` is in
    ``log_stream_tasks``, or when ``tags`` contains ``log_stream_tag`` (exact match).
    A source endpoint of type Log Stream marks a task that reads from a Log Stream, which
    is not a staging task. ``details`` may be None when only the name and tags are known.
    """
    # NOTE: newer releases also return a `log_stream_staging` field whose meaning is unconfirmed,
    # so it is not used here.
    if name is not None and name in (log_stream_tasks or ()):
        return True
    if log_stream_tag and log_stream_tag in _as_tag_list(tags):
        return True

    details = unwrap_task_details(details)
    if normalize_log_stream_label(_endpoint_type(details, "target")) in _LOG_STREAM_LABELS:
        return True
    return normalize_log_stream_label(details.get("profile")) in _LOG_STREAM_LABELS


def _as_tag_list(tags):
    """Return assigned tags as a list of strings. None gives [] and a single string gives [string]."""
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags] if tags else []
    if isinstance(tags, (list, tuple, set, frozenset)):
        return [str(tag) for tag in tags if tag is not None]
    return [str(tags)]


def _text(value):
    """Return a string field, with None as an empty string."""
    if value is None:
        return ""
    return str(value)


def classify_task(record, details=None, log_stream_tasks=(), log_stream_tag=None):
    """Build the task dict the modules return from a task-list record and optional details.

    Always: ``name``, ``state`` (normalised), ``active``, ``stop_reason``, ``message``,
    ``assigned_tags`` and ``log_stream_staging``. With ``details`` (flat or wrapped) also:
    ``full_load`` (see full_load_status, table errors included), ``latency_seconds`` (from
    ``cdc_latency.total_latency``, None when unknown), ``profile``, ``source_endpoint_type`` and
    ``target_endpoint_type``. The state is read from ``state`` only, never inferred from
    ``memory_mb`` or other counters. Fields the record lacks are taken from the details, whose
    stop reason key is ``task_stop_reason``. Unknown keys are ignored.
    """
    record = record if isinstance(record, dict) else {}
    flat = unwrap_task_details(details) if details is not None else {}

    name = record.get("name", flat.get("name"))
    raw_state = record.get("state")
    if raw_state is None or raw_state == "":
        raw_state = flat.get("state")
    stop_reason = record.get("stop_reason")
    if stop_reason is None:
        stop_reason = flat.get("task_stop_reason")
    message = record.get("message")
    if message is None:
        message = flat.get("message")
    tags = _as_tag_list(record.get("assigned_tags", flat.get("assigned_tags")))

    state = normalize_state(raw_state)
    task = {
        "name": _text(name),
        "state": state,
        "active": state in ACTIVE_STATES,
        "stop_reason": _text(stop_reason),
        "message": _text(message),
        "assigned_tags": tags,
        "log_stream_staging": is_log_stream_staging(flat, name, tags, log_stream_tasks, log_stream_tag),
    }
    if details is None:
        return task

    latency = flat.get("cdc_latency")
    if not isinstance(latency, dict):
        latency = {}
    profile = flat.get("profile")
    task.update({
        "full_load": full_load_status(flat, state),
        "latency_seconds": parse_latency(latency.get("total_latency")),
        "profile": None if profile is None else str(profile),
        "source_endpoint_type": _endpoint_type(flat, "source"),
        "target_endpoint_type": _endpoint_type(flat, "target"),
    })
    return task


def _task_name(item):
    if isinstance(item, dict):
        return item.get("name")
    return item


def match_names(requested, available):
    """Match requested task names against the names QEM lists, exactly.

    ``available`` contains names or task dicts. Returns ``(found, missing, case_matches)``:
    ``found`` and ``missing`` keep the order of ``requested`` with duplicates collapsed.
    A name that differs from a QEM name only in case is not matched, so that no request goes
    to a task the user did not name. It goes to ``missing`` and to ``case_matches`` as
    ``{requested: qem_spelling}`` (the first such QEM name) so the message can suggest it.
    """
    names = [_task_name(item) for item in (available or ())]
    exact = set(names)
    by_fold = {}
    for name in names:
        if name is not None:
            by_fold.setdefault(str(name).casefold(), name)

    found, missing, case_matches = [], [], {}
    seen = set()
    for name in requested or ():
        if name in seen:
            continue
        seen.add(name)
        if name in exact:
            found.append(name)
            continue
        missing.append(name)
        spelling = by_fold.get(str(name).casefold())
        if spelling is not None:
            case_matches[name] = spelling
    return found, missing, case_matches


def _parse_choice(kind, value, aliases, accepted):
    key = value.strip().lower() if isinstance(value, str) else None
    if key not in aliases:
        raise ValueError("Invalid {0} {1!r}. Use one of {2}.".format(kind, value, accepted))
    return aliases[key]


def parse_mode(value):
    """Parse a selection mode: S/selected, A/all or F/file, any case, surrounding spaces ignored.

    Returns "selected", "all" or "file". Raises ValueError naming the value otherwise.
    """
    return _parse_choice("mode", value, _MODE_ALIASES, "S or selected, A or all, F or file")


def parse_action(value):
    """Parse an action: stop or resume, any case, surrounding spaces ignored.

    Returns "stop" or "resume". Raises ValueError naming the value otherwise.
    """
    return _parse_choice("action", value, _ACTION_ALIASES, "stop, resume")


def _clean_names(names):
    """Return the names in a list of names or task dicts as strings, without None or empty entries.

    A single string is one name, because task names may contain commas.
    """
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    cleaned = []
    for item in names:
        name = _task_name(item)
        if name is not None and str(name) != "":
            cleaned.append(str(name))
    return cleaned


def _running_names(backup_running):
    """Read the recorded running names from a list, a BackupData-like object or a dict with ``running``."""
    if isinstance(backup_running, dict):
        return _clean_names(backup_running.get("running"))
    if hasattr(backup_running, "running"):
        return _clean_names(backup_running.running)
    return _clean_names(backup_running)


def select_tasks(mode, action, tasks, selected_names=None, backup_running=None):
    """Select the tasks one action applies to on one server.

    ``mode`` and ``action`` accept what parse_mode and parse_action accept. ``tasks`` is the
    server's task list (task dicts with ``name`` and ``state``) in QEM order.

    - selected: the tasks named in ``selected_names``. For stop, a named task that is not
      active is excluded as "not active", so no stop request goes to a task in ERROR.
    - all: for stop the active tasks, for resume every task.
    - file: resume only. The tasks that ``backup_running`` (a list of names, a BackupData or a
      dict with ``running``) recorded as RUNNING or RECOVERING. The others are excluded as
      "not running before the window".

    Returns ``{selected, missing, excluded, case_matches}``: ``selected`` contains task dicts in QEM
    order, ``missing`` the requested names QEM does not list, ``excluded`` one ``{name, state,
    reason}`` per other task, and ``case_matches`` the missing names that differ only in case.
    Raises ValueError for an invalid mode or action, stop with file, selected without names,
    and file without backup data. An empty ``backup_running`` list is valid and selects nothing.
    """
    mode = parse_mode(mode)
    action = parse_action(action)
    tasks = list(tasks or ())

    if mode == "file" and action == "stop":
        raise ValueError("Mode 'file' works with resume only. A stop selects tasks by name (mode S) or all active tasks (mode A).")

    if mode == "selected":
        requested = _clean_names(selected_names)
        if not requested:
            raise ValueError("Mode 'selected' needs at least one task name. List the tasks for this server, or use mode A (all).")
        default_reason = REASON_NOT_SELECTED
    elif mode == "file":
        if backup_running is None:
            raise ValueError("Mode 'file' needs a backup. Give a backup file, or run the stop first so that a before-stop backup exists.")
        requested = _running_names(backup_running)
        default_reason = REASON_NOT_RUNNING_BEFORE
    else:
        requested = [task.get("name") for task in tasks]
        default_reason = REASON_NOT_ACTIVE

    found, missing, case_matches = match_names(requested, tasks)
    wanted = set(found)

    selected, excluded = [], []
    for task in tasks:
        name = task.get("name")
        state = normalize_state(task.get("state"))
        if name not in wanted:
            excluded.append({"name": name, "state": state, "reason": default_reason})
        elif action == "stop" and state not in ACTIVE_STATES:
            excluded.append({"name": name, "state": state, "reason": REASON_NOT_ACTIVE})
        else:
            selected.append(task)

    return {"selected": selected, "missing": missing, "excluded": excluded, "case_matches": case_matches}


def split_phases(action, tasks):
    """Split the selected tasks of one server into the two ordered action phases.

    stop: "stop tasks" (every task that is not Log Stream staging), then "stop Log Stream
    staging tasks". resume: "resume Log Stream staging tasks", then "resume tasks". Staging
    tasks go last on stop and first on resume because their readers fail without them.
    Both phases are always returned, and a phase may have an empty task list, so callers can
    loop over a fixed shape. Each phase is ``{name, staging, tasks}`` with task names in input order.
    """
    action = parse_action(action)
    staging, others = [], []
    for task in tasks or ():
        if task.get("log_stream_staging"):
            staging.append(task.get("name"))
        else:
            others.append(task.get("name"))

    if action == "stop":
        return [
            {"name": PHASE_STOP, "staging": False, "tasks": others},
            {"name": PHASE_STOP_STAGING, "staging": True, "tasks": staging},
        ]
    return [
        {"name": PHASE_RESUME_STAGING, "staging": True, "tasks": staging},
        {"name": PHASE_RESUME, "staging": False, "tasks": others},
    ]


def held_for_full_load(tasks):
    """Find the tasks a stop must hold because a full load is in progress.

    Returns ``(held, staging_held)``, both lists of names in input order. ``held`` contains the
    tasks whose ``full_load.active`` is true. The API does not say which tasks read from
    which Log Stream staging task, only that readers live on the staging task's server. So
    when any task in ``tasks`` (one server's selection) is held, every staging task in
    ``tasks`` that is not already held goes to ``staging_held``, so that no reader loses its
    staging task while it loads.
    """
    tasks = list(tasks or ())
    held = []
    for task in tasks:
        full_load = task.get("full_load")
        if isinstance(full_load, dict) and full_load.get("active"):
            held.append(task.get("name"))

    staging_held = []
    if held:
        staging_held = [task.get("name") for task in tasks if task.get("log_stream_staging") and task.get("name") not in held]
    return held, staging_held


def _states_by_name(before_states):
    """Read ``{name: state}`` from a dict, a list of rows with name and state, or a BackupData."""
    if before_states is None:
        return {}
    if hasattr(before_states, "rows"):
        before_states = before_states.rows
    if isinstance(before_states, dict):
        return {name: normalize_state(state) for name, state in before_states.items()}
    return {row.get("name"): normalize_state(row.get("state")) for row in before_states}


def _difference(name, expected, actual, message):
    return {"name": name, "expected": expected, "actual": actual, "message": message}


def compare_after_resume(current_tasks, targeted_names, before_states):
    """List the tasks whose state after a resume differs from what the backup predicts.

    - A targeted task must be RUNNING. RECOVERING or any other state is a difference.
    - Any other task that was RUNNING or RECOVERING before must be RUNNING again.
    - Any other task that was not active before (STOPPED, ERROR) must still not be active.
      STOPPED and ERROR count as the same, because a task in ERROR can come back STOPPED
      after its Replicate server restarts.
    - A task in an unknown state, or one that QEM no longer lists (actual "MISSING"), is a difference.
    - A task missing from ``before_states`` and not targeted has no expectation and is skipped.

    ``targeted_names`` contains names or task dicts. ``before_states`` is ``{name: state}``, a list
    of backup rows or a BackupData. Returns a list of ``{name, expected, actual, message}`` in the
    order of ``current_tasks``, then the tasks QEM no longer lists.
    """
    targeted = set(_clean_names(targeted_names))
    before = _states_by_name(before_states)
    differences = []
    listed = set()

    for task in current_tasks or ():
        name = task.get("name")
        listed.add(name)
        actual = normalize_state(task.get("state"))
        qem_message = _text(task.get("message"))
        suffix = " QEM message: {0}".format(qem_message) if qem_message else ""

        if name in targeted:
            if actual != RUNNING:
                differences.append(_difference(name, RUNNING, actual, "Task was resumed but is {0}.{1}".format(actual, suffix)))
            continue
        if name not in before:
            continue

        was = before[name]
        if was in ACTIVE_STATES:
            if actual != RUNNING:
                text = "Task was {0} before the window and is {1} now. This run did not resume it.{2}".format(was, actual, suffix)
                differences.append(_difference(name, RUNNING, actual, text))
        elif actual not in KNOWN_STATES:
            differences.append(_difference(name, was, actual, "Task is in the unknown state {0}.{1}".format(actual, suffix)))
        elif actual in ACTIVE_STATES:
            text = "Task was {0} before the window and is {1} now, but this run did not resume it.".format(was, actual)
            differences.append(_difference(name, was, actual, text))

    for name in sorted(targeted - listed):
        differences.append(_difference(name, RUNNING, MISSING_STATE, "Task was resumed but QEM no longer lists it."))
    for name, was in before.items():
        if name not in listed and name not in targeted:
            differences.append(_difference(name, was, MISSING_STATE, "Task was {0} before the window but QEM no longer lists it.".format(was)))
    return differences


def compare_after_stop(current_tasks):
    """Decide whether a server is safe to patch after a stop: every task on it must be stopped.

    Returns ``{safe_to_patch, active, unknown}``. ``active`` lists the tasks still RUNNING or
    RECOVERING. ``unknown`` lists tasks in a state this collection does not know (or with no
    state), which cannot be confirmed as stopped and so also make the server unsafe.
    """
    active, unknown = [], []
    for task in current_tasks or ():
        state = normalize_state(task.get("state"))
        if state in ACTIVE_STATES:
            active.append(task.get("name"))
        elif state not in KNOWN_STATES:
            unknown.append(task.get("name"))
    return {"safe_to_patch": not active and not unknown, "active": active, "unknown": unknown}


def neutralize_cell(value):
    """Return a report cell as text that spreadsheets do not run as a formula.

    A value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading apostrophe. Use it for reports only: backups must keep names exactly.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text
