# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.qem.replicate.plugins.module_utils.task_rules import (
    ACTIVE_STATES,
    PHASE_RESUME,
    PHASE_RESUME_STAGING,
    PHASE_STOP,
    PHASE_STOP_STAGING,
    classify_task,
    compare_after_resume,
    compare_after_stop,
    full_load_status,
    held_for_full_load,
    is_active,
    is_log_stream_staging,
    match_names,
    neutralize_cell,
    normalize_log_stream_label,
    normalize_state,
    parse_action,
    parse_latency,
    parse_mode,
    select_tasks,
    split_phases,
    unwrap_server_details,
    unwrap_task_details,
)


def task(name, state="RUNNING", stop_reason="NONE", staging=False, loading=0, queued=0):
    return {
        "name": name,
        "state": state,
        "stop_reason": stop_reason,
        "message": "",
        "assigned_tags": [],
        "log_stream_staging": staging,
        "full_load": {"active": state in ("RUNNING", "RECOVERING") and (loading + queued) > 0,
                      "completed": False, "tables_loading": loading, "tables_queued": queued, "tables_with_error": 0},
    }


def names(tasks):
    return [item["name"] for item in tasks]


# States

@pytest.mark.parametrize("raw, expected", [
    ("RUNNING", "RUNNING"),
    ("running", "RUNNING"),
    (" Stopped ", "STOPPED"),
    ("ERROR", "ERROR"),
    ("RECOVERY", "RECOVERING"),
    ("recovery", "RECOVERING"),
    ("RECOVERING", "RECOVERING"),
    ("Recovering", "RECOVERING"),
    ("starting", "STARTING"),
    ("", "UNKNOWN"),
    ("   ", "UNKNOWN"),
    (None, "UNKNOWN"),
])
def test_normalize_state_variants(raw, expected):
    assert normalize_state(raw) == expected


def test_active_states_running_recovering():
    assert ACTIVE_STATES == {"RUNNING", "RECOVERING"}


@pytest.mark.parametrize("state, expected", [
    ("RUNNING", True), ("RECOVERY", True), ("recovering", True),
    ("STOPPED", False), ("ERROR", False), ("STARTING", False), (None, False),
])
def test_is_active_per_state(state, expected):
    assert is_active(state) is expected


# Unwrapping

def test_unwrap_task_details_flat():
    payload = {"name": "T1", "state": "RUNNING"}
    assert unwrap_task_details(payload) is payload


def test_unwrap_task_details_wrapped():
    inner = {"name": "T1", "state": "RUNNING"}
    assert unwrap_task_details({"task": inner}) is inner


def test_unwrap_task_details_not_dict():
    assert unwrap_task_details(None) == {}


@pytest.mark.parametrize("key", ["server_details", "serverDetails"])
def test_unwrap_server_details_wrapped(key):
    inner = {"name": "rep-01", "task_summary": {"running": 2}}
    assert unwrap_server_details({key: inner}) is inner


def test_unwrap_server_details_flat():
    payload = {"name": "rep-01", "state": "MONITORED"}
    assert unwrap_server_details(payload) is payload


# Latency

@pytest.mark.parametrize("value, expected", [
    ("00:00:05", 5),
    ("00:01:05", 65),
    ("01:00:00", 3600),
    ("1:02:03", 3723),
    ("99:59:59", 359999),
    ("100:00:00", 360000),
    ("123:04:05", 442800 + 245),
    ("1000:00:01", 3600001),
    (" 00:00:07 ", 7),
    ("00:00:07.250", 7),
    ("1.02:00:00", 93600),
    (12, 12),
    (3.9, 3),
    (0, 0),
])
def test_parse_latency_valid(value, expected):
    assert parse_latency(value) == expected


@pytest.mark.parametrize("value", [
    None, "", "   ", "garbage", "12:34", "00:60:00", "00:00:60", "-00:00:01", "aa:bb:cc",
    "1:2:3", "00:00:05 extra", True, -5, float("nan"), float("inf"), ["00:00:01"], {"total": 1},
])
def test_parse_latency_unknown_is_none(value):
    assert parse_latency(value) is None


# Full load

def test_full_load_cdc_only_not_active():
    details = {"full_load_completed": False,
               "full_load_counters": {"tables_loading_count": 0, "tables_queued_count": 0}}
    assert full_load_status(details, "RUNNING")["active"] is False


