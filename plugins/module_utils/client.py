# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""HTTP client for the Qlik Enterprise Manager (QEM) REST API.

The client has no Ansible imports: modules, the inventory plugin and the tests use it alike.
It never prints; retries and insecure settings are reported through the ``warn`` callback.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import random
import threading
import time

try:
    from urllib.parse import quote, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, the import keeps sanity's compile test quiet
    from urllib import quote  # type: ignore
    from urlparse import urlsplit  # type: ignore

try:
    import requests
    from requests.adapters import HTTPAdapter
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the modules through missing_required_lib
    requests = None
    HTTPAdapter = object
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = import_error


API_ROOT = "/attunityenterprisemanager/api/v1"
SESSION_HEADER = "EnterpriseManager.APISessionID"
DEFAULT_HTTPS_PORT = 443

RETRY_STATUSES = (502, 503, 504)
SESSION_ERROR_CODES = ("INVALID_SESSION_ID",)
AUTH_ERROR_CODES = ("UNAUTHORIZED_REQUEST",)

# Run options documented in the QEM REST API guide (run task), May 2022 to May 2026.
RUN_OPTIONS = (
    "RESUME_PROCESSING",
    "RELOAD_TARGET",
    "RESUME_PROCESSING_FROM_TIMESTAMP",
    "METADATA_ONLY_RECREATE_ALL_TABLES",
    "METADATA_ONLY_CREATE_MISSING_TABLES",
    "RECOVER_USING_LOCALLY_STORED_CHECKPOINT",
    "RECOVER_USING_CHECKPOINT_STORED_ON_TARGET",
    "RESUME_PROCESSING_FROM_POSITION",
)


class QemError(Exception):
    """Error of a QEM request, with the HTTP status and QEM's error code and message.

    The text never contains request headers, credentials or the session id.
    """

    def __init__(self, message, status=None, error_code=None, error_message=None, method=None, path=None):
        super(QemError, self).__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        self.method = method
        self.path = path

    def __str__(self):
        return self.message


class QemInputError(QemError):
    """Invalid client settings, raised before any request is sent."""


class QemAuthError(QemError):
    """Login rejected, or a session rejected again right after a fresh login."""


class QemConnectionError(QemError):
    """QEM could not be reached, or stopped responding, after the allowed retries."""


class QemTlsError(QemConnectionError):
    """The server certificate could not be verified."""


class QemTimeoutError(QemConnectionError):
    """QEM did not respond within request_timeout, after the allowed retries."""


class QemApiError(QemError):
    """QEM returned an error status, usually a business error as HTTP 500 with an error_code."""


def encode_path_segment(value):
    """Percent-encode one URL path segment twice, so a space travels as %2520.

    NOTE: QEM does not document the encoding. Qlik's own Python SDK (aem_client.py) encodes each
    path value twice, and names with '&' or '#' break when they are sent raw or encoded once.
    This follows the SDK; it is not confirmed against a live server.
    """
    text = u"%s" % (value,)
    return quote(quote(text, safe=""), safe="")


def parse_host(host):
    """Return ``(base_url, warning)`` for a QEM host given as name, name:port or an http(s) URL.

    Raises QemInputError for an empty or malformed value. The warning is set for plain http.
    """
    text = (host or "").strip()
    if not text:
        raise QemInputError("The QEM host is missing. Set host (or the QEM_HOST environment variable) to the Enterprise Manager name, name:port or https URL.")

    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise QemInputError("The QEM host '%s' is invalid (%s). Use name, name:port or https://name[:port]." % (host, error))

    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise QemInputError("The QEM host '%s' is invalid. Use name, name:port or https://name[:port]." % host)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise QemInputError("The QEM host '%s' must not contain credentials, a query or a fragment. Use name, name:port or https://name[:port]." % host)

    path = parts.path.rstrip("/")
    if path not in ("", API_ROOT, "/attunityenterprisemanager"):
        raise QemInputError(
            "The QEM host '%s' has an unexpected path '%s'. Give only the name and port; the client adds %s." % (host, parts.path, API_ROOT))

    hostname = parts.hostname
    if ":" in hostname:
        hostname = "[%s]" % hostname
    netloc = hostname if port is None else "%s:%d" % (hostname, port)
    warning = None
    if scheme == "http":
        warning = ("The QEM host '%s' uses plain http: credentials and the session id travel unencrypted. "
                   "Use https unless this is a test server." % host)
    return "%s://%s%s" % (scheme, netloc, API_ROOT), warning


