# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: qem_task_list
short_description: List the Replicate tasks of one server through Qlik Enterprise Manager
version_added: 0.1.0
description:
  - Reads the task list of one Replicate server from Qlik Enterprise Manager (QEM) and returns each task with its normalised state.
  - Filters by task names, states, tags, or the tasks that a backup CSV recorded as running or recovering.
  - With O(details=true), fetches the details of each listed task concurrently and classifies it
    (Log Stream staging task, full load in progress, CDC latency).
  - Never changes anything on QEM.
author:
  - qem.replicate maintainers (@qem-replicate)
extends_documentation_fragment:
  - qem.replicate.connection
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no diff.
  action_group:
    support: full
    membership:
      - qem.replicate.qem
    description: Use C(module_defaults) with C(group/qem.replicate.qem) to set the connection options once.
options:
  names:
    description:
      - Keep only the tasks with these names. Names match exactly; a name that differs only in case is reported in RV(missing)
        and RV(case_matches) with QEM's spelling and is never guessed.
    type: list
    elements: str
  states:
    description:
      - Keep only the tasks in these states. V(RECOVERY) and V(RECOVERING) both mean the recovering state.
    type: list
    elements: str
  tags:
    description:
      - Keep only the tasks that carry at least one of these tags.
    type: list
    elements: str
  backup_file:
    description:
      - Keep only the tasks that this backup CSV recorded as running or recovering.
      - Reads this collection's backups and the five-column files V(name,state,stop_reason,message,assigned_tags) of the earlier script.
      - A backup that names another server fails the module.
    type: path
  backup_dir:
    description:
      - When O(backup_file) is not set, use the C(before-stop) backups of O(server) in this directory, as written by M(qem.replicate.qem_task_backup).
      - These are the newest C(before-stop) backup and the older C(before-stop) backups written since the last C(before-resume) backup before it,
        each at most 24 hours before the next one.
        A task that any of them recorded as running or recovering counts as running, so a stop that was run again still resumes what the first stop stopped.
      - Fails when there is none.
    type: path
  details:
    description:
      - Fetch the details of each listed task, which adds the classification keys to each task in RV(tasks).
    type: bool
    default: false
  workers:
    description:
      - How many task details are fetched at once.
    type: int
    default: 5
  log_stream_tasks:
    description:
      - Names of tasks to treat as Log Stream staging tasks, in addition to those detected from their details.
    type: list
    elements: str
    default: []
  log_stream_tag:
    description:
      - A tag that marks Log Stream staging tasks, in addition to those detected from their details.
    type: str
  fail_on_missing:
    description:
      - Fail when a name in O(names) is not listed on the server.
    type: bool
    default: false
notes:
  - A task is a Log Stream staging task when its target endpoint type or its profile names Log Stream (case, spaces and underscores ignored),
    its name is in O(log_stream_tasks), or it carries O(log_stream_tag). Without O(details) only the last two apply.
  - A task is in full load when it is running or recovering and its counters show tables loading or queued.
    C(full_load_completed) alone never decides it, because it is false for CDC-only tasks too.
seealso:
  - module: qem.replicate.qem_task_backup
  - module: qem.replicate.qem_task_action
"""

EXAMPLES = r"""
- name: List every task on rep-01
  qem.replicate.qem_task_list:
    host: qem.example.com
    username: CORP\svc_qem
    password: "{{ vault_qem_password }}"
    server: rep-01
  register: rep01_tasks

- name: Find the running tasks with their full-load and Log Stream classification
  qem.replicate.qem_task_list:
    server: rep-01
    states: [RUNNING, RECOVERING]
    details: true
  register: active_tasks

- name: Read the tasks that the newest pre-stop backup recorded as running
  qem.replicate.qem_task_list:
    server: rep-01
    backup_dir: /var/lib/qem/backups
  register: to_resume

- name: Check that the named tasks exist
  qem.replicate.qem_task_list:
    server: rep-01
    names: [Orders, Customers]
    fail_on_missing: true
"""

RETURN = r"""
server:
  description: The server name the tasks were read from.
  returned: always
  type: str
  sample: rep-01
all_count:
  description: How many tasks QEM lists on the server before filtering.
  returned: always
  type: int
  sample: 12
