# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the report filters of the qem_tasks role: HTML summary and retention."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.qem.replicate.plugins.filter.qem_report import (
    FilterModule,
    qem_html_summary,
    qem_retention_candidates,
)

NOW = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.timezone.utc)


def _report(action="stop", check_mode=False, validation=None, failure=""):
    return {
        "action": action,
        "run_id": "20261204T120000Z",
        "check_mode": check_mode,
        "generated": "2026-12-04 12:00:00 UTC",
        "servers": [{
            "server": "rep-01",
            "failure": failure,
            "validation": {"safe_to_patch": True, "ok": True} if validation is None else validation,
            "phases": [{"index": 1, "name": "stop tasks", "tasks": ["A<1>"], "started": 1764849600.0, "finished": 1764849612.5}],
            "rows": [{"server": "rep-01", "task": "A<1>", "phase": "stop tasks", "result": "stopped", "message": "a & b"}],
        }],
    }


def test_summary_escapes_task_name():
    page = qem_html_summary(_report())

    assert "A&lt;1&gt;" in page
    assert "A<1>" not in page
    assert "a &amp; b" in page


def test_summary_verdict_go():
    page = qem_html_summary(_report())

    assert "GO: every server is safe to patch" in page
    assert "NO-GO" not in page


def test_summary_verdict_unsafe_server():
    page = qem_html_summary(_report(validation={"safe_to_patch": False, "active": ["LS"]}))

    assert "NO-GO" in page
    assert "safe to patch: no (still active: LS)" in page


def test_summary_verdict_failed_server():
    page = qem_html_summary(_report(failure="backup <failed>"))

    assert "failed: backup &lt;failed&gt;" in page
    assert "NO-GO" in page


def test_summary_resume_validation_failed():
    page = qem_html_summary(_report(action="resume", validation={"ok": False, "differences": [{"name": "T1"}]}))

    assert "validation failed for 1 tasks" in page


def test_summary_check_mode_banner():
    page = qem_html_summary(_report(check_mode=True))

    assert "CHECK MODE: nothing was changed" in page


def test_summary_phase_duration():
    page = qem_html_summary(_report())

    assert "2025-12-04 12:00:00 UTC" in page
    assert '<td class="num">12.5</td>' in page


def test_summary_rejects_non_dict():
    with pytest.raises(AnsibleFilterError):
        qem_html_summary(["not", "a", "dict"])


def _files(*paths):
    return [{"path": path, "islnk": False} for path in paths]


def test_retention_old_backup_removed():
    files = _files("/b/rep-01/rep-01_20260101T000000Z_before-resume.csv", "/b/rep-01/rep-01_20261203T000000Z_before-stop.csv")

    assert qem_retention_candidates(files, 30, NOW) == ["/b/rep-01/rep-01_20260101T000000Z_before-resume.csv"]


def test_retention_newest_before_stop_kept():
    files = _files("/b/rep-01/rep-01_20260101T000000Z_before-stop.csv", "/b/rep-01/rep-01_20250101T000000Z_before-stop.csv")

    assert qem_retention_candidates(files, 30, NOW) == ["/b/rep-01/rep-01_20250101T000000Z_before-stop.csv"]


def test_retention_run_files_removed():
    files = _files("/r/qem_20260101T000000Z_stop-results.csv", "/r/qem_20260101T000000Z_stop-summary.html",
                   "/l/qem_20260101T000000Z_stop_tasks.log")

    assert len(qem_retention_candidates(files, 30, NOW)) == 3


def test_retention_foreign_files_ignored():
    files = _files("/b/rep-01/notes.csv", "/b/rep-01/other_20200101T000000Z_x.csv", "/r/qem_20200101T000000Z_x.csv.bak",
                   "/r/qem_20200101T000000Z_x.txt", "/r/report_20200101T000000Z.csv")

    assert qem_retention_candidates(files, 30, NOW) == []


def test_retention_symlink_ignored():
    files = [{"path": "/r/qem_20200101T000000Z_stop-results.csv", "islnk": True}]

    assert qem_retention_candidates(files, 30, NOW) == []


def test_retention_zero_days_keeps():
    files = _files("/r/qem_20200101T000000Z_stop-results.csv")

    assert qem_retention_candidates(files, 0, NOW) == []


def test_retention_negative_days_rejected():
    with pytest.raises(AnsibleFilterError):
        qem_retention_candidates([], -1, NOW)


def test_filter_module_lists_filters():
    assert sorted(FilterModule().filters()) == ["qem_html_summary", "qem_retention_candidates"]
