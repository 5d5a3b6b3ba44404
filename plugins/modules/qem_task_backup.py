# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: qem_task_backup
short_description: Back up the task states of one Replicate server to a CSV file
version_added: 0.1.0
description:
  - Reads the task list of one Replicate server from Qlik Enterprise Manager (QEM) and writes it to a new CSV file
    C(<dest>/<server>/<server>_<UTC timestamp>_<reason>.csv).
  - The file is written atomically (a temporary file, then a rename) with mode 0600, in directories with mode 0700,
    and never overwrites a file; a suffix such as C(-1) is added when the name is taken.
  - The columns start with V(name,state,stop_reason,message,assigned_tags), the format of the earlier QEM Task Handler script,
    followed by V(server), V(captured_at), V(reason) and V(log_stream_staging).
  - When the task list cannot be read, the module fails and writes nothing. A file with only the header is written only
    when QEM really lists no task.
  - Optionally removes this server's backups older than O(keep_days).
author:
  - qem.replicate maintainers (@qem-replicate)
extends_documentation_fragment:
  - qem.replicate.connection
attributes:
  check_mode:
    support: full
    description: In check mode the module reads the task list, writes and removes nothing, and returns the path it would write.
  diff_mode:
    support: none
    description: A new file is always written, so there is nothing to compare.
  action_group:
    support: full
    membership:
      - qem.replicate.qem
    description: Use C(module_defaults) with C(group/qem.replicate.qem) to set the connection options once.
options:
  dest:
    description:
      - The backup directory. Each server gets a subdirectory.
    type: path
    required: true
  reason:
    description:
      - A label in the file name and the V(reason) column, such as V(before-stop) or V(before-resume).
      - Resuming with the newest pre-stop backup looks for V(before-stop).
    type: str
    default: manual
  keep_days:
    description:
      - Remove this server's backups (any reason) whose timestamp is older than this many days. V(0) keeps all.
      - Only files named as this module names them are removed.
    type: int
    default: 0
  details:
    description:
      - Fetch each task's details to record the V(log_stream_staging) column from the endpoint types and profile.
    type: bool
    default: false
  workers:
    description:
      - How many task details are fetched at once with O(details=true).
    type: int
    default: 5
  log_stream_tasks:
    description:
      - Names of tasks to record as Log Stream staging tasks.
    type: list
    elements: str
    default: []
  log_stream_tag:
    description:
      - A tag that marks Log Stream staging tasks.
    type: str
notes:
  - The recovering state is written as V(RECOVERING) whichever spelling QEM used.
  - Tags are written as a JSON list in the V(assigned_tags) column.
seealso:
  - module: qem.replicate.qem_task_list
"""

EXAMPLES = r"""
- name: Back up the task states of rep-01 before the stop
  qem.replicate.qem_task_backup:
    host: qem.example.com
    username: CORP\svc_qem
    password: "{{ vault_qem_password }}"
    server: rep-01
    dest: /var/lib/qem/backups
    reason: before-stop
    keep_days: 30
  register: backup

- name: Show the backup file
  ansible.builtin.debug:
    msg: "{{ backup.path }} holds {{ backup.count }} tasks"
"""

RETURN = r"""
path:
  description: The backup file written, or in check mode the file that would be written.
  returned: always
  type: str
  sample: /var/lib/qem/backups/rep-01/rep-01_20261204T201500Z_before-stop.csv
count:
  description: How many tasks the backup holds.
  returned: always
  type: int
  sample: 12
running:
  description: The tasks recorded as running or recovering.
  returned: always
  type: list
  elements: str
  sample: [Orders, Customers]
removed:
  description: Older backups removed by O(keep_days), or in check mode those that would be removed.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/qem/backups/rep-01/rep-01_20261001T201500Z_before-stop.csv]
tasks:
  description: The task records written to the file.
  returned: always
  type: list
  elements: dict
  sample:
    - name: Orders
      state: RUNNING
      active: true
      stop_reason: NONE
      message: ""
      assigned_tags: []
      log_stream_staging: false
"""

import datetime
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.qem.replicate.plugins.module_utils.backup import backup_path, prune_backups, write_backup
from ansible_collections.qem.replicate.plugins.module_utils.client import QemError
from ansible_collections.qem.replicate.plugins.module_utils.module_glue import QemModule, error_message
from ansible_collections.qem.replicate.plugins.module_utils.task_rules import classify_task


def main():
    qem = QemModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            reason=dict(type="str", default="manual"),
            keep_days=dict(type="int", default=0),
            details=dict(type="bool", default=False),
            workers=dict(type="int", default=5),
            log_stream_tasks=dict(type="list", elements="str", default=[]),
            log_stream_tag=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = qem.params
    if params["keep_days"] < 0:
        qem.fail_json(msg="keep_days=%s is invalid; use 0 to keep all backups or a positive number of days." % params["keep_days"])
    if not 1 <= params["workers"] <= 100:
        qem.fail_json(msg="workers=%s is out of range; use 1 to 100." % params["workers"])
    if not params["reason"].strip():
        qem.fail_json(msg="reason is empty; use a label such as before-stop.")

    client = qem.client(pool_size=params["workers"])
    try:
        records = [record for record in client.list_tasks(qem.server) if record.get("name") is not None]
        details = {}
        if params["details"] and records:
            with ThreadPoolExecutor(max_workers=min(params["workers"], len(records))) as pool:
                details = dict(pool.map(lambda record: (record["name"], client.get_task(qem.server, record["name"])), records))
    except QemError as error:
        qem.fail_json(msg="No backup was written and nothing should be stopped. %s" % error_message(error, qem.server),
                      error_code=error.error_code, status=error.status)

    tasks = [classify_task(record, details.get(record["name"]), log_stream_tasks=params["log_stream_tasks"],
                           log_stream_tag=params["log_stream_tag"]) for record in records]
    now = datetime.datetime.now(datetime.timezone.utc)
    running = [task["name"] for task in tasks if task["active"]]

    if qem.check_mode:
        path = backup_path(params["dest"], qem.server, params["reason"], now)
        removed = prune_backups(params["dest"], qem.server, params["keep_days"], now=now, dry_run=True)
        qem.exit_json(changed=True, path=path, count=len(tasks), running=running, removed=removed, tasks=tasks)

    try:
        path = write_backup(params["dest"], qem.server, params["reason"], tasks, now=now)
    except (OSError, ValueError) as error:
        qem.fail_json(msg="The backup of server '%s' could not be written to '%s': %s. Check that the directory is writable."
                      % (qem.server, params["dest"], error))
    removed = prune_backups(params["dest"], qem.server, params["keep_days"], now=now)
    qem.exit_json(changed=True, path=path, count=len(tasks), running=running, removed=removed, tasks=tasks)


if __name__ == "__main__":
    main()
