# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults of QEM and of the controller during a stop or resume, run through the playbooks.

Each test injects one fault into the simulator and compares the report with the
states the simulator really has at the end.
"""

import signal
import socket
import threading
import time

from fault_support import report_mismatches, start_playbook, wait_for_event
from role_support import load_scenario, output_tail, read_csv, requests_of

from ansible_collections.qem.replicate.plugins.module_utils.backup import read_backup


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _settle(sim, names, server="rep-01", timeout=30):
    """Wait until no task of `names` has a stop or run in progress in the simulator."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(sim.task(server, name)["pending"] is None for name in names):
            return
        time.sleep(0.1)


def test_unreachable_qem_fails_each_server(qem_sim, role_run):
    sim = qem_sim(load_scenario("two_servers_one_down"))

    run = role_run(sim, "stop_tasks.yml", hosts=["rep-01", "rep-02"], env={"QEM_HOST": f"127.0.0.1:{_closed_port()}"},
                   engine="ansible-playbook")

    assert run.rc != 0
    assert "rep-01: stop, FAILED" in run.output
    assert "rep-02: stop, FAILED" in run.output
    assert "could not be reached" in run.output
    assert run.backups() == []
    assert sim.counters().get("login", 0) == 0


def test_read_resets_retried_then_confirmed(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))
    sim.add_fault(endpoint="task_list", reset=True, times=3, skip=3)

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})

    assert run.rc == 0, output_tail(run)
    assert [row["result"] for row in run.rows()] == ["stopped", "stopped", "stopped", "skipped"]
    assert report_mismatches(sim, run.rows()) == []


def test_slow_reads_retried_after_timeout(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))
    sim.add_fault(endpoint="task_list", delay=3, times=2, skip=2)

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A", "qem_request_timeout": 1})

    assert run.rc == 0, output_tail(run)
    assert len([event for event in sim.events(endpoint="task_list") if event.get("fault") == "delay"]) == 2
    assert report_mismatches(sim, run.rows()) == []


def test_qem_gone_mid_wait_unknown(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))
    gone = threading.Event()

    def take_qem_away():
        if wait_for_event(sim, endpoint="stop", task="T1") is not None:
            sim.add_fault(endpoint="any", reset=True, times=-1)
        gone.set()

    threading.Thread(target=take_qem_away, daemon=True).start()
    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "S", "qem_selected_tasks": ["T1"], "qem_wait_timeout": 2})
    gone.wait(5)

    assert run.rc != 0
    assert run.row("T1")["result"] == "unknown"
    assert "could not be read" in run.row("T1")["message"]
    assert len(run.run_reports()) == 1


def test_stop_errors_reread_per_task(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))
    sim.add_fault(endpoint="stop", task="T1", error_code="AEM_STOP_TASK_INNER_ERR", apply=True)
    sim.add_fault(endpoint="stop", task="T2", error_code="AEM_STOP_TASK_TIMEOUT")
    sim.add_fault(endpoint="stop", task="T3", status=500, apply=True)

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A", "qem_wait_timeout": 3})

    assert run.rc != 0
    assert run.row("T1")["result"] == "stopped"
    assert run.row("T2")["result"] == "timeout"
    assert "AEM_STOP_TASK_TIMEOUT" in run.row("T2")["message"]
    assert run.row("T3")["result"] == "stopped"
    assert report_mismatches(sim, run.rows()) == []
    assert len(requests_of(sim, "stop")) == 3


def test_run_errors_reread_per_task(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))
    stop = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})
    assert stop.rc == 0, output_tail(stop)
    sim.add_fault(endpoint="run", task="T1", error_code="AEM_STOP_TASK_INNER_ERR", apply=True)
    sim.add_fault(endpoint="run", task="T2", status=500)

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_wait_timeout": 3})

    assert run.rc != 0
    assert run.row("T1")["result"] == "running"
    assert run.row("T2")["result"] == "timeout"
    assert run.row("T3")["result"] == "running"
    assert report_mismatches(sim, run.rows()) == []


def test_session_expiry_during_hold(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_full_load_hold"))
    done = threading.Event()

    def expire_often():
        while not done.wait(0.3):
            sim.expire_sessions()

    threading.Thread(target=expire_often, daemon=True).start()
    try:
        run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A", "qem_full_load_wait_timeout": 20})
    finally:
        done.set()

    assert run.rc == 0, output_tail(run)
    assert sorted(requests_of(sim, "stop")) == [("rep-01", "T1"), ("rep-01", "T2")]
    assert sim.violations() == []
    assert any(event.get("error_code") == "INVALID_SESSION_ID" for event in sim.events())
    assert report_mismatches(sim, run.rows()) == []


def test_not_connected_past_window_pending(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))
    stop = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})
    assert stop.rc == 0, output_tail(stop)
    sim.add_fault(endpoint="run", task="T2", error_code="AEM_SERVER_NOT_CONNECTED", times=-1)

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_not_connected_timeout": 1})

    assert run.rc != 0
    assert run.row("T1")["result"] == "running"
    assert run.row("T2")["result"] == "pending"
    assert "not_connected_timeout" in run.row("T2")["message"]
    assert sim.task("rep-01", "T2")["state"] == "STOPPED"
    assert report_mismatches(sim, run.rows()) == []


