# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Stop or resume a set of tasks on one Replicate server and wait until QEM confirms each one.

No Ansible imports: the module qem_task_action and the tests call ``TaskActionRunner`` directly.
Waiting reads one task list per poll interval for all pending tasks of the server.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..module_utils.client import QemApiError, QemAuthError, QemConnectionError, QemError, QemInputError
from ..module_utils.task_rules import normalize_state as _normalize_state

STOPPED = "STOPPED"
RUNNING = "RUNNING"
RECOVERING = "RECOVERING"
ERROR = "ERROR"

NOT_CONNECTED_CODES = ("AEM_SERVER_NOT_CONNECTED", "AEM_SERVER_NOT_MONITORED")
TARGETS = {"stopped": STOPPED, "running": RUNNING}

# Results a task can end with; FAILURE_RESULTS make the module fail.
RESULTS = ("stopped", "already_stopped", "running", "already_running", "timeout", "failed", "unknown", "skipped", "pending")
FAILURE_RESULTS = ("timeout", "failed", "unknown", "pending")


class ActionSettings:
    """Tuning of one action: worker count, waits (seconds) and request options."""

    def __init__(self, workers=5, wait=True, wait_timeout=600.0, poll_interval=5.0, settle_reads=2, stop_timeout=30,
                 run_option="RESUME_PROCESSING", cdc_position=None, resend=0, not_connected_timeout=0.0):
        self.workers = int(workers)
        self.wait = bool(wait)
        self.wait_timeout = float(wait_timeout)
        self.poll_interval = float(poll_interval)
        self.settle_reads = int(settle_reads)
        self.stop_timeout = int(stop_timeout)
        self.run_option = run_option
        self.cdc_position = cdc_position
        self.resend = int(resend)
        self.not_connected_timeout = float(not_connected_timeout)
        self.validate()

    def validate(self):
        """Raise QemInputError naming the first setting that is out of range."""
        checks = (
            ("workers", self.workers, 1, 100),
            ("wait_timeout", self.wait_timeout, 0, 86400),
            ("poll_interval", self.poll_interval, 0.05, 3600),
            ("settle_reads", self.settle_reads, 1, 100),
            ("stop_timeout", self.stop_timeout, 1, 3600),
            ("resend", self.resend, 0, 10),
            ("not_connected_timeout", self.not_connected_timeout, 0, 86400),
        )
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise QemInputError("%s=%s is out of range; use a value from %s to %s." % (name, value, low, high))


class _TaskProgress:
    """Progress of one task during the action."""

    def __init__(self, name, before):
        self.name = name
        self.before = before
        self.after = before
        self.result = None
        self.message = ""
        self.requests = 0
        self.changed = False
        self.started = None
        self.finished = None
        self.confirmations = 0
        self.seen_active = False
        self.request_error = None
        self.last_request_at = None
        self.notes = []

    def finish(self, result, message, now):
        self.result = result
        if message:
            self.message = message
        self.finished = now

    def as_dict(self):
        seconds = 0.0
        if self.started is not None and self.finished is not None:
            seconds = round(self.finished - self.started, 1)
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "result": self.result,
            "changed": self.changed,
            "message": " ".join(self.notes + [self.message]).strip(),
            "seconds": seconds,
            "requests": self.requests,
        }


