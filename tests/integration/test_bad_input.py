# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalogue of bad input: each case fails before any stop or run request, with a message
that names the value and the fix.

All failing cases run as hosts of one play (one inventory host per case, with the case's
variables as host variables and qem_server naming the Replicate server), so the whole
catalogue costs one ansible-playbook run. Cases that must be accepted (a UTF-8 BOM, CRLF line
ends) run in a second play and must resume the task their file records as running.
"""

import pytest

from fault_support import run_hosts
from role_support import load_scenario, requests_of

from ansible_collections.qem.replicate.plugins.module_utils.backup import BACKUP_COLUMNS

HEADER = ",".join(BACKUP_COLUMNS)
STAMP = "2026-12-04T20:00:00+00:00"


def _line(name, state, server="rep-01"):
    return f"{name},{state},NONE,,[],{server},{STAMP},before-stop,false"


# Backup files for mode F, by case name: text, or bytes for files that are not UTF-8.
BACKUP_FILES = {
    "file_empty": "",
    "file_header_only": HEADER + "\n",
    "file_wrong_columns": "task,status\nT1,RUNNING\n",
    "file_duplicate_rows": "\n".join([HEADER, _line("T1", "RUNNING"), _line("T1", "STOPPED")]) + "\n",
    "file_other_server": "\n".join([HEADER, _line("T1", "RUNNING", server="rep-02")]) + "\n",
    "file_no_running_task": "\n".join([HEADER, _line("T1", "STOPPED"), _line("T2", "ERROR")]) + "\n",
    "file_not_utf8": (HEADER + "\nT\xe9,RUNNING,NONE,,[],rep-01,,before-stop,false\n").encode("latin-1"),
    "file_extra_fields": "\n".join([HEADER, _line("T1", "RUNNING") + ",surplus"]) + "\n",
    "file_empty_name": "\n".join([HEADER, _line("", "RUNNING")]) + "\n",
    "file_unknown_task": "\n".join([HEADER, _line("Gone", "RUNNING")]) + "\n",
}

STOP = {"qem_action": "stop"}
RESUME = {"qem_action": "resume"}

# (case, host variables, text the failure must contain). "{files}" is the directory of BACKUP_FILES.
FAILING_CASES = [
    ("action_unknown", {"qem_action": "restart"}, "qem_action='restart' is invalid. Set qem_action=stop or qem_action=resume"),
    ("action_empty", {"qem_action": ""}, "qem_action='' is invalid"),
    ("mode_unknown", dict(STOP, qem_mode="X"), "qem_mode='X' is invalid. Use S or selected"),
    ("mode_file_with_stop", dict(STOP, qem_mode="F"), "works with qem_action=resume only"),
    ("mode_selected_no_names", dict(STOP, qem_mode="S"), "qem_selected_tasks is empty for server 'rep-01'"),
    ("name_not_found", dict(STOP, qem_mode="S", qem_selected_tasks=["T1", "Nope"]), "'Nope'"),
    ("name_wrong_case", dict(STOP, qem_mode="S", qem_selected_tasks=["t1"]), "QEM spells it 'T1'"),
    ("name_forbidden_character", dict(RESUME, qem_mode="S", qem_selected_tasks=["a|b"]), "'a|b'"),
    ("name_too_long", dict(STOP, qem_mode="selected", qem_selected_tasks=["T" * 33]), "'" + "T" * 33 + "'"),
    ("file_missing", dict(RESUME, qem_mode="F", qem_task_file="{files}/absent.csv"), "absent.csv' not found"),
    ("file_is_directory", dict(RESUME, qem_mode="F", qem_task_file="{files}"), "is not a file"),
    ("file_empty", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_empty.csv"), "is empty (0 bytes)"),
    ("file_wrong_columns", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_wrong_columns.csv"), "has no valid header"),
    ("file_duplicate_rows", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_duplicate_rows.csv"), "lists tasks more than once: T1"),
    ("file_other_server", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_other_server.csv"), "belongs to server 'rep-02', not 'rep-01'"),
    ("file_not_utf8", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_not_utf8.csv"), "is not valid UTF-8"),
    ("file_extra_fields", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_extra_fields.csv"), "Quote values that contain commas"),
    ("file_empty_name", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_empty_name.csv"), "has an empty task name"),
    ("file_none_in_dir", dict(RESUME, qem_mode="F", qem_backup_dir="{files}/no-backups"), "No before-stop backup of server 'rep-01'"),
    ("password_with_colon", dict(STOP, qem_password="pass:word"), "contains ':'"),
    ("password_wrong", dict(STOP, qem_password="not-the-password"), "rejected the login"),
    ("username_empty", dict(STOP, qem_username=""), "The QEM username is missing"),
    ("host_empty", dict(STOP, qem_host=""), "The QEM host is missing. Set host (or the QEM_HOST environment variable)"),
    ("host_ftp_scheme", dict(STOP, qem_host="ftp://{host}"), "The QEM host 'ftp://"),
    ("host_with_path", dict(STOP, qem_host="https://{host}/some/path"), "has an unexpected path '/some/path'"),
    ("host_with_credentials", dict(STOP, qem_host="https://admin:secret@{host}"), "must not contain credentials"),
    ("server_unknown", dict(STOP, qem_server="rep-99"), "rep-99"),
    ("server_empty", dict(STOP, qem_server=" "), "qem_server is empty for host"),
    ("workers_zero", dict(STOP, qem_workers=0), "qem_workers=0 is out of range; use a number from 1 to 100"),
    ("workers_not_number", dict(STOP, qem_workers="many"), "qem_workers"),
    ("poll_interval_negative", dict(STOP, qem_poll_interval=-1), "qem_poll_interval=-1 is out of range"),
    ("wait_timeout_zero", dict(STOP, qem_wait_timeout=0), "qem_wait_timeout=0 is out of range"),
    ("settle_reads_zero", dict(STOP, qem_settle_reads=0), "qem_settle_reads=0 is out of range"),
    ("stop_timeout_zero", dict(STOP, qem_stop_timeout=0), "qem_stop_timeout=0 is out of range"),
    ("resend_too_many", dict(STOP, qem_resend=11), "qem_resend=11 is out of range"),
    ("not_connected_negative", dict(RESUME, qem_not_connected_timeout=-5), "qem_not_connected_timeout=-5 is out of range"),
    ("request_timeout_zero", dict(STOP, qem_request_timeout=0), "request_timeout"),
    ("keep_days_negative", dict(STOP, qem_backup_keep_days=-1), "qem_backup_keep_days=-1 is out of range"),
    ("full_load_policy_unknown", dict(STOP, qem_full_load_policy="later"),
     "value of qem_full_load_policy must be one of: wait, fail, force, got: later"),
    ("run_option_unknown", dict(RESUME, qem_run_option="RELOAD_EVERYTHING"),
     "value of qem_run_option must be one of: RESUME_PROCESSING"),
]

# Cases that change nothing without failing: the run output explains why it starts nothing.
NOTHING_TO_DO_CASES = [
    ("file_header_only", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_header_only.csv"), "records no running or recovering task"),
    ("file_no_running_task", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_no_running_task.csv"),
     "records no running or recovering task"),
    ("file_unknown_task", dict(RESUME, qem_mode="F", qem_task_file="{files}/file_unknown_task.csv"), "QEM does not list them"),
]


def _fill(value, files, host):
    if isinstance(value, str):
        return value.replace("{files}", str(files)).replace("{host}", host)
    return value


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Run every case of FAILING_CASES and NOTHING_TO_DO_CASES as one host of one play."""
    from qem_simulator import Simulator  # pylint: disable=import-outside-toplevel

    tmp_path = tmp_path_factory.mktemp("bad-input")
    files = tmp_path / "files"
    files.mkdir()
    for name, content in BACKUP_FILES.items():
        path = files / f"{name}.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    with Simulator(load_scenario("fault_bad_input"), state_dir=str(tmp_path / "sim")) as sim:
        host_vars = {}
        for case, variables, _message in FAILING_CASES + NOTHING_TO_DO_CASES:
            values = {"qem_server": "rep-01", "qem_poll_interval": 0.2, "qem_settle_delay": 0, "qem_wait_timeout": 5}
            values.update({key: _fill(value, files, sim.host) for key, value in variables.items()})
            host_vars[case] = values
        rc, output, failures = run_hosts(sim, tmp_path, "catalogue", "qem_tasks.yml", host_vars)
        yield {"rc": rc, "output": output, "failures": failures, "counters": sim.counters(), "sim": sim}


