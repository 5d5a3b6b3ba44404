"""State of the simulated Enterprise Manager: servers, tasks, sessions, faults and the event log.

Time is computed lazily. The model keeps a heap of scheduled task transitions, such as a
stop completing, a run completing, a fall back after a run or a full load ending. Each is
stamped in scenario seconds, and the model applies every transition that is due before
it serves a request.
No background thread drives the clock. All public methods take the model lock, so the
threads of the HTTP server see one consistent state.
"""

import datetime
import heapq
import itertools
import math
import secrets
import threading
import time

from .scenario import (
    ACTIVE_STATES,
    DEFAULT_STOP_REASONS,
    ENDPOINTS,
    ERROR,
    RECOVERING,
    RUNNING,
    STOPPED,
    ScenarioError,
    normalise_server,
    normalise_task,
    normalise_windows,
)


class ApiError(Exception):
    """Error response of the API: HTTP status, QEM error code and message."""

    def __init__(self, status, error_code, error_message):
        super().__init__(f"{status} {error_code}: {error_message}")
        self.status = status
        self.error_code = error_code
        self.error_message = error_message


def format_duration(seconds):
    """Format seconds as hh:mm:ss; hours may exceed 99."""
    seconds = round(max(seconds, 0))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def parse_duration(text):
    """Parse hh:mm:ss into seconds."""
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


class FullLoad:
    """Full-load progress of one task; it advances only while the task is RUNNING."""

    def __init__(self, config, cdc_only, now):
        self.gen = 0
        self.running_since = None
        self.start_t = None
        self.end_t = None
        self.cdc_only = cdc_only
        if config is None:
            config = {"tables_loading": 0, "tables_queued": 0, "tables_completed": 0 if cdc_only else 10,
                      "completed": not cdc_only, "remaining": None, "records_per_table": 100000, "then": "continue"}
        self.config = dict(config)
        self.loading = config["tables_loading"]
        self.queued = config["tables_queued"]
        self.tables_completed = config["tables_completed"]
        self.records_per_table = config["records_per_table"]
        self.then = config["then"]
        self.completed = config["completed"]
        # A load completed before the simulator started ended a day ago in wall-clock time.
        self.historic = self.completed
        if self.completed:
            self.tables_completed += self.loading + self.queued
            self.loading = self.queued = 0
        elif self.loading + self.queued:
            self.start_t = now
        self.remaining = config["remaining"]
        self.initial_remaining = config["remaining"]

    def in_progress(self):
        """Whether tables are still loading or queued."""
        return not self.completed and self.loading + self.queued > 0

    def remaining_at(self, now):
        """Scenario seconds of running still needed to finish, or None if it never finishes."""
        if self.remaining is None:
            return None
        elapsed = now - self.running_since if self.running_since is not None else 0.0
        return max(self.remaining - elapsed, 0.0)

    def fraction_at(self, now):
        """Share of the load done, from 0 to 1."""
        if self.completed:
            return 1.0
        remaining = self.remaining_at(now)
        if remaining is None or not self.initial_remaining:
            return 0.0
        return 1.0 - remaining / self.initial_remaining

    def resume(self, now):
        """Start the progress clock; return the scenario time the load will end, or None."""
        if not self.in_progress():
            return None
        self.running_since = now
        if self.start_t is None:
            self.start_t = now
        remaining = self.remaining_at(now)
        return None if remaining is None else now + remaining

    def pause(self, now):
        """Stop the progress clock, keeping the remaining time."""
        if self.running_since is not None and self.remaining is not None:
            self.remaining = self.remaining_at(now)
        self.running_since = None
        self.gen += 1

    def finish(self, now):
        """Mark the load completed: nothing loading or queued."""
        self.tables_completed += self.loading + self.queued
        self.loading = self.queued = 0
        self.completed = True
        self.remaining = 0.0
        self.running_since = None
        self.end_t = now
        self.gen += 1

    def counters(self, now, table_errors):
        """Return the full_load_counters object of the task details."""
        fraction = self.fraction_at(now)
        queued = math.ceil(self.queued * (1.0 - fraction)) if self.queued else 0
        completed_tables = self.tables_completed + (self.queued - queued)
        total_tables = self.tables_completed + self.loading + self.queued
        estimated = total_tables * self.records_per_table
        if self.completed:
            records = estimated
        else:
            records = int((self.tables_completed + fraction * (self.loading + self.queued)) * self.records_per_table)
        return {
            "tables_completed_count": completed_tables,
            "tables_loading_count": self.loading,
            "tables_queued_count": queued,
            "tables_with_error_count": table_errors,
            "records_completed_count": records,
            "estimated_records_for_all_tables_count": estimated,
        }


