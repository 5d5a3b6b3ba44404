# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Ansible glue shared by the qem.replicate modules: the connection options and the error mapping."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ..module_utils.client import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    QemApiError,
    QemAuthError,
    QemClient,
    QemConnectionError,
    QemError,
    QemInputError,
)

# How many client warnings (retries, mostly) a module passes on before it only counts them.
MAX_WARNINGS = 20


def connection_argument_spec():
    """Return the argument spec of the options every module shares (documented in the connection doc fragment)."""
    return dict(
        host=dict(type="str", required=True, fallback=(env_fallback, ["QEM_HOST"])),
        username=dict(type="str", required=True, fallback=(env_fallback, ["QEM_USERNAME"])),
        password=dict(type="str", no_log=True, fallback=(env_fallback, ["QEM_PASSWORD"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["QEM_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["QEM_CA_PATH"])),
        request_timeout=dict(type="float", default=60.0),
        server=dict(type="str", required=True),
    )


# Advice added to a QEM error code in messages.
_ADVICE = {
    "AEM_SERVER_NOT_FOUND": "QEM does not know this server. Use the server name exactly as Enterprise Manager shows it.",
    "AEM_SERVER_NOT_MONITORED": "The server is not monitored in Enterprise Manager. Enable monitoring for it, then run again.",
    "AEM_SERVER_NOT_CONNECTED": "Enterprise Manager cannot reach this Replicate server. Wait until it shows as connected, then run again.",
    "AEM_TASK_NOT_FOUND": "QEM does not list this task on the server. Task names are case-sensitive; list them with qem.replicate.qem_task_list.",
    "UNAUTHORIZED_REQUEST": "The user lacks a role for this request: Viewer to read tasks, Operator to stop or run them.",
}


class QemModule:
    """An AnsibleModule with the shared connection options, a lazily created client and one error mapping."""

    def __init__(self, argument_spec, supports_check_mode=True, **kwargs):
        spec = connection_argument_spec()
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self._client = None
        self._warning_count = 0

        if not HAS_REQUESTS:
            self.module.fail_json(msg=missing_required_lib("requests"), exception=str(REQUESTS_IMPORT_ERROR))

    @property
    def server(self):
        return self.params["server"]

    def warn(self, message):
        """Pass a warning on to Ansible, counting instead of repeating past MAX_WARNINGS."""
        self._warning_count += 1
        if self._warning_count <= MAX_WARNINGS:
            self.module.warn(message)

    def client(self, pool_size=5):
        """Return the QEM client, creating it (and checking its settings) on first use."""
        if self._client is None:
            params = self.params
            if params["password"] is None and not _is_token_user(params["username"]):
                self.module.fail_json(msg="The QEM password is missing. Set password or the QEM_PASSWORD environment variable (an Ansible Vault value works).")
            try:
                self._client = QemClient(
                    host=params["host"],
                    username=params["username"],
                    password=params["password"],
                    validate_certs=params["validate_certs"],
                    ca_path=params["ca_path"],
                    request_timeout=params["request_timeout"],
                    pool_size=pool_size,
                    warn=self.warn,
                )
            except QemError as error:
                self.fail_from_error(error)
        return self._client

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def exit_json(self, **result):
        self.close()
        self._flush_warning_count()
        self.module.exit_json(**result)

    def fail_json(self, msg, **result):
        self.close()
        self._flush_warning_count()
        self.module.fail_json(msg=msg, **result)

    def fail_from_error(self, error, task=None, **result):
        """Fail the module with a message that names the server, the task and what to do."""
        self.fail_json(msg=error_message(error, self.params.get("server"), task), **_error_details(error, result))

    def _flush_warning_count(self):
        hidden = self._warning_count - MAX_WARNINGS
        if hidden > 0:
            self.module.warn("%d more warnings of the QEM client were not shown." % hidden)
            self._warning_count = MAX_WARNINGS


def error_message(error, server=None, task=None):
    """Return the operator message for a client error, with advice for known QEM error codes."""
    if isinstance(error, QemInputError):
        return error.message
    where = ""
    if task:
        where = "Task '%s' on server '%s': " % (task, server)
    elif server:
        where = "Server '%s': " % server
    text = where + error.message
    if isinstance(error, QemApiError) and error.error_code in _ADVICE:
        text += " " + _ADVICE[error.error_code]
    return text


def _error_details(error, result):
    details = dict(result)
    details["error_code"] = getattr(error, "error_code", None)
    details["status"] = getattr(error, "status", None)
    if not isinstance(error, (QemError, QemAuthError, QemConnectionError)):
        details["exception"] = traceback.format_exc()
    return details


def _is_token_user(username):
    prefix = (username or "").split(":", 1)[0].lower()
    return prefix in ("api-token", "jwt") and ":" in (username or "")
