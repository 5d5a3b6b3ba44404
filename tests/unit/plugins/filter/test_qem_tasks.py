# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the filters of the qem_tasks role."""

import csv
import io

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.qem.replicate.plugins.filter.qem_tasks import (
    FilterModule,
    qem_csv,
    qem_parse_action,
    qem_parse_mode,
    qem_pending,
    qem_result_rows,
    qem_select,
    qem_table,
    qem_validate,
)


def _task(name, state="RUNNING", staging=False, loading=0, latency=None):
    return {
        "name": name,
        "state": state,
        "active": state in ("RUNNING", "RECOVERING"),
        "log_stream_staging": staging,
        "full_load": {"active": loading > 0 and state in ("RUNNING", "RECOVERING"), "tables_loading": loading},
        "latency_seconds": latency,
    }


def test_parse_action_any_case():
    assert qem_parse_action(" Stop ") == "stop"
    assert qem_parse_action("RESUME") == "resume"


def test_parse_action_invalid_names_value():
    with pytest.raises(AnsibleFilterError, match="restart"):
        qem_parse_action("restart")


@pytest.mark.parametrize("value, action, expected", [
    ("S", "stop", "selected"),
    ("a", "resume", "all"),
    ("File", "resume", "file"),
    ("", "stop", "all"),
    ("", "resume", "file"),
    (None, "resume", "file"),
])
def test_parse_mode_letters_and_defaults(value, action, expected):
    assert qem_parse_mode(value, action) == expected


def test_parse_mode_file_with_stop():
    with pytest.raises(AnsibleFilterError, match="resume only"):
        qem_parse_mode("F", "stop")


def test_parse_mode_unknown_letter():
    with pytest.raises(AnsibleFilterError, match="'X'"):
        qem_parse_mode("X", "stop")


def test_select_all_stop_skips_inactive():
    tasks = [_task("T1"), _task("T2", "STOPPED"), _task("T3", "ERROR"), _task("T4", "RECOVERING")]

    selection = qem_select(tasks, "A", "stop")

    assert [task["name"] for task in selection["selected"]] == ["T1", "T4"]
    assert [item["name"] for item in selection["excluded"]] == ["T2", "T3"]


def test_select_file_uses_backup_running():
    tasks = [_task("T1", "STOPPED"), _task("T2", "STOPPED")]

    selection = qem_select(tasks, "F", "resume", backup_running={"running": ["T2", "Gone"]})

    assert [task["name"] for task in selection["selected"]] == ["T2"]
    assert selection["missing"] == ["Gone"]


def test_select_selected_without_names():
    with pytest.raises(AnsibleFilterError, match="at least one task name"):
        qem_select([_task("T1")], "S", "stop", selected_names=[])


@pytest.mark.parametrize("kind, threshold, expected", [
    ("full_load", 0, ["Loading"]),
    ("latency", 30, ["Lagging"]),
    ("running", 0, ["Unknown latency", "Stopped"]),
    ("stopped", 0, ["Loading", "Lagging", "Unknown latency"]),
])
def test_pending_by_kind(kind, threshold, expected):
    tasks = [
        _task("Loading", loading=3, latency=5),
        _task("Lagging", latency=600),
        _task("Unknown latency", latency=None),
        _task("Stopped", "STOPPED"),
    ]
    tasks[2]["state"] = "RECOVERING"

    assert qem_pending(tasks, kind, threshold) == expected


def test_pending_unknown_kind():
    with pytest.raises(AnsibleFilterError, match="drained"):
        qem_pending([], "drained")


def test_validate_stop_lists_active():
    result = qem_validate([_task("T1", "STOPPED"), _task("T2")], "stop")

    assert result["ok"] is False
    assert result["safe_to_patch"] is False
    assert result["active"] == ["T2"]


def test_validate_resume_flags_difference():
    current = [_task("T1", "ERROR"), _task("T2", "STOPPED")]
    before = [{"name": "T1", "state": "STOPPED"}, {"name": "T2", "state": "STOPPED"}]

    result = qem_validate(current, "resume", targeted=["T1"], before=before)

    assert result["ok"] is False
    assert [item["name"] for item in result["differences"]] == ["T1"]


def test_result_rows_follow_phases():
    c1_result = {"name": "C1", "before": "RUNNING", "after": "STOPPED", "result": "stopped", "message": "Confirmed", "seconds": 1.5}
    run = {
        "tasks": [_task("LS", staging=True), _task("C1"), _task("Old", "STOPPED")],
        "selection": {"excluded": [{"name": "Old", "state": "STOPPED", "reason": "not active"}], "missing": []},
        "phases": [
            {"name": "stop tasks", "tasks": ["C1"], "results": [c1_result]},
            {"name": "stop Log Stream staging tasks", "tasks": ["LS"], "results": [], "blocked": {"LS": "C1 is still active."}},
        ],
        "final": [_task("LS"), _task("C1", "STOPPED"), _task("Old", "STOPPED")],
    }

    rows = qem_result_rows(run, "rep-01", "stop")

    assert [row["task"] for row in rows] == ["C1", "LS", "Old"]
    assert [row["result"] for row in rows] == ["stopped", "blocked", "skipped"]
    assert rows[1]["validation"] == "still active, so the server is not safe to patch"
    assert rows[0]["validation"] == "ok"


def test_result_rows_not_reached_after_failure():
    run = {"phases": [{"name": "resume tasks", "tasks": ["T1"], "results": []}], "failure": "Backup failed."}

    rows = qem_result_rows(run, "rep-01", "resume")

    assert rows[0]["result"] == "not_run"
    assert "Backup failed." in rows[0]["message"]


def test_csv_neutralises_formula_cells():
    text = qem_csv([{"server": "rep-01", "task": "=HYPERLINK(\"x\")", "message": "-1"}], ["server", "task", "message"])

    rows = list(csv.reader(io.StringIO(text)))

    assert rows[0] == ["server", "task", "message"]
    assert rows[1] == ["rep-01", "'=HYPERLINK(\"x\")", "'-1"]


def test_table_pads_and_cuts():
    lines = qem_table([{"task": "Orders", "message": "x" * 80}], ["task", "message"], 20)

    assert lines[0] == "task    message"
    assert lines[2] == "Orders  " + "x" * 17 + "..."


def test_filter_module_lists_filters():
    names = set(FilterModule().filters())

    assert "qem_select" in names
    assert "qem_warn" in names
