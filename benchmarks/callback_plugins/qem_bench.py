# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Callback plugin of the benchmark: records when each task ran on each host.

benchmarks/run_bench.py enables it with ANSIBLE_CALLBACK_PLUGINS and ANSIBLE_CALLBACKS_ENABLED and
reads the JSON file named by QEM_BENCH_TIMELINE. Times are time.monotonic() values, which the
harness compares with the simulator's event log because both run on the same machine.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: qem_bench
    type: aggregate
    short_description: Record task start and end times for the qem.replicate benchmark
    description:
      - Writes one record per task and host (action, status, start and end as monotonic seconds)
        to the file named by the environment variable E(QEM_BENCH_TIMELINE) when the play ends.
    requirements:
      - enabled with ANSIBLE_CALLBACKS_ENABLED=qem_bench
"""


class CallbackModule(CallbackBase):
    """Collects (host, task, action, status, start, end) records."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "qem_bench"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._started = {}
        self._records = []

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _finish(self, result, status):
        host = result._host.get_name()
        task = result._task
        start = self._started.pop((host, task._uuid), None)
        self._records.append({
            "host": host,
            "task": task.get_name(),
            "action": task.action,
            "status": status,
            "start": start,
            "end": time.monotonic(),
            "async_job": bool(result._result.get("ansible_job_id")) and task.action != "ansible.builtin.async_status",
            "attempts": result._result.get("attempts"),
        })

    def v2_runner_on_ok(self, result):
        self._finish(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._finish(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._finish(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("QEM_BENCH_TIMELINE")
        if not path:
            return
        with open(path, "w") as handle:
            json.dump(self._records, handle)
