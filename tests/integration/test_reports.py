# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports of a run of the qem_tasks role: HTML summary, e-mail, run log and retention.

The e-mail goes to a real SMTP server (aiosmtpd) that each test starts on 127.0.0.1.
"""

import csv
import datetime
import email
import email.policy
import html.parser
import io
import os
import socket
import stat
import sys

import pytest

from role_support import PASSWORD, load_scenario, output_tail, read_csv

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


@pytest.fixture
def report_run(role_run):
    """Return report_run with the ansible-playbook of this Python first on PATH.

    The e-mail needs community.general, which the ansible package in the test environment
    brings; another ansible-playbook earlier on PATH may not have it.
    """
    bin_dir = os.path.dirname(sys.executable)

    def run(sim, playbook, env=None, **options):
        environment = {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        environment.update(env or {})
        return role_run(sim, playbook, env=environment, **options)

    return run


class _Inbox:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (name fixed by aiosmtpd)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_inbox():
    """Start an SMTP server on 127.0.0.1; yield (inbox, port)."""
    inbox = _Inbox()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _email_vars(port):
    return {
        "qem_email_to": ["ops@example.invalid"],
        "qem_email_from": "qem@example.invalid",
        "qem_email_host": "127.0.0.1",
        "qem_email_port": port,
        "qem_email_tls": "none",
        "qem_email_timeout": 10,
    }


def _attachments(message):
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


class _SummaryParser(html.parser.HTMLParser):
    """Collect the cells of each task row of the HTML summary, and the verdict text."""

    def __init__(self):
        super().__init__()
        self.tasks = []
        self.verdict = ""
        self._row = None
        self._cell = None
        self._cell_class = None
        self._in_verdict = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("class") == "task":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = ""
            self._cell_class = attributes.get("class", "")
        elif tag == "div" and attributes.get("id") == "verdict":
            self._in_verdict = True

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append((self._cell, self._cell_class))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tasks.append(self._row)
            self._row = None
        elif tag == "div":
            self._in_verdict = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in_verdict:
            self.verdict += data


def _parse_summary(path):
    parser = _SummaryParser()
    parser.feed(path.read_text(encoding="utf-8"))
    # Columns of a task row: server, task, phase, before, after, result, ...
    return parser, {(row[0][0], row[1][0]): (row[5][0], row[5][1]) for row in parser.tasks}


def _summaries(run):
    return sorted(run.report_dir.glob("qem_*-summary.html"))


def test_stop_run_reports(qem_sim, report_run):
    sim = qem_sim(load_scenario("report_names"))

    run = report_run(sim, "stop_tasks.yml")

    assert run.rc == 0, output_tail(run)
    summaries = _summaries(run)
    assert len(summaries) == 1, output_tail(run)
    parser, results = _parse_summary(summaries[0])
    assert results == {
        ("rep-01", "R&D 'EU'"): ("stopped", "result-good"),
        ("rep-01", "+Orders #1"): ("stopped", "result-good"),
        ("rep-01", 'Sales <EU> "v2"'): ("stopped", "result-good"),
        ("rep-01", "Legacy"): ("skipped", "result-neutral"),
        ("rep-01", "Broken"): ("skipped", "result-neutral"),
        ("rep-02", "T1"): ("stopped", "result-good"),
    }
    assert parser.verdict.startswith("GO: every server is safe to patch")
    assert "rep-01: safe to patch: yes" in parser.verdict
    assert "rep-02: safe to patch: yes" in parser.verdict
    text = summaries[0].read_text(encoding="utf-8")
    assert "<EU>" not in text
    assert "Sales &lt;EU&gt; &quot;v2&quot;" in text
    assert "R&amp;D &#x27;EU&#x27;" in text
    assert "<td>stop tasks</td>" in text
    assert stat.S_IMODE(os.stat(summaries[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(run.run_reports()[0]).st_mode) == 0o600
    assert "'+Orders #1" in [row["task"] for row in run.rows()]
    row = run.row("T1")
    assert row["server"] == "rep-02"
    assert row["phase"] == "stop tasks"
    assert row["before"] == "RUNNING"
    assert row["after"] == "STOPPED"
    assert row["result"] == "stopped"
    assert float(row["seconds"]) >= 0
    assert set(read_csv(run.run_reports()[0])[0]) >= {"server", "task", "phase", "before", "after", "result", "message", "seconds"}


def test_email_of_successful_run(qem_sim, report_run, smtp_inbox):
    inbox, port = smtp_inbox
    sim = qem_sim(load_scenario("report_names"))

    run = report_run(sim, "stop_tasks.yml", extravars=_email_vars(port))

    assert run.rc == 0, output_tail(run)
    assert len(inbox.messages) == 1, output_tail(run)
    message = inbox.messages[0]
    assert message["To"] == "ops@example.invalid"
    assert message["Subject"].startswith("[qem.replicate] stop run ")
    assert message["Subject"].endswith(": OK")
    assert "R&D 'EU'" in message.get_body(preferencelist=("plain",)).get_content()
    attached = _attachments(message)
    expected = [run.run_reports()[0], _summaries(run)[0]] + run.backups()
    assert sorted(attached) == sorted(path.name for path in expected)
    for path in expected:
        assert attached[path.name] == path.read_bytes(), path.name
    report_name = run.run_reports()[0].name
    rows = list(csv.DictReader(io.StringIO(attached[report_name].decode("utf-8"))))
    assert [row["task"] for row in rows] == [row["task"] for row in run.rows()]


def test_email_of_failed_run(qem_sim, report_run, smtp_inbox):
    inbox, port = smtp_inbox
    sim = qem_sim(load_scenario("resume_fails"))

    run = report_run(sim, "resume_tasks.yml", extravars=dict(_email_vars(port), qem_mode="A"))

    assert run.rc != 0
    assert len(inbox.messages) == 1, output_tail(run)
    message = inbox.messages[0]
    assert message["Subject"].endswith(": FAILED")
    assert "Target table ORDERS is missing" in message.get_body(preferencelist=("plain",)).get_content()
    assert run.run_reports()[0].name in _attachments(message)


def test_email_failure_only_warns(qem_sim, report_run):
    sim = qem_sim(load_scenario("report_names"))

    run = report_run(sim, "stop_tasks.yml", extravars=_email_vars(_free_port()))

    assert run.rc == 0, output_tail(run)
    assert "was not sent" in run.output


def _run_log(log_dir):
    return sorted(log_dir.glob("qem_*_stop_tasks.log"))


def test_run_log_without_secrets(qem_sim, report_run, tmp_path):
    sim = qem_sim(load_scenario("report_names"))
    log_dir = tmp_path / "logs"

    run = report_run(sim, "stop_tasks.yml", extravars={"qem_log_dir": str(log_dir)},
                     env={"ANSIBLE_CALLBACKS_ENABLED": "qem.replicate.qem_log"})

    assert run.rc == 0, output_tail(run)
    logs = _run_log(log_dir)
    assert len(logs) == 1, output_tail(run)
    text = logs[0].read_text(encoding="utf-8")
    assert "Back up the task states of this server]" in text
    assert "safe to patch: yes" in text
    assert PASSWORD not in text
    sessions = sim.sessions_issued()
    assert sessions
    for session in sessions:
        assert session not in text
    assert stat.S_IMODE(os.stat(logs[0]).st_mode) == 0o600


def _stamp(days_ago):
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _retention_files(tmp_path):
    """Create old, new and foreign files in the backup, report and log directories."""
    old = _stamp(40)
    recent = _stamp(2)
    files = {
        "old": [
            f"backups/rep-01/rep-01_{old}_before-stop.csv",
            f"backups/rep-01/rep-01_{old}_before-resume-1.csv",
            f"reports/rep-01/rep-01_{old}_stop-results.csv",
            f"reports/qem_{old}_stop-results.csv",
            f"reports/qem_{old}_stop-summary.html",
            f"logs/qem_{old}_stop_tasks.log",
        ],
        "new": [
            f"backups/rep-01/rep-01_{recent}_before-resume.csv",
            f"reports/qem_{recent}_resume-results.csv",
            f"logs/qem_{recent}_resume_tasks.log",
            # The only before-stop backup of a server stays at any age.
            f"backups/rep-09/rep-09_{old}_before-stop.csv",
        ],
        "foreign": [
            "backups/rep-01/notes.csv",
            f"backups/rep-01/other_{old}_before-stop.csv",
            f"reports/qem_{old}_stop-results.csv.bak",
            f"reports/export_{old}.xlsx",
            "logs/app.log",
            f"logs/archive/qem_{old}_x.txt",
        ],
    }
    for group in files.values():
        for relative in group:
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x\n", encoding="utf-8")
            os.utime(path, (0, 0))
    return files


def test_retention_removes_only_old(qem_sim, report_run, tmp_path):
    files = _retention_files(tmp_path)
    sim = qem_sim(load_scenario("report_names"))

    run = report_run(sim, "stop_tasks.yml", extravars={"qem_retention_days": 30, "qem_log_dir": str(tmp_path / "logs")})

    assert run.rc == 0, output_tail(run)
    for relative in files["old"]:
        assert not (tmp_path / relative).exists(), relative
    for relative in files["new"]:
        assert (tmp_path / relative).exists(), relative
    for relative in files["foreign"]:
        assert (tmp_path / relative).exists(), relative
    assert len([path for path in run.backups("rep-01") if path.name.startswith("rep-01_")]) == 2


def test_check_mode_changes_nothing(qem_sim, report_run, tmp_path, smtp_inbox):
    inbox, port = smtp_inbox
    files = _retention_files(tmp_path)
    sim = qem_sim(load_scenario("report_names"))
    extravars = dict(_email_vars(port), qem_retention_days=30, qem_log_dir=str(tmp_path / "logs"))

    run = report_run(sim, "stop_tasks.yml", extravars=extravars, check=True)

    assert run.rc == 0, output_tail(run)
    assert inbox.messages == []
    assert "no e-mail is sent" in run.output
    assert "HTML summary would be written to" in run.output
    # Check mode writes no backup, so the old before-stop backup is still the newest of rep-01 and stays.
    listed = [relative for relative in files["old"] if "before-stop" not in relative]
    assert f"would remove {len(listed)} files" in run.output
    for relative in listed:
        assert str(tmp_path / relative) in run.output, relative
    for relative in files["old"]:
        assert (tmp_path / relative).exists(), relative