def test_full_load_missing_counters_not_active():
    status = full_load_status({}, "RUNNING")
    assert status == {"active": False, "completed": False, "tables_loading": 0, "tables_queued": 0, "tables_with_error": 0}


def test_full_load_loading_tables_active():
    details = {"full_load_completed": False,
               "full_load_counters": {"tables_loading_count": 3, "tables_queued_count": 10, "tables_completed_count": 7}}
    status = full_load_status(details, "RUNNING")
    assert status["active"] is True
    assert status["tables_loading"] == 3
    assert status["tables_queued"] == 10


def test_full_load_queued_only_active():
    details = {"full_load_counters": {"tables_loading_count": 0, "tables_queued_count": 4}}
    assert full_load_status(details, "RECOVERY")["active"] is True


def test_full_load_done_not_active():
    details = {"full_load_completed": True,
               "full_load_counters": {"tables_loading_count": 0, "tables_queued_count": 0, "tables_completed_count": 12}}
    status = full_load_status(details, "RUNNING")
    assert status["active"] is False
    assert status["completed"] is True


def test_full_load_stopped_task_not_active():
    details = {"full_load_counters": {"tables_loading_count": 3, "tables_queued_count": 10}}
    assert full_load_status(details, "STOPPED")["active"] is False


def test_full_load_state_from_details():
    details = {"state": "RUNNING", "full_load_counters": {"tables_loading_count": 1}}
    assert full_load_status(details)["active"] is True


def test_full_load_table_errors_counted():
    details = {"full_load_counters": {"tables_with_error_count": 2}}
    assert full_load_status(details, "RUNNING")["tables_with_error"] == 2


def test_full_load_bad_counters_zero():
    details = {"full_load_counters": {"tables_loading_count": "x", "tables_queued_count": None, "tables_with_error_count": -3}}
    status = full_load_status(details, "RUNNING")
    assert status["active"] is False
    assert status["tables_with_error"] == 0


def test_full_load_string_counters_read():
    details = {"full_load_counters": {"tables_loading_count": "2"}}
    assert full_load_status(details, "RUNNING")["tables_loading"] == 2


# Log Stream staging detection

@pytest.mark.parametrize("text, expected", [
    ("Log Stream", "logstream"),
    ("LOG_STREAM", "logstream"),
    ("log-stream", "logstream"),
    ("Log Stream Staging", "logstreamstaging"),
    (None, ""),
])
def test_normalize_log_stream_label_forms(text, expected):
    assert normalize_log_stream_label(text) == expected


@pytest.mark.parametrize("target_type", ["Log Stream", "LOG_STREAM", "logstream", "LogStream", "log-stream", " Log  Stream "])
def test_staging_by_target_type(target_type):
    details = {"source_endpoint": {"name": "ora", "type": "Oracle"}, "target_endpoint": {"name": "ls", "type": target_type}}
    assert is_log_stream_staging(details, "LS", []) is True


@pytest.mark.parametrize("profile", ["Log Stream Staging", "LOG_STREAM_STAGING", "logstreamstaging", "Log Stream"])
def test_staging_by_profile(profile):
    details = {"profile": profile, "target_endpoint": {"type": "File"}}
    assert is_log_stream_staging(details, "LS", []) is True


def test_staging_source_log_stream_is_reader():
    details = {"profile": "Unidirectional", "source_endpoint": {"type": "Log Stream"}, "target_endpoint": {"type": "SQL Server"}}
    assert is_log_stream_staging(details, "C1", []) is False


def test_staging_ordinary_task_false():
    details = {"profile": "Unidirectional", "target_endpoint": {"type": "Snowflake"}}
    assert is_log_stream_staging(details, "T1", ["prod"]) is False


def test_staging_by_task_name_list():
    assert is_log_stream_staging(None, "LS", [], log_stream_tasks=["LS", "LS2"]) is True


def test_staging_by_tag():
    assert is_log_stream_staging(None, "LS", ["prod", "log-stream"], log_stream_tag="log-stream") is True


def test_staging_tag_absent_false():
    assert is_log_stream_staging(None, "T1", ["prod"], log_stream_tag="log-stream") is False


