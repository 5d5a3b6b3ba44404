# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import concurrent.futures
import csv
import datetime
import errno
import io
import os
import stat

import pytest

from ansible_collections.qem.replicate.plugins.module_utils.backup import (
    BACKUP_COLUMNS,
    BackupError,
    backup_path,
    decode_tags,
    encode_tags,
    find_latest_backup,
    prune_backups,
    read_backup,
    safe_filename,
    write_backup,
    write_csv_atomic,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 4, 20, 30, 15, tzinfo=UTC)
SPECIAL_NAMES = ["a,b", 'say "hi"', "with space", " lead and trail ", "A&B#C%D+E'F", "Task__Project", "Ünïcode"]


def seed_task(name, state="RUNNING", stop_reason="NONE", message="", tags=None, staging=False):
    return {"name": name, "state": state, "stop_reason": stop_reason, "message": message,
            "assigned_tags": tags or [], "log_stream_staging": staging}


def write_bytes(path, data):
    with open(str(path), "wb") as handle:
        handle.write(data)
    return str(path)


def seed_file(path, rows, line_end="\r\n", bom=False):
    """Write a file the way the seed tool does: csv.writer over lists, tags as a Python list."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow(["name", "state", "stop_reason", "message", "assigned_tags"])
    for row in rows:
        writer.writerow(row)
    data = buffer.getvalue().encode("utf-8")
    if bom:
        data = b"\xef\xbb\xbf" + data
    return write_bytes(path, data)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# Names and paths

@pytest.mark.parametrize("text, expected", [
    ("rep-01", "rep-01"),
    ("rep 01.example", "rep_01.example"),
    ("rep/01", "rep_01"),
    ("..", "_."),
    (".hidden", "_hidden"),
    ("", "_"),
    (None, "_"),
    ("a&b#c", "a_b_c"),
    ("sérveur", "s_rveur"),
])
def test_safe_filename_forms(text, expected):
    assert safe_filename(text) == expected


def test_backup_path_layout(tmp_path):
    path = backup_path(str(tmp_path), "rep 01", "before-stop", NOW)
    assert path == os.path.join(str(tmp_path), "rep_01", "rep_01_20261204T203015Z_before-stop.csv")


def test_backup_path_converts_to_utc(tmp_path):
    local = NOW.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert backup_path(str(tmp_path), "s", "r", local).endswith("s_20261204T203015Z_r.csv")


# Tags encoding

@pytest.mark.parametrize("text, expected", [
    ('["a", "b"]', ["a", "b"]),
    ("['a', 'b']", ["a", "b"]),
    ("a;b", ["a", "b"]),
    ("a; b ;", ["a", "b"]),
    ("single", ["single"]),
    ("[]", []),
    ("", []),
    (None, []),
    ('["x;y", "it\'s"]', ["x;y", "it's"]),
])
def test_decode_tags_forms(text, expected):
    assert decode_tags(text) == expected


def test_encode_tags_round_trip():
    tags = ["x;y", 'q"uote', "a,b", "[odd]"]
    assert decode_tags(encode_tags(tags)) == tags


# Writing

def test_write_backup_columns(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == BACKUP_COLUMNS


def test_write_backup_seed_columns_first():
    assert BACKUP_COLUMNS[:5] == ["name", "state", "stop_reason", "message", "assigned_tags"]


def test_write_backup_file_mode(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    assert mode_of(path) == 0o600


def test_write_backup_directory_modes(tmp_path):
    dest = tmp_path / "new" / "backups"
    write_backup(str(dest), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    assert mode_of(str(tmp_path / "new")) == 0o700
    assert mode_of(str(dest)) == 0o700
    assert mode_of(str(dest / "rep-01")) == 0o700


def test_write_backup_modes_despite_umask(tmp_path):
    previous = os.umask(0o277)
    try:
        path = write_backup(str(tmp_path / "backups"), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    finally:
        os.umask(previous)
    assert mode_of(os.path.dirname(path)) == 0o700
    assert mode_of(path) == 0o600


def test_write_backup_existing_dir_kept(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    assert mode_of(str(tmp_path)) == 0o755


def test_write_backup_never_overwrites(tmp_path):
    first = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    second = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T2")], now=NOW)
    third = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T3")], now=NOW)
    assert second == first[:-4] + "-1.csv"
    assert third == first[:-4] + "-2.csv"
    assert read_backup(first).running == ["T1"]
    assert read_backup(second).running == ["T2"]


def test_write_backup_no_temp_left(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]


def test_write_backup_captured_at_utc(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    with open(path, newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert row["captured_at"] == "2026-12-04T20:30:15+00:00"


def test_write_backup_recovering_normalized(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1", "RECOVERY", "RECOVERABLE_ERROR")], now=NOW)
    with open(path, newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert row["state"] == "RECOVERING"


def test_write_backup_unnamed_task_raises(tmp_path):
    with pytest.raises(ValueError, match="no name"):
        write_backup(str(tmp_path), "rep-01", "before-stop", [{"state": "RUNNING"}], now=NOW)


def test_write_csv_atomic_overwrite_flag(tmp_path):
    path = str(tmp_path / "report.csv")
    write_csv_atomic(path, ["a"], [["1"]])
    again = write_csv_atomic(path, ["a"], [["2"]], overwrite=True)
    assert again == path
    with open(path, encoding="utf-8") as handle:
        assert handle.read().splitlines() == ["a", "2"]


def test_write_csv_atomic_dict_rows(tmp_path):
    path = write_csv_atomic(str(tmp_path / "r.csv"), ["a", "b"], [{"b": "x", "ignored": 1}, {"a": None, "b": 2}])
    with open(path, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [["a", "b"], ["", "x"], ["", "2"]]


def test_write_csv_atomic_suffix_when_taken(tmp_path):
    path = str(tmp_path / "r.csv")
    write_bytes(path, b"keep me")
    written = write_csv_atomic(path, ["a"], [])
    assert written == str(tmp_path / "r-1.csv")
    with open(path, "rb") as handle:
        assert handle.read() == b"keep me"


def test_write_csv_atomic_without_hard_links(tmp_path, monkeypatch):
    def no_link(source, target):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    path = str(tmp_path / "r.csv")
    write_bytes(path, b"keep me")
    written = write_csv_atomic(path, ["a"], [["1"]])
    assert written == str(tmp_path / "r-1.csv")
    with open(written, encoding="utf-8") as handle:
        assert handle.read().splitlines() == ["a", "1"]
    assert sorted(os.listdir(str(tmp_path))) == ["r-1.csv", "r.csv"]


def test_write_backup_concurrent_distinct_files(tmp_path):
    dest = str(tmp_path)

    def write(index):
        return write_backup(dest, "rep-01", "before-stop", [seed_task("T{0}".format(index))], now=NOW)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(write, range(16)))
    assert len(set(paths)) == 16
    assert sorted(read_backup(path).running[0] for path in paths) == sorted("T{0}".format(index) for index in range(16))


def test_write_csv_atomic_custom_mode(tmp_path):
    path = write_csv_atomic(str(tmp_path / "r.csv"), ["a"], [], mode=0o640)
    assert mode_of(path) == 0o640


# Round trip

def test_round_trip_special_names(tmp_path):
    tasks = [seed_task(name, tags=["t,1", "t;2"], message='line1\nline2, "q"') for name in SPECIAL_NAMES]
    path = write_backup(str(tmp_path), "rep-01", "before-stop", tasks, now=NOW)
    data = read_backup(path, server="rep-01")
    assert [row["name"] for row in data.rows] == SPECIAL_NAMES
    assert data.rows[0]["assigned_tags"] == ["t,1", "t;2"]
    assert data.rows[0]["message"] == 'line1\nline2, "q"'


def test_round_trip_metadata(tmp_path):
    tasks = [seed_task("LS", staging=True), seed_task("T2", "STOPPED", "NORMAL"), seed_task("T3", "RECOVERY")]
    path = write_backup(str(tmp_path), "rep-01", "before-stop", tasks, now=NOW)
    data = read_backup(path, server="rep-01")
    assert data.server == "rep-01"
    assert data.captured_at == NOW
    assert data.reason == "before-stop"
    assert data.running == ["LS", "T3"]
    assert data.rows[0]["log_stream_staging"] is True
    assert data.states == {"LS": "RUNNING", "T2": "STOPPED", "T3": "RECOVERING"}


def test_round_trip_empty_task_list(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [], now=NOW)
    data = read_backup(path)
    assert data.rows == []
    assert data.running == []


# Reading the seed tool's format

def test_read_seed_format(tmp_path):
    path = seed_file(tmp_path / "seed.csv", [
        ["T1", "RUNNING", "NONE", "", ["prod", "eu"]],
        ["T2", "STOPPED", "NORMAL", "Stopped by user, twice", []],
        ["T3", "ERROR", "FATAL_ERROR", "boom", []],
        ["T4", "STOPPED", "FULL_LOAD_ONLY_FINISHED", "", []],
        ["T5", "RECOVERY", "RECOVERABLE_ERROR", "", []],
    ])
    data = read_backup(path, server="rep-01")
    assert data.running == ["T1", "T5"]
    assert data.rows[0]["assigned_tags"] == ["prod", "eu"]
    assert data.rows[1]["message"] == "Stopped by user, twice"
    assert data.server == "rep-01"
    assert data.captured_at is None


def test_read_seed_special_names(tmp_path):
    path = seed_file(tmp_path / "seed.csv", [[name, "RUNNING", "NONE", "", []] for name in SPECIAL_NAMES])
    assert read_backup(path).running == SPECIAL_NAMES


def test_read_seed_semicolon_tags(tmp_path):
    path = seed_file(tmp_path / "seed.csv", [["T1", "RUNNING", "NONE", "", "a;b"]])
    assert read_backup(path).rows[0]["assigned_tags"] == ["a", "b"]


def test_read_bom_accepted(tmp_path):
    path = seed_file(tmp_path / "seed.csv", [["T1", "RUNNING", "NONE", "", []]], bom=True)
    assert read_backup(path).running == ["T1"]


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_read_line_ends(tmp_path, line_end):
    path = seed_file(tmp_path / "seed.csv", [["T1", "RUNNING", "NONE", "", []], ["T2", "STOPPED", "NORMAL", "", []]], line_end=line_end)
    assert [row["name"] for row in read_backup(path).rows] == ["T1", "T2"]


def test_read_extra_columns_ignored(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state,owner\r\nT1,RUNNING,ops\r\n")
    assert read_backup(path).running == ["T1"]


def test_read_header_only_valid(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state,stop_reason,message,assigned_tags\r\n")
    data = read_backup(path)
    assert data.rows == []
    assert data.running == []


def test_read_blank_lines_skipped(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state\n\nT1,RUNNING\n\n")
    assert read_backup(path).running == ["T1"]


def test_read_capitalized_header(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"Name, State\nT1,RUNNING\n")
    assert read_backup(path).running == ["T1"]


def test_read_captured_at_from_name(tmp_path):
    path = seed_file(tmp_path / "rep_20261201T080000Z_before-stop.csv", [["T1", "RUNNING", "NONE", "", []]])
    assert read_backup(path).captured_at == datetime.datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)


def test_read_captured_at_zulu(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state,captured_at\nT1,RUNNING,2026-12-01T08:00:00Z\n")
    assert read_backup(path).captured_at == datetime.datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)


def test_backup_summary_fields(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1"), seed_task("T2", "STOPPED")], now=NOW)
    summary = read_backup(path).summary(NOW + datetime.timedelta(minutes=90))
    assert summary == {"path": path, "server": "rep-01", "captured_at": "2026-12-04T20:30:15+00:00",
                       "age_hours": 1.5, "running": ["T1"]}


def test_backup_age_unknown_none(tmp_path):
    path = seed_file(tmp_path / "seed.csv", [["T1", "RUNNING", "NONE", "", []]])
    assert read_backup(path).age_hours(NOW) is None


def test_backup_age_hours(tmp_path):
    path = write_backup(str(tmp_path), "rep-01", "before-stop", [seed_task("T1")], now=NOW)
    assert read_backup(path).age_hours(NOW + datetime.timedelta(hours=49)) == 49.0


# Reading errors

def test_read_missing_file(tmp_path):
    path = str(tmp_path / "nope.csv")
    with pytest.raises(BackupError) as error:
        read_backup(path)
    assert path in str(error.value)
    assert "not found" in str(error.value)


def test_read_directory_rejected(tmp_path):
    with pytest.raises(BackupError, match="not a file"):
        read_backup(str(tmp_path))


def test_read_empty_file(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"")
    with pytest.raises(BackupError, match="empty"):
        read_backup(path)


def test_read_blank_first_line(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"\r\n")
    with pytest.raises(BackupError, match="no header"):
        read_backup(path)


def test_read_wrong_header(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"task,status\nT1,RUNNING\n")
    with pytest.raises(BackupError) as error:
        read_backup(path)
    assert "name and state" in str(error.value)
    assert path in str(error.value)


def test_read_header_missing_state(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"T1,RUNNING\nT2,STOPPED\n")
    with pytest.raises(BackupError, match="no valid header"):
        read_backup(path)


def test_read_duplicate_rows(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state\nT1,RUNNING\nT2,STOPPED\nT1,STOPPED\n")
    with pytest.raises(BackupError, match="more than once: T1"):
        read_backup(path)


def test_read_case_variants_not_duplicates(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state\nT1,RUNNING\nt1,STOPPED\n")
    assert [row["name"] for row in read_backup(path).rows] == ["T1", "t1"]


def test_read_other_server_rejected(tmp_path):
    path = write_backup(str(tmp_path), "rep-02", "before-stop", [seed_task("T1")], now=NOW)
    with pytest.raises(BackupError) as error:
        read_backup(path, server="rep-01")
    assert "'rep-02'" in str(error.value)
    assert "'rep-01'" in str(error.value)


def test_read_mixed_servers_rejected(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state,server\nT1,RUNNING,a\nT2,RUNNING,b\n")
    with pytest.raises(BackupError, match="mixes servers"):
        read_backup(path)


def test_read_undecodable_bytes(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state\n\xff\xfeT1,RUNNING\n")
    with pytest.raises(BackupError, match="UTF-8"):
        read_backup(path)


def test_read_too_many_fields(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state\na,b,RUNNING\n")
    with pytest.raises(BackupError, match="line 2 has 3 fields"):
        read_backup(path)


def test_read_empty_name_rejected(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b"name,state\n,RUNNING\n")
    with pytest.raises(BackupError, match="empty task name"):
        read_backup(path)


def test_read_bad_quoting_rejected(tmp_path):
    path = write_bytes(tmp_path / "x.csv", b'name,state\n"T1"x,RUNNING\n')
    with pytest.raises(BackupError, match="not a valid CSV"):
        read_backup(path)


def test_backup_error_is_value_error():
    assert issubclass(BackupError, ValueError)


# Finding and pruning

def make_backups(dest, server, stamps, reason="before-stop"):
    return [write_backup(dest, server, reason, [seed_task("T1")], now=stamp) for stamp in stamps]


def test_find_latest_by_timestamp(tmp_path):
    dest = str(tmp_path)
    newest = NOW
    paths = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=1), newest, NOW - datetime.timedelta(hours=2)])
    assert find_latest_backup(dest, "rep-01") == paths[1]


def test_find_latest_suffix_wins(tmp_path):
    dest = str(tmp_path)
    paths = make_backups(dest, "rep-01", [NOW, NOW])
    assert find_latest_backup(dest, "rep-01") == paths[1]


def test_find_latest_filters_reason(tmp_path):
    dest = str(tmp_path)
    before = make_backups(dest, "rep-01", [NOW - datetime.timedelta(hours=1)])[0]
    make_backups(dest, "rep-01", [NOW], reason="manual")
    assert find_latest_backup(dest, "rep-01") == before


def test_find_latest_ignores_foreign(tmp_path):
    dest = str(tmp_path)
    path = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=2)])[0]
    folder = os.path.dirname(path)
    write_bytes(os.path.join(folder, "rep-01_20991231T000000Z_before-stop.csv.bak"), b"x")
    write_bytes(os.path.join(folder, "other_20991231T000000Z_before-stop.csv"), b"x")
    write_bytes(os.path.join(folder, "notes.csv"), b"x")
    assert find_latest_backup(dest, "rep-01") == path


def test_find_latest_none_without_dir(tmp_path):
    assert find_latest_backup(str(tmp_path), "rep-01") is None


def test_prune_removes_old_only(tmp_path):
    dest = str(tmp_path)
    old, recent = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=10), NOW - datetime.timedelta(days=1)])
    removed = prune_backups(dest, "rep-01", 7, now=NOW)
    assert removed == [old]
    assert not os.path.exists(old)
    assert os.path.exists(recent)


def test_prune_zero_keeps_all(tmp_path):
    dest = str(tmp_path)
    old = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=400)])[0]
    assert prune_backups(dest, "rep-01", 0, now=NOW) == []
    assert os.path.exists(old)


def test_prune_dry_run_keeps_files(tmp_path):
    dest = str(tmp_path)
    old = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=10), NOW])[0]
    assert prune_backups(dest, "rep-01", 7, now=NOW, dry_run=True) == [old]
    assert os.path.exists(old)


def test_prune_keeps_latest_before_stop(tmp_path):
    dest = str(tmp_path)
    older, latest = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=20), NOW - datetime.timedelta(days=10)])
    assert prune_backups(dest, "rep-01", 7, now=NOW) == [older]
    assert os.path.exists(latest)


def test_prune_latest_protection_disabled(tmp_path):
    dest = str(tmp_path)
    only = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=10)])[0]
    assert prune_backups(dest, "rep-01", 7, now=NOW, keep_latest_reason=None) == [only]


def test_prune_other_server_untouched(tmp_path):
    dest = str(tmp_path)
    other = make_backups(dest, "rep-02", [NOW - datetime.timedelta(days=10)])[0]
    foreign = write_bytes(os.path.join(os.path.dirname(make_backups(dest, "rep-01", [NOW])[0]), "rep-01_old.csv"), b"x")
    prune_backups(dest, "rep-01", 1, now=NOW)
    assert os.path.exists(other)
    assert os.path.exists(foreign)


def test_prune_every_reason(tmp_path):
    dest = str(tmp_path)
    old = make_backups(dest, "rep-01", [NOW - datetime.timedelta(days=10)], reason="manual")[0]
    assert prune_backups(dest, "rep-01", 7, now=NOW) == [old]


@pytest.mark.parametrize("keep_days", [-1, None, "x", True])
def test_prune_invalid_keep_days(tmp_path, keep_days):
    with pytest.raises(ValueError, match="keep_days"):
        prune_backups(str(tmp_path), "rep-01", keep_days, now=NOW)