class Task:
    """One Replicate or Compose task: its configuration and its current state."""

    def __init__(self, server, config, now):
        self.server = server
        self.name = config["name"]
        self.config = config
        self.state = config["state"]
        self.stop_reason = config["stop_reason"]
        self.message = config["message"]
        self.pending = None
        self.pending_option = None
        self.gen = 0
        self.starved = False
        self.stale_left = 0
        self.stale_view = None
        self.full_load = FullLoad(config["full_load"], config["cdc_only"], now)
        self.latency_t0 = now

    def view(self):
        """Return (state, stop_reason, message) as the task is now."""
        return (self.state, self.stop_reason, self.message)


class Server:
    """One Replicate or Compose server known to Enterprise Manager."""

    def __init__(self, config, now):
        self.config = {key: value for key, value in config.items() if key != "tasks"}
        self.name = config["name"]
        self.tasks = {}
        for task_config in config["tasks"]:
            self.tasks[task_config["name"]] = Task(self, task_config, now)

    def readers_of(self, staging):
        """Return the tasks that read from the Log Stream staging task `staging`."""
        return [task for task in self.tasks.values() if task.config["reads_from"] == staging.name]

    def staging_of(self, task):
        """Return the staging task that `task` reads from, or None."""
        name = task.config["reads_from"]
        return self.tasks.get(name) if name else None


