# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The qem_tasks role selects, backs up and resumes the right tasks (playbooks run through ansible-runner)."""

import pytest
from qem_simulator import Simulator

from role_support import load_scenario, make_role_runner, output_tail, read_csv, requests_of


@pytest.fixture(scope="module")
def window(tmp_path_factory):
    """Stop, then resume from the pre-stop backup, on the backup_states scenario; record both runs."""
    base = tmp_path_factory.mktemp("window")
    role_run = make_role_runner(base)
    with Simulator(load_scenario("backup_states"), state_dir=str(base / "simulator")) as sim:
        stop = role_run(sim, "stop_tasks.yml")
        stops = requests_of(sim, "stop")
        sim.reset_log()
        resume = role_run(sim, "resume_tasks.yml")
        runs = requests_of(sim, "run")
    return {"stop": stop, "resume": resume, "stops": stops, "runs": runs}


def test_window_runs_succeed(window):
    assert window["stop"].rc == 0, output_tail(window["stop"])
    assert window["resume"].rc == 0, output_tail(window["resume"])


def test_resume_only_previously_running(window):
    assert sorted(window["runs"]) == [("rep-01", "T1"), ("rep-01", "T5")]
    for task in ("T2", "T3", "T4"):
        assert window["resume"].row(task)["message"] == "not running before the window"
        assert window["resume"].row(task)["validation"] == "ok"


def test_recovering_task_stopped_and_resumed(window):
    assert sorted(window["stops"]) == [("rep-01", "T1"), ("rep-01", "T5")]
    backup = {row["name"]: row for row in read_csv(window["stop"].backups("rep-01")[0])}
    assert backup["T5"]["state"] == "RECOVERING"
    assert backup["T3"]["state"] == "ERROR"
    assert ("rep-01", "T5") in window["runs"]
    assert ("rep-01", "T3") not in window["runs"]


def test_backup_and_reports_private(window):
    run = window["resume"]
    files = run.backups() + run.run_reports() + sorted(run.report_dir.glob("*/*.csv"))
    assert len(files) == 6
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_error_task_gets_no_stop(qem_sim, role_run):
    sim = qem_sim(load_scenario("backup_states"))

    stop = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "S", "qem_selected_tasks": ["T1", "T3"]})

    assert stop.rc == 0, output_tail(stop)
    assert requests_of(sim, "stop") == [("rep-01", "T1")]
    assert stop.row("T3")["result"] == "skipped"


def test_generic_playbook_takes_action(qem_sim, role_run):
    sim = qem_sim(load_scenario("backup_states"))

    stop = role_run(sim, "qem_tasks.yml", extravars={"qem_action": "Stop", "qem_mode": "a"})

    assert stop.rc == 0, output_tail(stop)
    assert len(requests_of(sim, "stop")) == 2
    assert stop.backups("rep-01")[0].name.endswith("_before-stop.csv")


def test_stop_check_mode_sends_nothing(qem_sim, role_run):
    sim = qem_sim(load_scenario("log_stream"))

    run = role_run(sim, "stop_tasks.yml", check=True)

    assert run.rc == 0, output_tail(run)
    assert sim.counters()["stop"] == 0
    assert sim.counters()["run"] == 0
    assert run.backups() == []
    assert "Plan for server 'rep-01'" in run.output
    assert "Phase 2, stop Log Stream staging tasks: LS" in run.output


def test_resume_check_mode_sends_nothing(qem_sim, role_run):
    sim = qem_sim(load_scenario("staging_fails"))

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "A"}, check=True)

    assert run.rc == 0, output_tail(run)
    assert sim.counters()["run"] == 0
    assert sim.counters()["stop"] == 0
    assert run.backups() == []
    assert "Phase 1, resume Log Stream staging tasks: LS" in run.output
