# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run qem_task_action and print progress lines while it waits.

With progress_interval above 0 on the local connection, the module runs in a thread of this
worker and writes its progress to progress_file, or to a temporary file under Ansible's local
temporary directory. This plugin reads the file once per progress_interval and prints one line.
In check mode, with async or on another connection, the module runs as any other module does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

display = Display()

# Task names listed in one progress line. The rest are only counted.
SHOWN_NAMES = 10


def _float_or_zero(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        # The module rejects the value with its own message.
        return 0.0


def _count(number, noun):
    return "%d %s%s" % (number, noun, "" if number == 1 else "s")


def progress_line(label, data, elapsed):
    """Return the progress line for the JSON ``data`` the module wrote, or for no data yet."""
    if not data:
        return "%s: reading the task states; %d s." % (label, round(elapsed))
    pending = data.get("pending") or []
    listed_names = ", ".join(pending[:SHOWN_NAMES])
    if len(pending) > SHOWN_NAMES:
        listed_names += " and %d more" % (len(pending) - SHOWN_NAMES)
    total = _count(data.get("total", 0), "task")
    target = data.get("target", "in the target state")
    line = "%s: %d of %s not confirmed %s yet" % (label, len(pending), total, target)
    if listed_names:
        line += " (%s)" % listed_names
    in_flight = data.get("in_flight") or 0
    unsent = data.get("unsent") or 0
    # Every pending task got a request, so the rest have a reply and wait for a read to confirm them.
    answered = max(len(pending) - in_flight - unsent, 0)
    parts = [("%d answered" % answered) if answered else "",
             ("%d waiting for a reply" % in_flight) if in_flight else "",
             ("%d not sent yet" % unsent) if unsent else ""]
    requests = ", ".join(part for part in parts if part)
    if requests:
        line += "; requests: " + requests
    return "%s; %d s." % (line, round(elapsed))


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        wrap_async = self._task.async_val and not self._connection.has_native_async
        interval = _float_or_zero(self._task.args.get("progress_interval"))
        try:
            wait = boolean(self._task.args.get("wait", True), strict=False)
        except TypeError:
            wait = True
        local = getattr(self._connection, "transport", "") == "local"

        if wrap_async or self._task.check_mode or not wait or interval <= 0 or not local:
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        else:
            result = merge_hash(result, self._run_with_progress(task_vars, interval))

        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _run_with_progress(self, task_vars, interval):
        args = dict(self._task.args)
        label = args.get("progress_label") or "Server '%s'" % args.get("server", "")
        work_dir = None
        if args.get("progress_file"):
            # Expanded as the module's type=path option is, so that both name the same file.
            path = os.path.expanduser(os.path.expandvars(args["progress_file"]))
            # The file of an earlier run would otherwise show until the module writes its first progress.
            try:
                os.remove(path)
            except OSError:
                pass
        else:
            work_dir = tempfile.mkdtemp(prefix="qem-progress-", dir=C.DEFAULT_LOCAL_TMP)
            path = os.path.join(work_dir, "progress.json")
            args["progress_file"] = path
        outcome = {}

        def execute():
            try:
                outcome["result"] = self._execute_module(module_args=args, task_vars=task_vars)
            except BaseException as error:  # pylint: disable=broad-exception-caught
                # Raised again in the worker's main thread below.
                outcome["error"] = error

        worker = threading.Thread(target=execute, name="qem_task_action", daemon=True)
        started = time.monotonic()
        try:
            worker.start()
            while True:
                worker.join(interval)
                if not worker.is_alive():
                    break
                display.display(progress_line(label, self._read_progress(path), time.monotonic() - started))
        finally:
            # A module still running when the wait is interrupted finds the file gone and skips its writes.
            if work_dir:
                shutil.rmtree(work_dir, ignore_errors=True)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    @staticmethod
    def _read_progress(path):
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None
