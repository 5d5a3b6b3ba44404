# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: qem_task_action
short_description: Stop or resume Replicate tasks on one server and wait until QEM confirms them
version_added: 0.1.0
description:
  - Brings the listed tasks of one Replicate server to O(state=stopped) or O(state=running) through Qlik Enterprise Manager (QEM).
  - Reads the current states first. A task already in the target state gets no request and reports C(changed=false).
  - Sends the stop or run requests through a bounded pool of workers, then reads one task list per O(poll_interval) for all
    pending tasks until each one reads the target state O(settle_reads) times in a row, or O(wait_timeout) ends.
  - A stop or run request is never resent blindly. After an error or an expired session, the task state is re-read first,
    and extra requests are sent only with O(resend), each one reported.
  - One task's failure does not stop the others. The module fails at the end, listing every task that failed, timed out,
    or whose state is unknown.
author:
  - qem.replicate maintainers (@qem-replicate)
extends_documentation_fragment:
  - qem.replicate.connection
attributes:
  check_mode:
    support: full
    description: Reads the states, predicts the result per task, and sends no stop or run request.
  diff_mode:
    support: none
    description: The per-task results show the state before and after.
  action_group:
    support: full
    membership:
      - qem.replicate.qem
    description: Use C(module_defaults) with C(group/qem.replicate.qem) to set the connection options once.
options:
  tasks:
    description:
      - The task names on O(server). Every name must be listed on the server, exactly; otherwise the module fails before any request.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(stopped) stops running and recovering tasks. Tasks in V(ERROR) get no stop request and are reported as C(skipped).
      - V(running) resumes stopped and failed tasks with O(run_option). A recovering task is active and gets no request.
    type: str
    choices: [stopped, running]
    required: true
  workers:
    description:
      - How many stop or run requests are in flight at once.
    type: int
    default: 5
  wait:
    description:
      - Wait until each task is confirmed in the target state. With V(false), tasks with a request sent are reported as C(pending).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for all tasks to reach the target state.
    type: float
    default: 600
  poll_interval:
    description:
      - Seconds between two reads of the task list while waiting.
    type: float
    default: 5
  settle_reads:
    description:
      - How many consecutive reads of the target state confirm a task. QEM may report the old state for tens of seconds after a command.
    type: int
    default: 2
  stop_timeout:
    description:
      - The QEM-side C(timeout) of each stop or run request, in seconds. QEM waits up to this long before it answers.
    type: int
    default: 30
  run_option:
    description:
      - The run option of resume requests. Only V(RESUME_PROCESSING) continues from where the task stopped;
        V(RELOAD_TARGET) reloads every table.
    type: str
    default: RESUME_PROCESSING
    choices:
      - RESUME_PROCESSING
      - RELOAD_TARGET
      - RESUME_PROCESSING_FROM_TIMESTAMP
      - METADATA_ONLY_RECREATE_ALL_TABLES
      - METADATA_ONLY_CREATE_MISSING_TABLES
      - RECOVER_USING_LOCALLY_STORED_CHECKPOINT
      - RECOVER_USING_CHECKPOINT_STORED_ON_TARGET
      - RESUME_PROCESSING_FROM_POSITION
  cdc_position:
    description:
      - The UTC time C(YYYY-MM-DDTHH:MM:SS) to resume from. Required with O(run_option=RESUME_PROCESSING_FROM_TIMESTAMP).
    type: str
  resend:
    description:
      - How many extra requests to send for a task that has not left its state. Each is sent only after a fresh read shows the task
        unchanged, spaced evenly over O(wait_timeout), and is reported in the task's message.
    type: int
    default: 0
  not_connected_timeout:
    description:
      - Seconds to keep retrying while QEM reports the Replicate server as not connected (C(AEM_SERVER_NOT_CONNECTED)),
        for example while it is being patched. Tasks that never got a request are then reported as C(pending).
    type: float
    default: 0
  fail_on_error:
    description:
      - Fail when any task failed, timed out, or is pending or unknown. With V(false), the results say so and the module succeeds.
    type: bool
    default: true
  progress_interval:
    description:
      - Seconds between two progress lines while the module works. Each line counts and names the tasks not confirmed
        in the target state yet, and counts their requests that have a reply, that wait for one and that are not sent yet.
        V(0) prints none.
      - The lines come from the collection's action plugin, which runs the module and reads O(progress_file) in between.
        They need the V(local) connection, and are not printed in check mode, with O(wait=false) or with C(async).
      - The module reads the task states back only once every request has its reply, so a task whose request was answered
        stays in the list until that read confirms it.
    type: float
    default: 0
  progress_label:
    description:
      - The text that starts each progress line, for example C(Server 'rep-01', phase 1).
      - Without it, lines start with the word Server and the server name in quotes.
    type: str
  progress_file:
    description:
      - A JSON file that the module replaces whenever a request is sent or answered and after each read of the task list,
        outside check mode. Its keys are C(target) (V(stopped) or V(running)), C(total) (the number of tasks), C(pending)
        (the names not confirmed yet), C(in_flight) (requests waiting for a reply), C(unsent) (requests not sent yet) and
        C(elapsed) (seconds since the module started). The last write has an empty C(pending) list once every task is confirmed.
      - Its directory must exist. With O(progress_interval), the action plugin removes an earlier file of that name before
        the module starts.
      - With O(progress_interval) and no O(progress_file), the action plugin uses a temporary file and removes it afterwards.
        A file given here is kept.
    type: path
