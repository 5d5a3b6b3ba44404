# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets stay out of every output, TLS is verified by default, and the files the role writes
are private, complete and safe to open in a spreadsheet."""

import base64
import stat

import pytest

from fault_support import run_runner_with_vault
from role_support import PASSWORD, USER, load_scenario, output_tail, read_csv, requests_of

from ansible_collections.qem.replicate.plugins.module_utils.backup import read_backup

FORMULA_NAMES = ["=cmd", "+A", "-B", "@C"]


def _secrets(sim):
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode("utf-8")).decode("ascii")
    return [PASSWORD, basic] + list(sim.sessions_issued())


def _hits(text, secrets, where):
    return [(where, secret[:6] + "...") for secret in secrets if secret in text]


def _scan_files(root, secrets):
    """Return (file, secret prefix) for each secret found in any file under root."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            found.extend(_hits(path.read_text(encoding="utf-8", errors="replace"), secrets, str(path.relative_to(root))))
    return found


@pytest.fixture(scope="module")
def verbose_window(tmp_path_factory):
    """Stop and resume with -vvv through ansible-playbook, then again through ansible-runner."""
    from qem_simulator import Simulator  # pylint: disable=import-outside-toplevel
    from role_support import RoleRun, make_role_runner  # pylint: disable=import-outside-toplevel

    tmp_path = tmp_path_factory.mktemp("secrets")
    role_run = make_role_runner(tmp_path)
    verbose = {"ANSIBLE_VERBOSITY": "3"}
    with Simulator(load_scenario("fault_window"), state_dir=str(tmp_path_factory.mktemp("sim"))) as sim:
        runs = [
            role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"}, env=verbose, engine="ansible-playbook"),
            role_run(sim, "resume_tasks.yml", env=verbose, engine="ansible-playbook"),
        ]
        for name, playbook, extravars in (("runner-stop", "stop_tasks.yml", {"qem_mode": "A"}), ("runner-resume", "resume_tasks.yml", {})):
            rc, output, _private = run_runner_with_vault(sim, tmp_path, name, playbook, extravars=extravars)
            runs.append(RoleRun(rc, output, tmp_path / "backups", tmp_path / "reports"))
        yield {"runs": runs, "secrets": _secrets(sim), "root": tmp_path}


def test_verbose_runs_succeed(verbose_window):
    assert [run.rc for run in verbose_window["runs"]] == [0, 0, 0, 0], output_tail(verbose_window["runs"][-1])


def test_verbose_runs_are_verbose(verbose_window):
    assert "<127.0.0.1>" in verbose_window["runs"][0].output or "ESTABLISH" in verbose_window["runs"][0].output


def test_sessions_were_issued(verbose_window):
    assert len(verbose_window["secrets"]) > 4


def test_no_secret_in_stdout(verbose_window):
    hits = []
    for index, run in enumerate(verbose_window["runs"]):
        hits.extend(_hits(run.output, verbose_window["secrets"], f"run {index + 1} output"))
    assert hits == []


def test_no_secret_in_files(verbose_window):
    assert _scan_files(verbose_window["root"], verbose_window["secrets"]) == []


def test_runner_artifacts_were_scanned(verbose_window):
    assert list(verbose_window["root"].glob("runner-*/runner/artifacts/*/job_events/*.json"))


def test_default_tls_needs_ca_path(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))

    run = role_run(sim, "stop_tasks.yml", env={"QEM_CA_PATH": ""}, engine="ansible-playbook")

    assert run.rc != 0
    assert "Set ca_path to the CA bundle" in run.output
    assert sim.counters().get("stop", 0) == 0


def test_ca_path_run_succeeds(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A", "qem_ca_path": sim.ca_path}, env={"QEM_CA_PATH": ""},
                   engine="ansible-playbook")

    assert run.rc == 0, output_tail(run)


def test_unverified_tls_works_and_warns(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"}, env={"QEM_CA_PATH": "", "QEM_VALIDATE_CERTS": "false"},
                   engine="ansible-playbook")

    assert run.rc == 0, output_tail(run)
    assert "TLS certificate verification is off" in run.output


def test_plain_http_host_warns(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"), tls=False)

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"}, env={"QEM_HOST": f"http://{sim.host}", "QEM_CA_PATH": ""},
                   engine="ansible-playbook")

    assert run.rc == 0, output_tail(run)
    assert "uses plain http" in run.output


@pytest.fixture(scope="module")
def formula_window(tmp_path_factory):
    """Stop and resume tasks whose names start like spreadsheet formulas."""
    from qem_simulator import Simulator  # pylint: disable=import-outside-toplevel
    from role_support import make_role_runner  # pylint: disable=import-outside-toplevel

    role_run = make_role_runner(tmp_path_factory.mktemp("formulas"))
    with Simulator(load_scenario("fault_formula_names"), state_dir=str(tmp_path_factory.mktemp("sim"))) as sim:
        stop = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})
        resume = role_run(sim, "resume_tasks.yml")
        yield {"sim": sim, "stop": stop, "resume": resume}


def test_formula_window_succeeds(formula_window):
    assert [formula_window["stop"].rc, formula_window["resume"].rc] == [0, 0], output_tail(formula_window["resume"])


def test_report_cells_neutralised(formula_window):
    tasks = [row["task"] for row in formula_window["stop"].rows()]

    assert sorted(name for name in tasks if name.startswith("'")) == sorted("'" + name for name in FORMULA_NAMES)
    assert [name for name in tasks if name[0] in "=+-@"] == []


def test_server_results_neutralised(formula_window):
    report_dir = formula_window["stop"].report_dir
    rows = [row for path in sorted(report_dir.glob("rep-01/*-results.csv")) for row in read_csv(path)]

    assert rows
    assert [row["task"] for row in rows if row["task"][0] in "=+-@"] == []


def test_backup_names_round_trip(formula_window):
    names = [task["name"] for task in formula_window["sim"].scenario["servers"][0]["tasks"]]
    backup = formula_window["stop"].backups("rep-01")[0]

    assert [row["name"] for row in read_backup(str(backup), server="rep-01").rows] == names


def test_resume_uses_exact_names(formula_window):
    running = [task["name"] for task in formula_window["sim"].scenario["servers"][0]["tasks"] if task["state"] == "RUNNING"]

    assert sorted(task for _server, task in requests_of(formula_window["sim"], "run")) == sorted(running)


def test_backups_private_and_complete(formula_window):
    backups = formula_window["stop"].backups()

    assert [oct(stat.S_IMODE(path.stat().st_mode)) for path in backups] == ["0o600"] * len(backups)
    assert {oct(stat.S_IMODE(path.parent.stat().st_mode)) for path in backups} == {"0o700"}
    assert list(formula_window["stop"].backup_dir.rglob("*.tmp")) == []


def test_reports_private(formula_window):
    report_dir = formula_window["stop"].report_dir
    reports = sorted(report_dir.rglob("*.csv"))

    assert reports
    assert {oct(stat.S_IMODE(path.stat().st_mode)) for path in reports} == {"0o600"}
    assert oct(stat.S_IMODE(report_dir.stat().st_mode)) == "0o700"
    assert {oct(stat.S_IMODE(path.parent.stat().st_mode)) for path in reports} == {"0o700"}
