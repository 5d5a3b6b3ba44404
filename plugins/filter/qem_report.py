# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the qem_tasks role's run report: the HTML summary and the retention of old files.

Each filter is documented in the YAML file of the same name.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import html
import os
import re

from ansible.errors import AnsibleFilterError

# Results that mean the task reached the target state, or that nothing had to be done.
_GOOD_RESULTS = ("stopped", "already_stopped", "running", "already_running")
# Results that leave a task as it was on purpose.
_NEUTRAL_RESULTS = ("skipped", "held", "blocked", "not_run")
# Order of the count columns. Results not listed here follow in alphabetical order.
_RESULT_ORDER = _GOOD_RESULTS + ("failed", "timeout", "unknown", "missing") + _NEUTRAL_RESULTS

_TASK_COLUMNS = (
    ("server", "Server"),
    ("task", "Task"),
    ("phase", "Phase"),
    ("before", "Before"),
    ("after", "After"),
    ("result", "Result"),
    ("final_state", "Final state"),
    ("validation", "Validation"),
    ("seconds", "Seconds"),
    ("message", "Message"),
)

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 24px; color: #1f2328; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 4px 0; }
h2 { font-size: 17px; margin: 24px 0 8px 0; }
p.meta { color: #59636e; margin: 0 0 12px 0; }
div.verdict { padding: 10px 14px; border-radius: 6px; font-size: 16px; font-weight: 600; }
div.verdict ul { margin: 6px 0 0 0; font-weight: 400; font-size: 14px; }
.go { background: #dafbe1; border: 1px solid #4ac26b; }
.nogo { background: #ffebe9; border: 1px solid #ff8182; }
.check { background: #fff8c5; border: 1px solid #d4a72c; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { border: 1px solid #d1d9e0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.name { white-space: nowrap; }
td.num { text-align: right; }
td.result-good { background: #dafbe1; }
td.result-bad { background: #ffebe9; font-weight: 600; }
td.result-neutral { background: #f6f8fa; color: #59636e; }
td.verdict-good { color: #1a7f37; font-weight: 600; }
td.verdict-bad { color: #d1242f; font-weight: 600; }
td.verdict-neutral { color: #9a6700; font-weight: 600; }
"""

_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STAMP = r"(\d{8}T\d{6}Z)"
# A run-level file of the role: the aggregated results CSV, the HTML summary, the log of a run.
_RUN_FILE_RE = re.compile(r"^qem_" + _STAMP + r"_[A-Za-z0-9._-]+\.(?:csv|html|log)$")
_PROTECTED_REASON = "before-stop"


def _escape(value):
    return html.escape("" if value is None else str(value), quote=True)


def _result_class(result):
    if result in _GOOD_RESULTS:
        return "result-good"
    if result in _NEUTRAL_RESULTS:
        return "result-neutral"
    return "result-bad"


def _result_names(servers):
    found = set()
    for server in servers:
        for row in server.get("rows") or ():
            found.add(str(row.get("result", "")))
    ordered = [name for name in _RESULT_ORDER if name in found]
    return ordered + sorted(found.difference(ordered))


def _server_verdict(server, action, check_mode):
    """Return (css class, text) of the go/no-go verdict of one server."""
    failure = server.get("failure") or ""
    validation = server.get("validation") or {}
    if not server.get("rows") and not server.get("phases") and failure == "" and not validation and not check_mode:
        return "verdict-bad", "failed before the run started; see the play output"
    if failure:
        return "verdict-bad", "failed: " + failure
    if check_mode:
        return "verdict-neutral", "check mode: nothing was changed"
    if action == "stop":
        if validation.get("safe_to_patch"):
            return "verdict-good", "safe to patch: yes"
        active = validation.get("active") or []
        unknown = validation.get("unknown") or []
        details = []
        if active:
            details.append("still active: " + ", ".join(str(name) for name in active))
        if unknown:
            details.append("unknown state: " + ", ".join(str(name) for name in unknown))
        return "verdict-bad", "safe to patch: no" + (" (" + "; ".join(details) + ")" if details else "")
    if validation.get("ok"):
        return "verdict-good", "validation passed"
    differences = validation.get("differences") or []
    if not validation:
        return "verdict-bad", "not validated"
    return "verdict-bad", "validation failed for %d tasks" % len(differences)


def _format_time(epoch):
    if epoch in (None, ""):
        return ""
    try:
        moment = datetime.datetime.fromtimestamp(float(epoch), datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(phase):
    try:
        seconds = float(phase.get("finished")) - float(phase.get("started"))
    except (TypeError, ValueError):
        return ""
    return "%.1f" % max(seconds, 0.0)


def _table(header, body_rows):
    lines = ["<table>", "<thead><tr>" + "".join("<th>%s</th>" % _escape(title) for title in header) + "</tr></thead>", "<tbody>"]
    lines.extend(body_rows)
    lines.append("</tbody></table>")
    return lines


def qem_html_summary(report):
    """Render the summary of one run as a self-contained HTML page, with every value HTML-escaped.

    ``report`` keys: ``action``, ``run_id``, ``check_mode``, ``generated`` (text) and ``servers``, a
    list of {``server``, ``failure``, ``validation`` (from qem_validate), ``phases`` (the phase records
    of the role, with ``started`` and ``finished`` as epoch seconds) and ``rows`` (from qem_result_rows)}.
    """
    if not isinstance(report, dict):
        raise AnsibleFilterError("qem_html_summary expects a dict, not %s." % type(report).__name__)
    action = str(report.get("action") or "")
    check_mode = bool(report.get("check_mode"))
    servers = [server for server in report.get("servers") or () if isinstance(server, dict)]
    verdicts = [_server_verdict(server, action, check_mode) for server in servers]

    if check_mode:
        overall_class, overall = "check", "CHECK MODE: nothing was changed, this page shows the plan and the predicted results"
    elif servers and all(css == "verdict-good" for css, _text in verdicts):
        overall_class = "go"
        overall = "GO: every server is safe to patch" if action == "stop" else "GO: the resume is validated on every server"
    else:
        overall_class = "nogo"
        overall = "NO-GO: at least one server is not safe to patch" if action == "stop" else "NO-GO: the resume failed its validation"
    title = "Qlik Replicate %s run %s" % (action, report.get("run_id") or "")

    page = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<title>%s: %s</title>" % (_escape(title), _escape(overall.split(":", maxsplit=1)[0])),
        "<style>%s</style>" % _STYLE,
        "</head>",
        "<body>",
        "<h1>%s</h1>" % _escape(title),
        '<p class="meta">Generated %s by the qem.replicate.qem_tasks role.</p>' % _escape(report.get("generated") or ""),
        '<div class="verdict %s" id="verdict">%s<ul>' % (overall_class, _escape(overall)),
    ]
    for server, (css, text) in zip(servers, verdicts):
        page.append("<li>%s: %s</li>" % (_escape(server.get("server")), _escape(text)))
    page.append("</ul></div>")

    result_names = _result_names(servers)
    page.append("<h2>Servers</h2>")
    body = []
    for server, (css, text) in zip(servers, verdicts):
        counts = {}
        for row in server.get("rows") or ():
            counts[str(row.get("result", ""))] = counts.get(str(row.get("result", "")), 0) + 1
        cells = ['<td class="name">%s</td>' % _escape(server.get("server")), "<td class=\"%s\">%s</td>" % (css, _escape(text)),
                 '<td class="num">%d</td>' % len(server.get("rows") or ())]
        cells.extend('<td class="num">%d</td>' % counts.get(name, 0) for name in result_names)
        body.append('<tr data-server="%s">%s</tr>' % (_escape(server.get("server")), "".join(cells)))
    page.extend(_table(["Server", "Verdict", "Tasks"] + result_names, body))

    page.append("<h2>Phases</h2>")
    body = []
    for server in servers:
        for phase in server.get("phases") or ():
            names = phase.get("tasks") or []
            # A phase with no task to send a request for has no time worth showing.
            ran = bool(phase.get("run", names))
            body.append("<tr><td class=\"name\">%s</td><td class=\"num\">%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"num\">%s</td></tr>" % (
                _escape(server.get("server")), _escape(phase.get("index")), _escape(phase.get("name")),
                _escape(", ".join(str(name) for name in names) if names else "none"),
                _escape(_format_time(phase.get("started")) if ran else ""), _escape(_duration(phase) if ran else "")))
    page.extend(_table(["Server", "#", "Phase", "Tasks", "Started", "Seconds"], body))

    page.append("<h2>Tasks</h2>")
    body = []
    for server in servers:
        for row in server.get("rows") or ():
            cells = []
            for column, _title in _TASK_COLUMNS:
                value = row.get(column)
                if column == "result":
                    cells.append('<td class="%s">%s</td>' % (_result_class(str(value)), _escape(value)))
                elif column == "seconds":
                    cells.append('<td class="num">%s</td>' % _escape(value))
                elif column in ("server", "before", "after", "final_state"):
                    cells.append('<td class="name">%s</td>' % _escape(value))
                else:
                    cells.append("<td>%s</td>" % _escape(value))
            body.append('<tr class="task">%s</tr>' % "".join(cells))
    page.extend(_table([title for _column, title in _TASK_COLUMNS], body))
    page.extend(["</body>", "</html>", ""])
    return "\n".join(page)


def _parse_stamp(text):
    return datetime.datetime.strptime(text, _STAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)


def _classify(path):
    """Return (timestamp, directory, reason) for a file of this collection, or None for any other file.

    Per-server files (backups and results CSVs) sit in a directory named after the server and
    start with that name. Run-level files start with ``qem_``.
    """
    directory, name = os.path.split(path)
    server_part = os.path.basename(directory)
    per_server = re.match("^" + re.escape(server_part) + "_" + _STAMP + r"_([A-Za-z0-9._-]+?)(?:-\d+)?\.csv$", name) if server_part else None
    if per_server:
        return _parse_stamp(per_server.group(1)), directory, per_server.group(2)
    run_level = _RUN_FILE_RE.match(name)
    if run_level:
        return _parse_stamp(run_level.group(1)), directory, ""
    return None


def qem_retention_candidates(files, days, now=None):
    """Return the paths of this collection's files that are older than ``days`` days, sorted.

    ``files`` are the ``files`` of ansible.builtin.find (dicts with ``path``) or plain paths. The
    age comes from the UTC timestamp in the file name. Files whose names do not follow the
    collection's naming are never returned, nor symbolic links. The newest ``before-stop``
    backup of each server is kept at any age, because a resume in mode F reads it.
    ``days`` 0 returns nothing.
    """
    try:
        days = float(days)
    except (TypeError, ValueError):
        raise AnsibleFilterError("qem_retention_candidates: days must be a number, not %r." % (days,))
    if days < 0:
        raise AnsibleFilterError("qem_retention_candidates: days must be 0 or more, not %r." % (days,))
    if days == 0:
        return []
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    elif not isinstance(now, datetime.datetime):
        now = _parse_stamp(str(now))
    cutoff = now - datetime.timedelta(days=days)

    known = {}
    for item in files or ():
        if isinstance(item, dict):
            if item.get("islnk"):
                continue
            path = item.get("path")
        else:
            path = item
        if not path:
            continue
        found = _classify(str(path))
        if found:
            known[str(path)] = found

    newest_before_stop = {}
    for path, (stamp, directory, reason) in known.items():
        if reason == _PROTECTED_REASON and (directory not in newest_before_stop or (stamp, path) > newest_before_stop[directory]):
            newest_before_stop[directory] = (stamp, path)
    protected = set(path for _stamp, path in newest_before_stop.values())

    return sorted(path for path, (stamp, _directory, _reason) in known.items() if stamp < cutoff and path not in protected)


class FilterModule(object):
    """Report filters of the qem_tasks role."""

    def filters(self):
        return {
            "qem_html_summary": qem_html_summary,
            "qem_retention_candidates": qem_retention_candidates,
        }