def test_staging_flat_endpoint_type():
    assert is_log_stream_staging({"target_endpoint_type": "LOG_STREAM"}, "LS", None) is True


# Classification

def test_classify_without_details():
    record = {"name": "T1", "state": "RECOVERY", "stop_reason": "RECOVERABLE_ERROR", "message": "retrying", "assigned_tags": ["a"]}
    result = classify_task(record)
    assert result == {
        "name": "T1", "state": "RECOVERING", "active": True, "stop_reason": "RECOVERABLE_ERROR",
        "message": "retrying", "assigned_tags": ["a"], "log_stream_staging": False,
    }


def test_classify_staging_without_details():
    result = classify_task({"name": "LS", "state": "RUNNING"}, log_stream_tasks=["LS"])
    assert result["log_stream_staging"] is True


def test_classify_with_details():
    record = {"name": "LS", "state": "RUNNING", "stop_reason": "NONE", "message": "", "assigned_tags": []}
    details = {
        "name": "LS", "state": "RUNNING", "task_stop_reason": "NONE", "profile": "LOG_STREAM_STAGING",
        "source_endpoint": {"name": "ora", "type": "Oracle"}, "target_endpoint": {"name": "ls", "type": "Log Stream"},
        "full_load_completed": False, "full_load_counters": {"tables_loading_count": 0, "tables_queued_count": 0},
        "cdc_latency": {"source_latency": "00:00:01", "total_latency": "101:00:02"},
        "memory_mb": 40, "some_future_key": {"x": 1},
    }
    result = classify_task(record, details)
    assert result["log_stream_staging"] is True
    assert result["latency_seconds"] == 101 * 3600 + 2
    assert result["profile"] == "LOG_STREAM_STAGING"
    assert result["source_endpoint_type"] == "Oracle"
    assert result["target_endpoint_type"] == "Log Stream"
    assert result["full_load"]["active"] is False
    assert "some_future_key" not in result


def test_classify_wrapped_details():
    details = {"task": {"name": "T1", "state": "RUNNING", "cdc_latency": {"total_latency": "00:00:09"}}}
    assert classify_task({"name": "T1", "state": "RUNNING"}, details)["latency_seconds"] == 9


def test_classify_missing_latency_none():
    result = classify_task({"name": "T1", "state": "RUNNING"}, {"name": "T1"})
    assert result["latency_seconds"] is None


def test_classify_empty_latency_none():
    result = classify_task({"name": "T1", "state": "RUNNING"}, {"cdc_latency": {"total_latency": ""}})
    assert result["latency_seconds"] is None


def test_classify_running_zero_memory():
    result = classify_task({"name": "T1", "state": "RUNNING"}, {"name": "T1", "memory_mb": 0, "cpu_percentage": 0})
    assert result["state"] == "RUNNING"
    assert result["active"] is True


def test_classify_stopped_with_memory():
    result = classify_task({"name": "T1", "state": "STOPPED"}, {"name": "T1", "memory_mb": 12, "cpu_percentage": 3})
    assert result["state"] == "STOPPED"
    assert result["active"] is False


def test_classify_stop_reason_from_details():
    result = classify_task({"name": "T1", "state": "STOPPED"}, {"task_stop_reason": "NORMAL"})
    assert result["stop_reason"] == "NORMAL"


def test_classify_unknown_state_reported():
    result = classify_task({"name": "T1", "state": "Starting"})
    assert result["state"] == "STARTING"
    assert result["active"] is False


def test_classify_table_errors_in_full_load():
    details = {"full_load_counters": {"tables_with_error_count": 2}}
    result = classify_task({"name": "T1", "state": "RUNNING"}, details)
    assert result["full_load"]["tables_with_error"] == 2


def test_classify_cdc_only_not_full_load():
    details = {"full_load_completed": False}
    result = classify_task({"name": "T1", "state": "RUNNING"}, details)
    assert result["full_load"]["active"] is False


def test_classify_none_tags_empty_list():
    assert classify_task({"name": "T1", "state": "RUNNING", "assigned_tags": None})["assigned_tags"] == []


# Name matching

def test_match_names_exact():
    found, missing, case_matches = match_names(["T1", "T3"], ["T1", "T2", "T3"])
    assert found == ["T1", "T3"]
    assert missing == []
    assert case_matches == {}