class Model:
    """The simulated Enterprise Manager behind the HTTP handler."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.time_scale = scenario["time_scale"]
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.closing = False
        self._start = time.monotonic()
        self._wall_start = datetime.datetime.now(datetime.timezone.utc)
        self._queue = []
        self._sequence = itertools.count()
        self._events = []
        self._counters = {}
        self._sessions = {}
        self._issued = []
        self._users = list(scenario["users"])
        self._faults = [dict(fault, seen=0, fired=0) for fault in scenario["faults"]]
        self.servers = {}
        for server_config in scenario["servers"]:
            self.servers[server_config["name"]] = Server(server_config, 0.0)
        self.reset_log()

    # Clock ---------------------------------------------------------------

    def start_clock(self):
        """Set scenario time zero to now and start the full loads of running tasks."""
        with self.lock:
            self.closing = False
            self._start = time.monotonic()
            self._wall_start = datetime.datetime.now(datetime.timezone.utc)
            for server in self.servers.values():
                for task in server.tasks.values():
                    if task.state == RUNNING:
                        self._resume_full_load(task, 0.0)

    def now(self):
        """Return the scenario time in scenario seconds."""
        return (time.monotonic() - self._start) / self.time_scale

    def real_now(self):
        """Return the real seconds since the simulator started."""
        return time.monotonic() - self._start

    def iso(self, scenario_t):
        """Return an ISO 8601 UTC time without a zone, as Enterprise Manager writes times."""
        return self._wall_iso(scenario_t * self.time_scale)

    def _wall_iso(self, real_offset):
        moment = self._wall_start + datetime.timedelta(seconds=real_offset)
        return moment.strftime("%Y-%m-%dT%H:%M:%S")

    # Event log and counters -----------------------------------------------

    def reset_log(self):
        """Clear the event log and the request counters."""
        with self.lock:
            self._events = []
            self._counters = dict.fromkeys(ENDPOINTS, 0)

    def count(self, endpoint):
        """Count one request to an endpoint."""
        with self.lock:
            self._counters[endpoint] = self._counters.get(endpoint, 0) + 1

    def counters(self):
        """Return a copy of the request counters."""
        with self.lock:
            return dict(self._counters)

    def record(self, event, scenario_t=None):
        """Append an event; `t` is real seconds since start, `scenario_t` scenario seconds."""
        with self.lock:
            if scenario_t is None:
                scenario_t = self.now()
            entry = {"t": round(scenario_t * self.time_scale, 6), "scenario_t": round(scenario_t, 6)}
            entry.update(event)
            self._events.append(entry)

    def events(self, **match):
        """Return the events ordered by time, keeping those whose fields equal `match`."""
        with self.lock:
            self._advance()
            selected = [dict(event) for event in self._events if all(event.get(key) == value for key, value in match.items())]
        selected.sort(key=lambda event: event["t"])
        return selected

    def _violation(self, kind, task, scenario_t, **details):
        event = {"endpoint": "violation", "kind": kind, "server": task.server.name, "task": task.name}
        event.update(details)
        self.record(event, scenario_t)

    # Sessions -------------------------------------------------------------

    def authenticate(self, username, password):
        """Return the matching user entry or None."""
        for user in self._users:
            if _same_username(user["username"], username) and secrets.compare_digest(user["password"].encode(), password.encode()):
                return user
            # An API token may also arrive as user "api-token" (or "jwt") with the token as password.
            if username.lower() in ("api-token", "jwt") and not user["password"] and user["username"] == f"{username.lower()}:{password}":
                return user
        return None

    def create_session(self, user):
        """Open a session for `user` and return its id."""
        with self.lock:
            session_id = secrets.token_urlsafe(16)
            self._sessions[session_id] = {"user": user, "last": self.now()}
            self._issued.append(session_id)
            return session_id

    def use_session(self, session_id):
        """Return the session's user and refresh its idle timer; raise ApiError 401 if expired or unknown."""
        with self.lock:
            session = self._sessions.get(session_id)
            now = self.now()
            if session is not None and now - session["last"] > self.scenario["session_idle_timeout"]:
                del self._sessions[session_id]
                session = None
            if session is None:
                raise ApiError(401, "INVALID_SESSION_ID", "The session has expired or the session ID is not valid.")
            session["last"] = now
            return session["user"]

    def end_session(self, session_id):
        """Close a session."""
        with self.lock:
            self._sessions.pop(session_id, None)

    def expire_sessions(self):
        """End every open session, as an idle timeout would; return how many ended."""
        with self.lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    def sessions_issued(self):
        """Return every session id issued since the start, expired or not."""
        with self.lock:
            return list(self._issued)

    # Faults ---------------------------------------------------------------

    def take_fault(self, endpoint, server, task):
        """Return the first fault that fires for this request, counting it, or None."""
        with self.lock:
            for fault in self._faults:
                if fault["endpoint"] not in ("any", endpoint):
                    continue
                if fault["server"] is not None and fault["server"] != server:
                    continue
                if fault["task"] is not None and fault["task"] != task:
                    continue
                fault["seen"] += 1
                if fault["seen"] <= fault["skip"]:
                    continue
                if fault["times"] != -1 and fault["fired"] >= fault["times"]:
                    continue
                fault["fired"] += 1
                return dict(fault)
        return None

    def add_fault(self, fault):
        """Add a validated fault at the end of the fault list."""
        with self.lock:
            self._faults.append(dict(fault, seen=0, fired=0))

    # Servers --------------------------------------------------------------

    def server_state(self, server, now):
        """Return (state, message) of a server, showing an outage window as ERROR."""
        config = server.config
        for window in config["not_connected"]:
            end = math.inf if window["duration"] < 0 else window["start"] + window["duration"]
            if window["start"] <= now < end:
                return ERROR, config["message"] or "Connection to the Replicate server was lost"
        return config["state"], config["message"]

    def get_server(self, name, for_tasks):
        """Return a server or raise the documented error; `for_tasks` also requires it connected."""
        server = self.servers.get(name)
        if server is None:
            raise ApiError(500, "AEM_SERVER_NOT_FOUND", f"The requested server {name} could not be found.")
        if not for_tasks:
            return server
        state, message = self.server_state(server, self.now())
        if state == "NOT_MONITORED":
            raise ApiError(500, "AEM_SERVER_NOT_MONITORED", f"The requested server {name} is not monitored.")
        if state == ERROR:
            raise ApiError(500, "AEM_SERVER_NOT_CONNECTED",
                           f'The requested server "{name}" cannot be reached at this time. Message: {message or "Connection refused"}')
        return server

    def get_task(self, server, name):
        """Return a task of a connected server or raise AEM_TASK_NOT_FOUND."""
        task = server.tasks.get(name)
        if task is None:
            raise ApiError(500, "AEM_TASK_NOT_FOUND", f"Task {name} was not found on server {server.name}.")
        return task

    def server_list(self):
        """Return the serverList entries."""
        with self.lock:
            self._advance()
            now = self.now()
            return [self._server_summary(server, now) for server in self.servers.values()]

    def server_details(self, name):
        """Return the server details object and the key it goes under."""
        with self.lock:
            self._advance()
            server = self.get_server(name, for_tasks=False)
            now = self.now()
            details = self._server_summary(server, now)
            del details["$type"]
            summary = {"total": 0, "running": 0, "stopped": 0, "recovering": 0, "error": 0}
            for task in server.tasks.values():
                summary["total"] += 1
                key = {RUNNING: "running", STOPPED: "stopped", RECOVERING: "recovering", ERROR: "error"}.get(task.state)
                if key:
                    summary[key] += 1
            details["task_summary"] = summary
            return server.config["details_key"], details

    def _server_summary(self, server, now):
        config = server.config
        state, message = self.server_state(server, now)
        last = now if state == "MONITORED" else min(now, self._last_connected(server))
        return {
            "$type": "ReplicateServerInfo" if config["type"] == "replicate" else "ComposeServerInfo",
            "name": server.name,
            "description": config["description"],
            "host": config["host"],
            "port": config["port"],
            "state": state,
            "message": message,
            "platform": config["platform"],
            "version": config["version"],
            "last_connection": self.iso(last),
        }

    @staticmethod
    def _last_connected(server):
        starts = [window["start"] for window in server.config["not_connected"]]
        return min(starts) if starts else 0.0

    # Task reads -----------------------------------------------------------

    def spell(self, state, details=False):
        """Spell a canonical task state with the scenario's recovering spelling."""
        if state == RECOVERING:
            return self.scenario["details_recovering_spelling" if details else "recovering_spelling"]
        return state

    def _read_view(self, task):
        """Return the view a read returns, consuming one stale read if any are left."""
        if task.stale_left > 0:
            task.stale_left -= 1
            return task.stale_view
        return task.view()

    def task_list(self, server_name):
        """Return the taskList entries; each listed task consumes one stale read."""
        with self.lock:
            self._advance()
            server = self.get_server(server_name, for_tasks=True)
            entries = []
            for task in server.tasks.values():
                state, stop_reason, message = self._read_view(task)
                entries.append({
                    "name": task.name,
                    "state": self.spell(state),
                    "stop_reason": stop_reason,
                    "message": message,
                    "assigned_tags": list(task.config["tags"]),
                })
            return entries

    def task_details(self, server_name, task_name):
        """Return the task details object (flat); a read consumes one stale read."""
        with self.lock:
            self._advance()
            server = self.get_server(server_name, for_tasks=True)
            task = self.get_task(server, task_name)
            return self._details(task, self._read_view(task))

    def _details(self, task, view):
        now = self.now()
        config = task.config
        state, stop_reason, message = view
        full_load = task.full_load
        details = {
            "name": task.name,
            "description": config["description"],
            "state": self.spell(state, details=True),
            "message": message,
            "task_stop_reason": stop_reason,
            "source_endpoint": dict(config["source_endpoint"]),
            "target_endpoint": dict(config["target_endpoint"]),
            "profile": config["profile"],
            "assigned_tags": list(config["tags"]),
        }
        if config["log_stream_staging"] is not None:
            details["log_stream_staging"] = config["log_stream_staging"]

        details["full_load_completed"] = full_load.completed
        if full_load.historic:
            details["full_load_start"] = self._wall_iso(-86400)
            details["full_load_end"] = self._wall_iso(-82800)
        else:
            if full_load.start_t is not None:
                details["full_load_start"] = self.iso(full_load.start_t)
            if full_load.end_t is not None:
                details["full_load_end"] = self.iso(full_load.end_t)
        details["full_load_counters"] = full_load.counters(now, config["table_errors"])
        loading_now = full_load.in_progress() and task.state == RUNNING
        details["full_load_throughput"] = {
            "source_throughput_records_count": 5000 if loading_now else 0,
            "source_throughput_volume": 12 if loading_now else 0,
            "target_throughput_records_count": 4800 if loading_now else 0,
            "target_throughput_volume": 11 if loading_now else 0,
        }

        latency = self._latency(task, now)
        if latency is not None:
            details["cdc_latency"] = latency

        details.update(_cdc_counters(task.state == RUNNING))
        details["memory_mb"] = config["memory_mb"]
        details["cpu_percentage"] = config["cpu_percentage"]
        details["disk_usage_mb"] = config["disk_usage_mb"]
        return details

    def _latency(self, task, now):
        latency = task.config["latency"]
        if latency is None:
            return None
        if latency["drain"] is None:
            return {"source_latency": latency["source"], "total_latency": latency["total"]}
        remaining_share = max(0.0, 1.0 - (now - task.latency_t0) / latency["drain"])
        return {
            "source_latency": format_duration(parse_duration(latency["source"]) * remaining_share),
            "total_latency": format_duration(parse_duration(latency["total"]) * remaining_share),
        }

    def current_state(self, server_name, task_name):
        """Return the spelled current state of a task, or None if it does not exist."""
        with self.lock:
            self._advance()
            server = self.servers.get(server_name)
            task = server.tasks.get(task_name) if server else None
            return self.spell(task.state) if task else None

    # Commands -------------------------------------------------------------

    def stop(self, server_name, task_name):
        """Accept a stop request; return the task. Raise ApiError when it cannot be stopped."""
        with self.lock:
            self._advance()
            server = self.get_server(server_name, for_tasks=True)
            task = self.get_task(server, task_name)
            now = self.now()
            if task.pending == "stop":
                return task
            if task.pending == "run":
                # A stop while a run is still starting cancels the run; the task stays stopped.
                self._accept(task)
                task.starved = False
                self.changed.notify_all()
                return task
            if task.state in (STOPPED, ERROR):
                raise ApiError(500, "AEM_TASK_ALREADY_STOPPED", f"Replicate task {task.name} on server {server.name} is already stopped.")

            if task.state in ACTIVE_STATES and task.full_load.in_progress():
                counters = task.full_load.counters(now, task.config["table_errors"])
                self._violation("stop_during_full_load", task, now,
                                tables_loading=counters["tables_loading_count"], tables_queued=counters["tables_queued_count"])
            active_readers = [reader.name for reader in server.readers_of(task) if reader.state in ACTIVE_STATES or reader.pending == "run"]
            if active_readers:
                self._violation("staging_stopped_while_reader_active", task, now, readers=active_readers)

            self._accept(task)
            task.pending = "stop"
            if not task.config["never_stops"]:
                self._schedule(task, now + task.config["stop_duration"], "stop_done")
            self._advance()
            self.changed.notify_all()
            return task

    def run(self, server_name, task_name, option):
        """Accept a run request; return the task. A task that is not stopped is left alone."""
        with self.lock:
            self._advance()
            server = self.get_server(server_name, for_tasks=True)
            task = self.get_task(server, task_name)
            now = self.now()
            if task.pending == "run" or task.state not in (STOPPED, ERROR):
                return task

            staging = server.staging_of(task)
            if staging is not None and staging.state != RUNNING:
                self._violation("reader_started_before_staging", task, now, staging=staging.name, staging_state=self.spell(staging.state))

            self._accept(task)
            task.pending = "run"
            task.pending_option = option
            if option == "RELOAD_TARGET" and task.config["full_load"] is not None:
                task.full_load = FullLoad(dict(task.config["full_load"], completed=False), False, now)
            self._schedule(task, now + task.config["run_duration"], "run_done")
            self._advance()
            self.changed.notify_all()
            return task

    def wait_for(self, task, target, timeout):
        """Wait up to `timeout` scenario seconds for the task to reach `target` ("stopped" or "running")."""
        with self.changed:
            deadline = self.now() + timeout
            while True:
                self._advance()
                if self._reached(task, target):
                    return True
                now = self.now()
                if now >= deadline or self.closing:
                    return False
                next_due = self._queue[0][0] if self._queue else math.inf
                wake = min(deadline, next_due)
                self.changed.wait(timeout=max((wake - now) * self.time_scale, 0.001))

    @staticmethod
    def _reached(task, target):
        if target == "stopped":
            return task.pending != "stop" and task.state not in ACTIVE_STATES and task.pending != "run"
        return task.state == RUNNING

    def close(self):
        """Wake every waiting request so that the server can shut down."""
        with self.changed:
            self.closing = True
            self.changed.notify_all()

    def _accept(self, task):
        """Start a new command: cancel pending transitions and begin the stale reads."""
        task.gen += 1
        task.pending = None
        task.pending_option = None
        task.stale_view = task.view()
        task.stale_left = task.config["stale_reads"]

    # Transitions ----------------------------------------------------------

    @staticmethod
    def _generation(task, kind):
        """Return what must stay unchanged for a scheduled transition to still apply."""
        if kind == "full_load_done":
            # A replaced FullLoad (RELOAD_TARGET, set_task) starts its own count, so the object is part of it.
            return (task.full_load, task.full_load.gen)
        return task.gen

    def _schedule(self, task, due, kind):
        heapq.heappush(self._queue, (due, next(self._sequence), kind, task, self._generation(task, kind)))

    def _advance(self):
        """Apply every scheduled transition that is due by now, in time order."""
        now = self.now()
        while self._queue and self._queue[0][0] <= now:
            entry = heapq.heappop(self._queue)
            due = entry[0]
            kind, task, gen = entry[2:]
            if gen != self._generation(task, kind) or task.server.tasks.get(task.name) is not task:
                continue
            getattr(self, f"_on_{kind}")(task, due)

    def _on_stop_done(self, task, t):
        task.pending = None
        task.starved = False
        self._set_state(task, STOPPED, t, "stop", "NORMAL", "")

    def _on_run_done(self, task, t):
        task.pending = None
        task.pending_option = None
        staging = task.server.staging_of(task)
        if staging is not None and staging.state != RUNNING:
            task.starved = True
            self._set_state(task, RECOVERING, t, "run", "RECOVERABLE_ERROR", _starved_message(staging))
        else:
            self._set_state(task, RUNNING, t, "run", "NONE", "")
        after_run = task.config["after_run"]
        if after_run is not None:
            self._schedule(task, t + after_run["after"], "fall_back")
        recovering = task.config["recovering_after_run"]
        if recovering is not None:
            self._schedule(task, t + recovering["after"], "recover_start")

    def _on_fall_back(self, task, t):
        after_run = task.config["after_run"]
        if after_run is None or task.state not in ACTIVE_STATES:
            return
        task.starved = False
        self._set_state(task, after_run["state"], t, "after_run", after_run["stop_reason"], after_run["message"])

    def _on_recover_start(self, task, t):
        recovering = task.config["recovering_after_run"]
        if recovering is None or task.state != RUNNING:
            return
        self._set_state(task, RECOVERING, t, "recovering_after_run", "RECOVERABLE_ERROR",
                        "The task hit a recoverable error and is recovering")
        if recovering["duration"] >= 0:
            self._schedule(task, t + recovering["duration"], "recover_end")

    def _on_recover_end(self, task, t):
        if task.state != RECOVERING or task.starved:
            return
        staging = task.server.staging_of(task)
        if staging is not None and staging.state != RUNNING:
            task.starved = True
            self._set_state(task, RECOVERING, t, "recovering_after_run", "RECOVERABLE_ERROR", _starved_message(staging))
            return
        self._set_state(task, RUNNING, t, "recovering_after_run", "NONE", "")

    def _on_full_load_done(self, task, t):
        task.full_load.finish(t)
        self.record({"endpoint": "transition", "server": task.server.name, "task": task.name, "reason": "full_load_completed",
                     "state_before": self.spell(task.state), "state_after": self.spell(task.state)}, t)
        if task.full_load.then == "stop" and task.state == RUNNING:
            self._set_state(task, STOPPED, t, "full_load_only", "FULL_LOAD_ONLY_FINISHED", "")

    def _set_state(self, task, state, t, reason, stop_reason=None, message=None):
        """Change a task's state at scenario time t, with its effects on the full load and on Log Stream readers."""
        old = task.state
        task.state = state
        task.stop_reason = stop_reason if stop_reason is not None else DEFAULT_STOP_REASONS.get(state, "NONE")
        task.message = message if message is not None else ""
        if old == state:
            return
        self.record({"endpoint": "transition", "server": task.server.name, "task": task.name, "reason": reason,
                     "state_before": self.spell(old), "state_after": self.spell(state)}, t)
        if old == RUNNING:
            task.full_load.pause(t)
            self._starve_readers(task, t)
        if state == RUNNING:
            self._resume_full_load(task, t)
            self._feed_readers(task, t)

    def _resume_full_load(self, task, t):
        end = task.full_load.resume(t)
        if end is not None:
            self._schedule(task, end, "full_load_done")

    def _starve_readers(self, staging, t):
        """Send the running readers of a staging task that is no longer RUNNING into the recovering state."""
        for reader in staging.server.readers_of(staging):
            if reader.state == RUNNING and reader.pending != "stop":
                reader.starved = True
                self._set_state(reader, RECOVERING, t, "staging_not_running", "RECOVERABLE_ERROR", _starved_message(staging))

    def _feed_readers(self, staging, t):
        """Return the starved readers of a staging task that runs again to RUNNING."""
        for reader in staging.server.readers_of(staging):
            if reader.starved and reader.state == RECOVERING:
                reader.starved = False
                self._set_state(reader, RUNNING, t, "staging_running", "NONE", "")

    # Test hooks -----------------------------------------------------------

    def set_task(self, server_name, task_name, fields):
        """Change a task's fields now; a new state cancels its pending transitions."""
        with self.lock:
            self._advance()
            server = self.servers.get(server_name)
            if server is None:
                raise KeyError(f"no server '{server_name}'")
            task = server.tasks.get(task_name)
            if task is None:
                raise KeyError(f"no task '{task_name}' on server '{server_name}'")
            if "name" in fields and fields["name"] != task_name:
                raise ScenarioError("set_task: a task cannot be renamed")
            changes = normalise_task(fields, f"set_task({task_name})", partial=True)
            staging = changes.get("reads_from")
            if staging is not None and staging not in server.tasks:
                raise ScenarioError(f"set_task({task_name}).reads_from: no task '{staging}' on server '{server_name}'")
            if staging == task_name:
                raise ScenarioError(f"set_task({task_name}).reads_from: a task cannot read from itself")
            config = dict(task.config)
            config.update({key: value for key, value in changes.items() if key not in ("state", "stop_reason", "message")})
            if config["cdc_only"] and config["full_load"] is not None:
                raise ScenarioError(f"set_task({task_name}): cdc_only and full_load exclude each other")

            now = self.now()
            task.config = config
            if "full_load" in changes or "cdc_only" in changes:
                task.full_load.pause(now)
                task.full_load = FullLoad(config["full_load"], config["cdc_only"], now)
                if task.state == RUNNING:
                    self._resume_full_load(task, now)
            if "latency" in changes:
                task.latency_t0 = now

            if "state" in changes:
                task.gen += 1
                task.pending = None
                task.pending_option = None
                task.starved = False
                task.stale_left = 0
                self._set_state(task, changes["state"], now, "set_task", changes.get("stop_reason"), changes.get("message", ""))
            else:
                if "stop_reason" in changes:
                    task.stop_reason = changes["stop_reason"]
                if "message" in changes:
                    task.message = changes["message"]
            self._advance()
            self.changed.notify_all()

    def set_server(self, server_name, fields):
        """Change a server's fields now; `not_connected_for` opens an outage window from now."""
        with self.lock:
            server = self.servers.get(server_name)
            if server is None:
                raise KeyError(f"no server '{server_name}'")
            allowed = {"state", "message", "description", "host", "port", "platform", "version", "details_key", "not_connected", "not_connected_for"}
            unknown = sorted(set(fields) - allowed)
            if unknown:
                raise ScenarioError(f"set_server: unknown fields {unknown}; allowed: {sorted(allowed)}")
            merged = dict(server.config)
            merged.update({key: value for key, value in fields.items() if key not in ("not_connected", "not_connected_for", "tasks")})
            merged["tasks"] = []
            merged["not_connected"] = None
            checked = normalise_server(merged, f"set_server({server_name})")
            windows = server.config["not_connected"]
            if "not_connected" in fields:
                windows = normalise_windows(fields["not_connected"], "set_server.not_connected")
            if fields.get("not_connected_for") is not None:
                duration = fields["not_connected_for"]
                windows = windows + normalise_windows({"start": self.now(), "duration": duration}, "set_server.not_connected_for")
            checked["not_connected"] = windows
            del checked["tasks"]
            server.config = checked
            self.changed.notify_all()

    def task_snapshot(self, server_name, task_name):
        """Return the details of a task as it is now (no stale reads), plus its pending command."""
        with self.lock:
            self._advance()
            server = self.servers.get(server_name)
            if server is None:
                raise KeyError(f"no server '{server_name}'")
            task = server.tasks.get(task_name)
            if task is None:
                raise KeyError(f"no task '{task_name}' on server '{server_name}'")
            details = self._details(task, task.view())
            details["state"] = self.spell(task.state)
            details["stop_reason"] = task.stop_reason
            details["pending"] = task.pending
            details["full_load_in_progress"] = task.full_load.in_progress()
            return details


