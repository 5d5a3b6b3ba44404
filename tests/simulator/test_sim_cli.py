"""Command line: python -m qem_simulator prints its addresses as JSON and serves until a signal."""

import json
import os
import signal
import subprocess
import sys

import pytest
import qem_simulator
import requests

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(qem_simulator.__file__)))
BASIC_SCENARIO = os.path.join(os.path.dirname(os.path.abspath(qem_simulator.__file__)), "scenarios", "basic.yml")


def start_cli(*args):
    """Start the simulator command line; return the process and its JSON line."""
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    command = [sys.executable, "-m", "qem_simulator", *args]
    # The cli fixture waits for and closes the process at teardown.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)  # pylint: disable=consider-using-with
    line = process.stdout.readline()
    return process, json.loads(line) if line else None


@pytest.fixture(name="cli")
def cli_fixture():
    processes = []

    def start(*args):
        process, info = start_cli(*args)
        processes.append(process)
        return process, info

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_cli_prints_addresses(cli, tmp_path):
    info = cli("--scenario", BASIC_SCENARIO, "--port", "0", "--state-dir", str(tmp_path))[1]
    assert set(info) == {"base_url", "host", "ca_path", "control_url"}
    assert info["base_url"] == f"https://{info['host']}/attunityenterprisemanager/api/v1"
    assert info["control_url"] == f"https://{info['host']}/_sim"
    assert info["ca_path"] == str(tmp_path / "ca.pem")


def test_cli_serves_scenario(cli, tmp_path):
    info = cli("--scenario", BASIC_SCENARIO, "--state-dir", str(tmp_path))[1]
    with requests.Session() as session:
        session.trust_env = False
        session.verify = info["ca_path"]
        login = session.get(f"{info['base_url']}/login", auth=("CORP\\svc_qem", "s3cret"))
        session.headers["EnterpriseManager.APISessionID"] = login.headers["EnterpriseManager.APISessionID"]
        servers = session.get(f"{info['base_url']}/servers").json()["serverList"]
    assert [server["name"] for server in servers] == ["rep-01", "compose-01"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_cli_stops_on_signal(cli, tmp_path, signum):
    process = cli("--scenario", BASIC_SCENARIO, "--state-dir", str(tmp_path))[0]
    process.send_signal(signum)
    assert process.wait(timeout=10) == 0


def test_cli_plain_http(cli):
    info = cli("--scenario", BASIC_SCENARIO, "--http")[1]
    assert info["base_url"].startswith("http://127.0.0.1:")
    assert info["ca_path"] is None


def test_cli_temp_state_dir_removed(cli):
    process, info = cli("--scenario", BASIC_SCENARIO)
    assert os.path.exists(info["ca_path"])
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    assert not os.path.exists(info["ca_path"])


def test_cli_bad_scenario_exit_2(cli, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("servers:\n  - name: rep-01\n    tasks:\n      - name: T1\n        stat: RUNNING\n", encoding="utf-8")
    process, info = cli("--scenario", str(bad))
    assert info is None
    assert process.wait(timeout=10) == 2
    assert "stat" in process.stderr.read()


def test_cli_missing_scenario_exit_2(cli, tmp_path):
    process, info = cli("--scenario", str(tmp_path / "missing.yml"))
    assert info is None
    assert process.wait(timeout=10) == 2
