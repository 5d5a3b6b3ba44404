# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log Stream order and the full-load hold, proven from the simulator's event log."""

import pytest
from qem_simulator import Simulator

from role_support import load_scenario, make_role_runner, output_tail, requests_of


@pytest.fixture(scope="module")
def log_stream_window(tmp_path_factory):
    """Stop with five workers, then resume, on the log_stream scenario; record both runs and the event logs."""
    base = tmp_path_factory.mktemp("log-stream")
    role_run = make_role_runner(base)
    with Simulator(load_scenario("log_stream"), state_dir=str(base / "simulator")) as sim:
        stop = role_run(sim, "stop_tasks.yml", extravars={"qem_workers": 5})
        stops = requests_of(sim, "stop")
        stop_violations = sim.violations()
        sim.reset_log()
        resume = role_run(sim, "resume_tasks.yml", extravars={"qem_workers": 5})
        runs = requests_of(sim, "run")
        resume_violations = sim.violations()
    return {"stop": stop, "resume": resume, "stops": stops, "runs": runs,
            "stop_violations": stop_violations, "resume_violations": resume_violations}


def test_staging_stopped_after_readers(log_stream_window):
    assert log_stream_window["stop"].rc == 0, output_tail(log_stream_window["stop"])
    stops = log_stream_window["stops"]
    assert sorted(stops) == [("rep-01", name) for name in ("C1", "C2", "LS", "X")]
    assert stops[-1] == ("rep-01", "LS")
    assert log_stream_window["stop_violations"] == []


def test_staging_resumed_before_readers(log_stream_window):
    assert log_stream_window["resume"].rc == 0, output_tail(log_stream_window["resume"])
    runs = log_stream_window["runs"]
    assert runs[0] == ("rep-01", "LS")
    assert sorted(runs) == [("rep-01", name) for name in ("C1", "C2", "LS", "X")]
    assert log_stream_window["resume_violations"] == []


def test_staging_failure_blocks_readers(qem_sim, role_run):
    sim = qem_sim(load_scenario("staging_fails"))

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_mode": "A"})

    assert run.rc != 0
    assert requests_of(sim, "run") == [("rep-01", "LS")]
    for task in ("C1", "C2", "X"):
        assert run.row(task)["result"] == "blocked"
        assert "blocked: Log Stream staging task did not start" in run.row(task)["message"]


def test_full_load_task_held(qem_sim, role_run):
    sim = qem_sim(load_scenario("full_load"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_full_load_wait_timeout": 2})

    assert run.rc == 0, output_tail(run)
    assert sorted(requests_of(sim, "stop")) == [("rep-01", "C1"), ("rep-01", "T1"), ("rep-01", "T3")]
    assert "Full load in progress, not stopped" in run.row("T2")["message"]
    assert run.row("LS")["result"] == "blocked"
    assert "safe to patch: no" in run.output
    assert sim.violations("stop_during_full_load") == []


def test_full_load_hold_shows_progress(qem_sim, role_run):
    sim = qem_sim(load_scenario("full_load"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_full_load_wait_timeout": 3, "qem_progress_interval": 1})

    assert run.rc == 0, output_tail(run)
    assert "Full-load hold on server 'rep-01': 1 of 1 tasks still pending (T2)" in run.output


def test_full_load_ending_then_stopped(qem_sim, role_run):
    sim = qem_sim(load_scenario("full_load_ends"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_full_load_wait_timeout": 30})

    assert run.rc == 0, output_tail(run)
    assert sorted(requests_of(sim, "stop")) == [("rep-01", "T1"), ("rep-01", "T2")]
    assert sim.violations("stop_during_full_load") == []
    assert run.row("T2")["final_state"] == "STOPPED"


def test_full_load_policy_fail(qem_sim, role_run):
    sim = qem_sim(load_scenario("full_load"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_full_load_policy": "fail"})

    assert run.rc != 0
    assert sim.counters()["stop"] == 0
    assert "Task(s) T2 on server 'rep-01' are in a full load" in run.output


def test_full_load_policy_force(qem_sim, role_run):
    sim = qem_sim(load_scenario("full_load"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_full_load_policy": "force"})

    assert run.rc == 0, output_tail(run)
    assert ("rep-01", "T2") in requests_of(sim, "stop")
    assert "[WARNING]: Server 'rep-01': stopping task(s) T2 during their full load" in run.output


def test_latency_gate_holds_lagging_task(qem_sim, role_run):
    sim = qem_sim(load_scenario("latency"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_max_latency_seconds": 30, "qem_latency_wait_timeout": 6})

    assert run.rc == 0, output_tail(run)
    assert sorted(requests_of(sim, "stop")) == [("rep-01", "T1"), ("rep-01", "T3")]
    assert run.row("T2")["result"] == "held"
    assert "CDC latency still above 30 s" in run.row("T2")["message"]
    assert "QEM reports no CDC latency for T3" in run.output


def test_staging_alone_warns_about_readers(qem_sim, role_run):
    sim = qem_sim(load_scenario("log_stream"))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "S"}, host_vars={"rep-01": {"qem_selected_tasks": ["LS"]}})

    assert run.rc == 0, output_tail(run)
    assert requests_of(sim, "stop") == [("rep-01", "LS")]
    assert "stopping the Log Stream staging task(s) LS while C1, C2, X stay running" in run.output


def test_phase_prints_progress_lines(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_slow_stops", time_scale=0.15))

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A", "qem_progress_interval": 1})

    assert run.rc == 0, output_tail(run)
    assert "Server 'rep-01', phase 1 (" in run.output
    assert "of 4 tasks not confirmed stopped yet" in run.output
    assert [run.row(task)["result"] for task in ("T1", "T2", "T3", "T4")] == ["stopped"] * 4
