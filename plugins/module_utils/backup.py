# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Backup CSV files of Replicate task states: naming, atomic writing, reading and retention.

File layout: ``<dest>/<safe server>/<safe server>_<YYYYmmddTHHMMSSZ>_<safe reason>.csv``, with
``-1``, ``-2`` ... before ``.csv`` when that name is already taken. Files are never overwritten.

The first five columns are the seed tool's format, ``name,state,stop_reason,message,assigned_tags``,
so that tool and this collection read each other's files. ``assigned_tags`` is written as a JSON
list (``["a", "b"]``), which is reversible for any tag text. Reading also accepts the Python list
repr that ``csv.writer`` produces for a list (``['a', 'b']``) and a semicolon-separated string.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import csv
import datetime
import errno
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import List, Optional

from ansible_collections.qem.replicate.plugins.module_utils.task_rules import (
    ACTIVE_STATES,
    normalize_state,
)

SEED_COLUMNS = ["name", "state", "stop_reason", "message", "assigned_tags"]
BACKUP_COLUMNS = SEED_COLUMNS + ["server", "captured_at", "reason", "log_stream_staging"]
REQUIRED_COLUMNS = ("name", "state")

DEFAULT_REASON = "before-stop"
# Longest time between two before-stop backups of one stop window, in hours.
STOP_WINDOW_MAX_GAP_HOURS = 24
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_RE = r"(\d{8}T\d{6}Z)"
_MAX_SUFFIX = 10000

UTC = datetime.timezone.utc


class BackupError(ValueError):
    """A backup file that cannot be read or trusted. The message names the file and the fix."""


@dataclass
class BackupData:
    """The content of one backup file.

    ``rows`` contains one dict per task with the columns of BACKUP_COLUMNS, the state normalised,
    ``assigned_tags`` as a list and ``log_stream_staging`` as a bool (None when not recorded).
    ``running`` lists the tasks recorded as RUNNING or RECOVERING, in file order.
    """

    path: str
    server: Optional[str] = None
    captured_at: Optional[datetime.datetime] = None
    reason: Optional[str] = None
    rows: List[dict] = field(default_factory=list)
    running: List[str] = field(default_factory=list)

    @property
    def states(self):
        """Task states by name, as recorded."""
        return {row["name"]: row["state"] for row in self.rows}

    def age_hours(self, now=None):
        """Hours between ``captured_at`` and ``now`` (default: the current UTC time), or None if unknown."""
        if self.captured_at is None:
            return None
        now = _as_utc(now)
        return (now - self.captured_at).total_seconds() / 3600.0

    def summary(self, now=None):
        """Summary for module results: ``{path, server, captured_at (ISO or None), age_hours, running}``."""
        age = self.age_hours(now)
        return {
            "path": self.path,
            "server": self.server,
            "captured_at": None if self.captured_at is None else self.captured_at.isoformat(),
            "age_hours": None if age is None else round(age, 2),
            "running": list(self.running),
        }


