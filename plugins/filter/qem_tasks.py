# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the qem_tasks role: selection, phases, waits, validation and reports.

The decisions come from plugins/module_utils/task_rules.py; these filters adapt them to the
data the role keeps (module results and task lists) and raise AnsibleFilterError with the
message an operator needs. Each filter is documented in the YAML file of the same name.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import csv
import io

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.qem.replicate.plugins.module_utils.task_rules import (
    ACTIVE_STATES,
    RUNNING,
    compare_after_resume,
    compare_after_stop,
    held_for_full_load,
    neutralize_cell,
    normalize_state,
    parse_action,
    parse_mode,
    select_tasks,
    split_phases,
)

_display = Display()

# Columns of the results CSV, per server and aggregated.
RESULT_COLUMNS = ("server", "action", "task", "phase", "before", "after", "result", "message", "final_state", "validation", "seconds")

# Module results that mean the task reached the target state.
_STOP_DONE = ("stopped", "already_stopped")
_RUN_DONE = ("running", "already_running")

_DEFAULT_MODES = {"stop": "all", "resume": "file"}

_PENDING_KINDS = ("full_load", "latency", "running", "stopped")


def qem_parse_action(value):
    """Return "stop" or "resume" for an action in any case."""
    try:
        return parse_action(value)
    except ValueError as error:
        raise AnsibleFilterError("qem_action: %s Set qem_action=stop or qem_action=resume." % error)


def qem_parse_mode(value, action):
    """Return "selected", "all" or "file"; an empty mode gives the default of the action."""
    action = qem_parse_action(action)
    if value is None or str(value).strip() == "":
        return _DEFAULT_MODES[action]
    try:
        mode = parse_mode(value)
    except ValueError as error:
        raise AnsibleFilterError("qem_mode: %s" % error)
    if mode == "file" and action == "stop":
        raise AnsibleFilterError("qem_mode=%s (file) works with qem_action=resume only. A stop selects tasks by name (S) or takes every active task (A)."
                                 % value)
    return mode


def qem_select(tasks, mode, action, selected_names=None, backup_running=None):
    """Select the tasks of one server: returns {selected, missing, excluded, case_matches}."""
    try:
        return select_tasks(mode, action, tasks, selected_names=selected_names, backup_running=backup_running)
    except ValueError as error:
        raise AnsibleFilterError(str(error))


def qem_phases(tasks, action):
    """Split selected tasks into the two ordered phases: a list of {name, staging, tasks}."""
    try:
        return split_phases(action, tasks)
    except ValueError as error:
        raise AnsibleFilterError(str(error))


def qem_held(tasks):
    """Return {held, staging_held}: the tasks in a full load and the staging tasks held with them."""
    held, staging_held = held_for_full_load(tasks)
    return {"held": held, "staging_held": staging_held}


def qem_pending(tasks, kind, threshold=0):
    """Return the names of the tasks that a wait still waits for, in input order.

    ``kind`` is ``full_load`` (full load in progress), ``latency`` (total CDC latency above
    ``threshold`` seconds), ``running`` (not RUNNING) or ``stopped`` (RUNNING or RECOVERING).
    A task whose latency is unknown is never pending for ``latency``.
    """
    if kind not in _PENDING_KINDS:
        raise AnsibleFilterError("qem_pending: unknown kind %r; use full_load, latency, running or stopped." % (kind,))

    pending = []
    for task in tasks or ():
        state = normalize_state(task.get("state"))
        if kind == "full_load":
            full_load = task.get("full_load")
            waiting = isinstance(full_load, dict) and bool(full_load.get("active"))
        elif kind == "latency":
            latency = task.get("latency_seconds")
            waiting = state in ACTIVE_STATES and latency is not None and int(latency) > int(threshold)
        elif kind == "running":
            waiting = state != RUNNING
        else:
            waiting = state in ACTIVE_STATES
        if waiting:
            pending.append(task.get("name"))
    return pending


def qem_validate(tasks, action, targeted=None, before=None):
    """Validate one server after a stop or a resume.

    Returns ``{ok, safe_to_patch, active, unknown, differences}``. After a stop, ``ok`` is
    ``safe_to_patch``: every task on the server is stopped. After a resume, ``differences``
    lists each task whose state differs from what the before-resume backup predicts, and
    ``ok`` is true when there is none.
    """
    action = qem_parse_action(action)
    stop_view = compare_after_stop(tasks)
    result = {
        "safe_to_patch": stop_view["safe_to_patch"],
        "active": stop_view["active"],
        "unknown": stop_view["unknown"],
        "differences": [],
    }
    if action == "stop":
        result["ok"] = stop_view["safe_to_patch"]
        return result
    result["differences"] = compare_after_resume(tasks, targeted or [], before or [])
    result["ok"] = not result["differences"]
    return result


