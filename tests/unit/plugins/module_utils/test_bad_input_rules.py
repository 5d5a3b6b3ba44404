# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input rules below the role: host forms, credentials, the stop window of mode F, and the
round trip of every legal task name through a backup."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import os

import pytest

from ansible_collections.qem.replicate.plugins.module_utils.backup import (
    find_stop_window,
    merge_stop_window,
    prune_backups,
    read_backup,
    write_backup,
)
from ansible_collections.qem.replicate.plugins.module_utils.client import QemInputError, basic_credentials, parse_host
from ansible_collections.qem.replicate.plugins.module_utils.task_rules import neutralize_cell

UTC = datetime.timezone.utc

HOST_ERRORS = [
    ("", "The QEM host is missing"),
    ("   ", "The QEM host is missing"),
    ("ftp://qem.example", "Use name, name:port or https://name[:port]"),
    ("https://qem.example/other/path", "unexpected path '/other/path'"),
    ("https://user:pw@qem.example", "must not contain credentials"),
    ("https://qem.example/?x=1", "must not contain credentials, a query or a fragment"),
    ("qem.example:99999", "is invalid"),
    ("https://:443", "is invalid"),
]


@pytest.mark.parametrize("host, message", HOST_ERRORS, ids=[case[0] or "empty" for case in HOST_ERRORS])
def test_host_form_rejected(host, message):
    with pytest.raises(QemInputError) as raised:
        parse_host(host)
    assert message in str(raised.value)


@pytest.mark.parametrize("host", ["qem.example", "qem.example:8443", "https://qem.example", "https://qem.example/attunityenterprisemanager/api/v1"])
def test_host_form_accepted(host):
    base_url, warning = parse_host(host)
    assert base_url.startswith("https://qem.example")
    assert warning is None


def test_http_host_warns():
    _base_url, warning = parse_host("http://qem.example")
    assert "plain http" in warning


@pytest.mark.parametrize("username, password, message", [
    ("CORP\\svc", "pa:ss", "contains ':'"),
    ("", "secret", "username is missing"),
    ("svc:x", "secret", "username 'svc' contains ':'"),
])
def test_credentials_rejected(username, password, message):
    with pytest.raises(QemInputError) as raised:
        basic_credentials(username, password)
    assert message in str(raised.value)


def test_colon_message_hides_password():
    with pytest.raises(QemInputError) as raised:
        basic_credentials("CORP\\svc", "top:secret")
    assert "top:secret" not in str(raised.value)


def _backup(tmp_path, reason, minute, running, stopped=()):
    tasks = [{"name": name, "state": "RUNNING"} for name in running] + [{"name": name, "state": "STOPPED"} for name in stopped]
    moment = datetime.datetime(2026, 12, 4, 20, minute, tzinfo=UTC)
    return write_backup(str(tmp_path), "rep-01", reason, tasks, now=moment)


def test_stop_window_spans_repeated_stops(tmp_path):
    first = _backup(tmp_path, "before-stop", 1, ["T1", "T2"], ["T3"])
    second = _backup(tmp_path, "before-stop", 2, ["T2"], ["T1", "T3"])

    assert find_stop_window(str(tmp_path), "rep-01") == [first, second]


def test_stop_window_starts_after_resume(tmp_path):
    _backup(tmp_path, "before-stop", 1, ["T9"])
    _backup(tmp_path, "before-resume", 2, [], ["T9"])
    latest = _backup(tmp_path, "before-stop", 3, ["T1"])

    assert find_stop_window(str(tmp_path), "rep-01") == [latest]


def test_stop_window_ignores_later_resumes(tmp_path):
    first = _backup(tmp_path, "before-stop", 1, ["T1", "T2"])
    second = _backup(tmp_path, "before-stop", 2, [], ["T1", "T2"])
    _backup(tmp_path, "before-resume", 3, ["T1"], ["T2"])

    assert find_stop_window(str(tmp_path), "rep-01") == [first, second]


def test_stop_window_empty_without_stop(tmp_path):
    _backup(tmp_path, "before-resume", 1, ["T1"])

    assert find_stop_window(str(tmp_path), "rep-01") == []


def test_merged_window_keeps_first_running(tmp_path):
    first = _backup(tmp_path, "before-stop", 1, ["T1", "T2"], ["T3"])
    second = _backup(tmp_path, "before-stop", 2, ["T4"], ["T1", "T2", "T3"])

    merged = merge_stop_window([read_backup(first), read_backup(second)])

    assert merged.running == ["T1", "T2", "T4"]
    assert merged.path == second
    assert merged.captured_at == datetime.datetime(2026, 12, 4, 20, 1, tzinfo=UTC)


LEGAL_NAMES = ["=cmd", "+A", "-B", "@C", "A b&c#d%e+f'g,h", "quote \" ; semi", "Task__Project", "tab\tname", "  spaced  ",
               "\u00e9t\u00e9 \u4efb\u52a1", "x" * 32, "new\nline"]


def test_backup_round_trips_names(tmp_path):
    tasks = [{"name": name, "state": "RUNNING", "message": name} for name in LEGAL_NAMES]
    path = write_backup(str(tmp_path), "rep-01", "before-stop", tasks)

    assert [row["name"] for row in read_backup(path, server="rep-01").rows] == LEGAL_NAMES


def test_backup_file_private(tmp_path):
    path = write_backup(str(tmp_path / "deep" / "dir"), "rep-01", "before-stop", [{"name": "T1", "state": "RUNNING"}])

    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("value, expected", [("=cmd", "'=cmd"), ("+A", "'+A"), ("-B", "'-B"), ("@C", "'@C"), ("A+B", "A+B"), (None, "")])
def test_report_cell_neutralised(value, expected):
    assert neutralize_cell(value) == expected


def test_prune_keeps_whole_stop_window(tmp_path):
    first = _backup(tmp_path, "before-stop", 1, ["T1"])
    second = _backup(tmp_path, "before-stop", 2, [], ["T1"])
    later = datetime.datetime(2027, 1, 4, 20, 0, tzinfo=UTC)

    removed = prune_backups(str(tmp_path), "rep-01", 7, now=later)

    assert removed == []
    assert os.path.exists(first)
    assert os.path.exists(second)


def test_stop_window_ends_at_gap(tmp_path):
    old_moment = datetime.datetime(2026, 11, 1, 20, 0, tzinfo=UTC)
    write_backup(str(tmp_path), "rep-01", "before-stop", [{"name": "Old", "state": "RUNNING"}], now=old_moment)
    latest = _backup(tmp_path, "before-stop", 1, ["T1"])

    assert find_stop_window(str(tmp_path), "rep-01") == [latest]