def test_match_names_case_only_missing():
    found, missing, case_matches = match_names(["orders"], [{"name": "Orders"}])
    assert found == []
    assert missing == ["orders"]
    assert case_matches == {"orders": "Orders"}


def test_match_names_absent_no_hint():
    found, missing, case_matches = match_names(["Nope"], ["T1"])
    assert missing == ["Nope"]
    assert case_matches == {}


def test_match_names_duplicates_collapsed():
    found, missing, case_matches = match_names(["T2", "T1", "T2", "X", "X"], ["T1", "T2"])
    assert found == ["T2", "T1"]
    assert missing == ["X"]


def test_match_names_special_characters():
    special = ["a,b", "q\"uote", "with space", "A&B#C%D+E'F", "Task__Project"]
    found, missing, case_matches = match_names(special, special)
    assert found == special
    assert missing == []


# Mode and action

@pytest.mark.parametrize("value, expected", [
    ("S", "selected"), ("s", "selected"), (" selected ", "selected"), ("SELECTED", "selected"),
    ("A", "all"), ("all", "all"), ("All", "all"),
    ("F", "file"), ("f", "file"), ("FILE", "file"),
])
def test_parse_mode_accepted(value, expected):
    assert parse_mode(value) == expected


@pytest.mark.parametrize("value", ["X", "", "sel", None, 1])
def test_parse_mode_invalid_raises(value):
    with pytest.raises(ValueError) as error:
        parse_mode(value)
    assert repr(value) in str(error.value)
    assert "S or selected" in str(error.value)


@pytest.mark.parametrize("value, expected", [("stop", "stop"), (" STOP ", "stop"), ("Resume", "resume")])
def test_parse_action_accepted(value, expected):
    assert parse_action(value) == expected


@pytest.mark.parametrize("value", ["start", "", None, "R"])
def test_parse_action_invalid_raises(value):
    with pytest.raises(ValueError) as error:
        parse_action(value)
    assert "stop, resume" in str(error.value)


# Selection

F1_AFTER_PATCH = [task("T1", "STOPPED", "NORMAL"), task("T2", "STOPPED", "NORMAL"),
                  task("T3", "STOPPED", "NORMAL"), task("T4", "STOPPED", "NORMAL")]


def test_select_file_resumes_running_only():
    result = select_tasks("F", "resume", F1_AFTER_PATCH, backup_running=["T1"])
    assert names(result["selected"]) == ["T1"]


def test_select_file_excludes_not_running():
    result = select_tasks("F", "resume", F1_AFTER_PATCH, backup_running=["T1"])
    assert result["excluded"] == [
        {"name": "T2", "state": "STOPPED", "reason": "not running before the window"},
        {"name": "T3", "state": "STOPPED", "reason": "not running before the window"},
        {"name": "T4", "state": "STOPPED", "reason": "not running before the window"},
    ]


def test_select_file_reports_missing():
    result = select_tasks("file", "resume", F1_AFTER_PATCH, backup_running=["T1", "Gone", "t2"])
    assert result["missing"] == ["Gone", "t2"]
    assert result["case_matches"] == {"t2": "T2"}


def test_select_file_backup_object():
    class Backup:
        running = ["T2"]
    result = select_tasks("F", "resume", F1_AFTER_PATCH, backup_running=Backup())
    assert names(result["selected"]) == ["T2"]


def test_select_file_empty_backup():
    result = select_tasks("F", "resume", F1_AFTER_PATCH, backup_running=[])
    assert result["selected"] == []


def test_select_file_without_backup_raises():
    with pytest.raises(ValueError, match="needs a backup"):
        select_tasks("F", "resume", F1_AFTER_PATCH)


def test_select_file_with_stop_raises():
    with pytest.raises(ValueError, match="resume only"):
        select_tasks("F", "stop", F1_AFTER_PATCH, backup_running=["T1"])


def test_select_all_stop_recovering_included():
    tasks = [task("T1", "RECOVERY", "RECOVERABLE_ERROR"), task("T2", "ERROR", "FATAL_ERROR"), task("T3", "RUNNING")]
    result = select_tasks("A", "stop", tasks)
    assert names(result["selected"]) == ["T1", "T3"]