def test_not_connected_within_window_resumed(qem_sim, role_run):
    sim = qem_sim(load_scenario("fault_window"))
    stop = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})
    assert stop.rc == 0, output_tail(stop)
    sim.add_fault(endpoint="run", task="T2", error_code="AEM_SERVER_NOT_CONNECTED", times=3)

    run = role_run(sim, "resume_tasks.yml", extravars={"qem_not_connected_timeout": 20})

    assert run.rc == 0, output_tail(run)
    assert run.row("T2")["result"] == "running"
    assert report_mismatches(sim, run.rows()) == []


def test_task_active_past_wait_timeout(qem_sim, role_run):
    scenario = load_scenario("fault_window")
    scenario["servers"][0]["tasks"][0]["never_stops"] = True
    sim = qem_sim(scenario)

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A", "qem_wait_timeout": 2})

    assert run.rc != 0
    assert run.row("T1")["result"] == "timeout"
    assert run.row("T1")["final_state"] == "RUNNING"
    assert "safe to patch: no" in run.output
    assert report_mismatches(sim, run.rows()) == []


def test_stale_states_confirmed_once(qem_sim, role_run):
    scenario = load_scenario("fault_window")
    for task in scenario["servers"][0]["tasks"]:
        task["stale_reads"] = 3
    sim = qem_sim(scenario)

    run = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})

    assert run.rc == 0, output_tail(run)
    assert len(requests_of(sim, "stop")) == 3
    assert report_mismatches(sim, run.rows()) == []


def _all_csv_complete(tmp_path):
    """Read every backup CSV; return the files that are partial or unreadable."""
    broken = []
    for path in sorted((tmp_path / "backups").glob("*/*.csv")):
        try:
            data = read_backup(str(path), server="rep-01")
        except ValueError as error:
            broken.append((path.name, str(error)))
            continue
        if len(data.rows) != 5:
            broken.append((path.name, f"{len(data.rows)} rows"))
    return broken


def _interrupt(process, sim, endpoint, task):
    event = wait_for_event(sim, timeout=120, endpoint=endpoint, task=task)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return event


def test_killed_stop_rerun_resumes_all(qem_sim, role_run, tmp_path):
    sim = qem_sim(load_scenario("fault_slow_stops"))
    names = ["T1", "T2", "T3", "T4"]

    first = start_playbook(sim, tmp_path, "killed-stop", "stop_tasks.yml", extravars={"qem_mode": "A", "qem_workers": 1})
    assert _interrupt(first, sim, "stop", "T1") is not None, first.output_path.read_text(encoding="utf-8")[-3000:]
    _settle(sim, names)
    stops_before = requests_of(sim, "stop")

    again = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})
    assert again.rc == 0, output_tail(again)
    stopped_twice = [task for task in names if requests_of(sim, "stop").count(("rep-01", task)) > 1]

    resume = role_run(sim, "resume_tasks.yml")

    assert stops_before
    assert stopped_twice == []
    assert _all_csv_complete(tmp_path) == []
    assert resume.rc == 0, output_tail(resume)
    assert sorted(task for _server, task in requests_of(sim, "run")) == names
    assert sim.task("rep-01", "T5")["state"] == "STOPPED"
    assert report_mismatches(sim, resume.rows()) == []


def test_killed_resume_rerun_no_repeat(qem_sim, role_run, tmp_path):
    sim = qem_sim(load_scenario("fault_slow_stops"))
    names = ["T1", "T2", "T3", "T4"]
    stop = role_run(sim, "stop_tasks.yml", extravars={"qem_mode": "A"})
    assert stop.rc == 0, output_tail(stop)

    first = start_playbook(sim, tmp_path, "killed-resume", "resume_tasks.yml", extravars={"qem_workers": 1})
    assert _interrupt(first, sim, "run", "T1") is not None, first.output_path.read_text(encoding="utf-8")[-3000:]
    _settle(sim, names)
    started = [task for task in names if sim.task("rep-01", task)["state"] == "RUNNING"]

    again = role_run(sim, "resume_tasks.yml")

    assert started
    assert again.rc == 0, output_tail(again)
    assert [task for task in names if requests_of(sim, "run").count(("rep-01", task)) > 1] == []
    assert [sim.task("rep-01", task)["state"] for task in names] == ["RUNNING"] * 4
    assert _all_csv_complete(tmp_path) == []
    assert [row["result"] for row in read_csv(again.run_reports()[-1]) if row["task"] in started] == ["already_running"] * len(started)
    assert report_mismatches(sim, again.rows()) == []


def test_phase_error_fails_server_before_second_phase(qem_sim, role_run):
    sim = qem_sim(load_scenario("log_stream"))
    reads_before_phases = 2
    sim.add_fault(endpoint="task_list", server="rep-01", error_code="AEM_INTERNAL_ERROR", times=-1, skip=reads_before_phases)

    run = role_run(sim, "stop_tasks.yml")

    assert run.rc != 0
    assert "(step: Run the phase)" in run.output, output_tail(run)
    assert sim.counters().get("stop", 0) == 0
    assert sim.task("rep-01", "LS")["state"] == "RUNNING"