notes:
  - A stop answered with C(AEM_TASK_ALREADY_STOPPED) counts as C(already_stopped) once a read confirms it.
  - A resumed task that goes to C(ERROR), or falls back to C(STOPPED) after it ran, is reported as C(failed) with QEM's message.
seealso:
  - module: qem.replicate.qem_task_list
  - module: qem.replicate.qem_task_backup
"""

EXAMPLES = r"""
- name: Stop two tasks on rep-01 and wait until QEM confirms them
  qem.replicate.qem_task_action:
    host: qem.example.com
    username: CORP\svc_qem
    password: "{{ vault_qem_password }}"
    server: rep-01
    tasks: [Orders, Customers]
    state: stopped
    wait_timeout: 900
  register: stopped

- name: Resume them, four requests at a time, with a progress line every 15 seconds
  qem.replicate.qem_task_action:
    server: rep-01
    tasks: [Orders, Customers]
    state: running
    workers: 4
    progress_interval: 15

- name: Resume from a timestamp (may replay changes)
  qem.replicate.qem_task_action:
    server: rep-01
    tasks: [Orders]
    state: running
    run_option: RESUME_PROCESSING_FROM_TIMESTAMP
    cdc_position: "2026-12-04T20:00:00"
"""

RETURN = r"""
results:
  description: One entry per task, in the order of O(tasks).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The task name.
      type: str
      sample: Orders
    before:
      description: The state read before any request.
      type: str
      sample: RUNNING
    after:
      description: The last state read.
      type: str
      sample: STOPPED
    result:
      description:
        - V(stopped), V(already_stopped), V(running), V(already_running), V(timeout), V(failed), V(unknown) (QEM could not be read),
          V(skipped) (no request needed or possible, see the message), or V(pending) (not confirmed).
      type: str
      sample: stopped
    changed:
      description: Whether a stop or run request was sent for the task.
      type: bool
      sample: true
    message:
      description: What happened, with QEM's message where there is one.
      type: str
      sample: Confirmed STOPPED in 2 consecutive reads.
    seconds:
      description: Seconds from the first read to the confirmation.
      type: float
      sample: 12.5
    requests:
      description: How many stop or run requests were sent for the task.
      type: int
      sample: 1
  sample:
    - name: Orders
      before: RUNNING
      after: STOPPED
      result: stopped
      changed: true
      message: Confirmed STOPPED in 2 consecutive reads.
      seconds: 12.5
      requests: 1
failed_tasks:
  description: The tasks whose result is V(failed), V(timeout), V(unknown) or V(pending).
  returned: always
  type: list
  elements: str
  sample: []
pending:
  description: The tasks not confirmed in the target state (V(pending), V(timeout) or V(unknown)).
  returned: always
  type: list
  elements: str
  sample: []