def basic_credentials(username, password):
    """Return the Basic authorization value for QEM's login.

    QEM accepts DOMAIN\\user, user@domain, api-token:<token> and jwt:<token>. The token forms may be
    given whole as the username with an empty password. QEM splits the decoded value at the first
    colon after the user, so the password may not contain ':' (QEM API guide, login).
    """
    username = username or ""
    password = password if password is not None else ""
    if not username:
        raise QemInputError("The QEM username is missing. Set username (or QEM_USERNAME), for example CORP\\svc_qem, svc_qem@corp.example or api-token.")
    if ":" in password:
        raise QemInputError("The QEM password contains ':', which QEM cannot accept in Basic authentication. Choose a password without ':'.")

    token_form = username.split(":", 1)[0].lower() in ("api-token", "jwt") and ":" in username
    if token_form and not password:
        credential = username
    elif ":" in username:
        raise QemInputError("The QEM username '%s' contains ':'. Use DOMAIN\\user, user@domain, or api-token/jwt with the token as the password."
                            % username.split(":", 1)[0])
    else:
        credential = u"%s:%s" % (username, password)
    return "Basic " + base64.b64encode(credential.encode("utf-8")).decode("ascii")


def _error_fields(response):
    """Return QEM's ``(error_code, error_message)`` from an error response, or ``(None, None)``."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return body.get("error_code"), body.get("error_message")


class QemClient:
    """One authenticated QEM session over a pooled ``requests.Session``.

    Methods may be called from several worker threads at once: login and re-login are serialised
    by a lock, and every request carries the current session id in its own headers.
    """

    def __init__(self, host, username, password, validate_certs=True, ca_path=None, request_timeout=60,
                 pool_size=10, max_retries=4, retry_max_seconds=60, warn=None):
        if not HAS_REQUESTS:
            raise QemInputError("The Python library 'requests' is required on the controller: pip install requests")

        self.base_url, self.host_warning = parse_host(host)
        self._authorization = basic_credentials(username, password)
        self.request_timeout = float(request_timeout)
        if self.request_timeout <= 0:
            raise QemInputError("request_timeout must be a positive number of seconds, got %s." % request_timeout)
        self.max_retries = max(0, int(max_retries))
        self.retry_max_seconds = float(retry_max_seconds)
        self._warn = warn or (lambda message: None)

        if not validate_certs:
            self.verify = False
        elif ca_path:
            self.verify = ca_path
        else:
            self.verify = True

        self._session = requests.Session()
        pool = max(1, int(pool_size))
        adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

        self._lock = threading.Lock()
        self._session_id = None
        self._login_count = 0
        self.retry_count = 0

        if self.host_warning:
            self._warn(self.host_warning)
        if self.verify is False:
            self._warn("TLS certificate verification is off (validate_certs=false); set ca_path to the QEM CA bundle instead.")
            _silence_insecure_warning()

    # Session handling

    def login(self):
        """Log in with Basic authentication and keep the session id from the response header."""
        with self._lock:
            self._login_locked()

    def _login_locked(self):
        response = self._send("GET", "/login", headers={"Authorization": self._authorization}, retry=True)
        if response.status_code != 200:
            error_code, error_message = _error_fields(response)
            if response.status_code == 401 or error_code in AUTH_ERROR_CODES:
                raise QemAuthError(
                    "QEM rejected the login for this user (HTTP %s %s). Check username and password, and that the user has a role in Enterprise Manager."
                    % (response.status_code, error_code or ""), status=response.status_code, error_code=error_code,
                    error_message=error_message, method="GET", path="/login")
            raise self._api_error("GET", "/login", response)

        session_id = response.headers.get(SESSION_HEADER)
        if not session_id:
            raise QemAuthError("QEM returned the login response without the %s header; the endpoint may not be Enterprise Manager." % SESSION_HEADER,
                               status=response.status_code, method="GET", path="/login")
        self._session_id = session_id
        self._login_count += 1

    def close(self):
        """Log out (errors ignored) and release the pooled connections."""
        try:
            if self._session_id:
                self._send("GET", "/logout", headers={SESSION_HEADER: self._session_id}, retry=False)
        except QemError:
            pass
        finally:
            self._session_id = None
            self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    @property
    def login_count(self):
        return self._login_count

    # Endpoints

    def list_servers(self):
        """Return the server list (``serverList``) as a list of dicts."""
        body = self._get_json("/servers")
        return _list_from(body, "serverList")

    def get_server(self, server):
        """Return one server's details, accepting ``server_details``, ``serverDetails`` or a flat object."""
        body = self._get_json("/servers/%s" % encode_path_segment(server), server=server)
        if isinstance(body, dict):
            for key in ("server_details", "serverDetails"):
                if isinstance(body.get(key), dict):
                    return body[key]
        return body

    def list_tasks(self, server):
        """Return the raw task list (``taskList``) of one server."""
        body = self._get_json("/servers/%s/tasks" % encode_path_segment(server), server=server)
        return _list_from(body, "taskList")

    def get_task(self, server, task):
        """Return one task's details, flat or unwrapped from a ``task`` key."""
        body = self._get_json(self._task_path(server, task), server=server, task=task)
        if isinstance(body, dict) and isinstance(body.get("task"), dict) and "state" not in body:
            return body["task"]
        return body

    def stop_task(self, server, task, timeout=30):
        """Send one stop request and return QEM's ``{state, error_message}``.

        The returned state need not be STOPPED yet; callers confirm by reading the task list.
        """
        query = {"action": "stop", "timeout": int(timeout)}
        return self._post_action(server, task, query, None, timeout, target_states=("STOPPED",))

    def run_task(self, server, task, option="RESUME_PROCESSING", timeout=30, cdc_position=None):
        """Send one run request with a run option and return QEM's ``{state, error_message}``."""
        if option not in RUN_OPTIONS:
            raise QemInputError("Run option '%s' is unknown. Use one of: %s." % (option, ", ".join(RUN_OPTIONS)))
        body = None
        if option == "RESUME_PROCESSING_FROM_TIMESTAMP":
            if not cdc_position:
                raise QemInputError("Run option RESUME_PROCESSING_FROM_TIMESTAMP needs cdc_position as YYYY-MM-DDTHH:MM:SS (UTC).")
            body = {"cdcposition": cdc_position}
        query = {"action": "run", "option": option, "timeout": int(timeout)}
        return self._post_action(server, task, query, body, timeout, target_states=("RUNNING", "RECOVERY", "RECOVERING"))

    # Request plumbing

    def _task_path(self, server, task):
        return "/servers/%s/tasks/%s" % (encode_path_segment(server), encode_path_segment(task))

    def _get_json(self, path, server=None, task=None):
        response = self._authorized("GET", path, retry=True)
        if response.status_code != 200:
            raise self._api_error("GET", path, response, server=server, task=task)
        return _json_body(response, "GET", path)

    def _post_action(self, server, task, query, body, server_timeout, target_states):
        """Send a stop or run request once; never resend it after a connection error.

        When QEM rejects the session, the client logs in again and re-reads the task: a task already
        in a target state gets no second request, and the result contains ``resent: false``.
        """
        path = self._task_path(server, task)

        def recheck():
            details = self.get_task(server, task)
            state = str(details.get("state") or "").upper() if isinstance(details, dict) else ""
            if state in target_states:
                return {"state": state, "error_message": "", "resent": False}
            return None

        # QEM's timeout is how long it waits for the new state, so the HTTP read must outlast it.
        read_timeout = self.request_timeout + max(0, float(server_timeout))
        response = self._authorized("POST", path, params=query, json_body=body, retry=False, read_timeout=read_timeout,
                                    before_resend=recheck)
        if isinstance(response, dict):
            return response
        if response.status_code != 200:
            raise self._api_error("POST", path, response, server=server, task=task)
        result = _json_body(response, "POST", path, allow_empty=True)
        return result if isinstance(result, dict) else {}

    def _authorized(self, method, path, params=None, json_body=None, retry=True, read_timeout=None, before_resend=None):
        """Send a request with the session header; log in again once when QEM rejects the session.

        ``before_resend`` runs after that login; when it returns a value, the request is not sent
        again and that value is returned instead of a response.
        """
        if self._session_id is None:
            self.login()

        for attempt in (1, 2):
            session_id = self._session_id
            response = self._send(method, path, params=params, json_body=json_body, retry=retry,
                                  headers={SESSION_HEADER: session_id}, read_timeout=read_timeout)
            if not self._session_rejected(response):
                return response
            if attempt == 2:
                raise QemAuthError(
                    "QEM rejected the session again right after a fresh login (%s %s). Check that the user still has access." % (method, path),
                    status=response.status_code, error_code=_error_fields(response)[0], method=method, path=path)
            with self._lock:
                # Another worker may have logged in already; reuse its session.
                if self._session_id == session_id:
                    self._login_locked()
            if before_resend is not None:
                replacement = before_resend()
                if replacement is not None:
                    return replacement
        return response  # pragma: no cover - the loop returns or raises

    @staticmethod
    def _session_rejected(response):
        if response.status_code == 401:
            return True
        if response.status_code in (400, 403, 500):
            return _error_fields(response)[0] in SESSION_ERROR_CODES
        return False

    def _send(self, method, path, params=None, json_body=None, headers=None, retry=True, read_timeout=None):
        """Send one HTTP request; retry connection errors and 502/503/504 when ``retry`` is true."""
        url = self.base_url + path
        request_headers = {"Accept": "application/json"}
        request_headers.update(headers or {})
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            request_headers["Content-Type"] = "application/json"
        elif method == "POST":
            # QEM (HTTP.sys) returns 411 for a bodyless POST without Content-Length.
            data = b""
            request_headers["Content-Length"] = "0"
        timeout = (self.request_timeout, read_timeout or self.request_timeout)

        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(method, url, params=params, data=data, headers=request_headers,
                                                 timeout=timeout, verify=self.verify, allow_redirects=False)
            except requests.exceptions.SSLError as error:
                raise QemTlsError(
                    "The TLS certificate of %s could not be verified (%s). Set ca_path to the CA bundle that signed the QEM certificate, "
                    "or validate_certs=false for a test server." % (self.base_url.split(API_ROOT)[0], _short_reason(error)),
                    method=method, path=path)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
                if not retry or not self._may_retry(attempt, started):
                    raise _connection_error(error, method, path, self.base_url, attempt)
                self._pause(attempt, started, "%s %s failed (%s)" % (method, path, _short_reason(error)))
                continue

            if retry and response.status_code in RETRY_STATUSES and self._may_retry(attempt, started):
                self._pause(attempt, started, "%s %s returned HTTP %s" % (method, path, response.status_code))
                continue
            return response

    def _may_retry(self, attempt, started):
        return attempt <= self.max_retries and time.monotonic() - started < self.retry_max_seconds

    def _pause(self, attempt, started, reason):
        """Sleep with exponential backoff and full jitter, capped by the remaining retry budget."""
        remaining = self.retry_max_seconds - (time.monotonic() - started)
        delay = min(random.uniform(0, 0.5 * (2 ** (attempt - 1))), max(0.0, remaining), 30.0)
        self.retry_count += 1
        self._warn("%s; retry %d of %d in %.1f s." % (reason, attempt, self.max_retries, delay))
        time.sleep(delay)

    def _api_error(self, method, path, response, server=None, task=None):
        error_code, error_message = _error_fields(response)
        where = ""
        if task is not None:
            where = " for task '%s' on server '%s'" % (task, server)
        elif server is not None:
            where = " for server '%s'" % server
        detail = error_code or "no error code"
        if error_message:
            detail = "%s: %s" % (detail, error_message)
        return QemApiError("QEM returned HTTP %s to %s %s%s (%s)." % (response.status_code, method, path.split("?")[0], where, detail),
                           status=response.status_code, error_code=error_code, error_message=error_message, method=method, path=path)