def test_select_all_stop_error_excluded():
    tasks = [task("T1", "RECOVERY", "RECOVERABLE_ERROR"), task("T2", "ERROR", "FATAL_ERROR")]
    result = select_tasks("A", "stop", tasks)
    assert result["excluded"] == [{"name": "T2", "state": "ERROR", "reason": "not active"}]


def test_select_all_resume_every_task():
    tasks = [task("T1", "STOPPED"), task("T2", "ERROR"), task("T3", "RUNNING")]
    result = select_tasks("all", "resume", tasks)
    assert names(result["selected"]) == ["T1", "T2", "T3"]


def test_select_named_qem_order():
    tasks = [task("T1"), task("T2"), task("T3")]
    result = select_tasks("S", "stop", tasks, selected_names=["T3", "T1"])
    assert names(result["selected"]) == ["T1", "T3"]


def test_select_named_others_excluded():
    tasks = [task("T1"), task("T2")]
    result = select_tasks("S", "stop", tasks, selected_names=["T1"])
    assert result["excluded"] == [{"name": "T2", "state": "RUNNING", "reason": "not selected"}]


def test_select_named_stop_inactive_excluded():
    tasks = [task("T1"), task("T2", "ERROR", "FATAL_ERROR")]
    result = select_tasks("S", "stop", tasks, selected_names=["T1", "T2"])
    assert names(result["selected"]) == ["T1"]
    assert result["excluded"] == [{"name": "T2", "state": "ERROR", "reason": "not active"}]


def test_select_named_resume_stopped():
    tasks = [task("T1", "STOPPED"), task("T2", "STOPPED")]
    result = select_tasks("S", "resume", tasks, selected_names=["T2"])
    assert names(result["selected"]) == ["T2"]


def test_select_named_missing_case():
    result = select_tasks("S", "stop", [task("Orders")], selected_names=["orders"])
    assert result["selected"] == []
    assert result["missing"] == ["orders"]
    assert result["case_matches"] == {"orders": "Orders"}


def test_select_named_without_names_raises():
    with pytest.raises(ValueError, match="at least one task name"):
        select_tasks("S", "stop", [task("T1")], selected_names=[])


def test_select_named_single_string():
    result = select_tasks("S", "stop", [task("a,b"), task("c")], selected_names="a,b")
    assert names(result["selected"]) == ["a,b"]


def test_select_file_backup_dict():
    result = select_tasks("F", "resume", F1_AFTER_PATCH, backup_running={"running": ["T4"]})
    assert names(result["selected"]) == ["T4"]


def test_select_invalid_mode_raises():
    with pytest.raises(ValueError, match="'Z'"):
        select_tasks("Z", "stop", [])


# Phases

def test_split_phases_stop_order():
    tasks = [task("LS", staging=True), task("C1"), task("C2"), task("X")]
    phases = split_phases("stop", tasks)
    assert [phase["name"] for phase in phases] == [PHASE_STOP, PHASE_STOP_STAGING]
    assert phases[0]["tasks"] == ["C1", "C2", "X"]
    assert phases[1]["tasks"] == ["LS"]


def test_split_phases_resume_order():
    tasks = [task("C1"), task("LS", staging=True), task("X")]
    phases = split_phases("resume", tasks)
    assert [phase["name"] for phase in phases] == [PHASE_RESUME_STAGING, PHASE_RESUME]
    assert phases[0]["tasks"] == ["LS"]
    assert phases[1]["tasks"] == ["C1", "X"]


def test_split_phases_empty_kept():
    phases = split_phases("stop", [task("T1")])
    assert len(phases) == 2
    assert phases[1]["tasks"] == []


def test_split_phases_phase_names_text():
    assert [phase["name"] for phase in split_phases("resume", [])] == ["resume Log Stream staging tasks", "resume tasks"]


# Full-load hold

def test_held_loading_task_only():
    tasks = [task("T1"), task("T2", loading=3, queued=10), task("T3")]
    held, staging_held = held_for_full_load(tasks)
    assert held == ["T2"]
    assert staging_held == []


def test_held_reader_holds_staging():
    tasks = [task("LS", staging=True), task("C1", loading=1), task("C2")]
    held, staging_held = held_for_full_load(tasks)
    assert held == ["C1"]
    assert staging_held == ["LS"]


def test_held_none_staging_free():
    tasks = [task("LS", staging=True), task("C1")]
    assert held_for_full_load(tasks) == ([], [])