"""

import json
import os
import time

from ansible_collections.qem.replicate.plugins.module_utils.client import RUN_OPTIONS, QemError, QemInputError
from ansible_collections.qem.replicate.plugins.module_utils.module_glue import QemModule, error_message
from ansible_collections.qem.replicate.plugins.module_utils.task_action import ActionSettings, TaskActionRunner
from ansible_collections.qem.replicate.plugins.module_utils.task_rules import normalize_state


def _failure_message(server, results):
    lines = ["%s (%s: %s)" % (item["name"], item["result"], item["message"]) for item in results
             if item["result"] in ("failed", "timeout", "unknown", "pending")]
    return "Not every task on server '%s' reached the target state: %s" % (server, "; ".join(lines))


def _progress_writer(path, total, target):
    """Return a callback that replaces ``path`` with the progress as JSON, or None without a path."""
    if not path:
        return None
    started = time.time()

    def write(pending, in_flight, unsent):
        data = {"target": target, "total": total, "pending": pending, "in_flight": in_flight, "unsent": unsent,
                "elapsed": round(time.time() - started, 1)}
        partial = "%s.%d.part" % (path, os.getpid())
        try:
            with open(partial, "w") as handle:
                json.dump(data, handle)
            os.replace(partial, path)
        except OSError:
            # A progress file that cannot be written is skipped, so the stop or run goes on.
            pass
    return write


def main():
    qem = QemModule(
        argument_spec=dict(
            tasks=dict(type="list", elements="str", required=True),
            state=dict(type="str", required=True, choices=["stopped", "running"]),
            workers=dict(type="int", default=5),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="float", default=600.0),
            poll_interval=dict(type="float", default=5.0),
            settle_reads=dict(type="int", default=2),
            stop_timeout=dict(type="int", default=30),
            run_option=dict(type="str", default="RESUME_PROCESSING", choices=list(RUN_OPTIONS)),
            cdc_position=dict(type="str"),
            resend=dict(type="int", default=0),
            not_connected_timeout=dict(type="float", default=0.0),
            fail_on_error=dict(type="bool", default=True),
            progress_interval=dict(type="float", default=0.0),
            progress_label=dict(type="str"),
            progress_file=dict(type="path"),
        ),
        required_if=[("run_option", "RESUME_PROCESSING_FROM_TIMESTAMP", ("cdc_position",))],
        supports_check_mode=True,
    )
    params = qem.params
    names = [name for name in params["tasks"] if name is not None]
    if any(not name.strip() for name in names):
        qem.fail_json(msg="tasks contains an empty name; list the task names as Enterprise Manager shows them.")

    try:
        settings = ActionSettings(
            workers=params["workers"], wait=params["wait"], wait_timeout=params["wait_timeout"], poll_interval=params["poll_interval"],
            settle_reads=params["settle_reads"], stop_timeout=params["stop_timeout"], run_option=params["run_option"],
            cdc_position=params["cdc_position"], resend=params["resend"], not_connected_timeout=params["not_connected_timeout"])
    except QemInputError as error:
        qem.fail_json(msg=error.message)
    progress_dir = os.path.dirname(os.path.abspath(params["progress_file"])) if params["progress_file"] else None
    if progress_dir and not os.path.isdir(progress_dir):
        qem.fail_json(msg="progress_file '%s': the directory %s does not exist; create it or choose another path."
                      % (params["progress_file"], progress_dir))
    if params["state"] == "running" and params["run_option"] == "RELOAD_TARGET":
        qem.warn("run_option=RELOAD_TARGET reloads every table of %s on server '%s' from the source." % (", ".join(names), qem.server))

    if not names:
        qem.exit_json(changed=False, results=[], failed_tasks=[], pending=[])

    client = qem.client(pool_size=params["workers"] + 1)
    on_progress = _progress_writer(params["progress_file"], len(names), params["state"])
    runner = TaskActionRunner(client, qem.server, settings, warn=qem.warn, on_progress=on_progress)
    try:
        outcome = runner.run(names, params["state"], check_mode=qem.check_mode)
    except QemInputError as error:
        qem.fail_json(msg=error.message, results=[], failed_tasks=[], pending=[])
    except QemError as error:
        qem.fail_json(msg=error_message(error, qem.server), error_code=error.error_code, status=error.status,
                      results=[], failed_tasks=[], pending=[])

    for item in outcome["results"]:
        item["after"] = normalize_state(item["after"]) if item["after"] != "MISSING" else item["after"]
    if outcome["failed_tasks"] and params["fail_on_error"]:
        qem.fail_json(msg=_failure_message(qem.server, outcome["results"]), **outcome)
    qem.exit_json(**outcome)


if __name__ == "__main__":
    main()