def _index(tasks):
    return dict((task.get("name"), task) for task in tasks or () if isinstance(task, dict))


def qem_result_rows(run, server, action):
    """Build one results row per task of one server from what the role recorded in ``run``.

    ``run`` keys (all optional): ``tasks`` (the task list read before the phases),
    ``selection`` (the result of qem_select), ``phases`` (a list of {name, tasks, results,
    blocked}, where ``results`` are qem_task_action results and ``blocked`` maps names to a
    reason), ``held`` (names to a reason), ``final`` (the task list of the final validation),
    ``differences`` (from qem_validate) and ``failure`` (why the server failed, if it did).
    Rows follow the phase order, then the tasks the selection left out.
    """
    run = run or {}
    listed = _index(run.get("tasks"))
    final = _index(run.get("final"))
    differences = dict((item.get("name"), item) for item in run.get("differences") or ())
    held = run.get("held") or {}
    selection = run.get("selection") or {}
    failure = run.get("failure") or ""

    rows = []
    seen = set()

    def add(name, phase, result, message, before=None, after=None, seconds=""):
        seen.add(name)
        current = final.get(name)
        difference = differences.get(name)
        if difference:
            validation = difference.get("message", "")
        elif current and action == "stop" and normalize_state(current.get("state")) in ACTIVE_STATES:
            validation = "still active, so the server is not safe to patch"
        elif current:
            validation = "ok"
        else:
            validation = ""
        if before is None:
            before = listed.get(name, {}).get("state", "")
        if after is None:
            after = before
        rows.append({
            "server": server,
            "action": action,
            "task": name,
            "phase": phase,
            "before": before,
            "after": after,
            "result": result,
            "message": message,
            "final_state": current.get("state", "") if current else "",
            "validation": validation,
            "seconds": seconds,
        })

    for phase in run.get("phases") or ():
        results = _index(phase.get("results"))
        blocked = phase.get("blocked") or {}
        for name in phase.get("tasks") or ():
            if name in held:
                add(name, phase.get("name"), "held", held[name])
            elif name in blocked:
                add(name, phase.get("name"), "blocked", blocked[name])
            elif name in results:
                item = results[name]
                add(name, phase.get("name"), item.get("result", ""), item.get("message", ""),
                    before=item.get("before"), after=item.get("after"), seconds=item.get("seconds", ""))
            else:
                reason = "Not reached: the run on this server ended earlier. %s" % failure if failure else "Not reached."
                add(name, phase.get("name"), "not_run", reason.strip())

    for item in selection.get("excluded") or ():
        name = item.get("name")
        if name not in seen:
            add(name, "", "skipped", item.get("reason", ""))
    for name in selection.get("missing") or ():
        if name not in seen:
            add(name, "", "missing", "Named in the selection or the backup, but QEM does not list it on this server.", before="MISSING")
    for name in sorted(differences):
        if name not in seen:
            add(name, "", "missing", differences[name].get("message", ""), before="MISSING")
    return rows


def qem_csv(rows, columns=None):
    """Render rows as CSV text with a header; every cell is neutralised against spreadsheet formulas."""
    columns = list(columns or RESULT_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows or ():
        writer.writerow([neutralize_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def qem_table(rows, columns=None, max_width=60):
    """Render rows as a plain-text table: a list of lines, one header, one rule and one line per row."""
    columns = list(columns or RESULT_COLUMNS)
    cells = [[_shorten(row.get(column), max_width) for column in columns] for row in rows or ()]
    widths = [len(column) for column in columns]
    for line in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, line)]

    def render(values):
        return "  ".join(value.ljust(width) for value, width in zip(values, widths)).rstrip()

    lines = [render(columns), render(["-" * width for width in widths])]
    lines.extend(render(line) for line in cells)
    return lines


def _shorten(value, max_width):
    text = "" if value is None else " ".join(str(value).split())
    if max_width and len(text) > max_width:
        return text[:max_width - 3] + "..."
    return text


def qem_warn(message):
    """Show the message as an Ansible warning and return it unchanged."""
    # ansible-lint renders tasks with their variables left as "{{ ... }}"; such text is no warning.
    if message and "{{" not in str(message):
        _display.warning(str(message))
    return message


class FilterModule(object):
    """Filters of the qem_tasks role."""

    def filters(self):
        return {
            "qem_parse_action": qem_parse_action,
            "qem_parse_mode": qem_parse_mode,
            "qem_select": qem_select,
            "qem_phases": qem_phases,
            "qem_held": qem_held,
            "qem_pending": qem_pending,
            "qem_validate": qem_validate,
            "qem_result_rows": qem_result_rows,
            "qem_csv": qem_csv,
            "qem_table": qem_table,
            "qem_warn": qem_warn,
        }