def _list_from(body, key):
    if isinstance(body, dict):
        value = body.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
        return []
    if isinstance(body, list):
        return [item for item in body if isinstance(item, dict)]
    return []


def _json_body(response, method, path, allow_empty=False):
    if not response.content:
        if allow_empty:
            return {}
        raise QemApiError("QEM returned an empty body to %s %s; expected JSON." % (method, path), status=response.status_code, method=method, path=path)
    try:
        return response.json()
    except ValueError:
        raise QemApiError("QEM returned a body that is not JSON to %s %s." % (method, path), status=response.status_code, method=method, path=path)


def _short_reason(error):
    text = str(error)
    return text if len(text) <= 200 else text[:197] + "..."


def _connection_error(error, method, path, base_url, attempts):
    server_url = base_url.split(API_ROOT)[0]
    if isinstance(error, requests.exceptions.Timeout):
        return QemTimeoutError(
            "QEM at %s did not respond to %s %s within request_timeout after %d attempt(s). Raise request_timeout or check the QEM service."
            % (server_url, method, path.split("?")[0], attempts), method=method, path=path)
    return QemConnectionError(
        "QEM at %s could not be reached for %s %s after %d attempt(s) (%s). Check host, port and that Enterprise Manager is running."
        % (server_url, method, path.split("?")[0], attempts, _short_reason(error)), method=method, path=path)


def _silence_insecure_warning():
    try:
        from urllib3.exceptions import InsecureRequestWarning
        import warnings
        warnings.simplefilter("ignore", InsecureRequestWarning)
    except ImportError:  # pragma: no cover
        pass
