# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The qem.replicate.qem_servers inventory plugin, run through ansible-inventory against the QEM simulator."""

import json
import os
import pathlib
import subprocess
import sys
import time

import yaml

USER = "CORP\\svc_qem"
PASSWORD = "Inventory-Test-Pw7"
EXPECTED_DIR = pathlib.Path(__file__).parent / "inventory_expected"
LEFT_OUT_WARNING = "Replicate servers left out of the inventory because of their state"

KEYED_GROUPS = [
    {"key": "qem_server_platform | lower", "prefix": "qem_platform"},
    {"key": "qem_server_state | lower", "prefix": "qem_state"},
    {"key": "qem_server_version", "prefix": "qem_version"},
]


def _collections_path():
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if configured:
        return configured
    # <root>/ansible_collections/qem/replicate/tests/integration/this_file
    return str(pathlib.Path(__file__).resolve().parents[5])


def _scenario():
    return {
        "users": [{"username": USER, "password": PASSWORD}],
        "servers": [
            {"name": "rep-01", "type": "replicate", "state": "MONITORED", "host": "rep-01.example.internal", "port": 3552,
             "platform": "LINUX", "version": "2025.5.0"},
            {"name": "rep east 02", "type": "replicate", "state": "MONITORED", "host": "rep-02.example.internal", "port": 3552,
             "platform": "WINDOWS", "version": "2024.11.0"},
            {"name": "rep-03", "type": "replicate", "state": "ERROR", "host": "rep-03.example.internal", "port": 3552,
             "platform": "LINUX", "version": "2025.5.0", "message": "Cannot connect to the Replicate server"},
            {"name": "rep-04", "type": "replicate", "state": "NOT_MONITORED", "host": "rep-04.example.internal", "port": 3552,
             "platform": "LINUX", "version": "2025.5.0"},
            {"name": "dwh-compose", "type": "compose", "state": "MONITORED", "host": "compose.example.internal", "port": 443,
             "platform": "WINDOWS", "version": "2025.5.0"},
        ],
    }


def _write_source(tmp_path, options, file_name="qem.qem_servers.yml"):
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump(dict({"plugin": "qem.replicate.qem_servers"}, **options), sort_keys=False))
    return path


def _environment(sim, extra_env=None):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("QEM_", "ANSIBLE_"))}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "QEM_HOST": sim.host,
        "QEM_USERNAME": USER,
        "QEM_PASSWORD": PASSWORD,
        "QEM_CA_PATH": sim.ca_path,
    })
    env.update(extra_env or {})
    return {key: value for key, value in env.items() if value is not None}


def _run(command, sim, tmp_path, extra_env=None):
    executable = str(pathlib.Path(sys.executable).parent / command[0])
    return subprocess.run([executable] + command[1:], env=_environment(sim, extra_env), cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120, check=False)


def _inventory(sim, tmp_path, source, *arguments, extra_env=None):
    """Run ``ansible-inventory -i source --list`` and return the completed process and the parsed inventory (None on failure).

    The inventory goes to a file, because with -v and more ansible-inventory also writes messages to stdout.
    """
    output = tmp_path / "inventory.json"
    if output.exists():
        output.unlink()
    completed = _run(["ansible-inventory", "-i", str(source), "--list", "--output", str(output)] + list(arguments), sim, tmp_path, extra_env)
    data = json.loads(output.read_text()) if completed.returncode == 0 else None
    return completed, data


def _normalised(value, sim):
    """Return the inventory output without what differs between runs and ansible-core releases.

    ansible-core 2.19 marks strings that came from an inventory plugin as unsafe in the --list output
    and adds ``_meta.profile``. The simulator's address changes with every run.
    """
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return _normalised(value["__ansible_unsafe"], sim)
        return {key: _normalised(item, sim) for key, item in value.items() if key != "profile"}
    if isinstance(value, list):
        return [_normalised(item, sim) for item in value]
    if isinstance(value, str):
        return value.replace(sim.host, "QEM_HOST")
    return value