def _same_username(configured, received):
    """Compare user names: token forms exactly, Windows and UPN names without case."""
    if configured.lower().startswith(("api-token:", "jwt:")):
        prefix, token = configured.split(":", 1)
        received_parts = received.split(":", 1)
        return len(received_parts) == 2 and prefix.lower() == received_parts[0].lower() and token == received_parts[1]
    return configured.casefold() == received.casefold()


def _cdc_counters(active):
    """Return the CDC counter objects of the task details; the in-progress and current values are 0 unless the task runs."""
    return {
        "cdc_transactions_counters": {
            "commit_change_records_count": 1200,
            "rollback_transaction_count": 0,
            "rollback_change_records_count": 0,
            "rollback_change_volume_mb": 0,
            "applied_transactions_in_progress_count": 1 if active else 0,
            "applied_records_in_progress_count": 4 if active else 0,
            # Enterprise Manager spells these three keys "comitted".
            "applied_comitted_transaction_count": 300,
            "applied_records_comitted_count": 1200,
            "applied_volume_comitted_mb": 3,
            "incoming_accumulated_changes_in_memory_count": 0,
            "incoming_accumulated_changes_on_disk_count": 0,
            "incoming_applying_changes_in_memory_count": 0,
            "incoming_applying_changes_on_disk_count": 0,
        },
        "cdc_event_counters": {
            "applied_insert_count": 800,
            "applied_update_count": 350,
            "applied_delete_count": 50,
            "applied_ddl_count": 0,
        },
        "cdc_throughput": {
            "source_throughput_records_count": {"current": 20 if active else 0, "average": 15},
            "source_throughput_volume": {"current": 1 if active else 0, "average": 1},
            "target_throughput_records_count": {"current": 20 if active else 0, "average": 15},
            "target_throughput_volume": {"current": 1 if active else 0, "average": 1},
        },
    }


def _starved_message(staging):
    return f"Log Stream staging task '{staging.name}' is not running; waiting for new changes"