def _as_utc(moment):
    """Return ``moment`` as an aware UTC datetime. None means now, and a naive value is taken as UTC."""
    if moment is None:
        return datetime.datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def safe_filename(text):
    """Turn a server name or reason into a safe file name part.

    ASCII letters, digits, dot, dash and underscore are kept and any other character becomes
    ``_``. A leading dot becomes ``_`` so the file is never hidden, and an empty value gives ``_``.
    Different names can map to the same text (``rep 01`` and ``rep/01``), which is why backups
    also record the server name in a column and read_backup checks it.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", "" if text is None else str(text))
    if safe.startswith("."):
        safe = "_" + safe[1:]
    return safe or "_"


def backup_path(dest, server, reason, now=None):
    """Return ``<dest>/<safe server>/<safe server>_<YYYYmmddTHHMMSSZ>_<safe reason>.csv`` for ``now`` in UTC."""
    safe_server = safe_filename(server)
    stamp = _as_utc(now).strftime(TIMESTAMP_FORMAT)
    return os.path.join(dest, safe_server, "{0}_{1}_{2}.csv".format(safe_server, stamp, safe_filename(reason)))


def _make_private_dirs(directory):
    """Create ``directory`` and its missing parents with mode 0700. Existing directories keep their mode."""
    directory = os.path.abspath(directory)
    missing = []
    current = directory
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent

    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
            continue
        # The umask may have removed bits from the mode given to mkdir.
        os.chmod(path, 0o700)


def _suffixed(path, number):
    root, ext = os.path.splitext(path)
    return "{0}-{1}{2}".format(root, number, ext)


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish_without_overwrite(tmp_path, path):
    """Give the finished temporary file its final name, never replacing an existing file.

    os.link fails when the name exists, so the check and the creation are one atomic step and
    readers never see a partial file. File systems without hard links fall back to reserving
    the name with O_CREAT | O_EXCL and then replacing that empty file. Returns the name used:
    ``path``, or ``path`` with ``-1``, ``-2`` ... before the extension.
    """
    for number in range(_MAX_SUFFIX):
        candidate = path if number == 0 else _suffixed(path, number)
        try:
            os.link(tmp_path, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            os.close(fd)
            os.replace(tmp_path, candidate)
            return candidate
        os.unlink(tmp_path)
        return candidate
    raise FileExistsError(errno.EEXIST, "No free file name after {0} attempts".format(_MAX_SUFFIX), path)


def write_csv_atomic(path, header, rows, mode=0o600, overwrite=False):
    """Write a CSV file atomically and return the path written.

    ``rows`` contains dicts keyed by the header names (missing keys give empty cells, unknown keys
    are ignored) or sequences in header order. The data goes to a temporary file in the same
    directory, is flushed to disk, gets ``mode`` and then takes its name in one step. Without
    ``overwrite`` an existing file is never replaced: the name gets ``-1``, ``-2`` ... before the
    extension instead. The directory must exist. Encoding UTF-8 without BOM, CRLF line ends.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with io.open(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(header))
            for row in rows:
                if isinstance(row, dict):
                    writer.writerow(["" if row.get(column) is None else row.get(column) for column in header])
                else:
                    writer.writerow(["" if cell is None else cell for cell in row])
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())

        if overwrite:
            os.replace(tmp_path, path)
            final_path = path
        else:
            final_path = _publish_without_overwrite(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise

    _fsync_directory(directory)
    return final_path


def encode_tags(tags):
    """Encode assigned tags as a JSON list for the ``assigned_tags`` column."""
    if tags is None:
        tags = []
    elif isinstance(tags, str):
        tags = [tags] if tags else []
    return json.dumps([str(tag) for tag in tags], ensure_ascii=False)


def decode_tags(text):
    """Decode the ``assigned_tags`` column: a JSON list, a Python list repr or ``a;b`` text.

    Empty text gives an empty list. A value that is none of these is read as one tag.
    """
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                value = None
        if isinstance(value, (list, tuple)):
            return [str(tag) for tag in value]
    return [tag.strip() for tag in text.split(";") if tag.strip()]


def _format_bool(value):
    return "true" if value else "false"


def _parse_bool(text):
    text = (text or "").strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n"):
        return False
    return None


def write_backup(dest, server, reason, tasks, now=None):
    """Write the task states of one server to a new backup CSV and return its path.

    ``tasks`` contains task dicts as qem_task_list returns them or raw task-list records. States
    are written normalised (the recovering state as RECOVERING). Directories are created with
    mode 0700 (existing ones are left as they are) and the file with mode 0600, atomically and
    never over an existing file. ``captured_at`` is ISO 8601 UTC with ``+00:00``.
    """
    tasks = list(tasks or ())
    unnamed = [index for index, task in enumerate(tasks) if not task.get("name")]
    if unnamed:
        raise ValueError("Cannot back up tasks of server '{0}': task records {1} have no name.".format(server, unnamed))

    moment = _as_utc(now).replace(microsecond=0)
    path = backup_path(dest, server, reason, moment)
    _make_private_dirs(os.path.dirname(path))

    captured_at = moment.isoformat()
    rows = []
    for task in tasks:
        rows.append({
            "name": task.get("name"),
            "state": normalize_state(task.get("state")),
            "stop_reason": task.get("stop_reason"),
            "message": task.get("message"),
            "assigned_tags": encode_tags(task.get("assigned_tags")),
            "server": server,
            "captured_at": captured_at,
            "reason": reason,
            "log_stream_staging": _format_bool(task.get("log_stream_staging")),
        })
    return write_csv_atomic(path, BACKUP_COLUMNS, rows)


def _parse_captured_at(text):
    text = (text or "").strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return _as_utc(moment)


def _timestamp_from_name(path):
    match = re.search(r"_" + _TIMESTAMP_RE + r"_", os.path.basename(path))
    if not match:
        return None
    return datetime.datetime.strptime(match.group(1), TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def _read_text(path):
    if not os.path.exists(path):
        raise BackupError("Backup file '{0}' not found. Give the path of a CSV written by qem_task_backup, "
                          "or run the stop first so that it writes a before-stop backup.".format(path))
    if not os.path.isfile(path):
        raise BackupError("Backup path '{0}' is not a file. Give the path of a backup CSV file.".format(path))
    with open(path, "rb") as handle:
        data = handle.read()
    if not data:
        raise BackupError("Backup file '{0}' is empty (0 bytes), so it cannot tell which tasks were running. "
                          "Use an older backup of this server or select the tasks by name.".format(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BackupError("Backup file '{0}' is not valid UTF-8 (byte {1}). "
                          "Save it as UTF-8 and try again.".format(path, exc.start))


def _read_header(path, first_row):
    header = [cell.strip().lower() for cell in first_row]
    absent = [column for column in REQUIRED_COLUMNS if column not in header]
    if absent:
        raise BackupError("Backup file '{0}' has no valid header: column {1} missing in first line {2!r}. "
                          "The first line must name the columns, starting with {3}.".format(
                              path, " and ".join(absent), ",".join(first_row), ",".join(SEED_COLUMNS)))
    duplicates = sorted(set(column for column in header if column and header.count(column) > 1))
    if duplicates:
        raise BackupError("Backup file '{0}' has duplicate columns {1} in its header. "
                          "Keep one column of each name.".format(path, ", ".join(duplicates)))
    return header


def _row_dict(path, line, header, cells):
    if len(cells) > len(header):
        raise BackupError("Backup file '{0}' line {1} has {2} fields but the header has {3}. "
                          "Quote values that contain commas.".format(path, line, len(cells), len(header)))
    values = dict(zip(header, cells))

    def cell(column):
        return values.get(column) or ""

    name = cell("name")
    if name == "":
        raise BackupError("Backup file '{0}' line {1} has an empty task name. Fix or remove that line.".format(path, line))
    return {
        "name": name,
        "state": normalize_state(cell("state")),
        "stop_reason": cell("stop_reason"),
        "message": cell("message"),
        "assigned_tags": decode_tags(cell("assigned_tags")),
        "server": cell("server"),
        "captured_at": cell("captured_at"),
        "reason": cell("reason"),
        "log_stream_staging": _parse_bool(cell("log_stream_staging")),
    }


def read_backup(path, server=None):
    """Read and check a backup CSV, in this collection's format or the seed tool's five columns.

    Accepts a UTF-8 BOM, CRLF or LF line ends and unknown extra columns, which are ignored.
    A header-only file is valid (QEM listed no tasks) and has no running task.

    Raises BackupError with a message that names the file and the fix. The file may be missing,
    not a regular file, empty (0 bytes) or not UTF-8. It may lack a header with the ``name`` and
    ``state`` columns, or contain a malformed line, an empty or duplicate task name, or a
    ``server`` column that names a server other than ``server``.
    """
    text = _read_text(path)

    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise BackupError("Backup file '{0}' is not a valid CSV file ({1}). "
                          "Restore it from the original or use another backup.".format(path, exc))
    if not records or not any(cell.strip() for cell in records[0]):
        raise BackupError("Backup file '{0}' has no header line. The first line must name the columns, "
                          "starting with {1}.".format(path, ",".join(SEED_COLUMNS)))
    header = _read_header(path, records[0])

    rows, seen, duplicates = [], set(), []
    for line, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        row = _row_dict(path, line, header, cells)
        if row["name"] in seen and row["name"] not in duplicates:
            duplicates.append(row["name"])
        seen.add(row["name"])
        rows.append(row)
    if duplicates:
        raise BackupError("Backup file '{0}' lists tasks more than once: {1}. "
                          "Each task must have one line, so fix the file or use another backup.".format(path, ", ".join(duplicates)))

    servers = sorted(set(row["server"] for row in rows if row["server"]))
    if len(servers) > 1:
        raise BackupError("Backup file '{0}' mixes servers {1}. "
                          "A backup holds one server; use that server's own file.".format(path, ", ".join(servers)))
    if server is not None and servers and servers[0] != server:
        raise BackupError("Backup file '{0}' belongs to server '{1}', not '{2}'. "
                          "Use a backup of server '{2}'.".format(path, servers[0], server))

    captured_at = None
    for row in rows:
        captured_at = _parse_captured_at(row["captured_at"])
        if captured_at is not None:
            break
    if captured_at is None:
        captured_at = _timestamp_from_name(path)
    reasons = [row["reason"] for row in rows if row["reason"]]

    return BackupData(
        path=path,
        server=servers[0] if servers else server,
        captured_at=captured_at,
        reason=reasons[0] if reasons else None,
        rows=rows,
        running=[row["name"] for row in rows if row["state"] in ACTIVE_STATES],
    )


def _name_pattern(server, reason=None):
    reason_part = r"([A-Za-z0-9._-]+?)" if reason is None else "(" + re.escape(safe_filename(reason)) + ")"
    return re.compile("^" + re.escape(safe_filename(server)) + "_" + _TIMESTAMP_RE + "_" + reason_part + r"(?:-(\d+))?\.csv$")


def _list_backups(dest, server, reason=None):
    """Return ``(timestamp, suffix, path)`` for this collection's backup files of ``server``, oldest first."""
    directory = os.path.join(dest, safe_filename(server))
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []

    pattern = _name_pattern(server, reason)
    found = []
    for name in names:
        match = pattern.match(name)
        if not match:
            continue
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        try:
            stamp = datetime.datetime.strptime(match.group(1), TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            continue
        found.append((stamp, int(match.group(3) or 0), path))
    found.sort()
    return found


def find_latest_backup(dest, server, reason=DEFAULT_REASON):
    """Return the newest backup of ``server`` with ``reason`` under ``dest``, or None.

    Files are ordered by the timestamp in their name, then by the ``-N`` suffix. Files that do
    not follow this collection's naming for that server are ignored. ``reason=None`` matches any reason.
    """
    backups = _list_backups(dest, server, reason)
    if not backups:
        return None
    return backups[-1][2]


def find_stop_window(dest, server, max_gap_hours=STOP_WINDOW_MAX_GAP_HOURS):
    """Return the before-stop backups of ``server``'s latest stop window under ``dest``, oldest first.

    A stop that is run again (after it was interrupted, or for more tasks) writes another
    before-stop backup, and that one records as stopped the tasks the earlier stop already
    stopped. The window is therefore the newest before-stop backup together with the older
    before-stop backups written since the last before-resume backup that precedes it. An older
    backup joins only while it was written at most ``max_gap_hours`` before the next one of the
    window, so that stops of past windows whose resume was done outside this collection do not
    count. Backups with other reasons are ignored. Files are ordered by the timestamp in their
    name, then by modification time. Returns an empty list when there is no before-stop backup.
    """
    directory = os.path.join(dest, safe_filename(server))
    pattern = _name_pattern(server)
    found = []
    for stamp, _suffix, path in _list_backups(dest, server):
        match = pattern.match(os.path.basename(path))
        try:
            modified = os.stat(path).st_mtime_ns
        except OSError:
            continue
        found.append((stamp, modified, match.group(2), path))
    found.sort()

    stop_reason = safe_filename(DEFAULT_REASON)
    resume_reason = safe_filename("before-resume")
    stops = [index for index, entry in enumerate(found) if entry[2] == stop_reason]
    if not stops or not os.path.isdir(directory):
        return []
    window = []
    max_gap = datetime.timedelta(hours=max_gap_hours)
    newer_stamp = None
    for stamp, _modified, reason, path in reversed(found[:stops[-1] + 1]):
        if reason == resume_reason:
            break
        if reason != stop_reason:
            continue
        if newer_stamp is not None and newer_stamp - stamp > max_gap:
            break
        window.append(path)
        newer_stamp = stamp
    window.reverse()
    return window


def merge_stop_window(backups):
    """Merge the BackupData of one stop window (oldest first) into one BackupData.

    ``running`` is every task that any backup of the window recorded as running or recovering,
    in the order first seen, because the earliest backup saw the tasks before any stop of the
    window. ``captured_at`` is the earliest backup's time, which is when the first task was
    stopped. ``path``, ``rows`` and ``reason`` come from the newest backup.
    """
    backups = list(backups)
    if not backups:
        raise ValueError("merge_stop_window needs at least one backup.")
    newest = backups[-1]
    running = []
    for data in backups:
        running.extend(name for name in data.running if name not in running)
    captured = [data.captured_at for data in backups if data.captured_at is not None]
    return BackupData(
        path=newest.path,
        server=newest.server,
        captured_at=min(captured) if captured else None,
        reason=newest.reason,
        rows=newest.rows,
        running=running,
    )


def prune_backups(dest, server, keep_days, now=None, dry_run=False, keep_latest_reason=DEFAULT_REASON):
    """Remove the backups of ``server`` older than ``keep_days`` days and return their paths.

    Age comes from the timestamp in the file name. Only files that follow this collection's
    naming for that server are considered, whatever their reason. ``keep_days`` 0 keeps all.
    The newest backup with ``keep_latest_reason`` (default before-stop) is kept at any age,
    because a resume after a long window or a retried resume still needs it. For before-stop,
    so are the other backups of the latest stop window (see find_stop_window). Pass None to
    prune it like the others. With ``dry_run`` nothing is removed and the paths that would be
    removed are returned.
    """
    try:
        days = int(keep_days)
    except (TypeError, ValueError):
        days = -1
    if isinstance(keep_days, bool) or days < 0:
        raise ValueError("keep_days must be 0 (keep all) or a positive number of days, not {0!r}.".format(keep_days))
    if days == 0:
        return []

    cutoff = _as_utc(now) - datetime.timedelta(days=days)
    protected = set()
    if keep_latest_reason is not None:
        protected.add(find_latest_backup(dest, server, keep_latest_reason))
        if safe_filename(keep_latest_reason) == safe_filename(DEFAULT_REASON):
            # A resume in mode F reads every before-stop backup of the latest stop window.
            protected.update(find_stop_window(dest, server))

    removed = []
    for stamp, _suffix, path in _list_backups(dest, server):
        if stamp >= cutoff or path in protected:
            continue
        if not dry_run:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
        removed.append(path)
    return removed