def _expected(name):
    return json.loads((EXPECTED_DIR / name).read_text())


def _counter(sim, endpoint):
    return sim.counters().get(endpoint, 0)


def _cache_options(tmp_path, **options):
    return dict({"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache")}, **options)


def test_list_default_matches_stored(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, data = _inventory(sim, tmp_path, _write_source(tmp_path, {}))
    assert completed.returncode == 0, completed.stderr
    assert _normalised(data, sim) == _expected("default.json")


def test_keyed_groups_match_stored(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, {"states": ["MONITORED", "ERROR"], "keyed_groups": KEYED_GROUPS})
    completed, data = _inventory(sim, tmp_path, source)
    assert completed.returncode == 0, completed.stderr
    assert _normalised(data, sim) == _expected("keyed_groups.json")


def test_name_patterns_match_stored(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, {"states": ["MONITORED", "ERROR", "NOT_MONITORED"], "name_patterns": ["rep-0[14]", "~rep east"]})
    completed, data = _inventory(sim, tmp_path, source)
    assert completed.returncode == 0, completed.stderr
    assert _normalised(data, sim) == _expected("name_patterns.json")


def test_compose_server_left_out(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, {"states": ["MONITORED", "ERROR", "NOT_MONITORED"]})
    completed, data = _inventory(sim, tmp_path, source)
    assert completed.returncode == 0, completed.stderr
    assert "dwh-compose" not in data["_meta"]["hostvars"]
    assert sorted(data["qem_replicate_servers"]["hosts"]) == ["rep east 02", "rep-01", "rep-03", "rep-04"]
    assert LEFT_OUT_WARNING not in completed.stderr


def test_left_out_states_warned(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, data = _inventory(sim, tmp_path, _write_source(tmp_path, {}))
    assert completed.returncode == 0, completed.stderr
    assert "'rep-03' (ERROR)" in completed.stderr
    assert "'rep-04' (NOT_MONITORED)" in completed.stderr
    assert "dwh-compose" not in completed.stderr
    assert "rep-03" not in data["_meta"]["hostvars"]


def test_included_state_not_warned(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, data = _inventory(sim, tmp_path, _write_source(tmp_path, {"states": ["MONITORED", "ERROR"]}))
    assert completed.returncode == 0, completed.stderr
    assert "'rep-03'" not in completed.stderr
    assert "'rep-04' (NOT_MONITORED)" in completed.stderr
    assert "rep-03" in data["_meta"]["hostvars"]


def test_pattern_excluded_server_not_warned(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, data = _inventory(sim, tmp_path, _write_source(tmp_path, {"name_patterns": ["rep-01"]}))
    assert completed.returncode == 0, completed.stderr
    assert LEFT_OUT_WARNING not in completed.stderr
    assert data["qem_replicate_servers"]["hosts"] == ["rep-01"]


def test_no_match_warns_empty_group(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, data = _inventory(sim, tmp_path, _write_source(tmp_path, {"name_patterns": ["rep-9*"]}))
    assert completed.returncode == 0, completed.stderr
    assert "no Replicate server of QEM host '%s' is in the states MONITORED" % sim.host in completed.stderr
    assert data["_meta"]["hostvars"] == {}


def test_invalid_regex_pattern_rejected(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, _data = _inventory(sim, tmp_path, _write_source(tmp_path, {"name_patterns": ["~rep-(0"]}))
    assert completed.returncode != 0
    assert "name_patterns entry '~rep-(0' is not a valid regular expression" in completed.stderr
    assert _counter(sim, "login") == 0


def test_compose_option_sets_variable(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, {"compose": {"qem_server_major": "qem_server_version.split('.')[0]"},
                                      "groups": {"qem_windows": "qem_server_platform == 'WINDOWS'"}})
    completed, data = _inventory(sim, tmp_path, source)
    assert completed.returncode == 0, completed.stderr
    assert _normalised(data["_meta"]["hostvars"]["rep-01"]["qem_server_major"], sim) == "2025"
    assert data["qem_windows"]["hosts"] == ["rep east 02"]


def test_playbook_targets_server_with_space(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, {})
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Show the QEM server of each host",
        "hosts": "qem_replicate_servers",
        "connection": "local",
        "gather_facts": False,
        "tasks": [{"name": "Show qem_server", "ansible.builtin.debug": {"msg": "server=[{{ qem_server }}]"}}],
    }], sort_keys=False))
    completed = _run(["ansible-playbook", "-i", str(source), str(playbook), "--limit", "rep?east*"], sim, tmp_path,
                     {"ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "server=[rep east 02]" in completed.stdout
    assert "server=[rep-01]" not in completed.stdout


def test_cache_second_run_no_request(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, _cache_options(tmp_path))
    first, first_data = _inventory(sim, tmp_path, source)
    assert first.returncode == 0, first.stderr
    assert _counter(sim, "servers") == 1

    second, second_data = _inventory(sim, tmp_path, source)
    assert second.returncode == 0, second.stderr
    assert _counter(sim, "servers") == 1
    assert _counter(sim, "login") == 1
    assert second_data == first_data


def test_cache_applies_changed_filters(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, _cache_options(tmp_path))
    first, _data = _inventory(sim, tmp_path, source)
    assert first.returncode == 0, first.stderr

    source = _write_source(tmp_path, _cache_options(tmp_path, states=["ERROR"]))
    second, data = _inventory(sim, tmp_path, source)
    assert second.returncode == 0, second.stderr
    assert _counter(sim, "servers") == 1
    assert data["qem_replicate_servers"]["hosts"] == ["rep-03"]


def test_cache_disabled_requests_again(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, {})
    for _run_number in range(2):
        completed, _data = _inventory(sim, tmp_path, source)
        assert completed.returncode == 0, completed.stderr
    assert _counter(sim, "servers") == 2
    assert not (tmp_path / "cache").exists()


def test_cache_expired_requests_again(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, _cache_options(tmp_path, cache_timeout=1))
    first, _data = _inventory(sim, tmp_path, source)
    assert first.returncode == 0, first.stderr
    time.sleep(1.5)

    second, _data = _inventory(sim, tmp_path, source)
    assert second.returncode == 0, second.stderr
    assert _counter(sim, "servers") == 2


def test_flush_cache_requests_again(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, _cache_options(tmp_path))
    first, _data = _inventory(sim, tmp_path, source)
    assert first.returncode == 0, first.stderr
    sim.set_server("rep-04", state="MONITORED")

    second, data = _inventory(sim, tmp_path, source, "--flush-cache")
    assert second.returncode == 0, second.stderr
    assert _counter(sim, "servers") == 2
    assert "rep-04" in data["qem_replicate_servers"]["hosts"]


def test_cache_separates_qem_users(qem_sim, tmp_path):
    scenario = _scenario()
    scenario["users"].append({"username": "svc_other@corp.example", "password": "Other-Pw-3"})
    sim = qem_sim(scenario)
    source = _write_source(tmp_path, _cache_options(tmp_path))
    first, _data = _inventory(sim, tmp_path, source)
    assert first.returncode == 0, first.stderr

    second, _data = _inventory(sim, tmp_path, source, extra_env={"QEM_USERNAME": "svc_other@corp.example", "QEM_PASSWORD": "Other-Pw-3"})
    assert second.returncode == 0, second.stderr
    assert _counter(sim, "servers") == 2


def test_password_not_in_output_or_cache(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, _cache_options(tmp_path))
    completed, _data = _inventory(sim, tmp_path, source, "-vvvv")
    assert completed.returncode == 0, completed.stderr
    cache_text = "".join(path.read_text() for path in (tmp_path / "cache").iterdir())
    sessions = sim.sessions_issued()

    assert cache_text
    assert PASSWORD not in cache_text
    assert PASSWORD not in completed.stdout
    assert PASSWORD not in completed.stderr
    assert PASSWORD not in (tmp_path / "inventory.json").read_text()
    assert sessions
    assert not [session for session in sessions if session in completed.stdout + completed.stderr + cache_text]


def test_password_in_file_overrides_environment(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    source = _write_source(tmp_path, {"host": sim.host, "username": USER, "password": PASSWORD, "ca_path": sim.ca_path})
    completed, data = _inventory(sim, tmp_path, source, "-vvv", extra_env={"QEM_PASSWORD": "Wrong-Pw-1", "QEM_HOST": "127.0.0.1:9"})
    assert completed.returncode == 0, completed.stderr
    assert "rep-01" in data["_meta"]["hostvars"]
    assert PASSWORD not in completed.stdout + completed.stderr


def test_vault_password_in_file(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    vault_password_file = tmp_path / "vault-password"
    vault_password_file.write_text("inventory-vault-key\n")
    encrypted = _run(["ansible-vault", "encrypt_string", "--vault-password-file", str(vault_password_file), PASSWORD, "--name", "password"],
                     sim, tmp_path)
    assert encrypted.returncode == 0, encrypted.stderr
    source = tmp_path / "vault.qem_servers.yml"
    source.write_text("plugin: qem.replicate.qem_servers\n" + encrypted.stdout)

    completed, data = _inventory(sim, tmp_path, source, "--vault-password-file", str(vault_password_file), extra_env={"QEM_PASSWORD": None})
    assert completed.returncode == 0, completed.stderr
    assert "rep-01" in data["_meta"]["hostvars"]


def test_bad_credentials_clear_error(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, _data = _inventory(sim, tmp_path, _write_source(tmp_path, {}), extra_env={"QEM_PASSWORD": "Wrong-Pw-1"})
    assert completed.returncode != 0
    assert "Could not read the server list from QEM host '%s'" % sim.host in completed.stderr
    assert "QEM rejected the login for this user" in completed.stderr
    assert "Wrong-Pw-1" not in completed.stderr


def test_missing_password_clear_error(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, _data = _inventory(sim, tmp_path, _write_source(tmp_path, {}), extra_env={"QEM_PASSWORD": None})
    assert completed.returncode != 0
    assert "The QEM password is missing" in completed.stderr
    assert _counter(sim, "login") == 0


def test_missing_host_clear_error(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, _data = _inventory(sim, tmp_path, _write_source(tmp_path, {}), extra_env={"QEM_HOST": None})
    assert completed.returncode != 0
    assert "The QEM host is missing" in completed.stderr


def test_untrusted_certificate_names_ca_path(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, _data = _inventory(sim, tmp_path, _write_source(tmp_path, {}), extra_env={"QEM_CA_PATH": None})
    assert completed.returncode != 0
    assert "Set ca_path to the CA bundle" in completed.stderr


def test_validate_certs_off_warns(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, data = _inventory(sim, tmp_path, _write_source(tmp_path, {}), extra_env={"QEM_CA_PATH": None, "QEM_VALIDATE_CERTS": "false"})
    assert completed.returncode == 0, completed.stderr
    assert "TLS certificate verification is off" in completed.stderr
    assert "rep-01" in data["_meta"]["hostvars"]


def test_other_file_name_not_verified(qem_sim, tmp_path):
    sim = qem_sim(_scenario())
    completed, _data = _inventory(sim, tmp_path, _write_source(tmp_path, {}, file_name="servers.yml"))
    assert completed.returncode != 0
    assert "could not be verified by inventory plugin 'qem.replicate.qem_servers'" in completed.stderr
    assert _counter(sim, "login") == 0