tasks:
  description: The tasks that passed the filters, in QEM's order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The task name.
      type: str
      sample: Orders
    state:
      description: V(RUNNING), V(STOPPED), V(ERROR), V(RECOVERING), or an unknown state string as QEM sent it.
      type: str
      sample: RUNNING
    active:
      description: Whether the task is running or recovering.
      type: bool
      sample: true
    stop_reason:
      description: QEM's stop reason.
      type: str
      sample: NONE
    message:
      description: QEM's message for the task.
      type: str
      sample: ""
    assigned_tags:
      description: The tags assigned to the task.
      type: list
      elements: str
      sample: [finance]
    log_stream_staging:
      description: Whether the task is a Log Stream staging task.
      type: bool
      sample: false
    full_load:
      description: Full-load status. Only with O(details=true).
      type: dict
      returned: when details is true
      sample: {active: false, completed: true, tables_loading: 0, tables_queued: 0, tables_with_error: 0}
    latency_seconds:
      description: The total CDC latency in seconds, or null when QEM gives none. Only with O(details=true).
      type: int
      returned: when details is true
      sample: 4
    profile:
      description: The replication profile QEM reports. Only with O(details=true).
      type: str
      returned: when details is true
      sample: Unidirectional
    source_endpoint_type:
      description: The source endpoint type. Only with O(details=true).
      type: str
      returned: when details is true
      sample: Oracle
    target_endpoint_type:
      description: The target endpoint type. Only with O(details=true).
      type: str
      returned: when details is true
      sample: Log Stream
  sample:
    - name: Orders
      state: RUNNING
      active: true
      stop_reason: NONE
      message: ""
      assigned_tags: []
      log_stream_staging: false
missing:
  description: Names from O(names), or from the backup, that QEM does not list on the server.
  returned: always
  type: list
  elements: str
  sample: [orders]
case_matches:
  description: For each missing name that differs from a listed name only in case, QEM's spelling.
  returned: always
  type: dict
  sample: {orders: Orders}
backup:
  description: The backup used as a filter.
  returned: when backup_file or backup_dir is set
  type: dict
  contains:
    path:
      description: The backup file.
      type: str
      sample: /var/lib/qem/backups/rep-01/rep-01_20261204T201500Z_before-stop.csv
    server:
      description: The server the backup records, or null for a file of the earlier script, which has no server column.
      type: str
      sample: rep-01
    files:
      description: The backup files read, oldest first; more than one when O(backup_dir) found several C(before-stop) backups of one stop window.
      type: list
      elements: str
      sample: [/var/lib/qem/backups/rep-01/rep-01_20261204T201500Z_before-stop.csv]
    captured_at:
      description: When the backup was taken (with O(backup_dir), the oldest backup read), ISO 8601 in UTC, or null when the file does not say.
      type: str
      sample: "2026-12-04T20:15:00+00:00"
    age_hours:
      description: Hours since the backup was taken, or null when unknown.
      type: float
      sample: 2.5
    running:
      description: The tasks the backup recorded as running or recovering.
      type: list
      elements: str
      sample: [Orders]
  sample:
    path: /var/lib/qem/backups/rep-01/rep-01_20261204T201500Z_before-stop.csv
    server: rep-01
    captured_at: "2026-12-04T20:15:00+00:00"
    age_hours: 2.5
    running: [Orders]
    files: [/var/lib/qem/backups/rep-01/rep-01_20261204T201500Z_before-stop.csv]
