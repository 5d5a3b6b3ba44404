# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: qem_log
type: notification
short_description: Write one log file per playbook run of the qem.replicate playbooks
version_added: 0.1.0
description:
  - Writes every play, task and host result of a run, with UTC timestamps, to a new file
    C(qem_<YYYYmmddTHHMMSSZ>_<playbook>.log) in the log directory, with mode 0600. The directory is created with mode 0700.
  - The output of debug tasks is logged in full, so the plan, the progress lines and the summary of the run are in the file.
  - Results of tasks with C(no_log) are replaced by a notice. The values of E(QEM_PASSWORD) and of the variables
    C(qem_password) and C(qem_email_password), when they are plain text, are replaced by C(********) wherever they occur.
  - The role option C(qem_retention_days) removes old log files of this callback.
  - Enable it with C(callbacks_enabled = qem.replicate.qem_log) in the C([defaults]) section of C(ansible.cfg), or with
    E(ANSIBLE_CALLBACKS_ENABLED=qem.replicate.qem_log). It runs next to the stdout callback, so the screen output stays as it is.
requirements:
  - The directory must be writable on the controller.
options:
  log_dir:
    description:
      - The directory of the log files.
      - When not set, the variable C(qem_log_dir) of the extra variables or of the play is used, and then C(~/qem/logs).
    type: path
    env:
      - name: QEM_LOG_DIR
    ini:
      - section: callback_qem_log
        key: log_dir
"""

import datetime
import os

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase

_SECRET_VARIABLES = ("qem_password", "qem_email_password")
_MASK = "********"
_HIDDEN = "the output is hidden because the task has no_log"
_DEFAULT_DIR = "~/qem/logs"


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class CallbackModule(CallbackBase):
    """Write the run to a log file of its own."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "qem.replicate.qem_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self._playbook_name = "playbook"
        self._handle = None
        self.path = None
        self._secrets = set()
        self._add_secret(os.environ.get("QEM_PASSWORD"))

    def _add_secret(self, value):
        # A templated value such as "{{ vault_qem_password }}" is not the secret itself, so it is not
        # masked here. The modules hide their password options with no_log.
        if isinstance(value, str) and value and "{{" not in value:
            self._secrets.add(value)

    def _mask(self, text):
        text = to_text(text, errors="surrogate_or_replace")
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text

    def _log_dir(self, variables):
        configured = self.get_option("log_dir")
        if configured:
            return configured
        value = variables.get("qem_log_dir")
        if isinstance(value, str) and value and "{{" not in value:
            return os.path.expanduser(value)
        return os.path.expanduser(_DEFAULT_DIR)

    def _open(self, directory):
        directory = os.path.abspath(directory)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        stem = "qem_%s_%s" % (_utc_now().strftime("%Y%m%dT%H%M%SZ"), self._playbook_name)
        for number in range(1000):
            path = os.path.join(directory, "%s%s.log" % (stem, "" if number == 0 else "-%d" % number))
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            self.path = path
            return os.fdopen(descriptor, "w", encoding="utf-8")
        raise FileExistsError("No free log file name for %s in %s" % (stem, directory))

    def _write(self, text):
        if self._handle is None:
            return
        stamp = _utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
        for line in self._mask(text).splitlines() or [""]:
            self._handle.write("%s %s\n" % (stamp, line))
        self._handle.flush()

    def v2_playbook_on_start(self, playbook):
        name = os.path.splitext(os.path.basename(to_text(getattr(playbook, "_file_name", "") or "playbook")))[0]
        self._playbook_name = "".join(char if char.isalnum() or char in "._-" else "_" for char in name) or "playbook"

    def v2_playbook_on_play_start(self, play):
        variables = {}
        manager = play.get_variable_manager()
        if manager is not None:
            variables.update(getattr(manager, "extra_vars", {}) or {})
        play_vars = dict(play.vars or {})
        for key, value in play_vars.items():
            variables.setdefault(key, value)
        for name in _SECRET_VARIABLES:
            self._add_secret(variables.get(name))

        if self._handle is None:
            directory = self._log_dir(variables)
            try:
                self._handle = self._open(directory)
            except OSError as error:
                self._display.warning("qem_log: failed to create the run log in %s: %s. Set qem_log_dir or QEM_LOG_DIR to a writable directory."
                                      % (directory, to_text(error)))
                return
            self._display.display("Log of this run: %s" % self.path)
        self._write("PLAY [%s]" % play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write("TASK [%s]" % task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._write("HANDLER [%s]" % task.get_name())

    def _result_text(self, result):
        data = result._result
        if data.get("_ansible_no_log") or result._task.no_log:
            return _HIDDEN
        parts = []
        message = data.get("msg")
        if isinstance(message, (list, tuple)):
            parts.extend(to_text(item) for item in message)
        elif message not in (None, ""):
            parts.append(to_text(message))
        for key in ("path", "dest", "results_path"):
            if isinstance(data.get(key), str) and not parts:
                parts.append("%s: %s" % (key, data[key]))
        if data.get("stderr"):
            parts.append(to_text(data["stderr"]))
        return "\n".join("    " + part for part in parts)

    def _host_line(self, status, result):
        item = ""
        if "item" in result._result and not result._task.no_log:
            item = " (item=%s)" % to_text(result._result.get("item"))
        host = result._host.get_name()
        delegated = (result._result.get("_ansible_delegated_vars") or {}).get("ansible_host")
        target = "%s -> %s" % (host, delegated) if delegated and delegated != host else host
        text = self._result_text(result)
        self._write("%s: [%s]%s%s" % (status, target, item, ("\n" + text) if text else ""))

    def v2_runner_on_ok(self, result):
        self._host_line("changed" if result._result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._host_line("failed (ignored)" if ignore_errors else "failed", result)

    def v2_runner_on_skipped(self, result):
        self._host_line("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._host_line("unreachable", result)

    def v2_runner_retry(self, result):
        self._write("retrying: [%s] attempt %s of %s" % (result._host.get_name(), result._result.get("attempts"), result._result.get("retries")))

    def v2_runner_item_on_ok(self, result):
        self._host_line("changed" if result._result.get("changed") else "ok", result)

    def v2_runner_item_on_failed(self, result):
        self._host_line("failed", result)

    def v2_runner_item_on_skipped(self, result):
        self._host_line("skipped", result)

    def v2_playbook_on_stats(self, stats):
        self._write("PLAY RECAP")
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            self._write("%s: ok=%d changed=%d failed=%d unreachable=%d skipped=%d rescued=%d" % (
                host, summary["ok"], summary["changed"], summary["failures"], summary["unreachable"], summary["skipped"],
                summary["rescued"]))
        if self._handle is not None:
            self._handle.close()
            self._handle = None