def test_held_without_full_load_key():
    assert held_for_full_load([{"name": "T1", "state": "RUNNING"}]) == ([], [])


# Comparisons

def test_compare_resume_f1_clean():
    before = {"T1": "RUNNING", "T2": "STOPPED", "T3": "ERROR", "T4": "STOPPED"}
    current = [task("T1", "RUNNING"), task("T2", "STOPPED"), task("T3", "STOPPED"), task("T4", "STOPPED")]
    assert compare_after_resume(current, ["T1"], before) == []


def test_compare_resume_targeted_stopped():
    current = [dict(task("T1", "STOPPED"), message="Endpoint unreachable")]
    differences = compare_after_resume(current, ["T1"], {"T1": "RUNNING"})
    assert len(differences) == 1
    assert differences[0]["expected"] == "RUNNING"
    assert differences[0]["actual"] == "STOPPED"
    assert "Endpoint unreachable" in differences[0]["message"]


def test_compare_resume_targeted_recovering():
    differences = compare_after_resume([task("T3", "RECOVERY")], ["T3"], {"T3": "RUNNING"})
    assert [item["actual"] for item in differences] == ["RECOVERING"]


def test_compare_resume_untargeted_was_running():
    differences = compare_after_resume([task("T1", "RUNNING"), task("T2", "STOPPED")], ["T1"], {"T1": "RUNNING", "T2": "RUNNING"})
    assert differences == [{"name": "T2", "expected": "RUNNING", "actual": "STOPPED",
                            "message": differences[0]["message"]}]


def test_compare_resume_was_recovering_now_running():
    assert compare_after_resume([task("T1", "RUNNING")], [], {"T1": "RECOVERY"}) == []


def test_compare_resume_stopped_now_running():
    differences = compare_after_resume([task("T2", "RUNNING")], [], {"T2": "STOPPED"})
    assert [(item["expected"], item["actual"]) for item in differences] == [("STOPPED", "RUNNING")]


def test_compare_resume_unknown_state_flagged():
    differences = compare_after_resume([task("T2", "STARTING")], [], {"T2": "STOPPED"})
    assert [item["actual"] for item in differences] == ["STARTING"]


def test_compare_resume_task_gone():
    differences = compare_after_resume([task("T1")], ["T1", "T9"], {"T1": "RUNNING", "T5": "STOPPED"})
    assert [(item["name"], item["actual"]) for item in differences] == [("T9", "MISSING"), ("T5", "MISSING")]


def test_compare_resume_new_task_skipped():
    assert compare_after_resume([task("NEW", "RUNNING")], [], {}) == []


def test_compare_resume_backup_rows():
    rows = [{"name": "T1", "state": "RUNNING"}, {"name": "T2", "state": "STOPPED"}]
    assert compare_after_resume([task("T1"), task("T2", "STOPPED")], ["T1"], rows) == []


def test_compare_resume_targeted_dicts():
    differences = compare_after_resume([task("T1", "STOPPED")], [task("T1")], {"T1": "RUNNING"})
    assert [item["name"] for item in differences] == ["T1"]


def test_compare_stop_all_stopped():
    result = compare_after_stop([task("T1", "STOPPED"), task("T2", "ERROR")])
    assert result == {"safe_to_patch": True, "active": [], "unknown": []}


def test_compare_stop_unselected_active():
    result = compare_after_stop([task("T1", "STOPPED"), task("T2", "RUNNING"), task("T3", "RECOVERY")])
    assert result["safe_to_patch"] is False
    assert result["active"] == ["T2", "T3"]


def test_compare_stop_unknown_state_unsafe():
    result = compare_after_stop([task("T1", "STOPPING")])
    assert result["safe_to_patch"] is False
    assert result["unknown"] == ["T1"]


# Report cells

@pytest.mark.parametrize("value, expected", [
    ("=SUM(A1)", "'=SUM(A1)"),
    ("+1", "'+1"),
    ("-2", "'-2"),
    ("@cmd", "'@cmd"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("Orders", "Orders"),
    ("a=b", "a=b"),
    ("", ""),
    (None, ""),
    (5, "5"),
    (True, "true"),
])
def test_neutralize_cell_values(value, expected):
    assert neutralize_cell(value) == expected
