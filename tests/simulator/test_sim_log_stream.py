"""Log Stream staging and reader tasks, and the violation records of the event log."""

import time

SCALE = 0.01


def scenario(ls_state="RUNNING", reader_state="RUNNING"):
    """Return a server with staging task LS, readers C1 and C2, and an unrelated task X."""
    common = {"stop_duration": 2, "run_duration": 2}
    return {"time_scale": SCALE, "servers": [{"name": "rep-01", "tasks": [
        dict(common, name="LS", state=ls_state, profile="Log Stream Staging", target_endpoint={"name": "ls", "type": "Log Stream"}),
        dict(common, name="C1", state=reader_state, reads_from="LS"),
        dict(common, name="C2", state=reader_state, reads_from="LS"),
        dict(common, name="X", state=reader_state),
    ]}]}


def test_stop_in_order_no_violation(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    for name in ("C1", "C2", "X"):
        assert api.stop("rep-01", name, timeout=30).json()["state"] == "STOPPED"
    assert api.stop("rep-01", "LS", timeout=30).json()["state"] == "STOPPED"
    assert sim.violations() == []


def test_staging_stop_with_readers_violation(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    api.stop("rep-01", "C1", timeout=30)
    api.stop("rep-01", "LS", timeout=30)
    violations = sim.violations("staging_stopped_while_reader_active")
    assert len(violations) == 1
    assert violations[0]["task"] == "LS"
    assert violations[0]["readers"] == ["C2"]


def test_staging_stop_starves_reader(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    api.stop("rep-01", "LS", timeout=30)
    entry = api.tasks("rep-01")["C1"]
    assert entry["state"] == "RECOVERY"
    assert entry["stop_reason"] == "RECOVERABLE_ERROR"
    assert "LS" in entry["message"]
    assert api.tasks("rep-01")["X"]["state"] == "RUNNING"


def test_staging_run_feeds_reader(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    api.stop("rep-01", "LS", timeout=30)
    assert api.run("rep-01", "LS", timeout=30).json()["state"] == "RUNNING"
    assert api.tasks("rep-01")["C1"]["state"] == "RUNNING"


def test_resume_in_order_no_violation(qem_sim, qem_http):
    sim = qem_sim(scenario(ls_state="STOPPED", reader_state="STOPPED"))
    api = qem_http(sim)
    assert api.run("rep-01", "LS", timeout=30).json()["state"] == "RUNNING"
    for name in ("C1", "C2", "X"):
        assert api.run("rep-01", name, timeout=30).json()["state"] == "RUNNING"
    assert sim.violations() == []


def test_reader_before_staging_violation(qem_sim, qem_http):
    sim = qem_sim(scenario(ls_state="STOPPED", reader_state="STOPPED"))
    api = qem_http(sim)
    response = api.run("rep-01", "C1", timeout=10)
    violations = sim.violations("reader_started_before_staging")
    assert response.json()["state"] == "RECOVERY"
    assert len(violations) == 1
    assert violations[0]["task"] == "C1"
    assert violations[0]["staging"] == "LS"


def test_reader_waits_for_staging(qem_sim, qem_http):
    sim = qem_sim(scenario(ls_state="STOPPED", reader_state="STOPPED"))
    api = qem_http(sim)
    api.run("rep-01", "C1", timeout=0)
    time.sleep(0.2)
    assert api.tasks("rep-01")["C1"]["state"] != "RUNNING"
    api.run("rep-01", "LS", timeout=30)
    assert api.tasks("rep-01")["C1"]["state"] == "RUNNING"


def test_reader_run_while_staging_starting(qem_sim, qem_http):
    sim = qem_sim(scenario(ls_state="STOPPED", reader_state="STOPPED"))
    api = qem_http(sim)
    api.run("rep-01", "LS", timeout=0)
    api.run("rep-01", "C1", timeout=0)
    assert len(sim.violations("reader_started_before_staging")) == 1
    assert api.wait_state("rep-01", "C1", "RUNNING") == "RUNNING"


def test_staging_stop_with_starting_reader(qem_sim, qem_http):
    sim = qem_sim(scenario(reader_state="STOPPED"))
    api = qem_http(sim)
    api.run("rep-01", "C1", timeout=0)
    api.stop("rep-01", "LS", timeout=0)
    assert sim.violations("staging_stopped_while_reader_active")[0]["readers"] == ["C1"]


def test_stop_during_full_load_violation(qem_sim, qem_http):
    scenario_dict = {"time_scale": SCALE, "servers": [{"name": "rep-01", "tasks": [
        {"name": "T1", "state": "RUNNING", "stop_duration": 0, "full_load": {"tables_loading": 3, "tables_queued": 10, "remaining": 500}},
        {"name": "T2", "state": "RUNNING", "stop_duration": 0, "cdc_only": True},
        {"name": "T3", "state": "RUNNING", "stop_duration": 0, "full_load": {"tables_loading": 2, "remaining": 1}},
    ]}]}
    sim = qem_sim(scenario_dict)
    api = qem_http(sim)
    time.sleep(0.05)
    for name in ("T1", "T2", "T3"):
        api.stop("rep-01", name, timeout=5)
    violations = sim.violations("stop_during_full_load")
    assert [violation["task"] for violation in violations] == ["T1"]
    assert violations[0]["tables_loading"] == 3
    assert violations[0]["tables_queued"] > 0


def test_violation_record_fields(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    api.stop("rep-01", "LS", timeout=0)
    violation = sim.violations()[0]
    assert violation["endpoint"] == "violation"
    assert violation["server"] == "rep-01"
    assert isinstance(violation["t"], float)


def test_transitions_prove_order(qem_sim, qem_http):
    sim = qem_sim(scenario())
    api = qem_http(sim)
    api.stop("rep-01", "C1", timeout=30)
    api.stop("rep-01", "C2", timeout=30)
    api.stop("rep-01", "X", timeout=30)
    api.stop("rep-01", "LS", timeout=30)
    stopped_at = {event["task"]: event["t"] for event in sim.events(endpoint="transition", state_after="STOPPED")}
    ls_stop_sent = sim.events(endpoint="stop", task="LS")[0]["t"]
    assert max(stopped_at[name] for name in ("C1", "C2", "X")) <= ls_stop_sent