class TaskActionRunner:
    """Bring the named tasks of one server to ``stopped`` or ``running`` and confirm each one.

    ``clock`` and ``sleep`` are injectable for tests; ``warn`` receives short operator warnings.
    ``on_progress(pending, in_flight, unsent)``, when given, receives the names of the tasks not
    confirmed yet, the number of requests waiting for QEM's reply and the number not sent yet.
    It is called after the plan, when a request is sent, when its reply arrives and after each
    read of the task list, also from worker threads.
    """

    def __init__(self, client, server, settings, warn=None, clock=time.monotonic, sleep=time.sleep, on_progress=None):
        self.client = client
        self.server = server
        self.settings = settings
        self._warn = warn or (lambda message: None)
        self._clock = clock
        self._sleep = sleep
        self._on_progress = on_progress
        self._progress = []
        self._in_flight = 0
        self._unsent = 0
        self._lock = threading.Lock()

    # Public entry point

    def run(self, names, state, check_mode=False):
        """Carry out the action and return ``{results, changed, failed_tasks, pending, missing}``.

        Raises QemInputError when a name is not listed on the server (before any request is sent),
        and QemError when the first task-list read fails for any reason but a disconnected server.
        """
        if state not in TARGETS:
            raise QemInputError("state '%s' is invalid; use stopped or running." % state)
        target = TARGETS[state]
        names = _unique(names)

        listing = self._first_listing()
        if listing is None:
            progress = [_TaskProgress(name, "UNKNOWN") for name in names]
            now = self._clock()
            for item in progress:
                item.started = now
                item.finish("pending", "Server '%s' stayed not connected in QEM; no request was sent. Run again once Enterprise Manager shows it connected."
                            % self.server, now)
            return self._summary(progress)

        missing = [name for name in names if name not in listing]
        if missing:
            raise QemInputError(_missing_message(self.server, missing, listing))

        progress = [_TaskProgress(name, listing[name]["state"]) for name in names]
        self._progress = progress
        to_request = self._plan(progress, target, listing)

        if check_mode:
            for item in to_request:
                item.changed = True
                item.after = target
                item.finish("stopped" if target == STOPPED else "running", "Check mode: a %s request would be sent." % _verb(target), self._clock())
            return self._summary(progress)

        self._unsent = len(to_request)
        self._report_progress()
        self._send_all(to_request, target)
        if self.settings.wait:
            self._wait(progress, target)
        else:
            for item in progress:
                if item.result is None:
                    item.finish("pending", "Request sent; not waiting for confirmation (wait=false).", self._clock())
        return self._summary(progress)

    # Steps

    def _report_progress(self, sent=0, replied=0):
        if self._on_progress is None:
            return
        with self._lock:
            self._unsent -= sent
            self._in_flight += sent - replied
            pending = [item.name for item in self._progress if item.result is None]
            self._on_progress(pending, self._in_flight, self._unsent)

    def _first_listing(self):
        """Read the task list once; keep retrying a disconnected server within not_connected_timeout."""
        deadline = self._clock() + self.settings.not_connected_timeout
        while True:
            try:
                return self._read_listing()
            except QemApiError as error:
                if error.error_code not in NOT_CONNECTED_CODES:
                    raise
                if self._clock() >= deadline:
                    if self.settings.not_connected_timeout > 0:
                        return None
                    raise
                self._warn("Server '%s' is not connected in QEM (%s); retrying." % (self.server, error.error_code))
                self._sleep(self.settings.poll_interval)

    def _read_listing(self):
        listing = {}
        for record in self.client.list_tasks(self.server):
            name = record.get("name")
            if name is None:
                continue
            listing[name] = {"state": _normalize_state(record.get("state")), "message": record.get("message") or ""}
        return listing

    def _plan(self, progress, target, listing):
        """Decide per task whether a request is needed; finish the tasks that need none."""
        now = self._clock()
        to_request = []
        for item in progress:
            item.started = now
            state = item.before
            message = listing[item.name]["message"]
            if target == STOPPED:
                if state == STOPPED:
                    item.finish("already_stopped", "Already stopped; no request sent.", now)
                elif state in (RUNNING, RECOVERING):
                    to_request.append(item)
                elif state == ERROR:
                    item.finish("skipped", "In ERROR, not active; no stop request sent. QEM message: %s" % (message or "none"), now)
                else:
                    item.finish("unknown", "QEM reports the unknown state '%s'; not stopped. Check the task in Enterprise Manager." % state, now)
            else:
                if state == RUNNING:
                    item.finish("already_running", "Already running; no request sent.", now)
                elif state == RECOVERING:
                    item.finish("already_running", "Recovering from a temporary error; it is active, so no run request was sent.", now)
                elif state in (STOPPED, ERROR):
                    to_request.append(item)
                else:
                    item.finish("unknown", "QEM reports the unknown state '%s'; not resumed. Check the task in Enterprise Manager." % state, now)
        return to_request

    def _send_all(self, items, target):
        if not items:
            return
        workers = min(self.settings.workers, len(items))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda item: self._send_and_report(item, target), items))

    def _send_and_report(self, item, target):
        self._report_progress(sent=1)
        try:
            self._send_one(item, target)
        finally:
            self._report_progress(replied=1)

    def _send_one(self, item, target):
        """Send one stop or run request; errors are kept and the next task-list read decides."""
        deadline = self._clock() + self.settings.not_connected_timeout
        while True:
            try:
                item.requests += 1
                item.last_request_at = self._clock()
                if target == STOPPED:
                    response = self.client.stop_task(self.server, item.name, timeout=self.settings.stop_timeout)
                else:
                    response = self.client.run_task(self.server, item.name, option=self.settings.run_option,
                                                    timeout=self.settings.stop_timeout, cdc_position=self.settings.cdc_position)
                if response.get("resent") is False:
                    # The session expired and a re-read showed the task already in the target state.
                    item.requests -= 1
                    item.request_error = None
                else:
                    item.changed = True
                return
            except QemApiError as error:
                if error.error_code == "AEM_TASK_ALREADY_STOPPED" and target == STOPPED:
                    # QEM returns HTTP 500 with this code for a stop on a stopped task; a re-read confirms it.
                    item.request_error = "already_stopped"
                    return
                if error.error_code in NOT_CONNECTED_CODES:
                    if self._clock() < deadline:
                        self._sleep(self.settings.poll_interval)
                        if self._state_now(item.name) == target:
                            return
                        continue
                    # QEM did not pass the request on to the Replicate server, so the task is untouched.
                    item.finish("pending", "Server '%s' stayed not connected in QEM (%s) until not_connected_timeout (%.0f s) ended; no %s "
                                "request reached the task. Run again once Enterprise Manager shows the server connected."
                                % (self.server, error.error_code, self.settings.not_connected_timeout, _verb(target)), self._clock())
                    return
                item.changed = True
                code = error.error_code or "HTTP %s" % error.status
                item.request_error = "QEM answered the %s request with %s: %s" % (_verb(target), code, error.error_message or error.message)
                return
            except QemAuthError:
                raise
            except (QemConnectionError, QemError) as error:
                # The request may or may not have reached QEM; it is never resent blindly.
                item.changed = True
                item.request_error = "The %s request did not complete (%s); the task state was re-read." % (_verb(target), error.message)
                return

    def _state_now(self, name):
        try:
            listing = self._read_listing()
        except QemError:
            return None
        entry = listing.get(name)
        return entry["state"] if entry else None

    def _wait(self, progress, target):
        """Poll the task list until every pending task reads the target state ``settle_reads`` times in a row."""
        pending = [item for item in progress if item.result is None]
        deadline = self._clock() + self.settings.wait_timeout
        resend_every = self.settings.wait_timeout / (self.settings.resend + 1)
        last_error = None

        while pending:
            try:
                listing = self._read_listing()
                last_error = None
            except (QemConnectionError, QemApiError) as error:
                if isinstance(error, QemApiError) and error.error_code not in NOT_CONNECTED_CODES and error.status != 500:
                    raise
                listing = None
                last_error = error
                self._warn("Reading the task list of server '%s' failed (%s); still waiting." % (self.server, error.message))

            now = self._clock()
            if listing is not None:
                for item in pending:
                    self._observe(item, listing.get(item.name), target, now)
                pending = [item for item in pending if item.result is None]
                self._report_progress()

            if pending and now >= deadline:
                for item in pending:
                    self._time_out(item, target, now, last_error)
                break
            if pending and self.settings.resend and listing is not None:
                for item in pending:
                    self._maybe_resend(item, target, now, resend_every)
            if pending:
                self._sleep(min(self.settings.poll_interval, max(0.0, deadline - now)) or self.settings.poll_interval)

    def _observe(self, item, entry, target, now):
        if entry is None:
            item.after = "MISSING"
            item.finish("failed", "The task is no longer listed on server '%s'." % self.server, now)
            return
        state = entry["state"]
        item.after = state
        if state in (RUNNING, RECOVERING):
            item.seen_active = True

        if state == target:
            item.confirmations += 1
            if item.confirmations >= self.settings.settle_reads:
                self._confirm(item, target, now)
            return
        item.confirmations = 0

        if target == RUNNING and state == ERROR and (item.before != ERROR or item.seen_active):
            item.finish("failed", "The task went to ERROR after the run request. QEM message: %s" % (entry["message"] or "none"), now)
        elif target == RUNNING and state == STOPPED and item.seen_active:
            item.finish("failed", "The task fell back to STOPPED after the run request. QEM message: %s" % (entry["message"] or "none"), now)
        elif target == STOPPED and state == ERROR and item.before != ERROR:
            item.finish("failed", "The task went to ERROR instead of STOPPED. QEM message: %s" % (entry["message"] or "none"), now)

    def _confirm(self, item, target, now):
        if item.request_error == "already_stopped":
            item.changed = False
            item.finish("already_stopped", "QEM reported the task already stopped (AEM_TASK_ALREADY_STOPPED); a re-read confirmed it.", now)
        elif not item.changed:
            item.finish("already_stopped" if target == STOPPED else "already_running", "Already in the target state on re-read; no request sent.", now)
        else:
            message = "Confirmed %s in %d consecutive reads." % (target, self.settings.settle_reads)
            if item.request_error:
                message = "%s Confirmed %s on re-read." % (item.request_error, target)
            item.finish("stopped" if target == STOPPED else "running", message, now)

    def _time_out(self, item, target, now, last_error):
        if last_error is not None:
            item.finish("unknown", "QEM could not be read until the wait ended (%s); the task state is unknown. Check it in Enterprise Manager."
                        % last_error.message, now)
            return
        detail = " %s" % item.request_error if item.request_error and item.request_error != "already_stopped" else ""
        item.finish("timeout", "Still %s after %.0f s; expected %s.%s Raise wait_timeout or check the task in Enterprise Manager."
                    % (item.after, self.settings.wait_timeout, target, detail), now)

    def _maybe_resend(self, item, target, now, resend_every):
        """Send another request for a task that has not left its state, after a fresh read showed that."""
        sent_extra = item.requests - 1
        if sent_extra >= self.settings.resend or item.last_request_at is None:
            return
        if now - item.last_request_at < resend_every or item.after != item.before:
            return
        self._warn("Task '%s' on server '%s' is still %s; sending %s request %d of %d."
                   % (item.name, self.server, item.after, _verb(target), sent_extra + 2, self.settings.resend + 1))
        self._send_one(item, target)
        item.notes.append("Request %d was sent after the task stayed %s." % (item.requests, item.after))

    def _summary(self, progress):
        results = [item.as_dict() for item in progress]
        failed = [item["name"] for item in results if item["result"] in FAILURE_RESULTS]
        pending = [item["name"] for item in results if item["result"] in ("pending", "timeout", "unknown")]
        return {
            "results": results,
            "changed": any(item["changed"] for item in results),
            "failed_tasks": failed,
            "pending": pending,
        }


def _unique(names):
    seen = set()
    ordered = []
    for name in names:
        if name not in seen:
            seen.add(name)
            ordered.append(name)
    return ordered


def _verb(target):
    return "stop" if target == STOPPED else "run"


def _missing_message(server, missing, listing):
    lowered = {}
    for name in listing:
        lowered.setdefault(name.lower(), name)
    parts = []
    for name in missing:
        near = lowered.get(name.lower())
        if near:
            parts.append("'%s' (QEM spells it '%s')" % (name, near))
        else:
            parts.append("'%s'" % name)
    return ("Task(s) %s not found on server '%s'; nothing was stopped or started. Task names are case-sensitive; "
            "list them with qem.replicate.qem_task_list." % (", ".join(parts), server))