def test_catalogue_has_thirty_cases():
    assert len(FAILING_CASES) + len(NOTHING_TO_DO_CASES) >= 30


def test_catalogue_sends_no_stop(catalogue):
    assert catalogue["counters"].get("stop", 0) == 0


def test_catalogue_sends_no_run(catalogue):
    assert catalogue["counters"].get("run", 0) == 0


def test_catalogue_run_fails(catalogue):
    assert catalogue["rc"] != 0


@pytest.mark.parametrize("case, variables, message", FAILING_CASES, ids=[case[0] for case in FAILING_CASES])
def test_bad_input_fails_with_message(catalogue, case, variables, message):
    assert case in catalogue["failures"], catalogue["output"][-3000:]
    assert message in catalogue["failures"][case]


@pytest.mark.parametrize("case, variables, message", NOTHING_TO_DO_CASES, ids=[case[0] for case in NOTHING_TO_DO_CASES])
def test_nothing_to_do_explained(catalogue, case, variables, message):
    assert case not in catalogue["failures"]
    assert f"[{case}]" in catalogue["output"]
    assert message in catalogue["output"]


ENCODING_VARIANTS = {"crlf": ("\r\n", False), "bom": ("\n", True), "bom_crlf": ("\r\n", True)}


@pytest.fixture(scope="module")
def encoding_variants(tmp_path_factory):
    """Resume one server per variant of ENCODING_VARIANTS from a backup file with that encoding."""
    from qem_simulator import Simulator  # pylint: disable=import-outside-toplevel

    tmp_path = tmp_path_factory.mktemp("variants")
    servers = []
    host_vars = {}
    for variant, (line_end, bom) in ENCODING_VARIANTS.items():
        server = f"rep-{variant}"
        tasks = [{"name": "T1", "state": "STOPPED", "cdc_only": True}, {"name": "T2", "state": "STOPPED", "cdc_only": True}]
        servers.append({"name": server, "tasks": tasks})
        text = line_end.join([HEADER, _line("T1", "RUNNING", server=server), _line("T2", "STOPPED", server=server)]) + line_end
        path = tmp_path / f"{variant}.csv"
        path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8"))
        host_vars[server] = {"qem_action": "resume", "qem_mode": "F", "qem_task_file": str(path), "qem_poll_interval": 0.2,
                             "qem_settle_delay": 0}

    with Simulator(load_scenario("fault_bad_input", servers=servers), state_dir=str(tmp_path / "sim")) as sim:
        rc, output, _failures = run_hosts(sim, tmp_path, "variants", "qem_tasks.yml", host_vars)
        yield {"rc": rc, "output": output, "runs": requests_of(sim, "run")}


def test_encoding_variants_run_succeeds(encoding_variants):
    assert encoding_variants["rc"] == 0, encoding_variants["output"][-3000:]


@pytest.mark.parametrize("variant", list(ENCODING_VARIANTS))
def test_backup_encoding_variant_accepted(encoding_variants, variant):
    assert [task for server, task in encoding_variants["runs"] if server == f"rep-{variant}"] == ["T1"]