"""

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.qem.replicate.plugins.module_utils.backup import BackupError, find_stop_window, merge_stop_window, read_backup
from ansible_collections.qem.replicate.plugins.module_utils.client import QemError
from ansible_collections.qem.replicate.plugins.module_utils.module_glue import QemModule
from ansible_collections.qem.replicate.plugins.module_utils.task_rules import classify_task, match_names, normalize_state

KNOWN_STATES = ("RUNNING", "STOPPED", "ERROR", "RECOVERING")


def _read_backup_filter(qem):
    """Return ``(backup data or None, files read)``; fail on any backup problem before QEM is asked.

    With backup_dir, the data merges every before-stop backup of the latest stop window, so a stop
    that was run twice still resumes what was running before the first one.
    """
    params = qem.params
    path = params["backup_file"]
    if not path and params["backup_dir"]:
        window = find_stop_window(params["backup_dir"], qem.server)
        if not window:
            qem.fail_json(msg="No before-stop backup of server '%s' in '%s'. Give backup_file, or run the stop first so that a backup exists."
                          % (qem.server, params["backup_dir"]))
        try:
            return merge_stop_window([read_backup(item, server=qem.server) for item in window]), window
        except BackupError as error:
            qem.fail_json(msg=str(error))
    if not path:
        return None, []
    try:
        return read_backup(path, server=qem.server), [path]
    except BackupError as error:
        qem.fail_json(msg=str(error))


def _state_filter(qem):
    states = qem.params["states"]
    if not states:
        return None
    requested = set()
    for state in states:
        normalized = normalize_state(state)
        if normalized not in KNOWN_STATES:
            qem.fail_json(msg="states contains '%s', which is not a task state. Use RUNNING, STOPPED, ERROR, RECOVERING or RECOVERY." % state)
        requested.add(normalized)
    return requested


def _fetch_details(qem, client, records):
    """Fetch task details concurrently; return a dict name -> details."""
    workers = max(1, min(qem.params["workers"], len(records) or 1))

    def fetch(record):
        return record["name"], client.get_task(qem.server, record["name"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(fetch, records))


def main():
    qem = QemModule(
        argument_spec=dict(
            names=dict(type="list", elements="str"),
            states=dict(type="list", elements="str"),
            tags=dict(type="list", elements="str"),
            backup_file=dict(type="path"),
            backup_dir=dict(type="path"),
            details=dict(type="bool", default=False),
            workers=dict(type="int", default=5),
            log_stream_tasks=dict(type="list", elements="str", default=[]),
            log_stream_tag=dict(type="str"),
            fail_on_missing=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = qem.params
    if not 1 <= params["workers"] <= 100:
        qem.fail_json(msg="workers=%s is out of range; use 1 to 100." % params["workers"])
    state_filter = _state_filter(qem)
    backup, backup_files = _read_backup_filter(qem)

    client = qem.client(pool_size=params["workers"])
    try:
        records = [record for record in client.list_tasks(qem.server) if record.get("name") is not None]
    except QemError as error:
        qem.fail_from_error(error)

    missing = []
    case_matches = {}
    selected = records
    if params["names"] is not None:
        found, missing, case_matches = match_names(params["names"], records)
        found = set(found)
        selected = [record for record in selected if record["name"] in found]
    if backup is not None:
        _found, backup_missing, backup_case = match_names(backup.running, records)
        running = set(backup.running)
        selected = [record for record in selected if record["name"] in running]
        missing.extend(name for name in backup_missing if name not in missing)
        case_matches.update(backup_case)
    if state_filter is not None:
        selected = [record for record in selected if normalize_state(record.get("state")) in state_filter]
    if params["tags"]:
        tag_filter = set(params["tags"])
        selected = [record for record in selected if tag_filter.intersection(record.get("assigned_tags") or [])]

    if missing and params["fail_on_missing"]:
        hints = ["'%s' (QEM spells it '%s')" % (name, case_matches[name]) if name in case_matches else "'%s'" % name for name in missing]
        qem.fail_json(msg="Task(s) %s not found on server '%s'. Task names are case-sensitive; check the spelling in Enterprise Manager."
                      % (", ".join(hints), qem.server), missing=missing, case_matches=case_matches)

    details = {}
    if params["details"] and selected:
        try:
            details = _fetch_details(qem, client, selected)
        except QemError as error:
            qem.fail_from_error(error)

    tasks = [classify_task(record, details.get(record["name"]) if params["details"] else None,
                           log_stream_tasks=params["log_stream_tasks"], log_stream_tag=params["log_stream_tag"]) for record in selected]
    result = dict(changed=False, server=qem.server, all_count=len(records), tasks=tasks, missing=missing, case_matches=case_matches)
    if backup is not None:
        result["backup"] = dict(backup.summary(), files=backup_files)
    qem.exit_json(**result)


if __name__ == "__main__":
    main()
