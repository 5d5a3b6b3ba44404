# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of playbooks/convert_script_config.yml: a QEM Task Handler config.yaml becomes an inventory.

The converted inventory then drives the stop and resume playbooks against the QEM simulator.
Its qem_host names the production Enterprise Manager, so those runs override it with
``-e qem_host=<simulator>``; extra vars take precedence over group_vars.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from role_support import PLAYBOOK_DIR, collections_path, requests_of

CONFIG_DIR = pathlib.Path(__file__).resolve().parent / "script_config"
FULL_CONFIG = CONFIG_DIR / "full.yaml"
MINIMAL_CONFIG = CONFIG_DIR / "minimal.yaml"
BIN_DIR = pathlib.Path(sys.executable).parent
FULL_PASSWORD = "Script-Pw {1}, x"
MINIMAL_PASSWORD = "Minimal-Pw1"
VAULT_PASSWORD = "vault-secret-for-tests"

# Role variables that config.yaml has no key for, kept short for the simulator runs.
FAST_ROLE_VARS = {
    "qem_settle_delay": 0,
    "qem_settle_reads": 2,
    "qem_progress_interval": 1,
    "qem_validate_timeout": 5,
    "qem_stop_timeout": 5,
    "qem_email_to": [],
}


def _environment(tmp_path):
    environment = dict(os.environ)
    for name in ("QEM_HOST", "QEM_USERNAME", "QEM_PASSWORD", "QEM_CA_PATH", "QEM_VALIDATE_CERTS"):
        environment.pop(name, None)
    environment.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    })
    return environment


def convert(tmp_path, config, dest, **variables):
    """Run the converter on `config` into `dest`; return the CompletedProcess (stdout and stderr merged)."""
    variables = dict(variables, script_config=str(config), dest=str(dest))
    variables_path = tmp_path / "convert-vars.json"
    variables_path.write_text(json.dumps(variables), encoding="utf-8")
    command = [str(BIN_DIR / "ansible-playbook"), str(PLAYBOOK_DIR / "convert_script_config.yml"), "-e", f"@{variables_path}"]
    return subprocess.run(command, env=_environment(tmp_path), cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120, check=False)


def write_vault_password(tmp_path):
    path = tmp_path / "vault-password"
    path.write_text(VAULT_PASSWORD + "\n", encoding="utf-8")
    return path


def write_config(tmp_path, config, name="config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class _AnsibleYamlLoader(yaml.SafeLoader):
    """A safe YAML loader that also reads Ansible's !unsafe tag, as a plain string."""


_AnsibleYamlLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_yaml(text_or_path):
    text = text_or_path.read_text(encoding="utf-8") if isinstance(text_or_path, pathlib.Path) else text_or_path
    return yaml.load(text, Loader=_AnsibleYamlLoader)  # noqa: S506 - a SafeLoader subclass


def decrypt(tmp_path, path, vault_password_file):
    completed = subprocess.run([str(BIN_DIR / "ansible-vault"), "view", "--vault-password-file", str(vault_password_file), str(path)],
                               env=_environment(tmp_path), capture_output=True, text=True, timeout=60, check=True)
    return load_yaml(completed.stdout)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Convert full.yaml once, with a vault password file; return (dest, CompletedProcess, vault password file)."""
    tmp_path = tmp_path_factory.mktemp("converted")
    vault_password_file = write_vault_password(tmp_path)
    dest = tmp_path / "inventory"
    completed = convert(tmp_path, FULL_CONFIG, dest, vault_password_file=str(vault_password_file))
    assert completed.returncode == 0, completed.stdout[-3000:]
    return dest, completed, vault_password_file


def test_hosts_are_the_servers(converted):
    dest = converted[0]
    hosts = load_yaml(dest / "hosts.yml")["qem_replicate_servers"]["hosts"]
    assert sorted(hosts) == ["Rep_East_1", "Rep_East_2", "rep-02"]


def test_hosts_keep_exact_server_names(converted):
    dest = converted[0]
    hosts = load_yaml(dest / "hosts.yml")["qem_replicate_servers"]["hosts"]
    assert hosts["Rep_East_1"]["qem_server"] == "Rep East, 1"
    assert hosts["Rep_East_2"]["qem_server"] == "Rep East: 2"
    assert "qem_server" not in hosts["rep-02"]


def test_hosts_list_selected_tasks(converted):
    dest = converted[0]
    hosts = load_yaml(dest / "hosts.yml")["qem_replicate_servers"]["hosts"]
    assert hosts["Rep_East_1"]["qem_selected_tasks"] == ["Orders, EU", "Billing CDC"]
    assert hosts["rep-02"]["qem_selected_tasks"] == ["Customers"]
    assert hosts["Rep_East_2"]["qem_selected_tasks"] == ["Nightly {{ load }}"]


def test_hosts_mark_jinja_names_unsafe(converted):
    dest = converted[0]
    assert '- !unsafe "Nightly {{ load }}"' in (dest / "hosts.yml").read_text(encoding="utf-8")


def test_group_vars_map_settings(converted):
    dest = converted[0]
    group_vars = load_yaml(dest / "group_vars/qem_replicate_servers/main.yml")
    assert group_vars["qem_host"] == "qem.example.com"
    assert group_vars["qem_username"] == "CORP\\svc_qem"
    assert group_vars["qem_password"] == "{{ vault_qem_password }}"
    assert group_vars["qem_mode"] == "S"
    assert group_vars["qem_workers"] == 4
    assert group_vars["qem_report_dir"] == "/var/lib/qem_task_handler/results"
    assert group_vars["qem_backup_dir"] == "/var/lib/qem_task_handler/backups"
    assert group_vars["qem_log_dir"] == "/var/log/qem_task_handler"


def test_group_vars_map_email(converted):
    dest = converted[0]
    group_vars = load_yaml(dest / "group_vars/qem_replicate_servers/main.yml")
    assert group_vars["qem_email_host"] == "smtp.example.com"
    assert group_vars["qem_email_port"] == 587
    assert group_vars["qem_email_tls"] == "starttls"
    assert group_vars["qem_email_from"] == "qem-task-handler@example.com"
    assert group_vars["qem_email_to"] == ["dba-team@example.com", "replicate-oncall@example.com"]


def test_group_vars_comment_unmapped_settings(converted):
    dest = converted[0]
    text = (dest / "group_vars/qem_replicate_servers/main.yml").read_text(encoding="utf-8")
    for line in ("# settings.stop_max_polling_retries: 40 polls", "# settings.resume_max_api_retries: 3", '# logging.log_mode: "both"',
                 "#   callbacks_enabled = qem.replicate.qem_log", "#   log_dir = /var/log/qem_task_handler"):
        assert f"\n{line}\n" in text, line


def test_wait_template_follows_action(converted):
    dest = converted[0]
    group_vars = load_yaml(dest / "group_vars/qem_replicate_servers/main.yml")
    assert group_vars["qem_wait_timeout"] == "{{ 900 if (qem_action | default('') | lower) == 'resume' else 600 }}"
    assert group_vars["qem_poll_interval"] == "{{ 30 if (qem_action | default('') | lower) == 'resume' else 15 }}"


def test_inventory_resolves_in_ansible(converted, tmp_path):
    dest, vault_password_file = converted[0], converted[2]
    message = "{{ qem_wait_timeout }} {{ qem_poll_interval }} {{ qem_server }} {{ qem_selected_tasks | join(';') }}"
    command = [str(BIN_DIR / "ansible"), "Rep_East_2", "-i", str(dest), "--vault-password-file", str(vault_password_file),
               "-m", "ansible.builtin.debug", "-a", f"msg='{message}'", "-e", "qem_action=resume",
               "-e", "ansible_connection=local", "-o"]
    completed = subprocess.run(command, env=_environment(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert '"msg": "900 30 Rep East: 2 Nightly {{ load }}"' in completed.stdout


def test_password_absent_from_clear_files(converted):
    dest, completed = converted[0], converted[1]
    for path in dest.rglob("*"):
        if path.is_file():
            assert FULL_PASSWORD not in path.read_text(encoding="utf-8"), path
    assert FULL_PASSWORD not in completed.stdout


def test_vault_file_is_encrypted(converted):
    dest = converted[0]
    vault_path = dest / "group_vars/qem_replicate_servers/vault.yml"
    assert vault_path.read_text(encoding="utf-8").startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert vault_path.stat().st_mode & 0o077 == 0


def test_vault_file_decrypts_to_password(converted, tmp_path):
    dest, vault_password_file = converted[0], converted[2]
    content = decrypt(tmp_path, dest / "group_vars/qem_replicate_servers/vault.yml", vault_password_file)
    assert content["vault_qem_password"] == FULL_PASSWORD


@pytest.fixture(scope="module")
def converted_minimal(tmp_path_factory):
    """Convert minimal.yaml once, without a vault password file; return the inventory directory."""
    tmp_path = tmp_path_factory.mktemp("converted-minimal")
    dest = tmp_path / "inventory"
    completed = convert(tmp_path, MINIMAL_CONFIG, dest)
    assert completed.returncode == 0, completed.stdout[-3000:]
    return dest


def test_no_vault_password_leaves_qem_password(converted_minimal):
    dest = converted_minimal
    text = (dest / "group_vars/qem_replicate_servers/main.yml").read_text(encoding="utf-8")
    assert "qem_password" not in load_yaml(text)
    assert "QEM_PASSWORD" in text
    assert not (dest / "group_vars/qem_replicate_servers/vault.yml").exists()


def test_no_vault_password_writes_no_password(converted_minimal):
    for path in converted_minimal.rglob("*"):
        if path.is_file():
            assert MINIMAL_PASSWORD not in path.read_text(encoding="utf-8"), path


def test_minimal_config_keeps_role_defaults(converted_minimal):
    group_vars = load_yaml(converted_minimal / "group_vars/qem_replicate_servers/main.yml")
    assert sorted(group_vars) == ["qem_host", "qem_username"]
    assert group_vars["qem_host"] == "qem.example.com:443"


def test_existing_files_need_force(tmp_path):
    dest = tmp_path / "inventory"
    vault_password_file = write_vault_password(tmp_path)
    assert convert(tmp_path, FULL_CONFIG, dest, vault_password_file=str(vault_password_file)).returncode == 0
    hosts_path = dest / "hosts.yml"
    hosts_path.write_text(hosts_path.read_text(encoding="utf-8") + "# edited by hand\n", encoding="utf-8")

    refused = convert(tmp_path, MINIMAL_CONFIG, dest)

    assert refused.returncode != 0
    assert "already has hosts.yml, group_vars/qem_replicate_servers/main.yml, group_vars/qem_replicate_servers/vault.yml" in refused.stdout
    assert "force=true" in refused.stdout
    assert hosts_path.read_text(encoding="utf-8").endswith("# edited by hand\n")

    forced = convert(tmp_path, MINIMAL_CONFIG, dest, force=True)

    assert forced.returncode == 0, forced.stdout[-3000:]
    assert list(load_yaml(hosts_path)["qem_replicate_servers"]["hosts"]) == ["rep-01"]
    assert not (dest / "group_vars/qem_replicate_servers/vault.yml").exists()


def test_missing_config_file_fails(tmp_path):
    completed = convert(tmp_path, tmp_path / "absent.yaml", tmp_path / "inventory")
    assert completed.returncode != 0
    assert "absent.yaml) does not exist or is not a file" in completed.stdout
    assert not (tmp_path / "inventory").exists()


def test_invalid_yaml_names_position(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("qem_host:\n  qem_hostname: qem.example.com\n  qem_psw: 'Broken-Pw\nreplicate_servers: [\n", encoding="utf-8")
    completed = convert(tmp_path, config, tmp_path / "inventory")
    assert completed.returncode != 0
    assert "is not valid YAML (line" in completed.stdout
    assert "Broken-Pw" not in completed.stdout


BROKEN_CONFIG = {
    "qem_host": {"qem_hostname": "qem.example.com", "qem_psw": "Pass:word-1"},
    "replicate_servers": [
        {"name": "rep-01", "tasks": "Orders"},
        {"tasks": ["Orders"]},
        {"name": "rep-01", "tasks": ["Orders", 12]},
    ],
    "settings": {"mode": "X", "parallel_threads": "four", "stop_timeout": "ten", "stop_timout": 10, "resume_max_api_retries": -1},
    "email": {"port": 70000, "use_tls": "yes", "to_addresses": {"to": "dba@example.com"}},
    "logging": {"result_path": ""},
}
BROKEN_CONFIG_ERRORS = [
    "qem_host.qem_user is missing or empty",
    "qem_host.qem_psw contains a colon",
    "replicate_servers[0] (server 'rep-01').tasks is not a list",
    "replicate_servers[1] has no name",
    "replicate_servers[2] (server 'rep-01') repeats a server name",
    "replicate_servers[2] (server 'rep-01').tasks[1] is not a task name",
    'settings.mode is "X"',
    'settings.parallel_threads is "four"',
    'settings.stop_timeout is "ten"',
    "settings.stop_timout is not a setting",
    'settings.resume_max_api_retries is "-1"',
    'email.port is "70000"',
    'email.use_tls is "yes"',
    "email.to_addresses is not a list",
    "logging.result_path is empty",
]


@pytest.fixture(scope="module")
def broken_conversion(tmp_path_factory):
    """Convert a config.yaml with an error in every section; return (CompletedProcess, dest)."""
    tmp_path = tmp_path_factory.mktemp("broken")
    dest = tmp_path / "inventory"
    return convert(tmp_path, write_config(tmp_path, BROKEN_CONFIG), dest), dest


def test_broken_config_fails(broken_conversion):
    completed, dest = broken_conversion
    assert completed.returncode != 0
    assert "Nothing was written" in completed.stdout
    assert not dest.exists()


@pytest.mark.parametrize("message", BROKEN_CONFIG_ERRORS)
def test_broken_config_names_key(broken_conversion, message):
    completed = broken_conversion[0]
    assert message in completed.stdout


def test_broken_config_hides_password(broken_conversion):
    completed = broken_conversion[0]
    assert "Pass:word-1" not in completed.stdout


def test_missing_sections_name_keys(tmp_path):
    completed = convert(tmp_path, write_config(tmp_path, {"settings": {"mode": "A"}}), tmp_path / "inventory")
    assert completed.returncode != 0
    assert "qem_host is missing or is not a mapping" in completed.stdout
    assert "replicate_servers is missing, empty or not a list" in completed.stdout


SIMULATOR_SCENARIO = {
    "time_scale": 0.05,
    "users": [{"username": "CORP\\svc_qem", "password": FULL_PASSWORD}],
    "servers": [
        {"name": "Rep East, 1", "tasks": [
            {"name": "Orders, EU", "state": "RUNNING", "cdc_only": True},
            {"name": "Billing CDC", "state": "RUNNING", "cdc_only": True},
            {"name": "Not selected", "state": "RUNNING", "cdc_only": True},
        ]},
        {"name": "rep-02", "tasks": [
            {"name": "Customers", "state": "RUNNING", "cdc_only": True},
        ]},
    ],
}
SELECTED = [("Rep East, 1", "Billing CDC"), ("Rep East, 1", "Orders, EU"), ("rep-02", "Customers")]


def run_playbook(tmp_path, sim, dest, vault_password_file, playbook, check=False):
    """Run a playbook of the collection on the converted inventory, against the simulator."""
    variables_path = tmp_path / "role-vars.json"
    variables_path.write_text(json.dumps(dict(FAST_ROLE_VARS, qem_host=sim.host)), encoding="utf-8")
    command = [str(BIN_DIR / "ansible-playbook"), "-i", str(dest), str(PLAYBOOK_DIR / playbook), "--vault-password-file",
               str(vault_password_file), "-e", f"@{variables_path}"]
    if check:
        command.append("--check")
    environment = dict(_environment(tmp_path), QEM_CA_PATH=sim.ca_path)
    return subprocess.run(command, env=environment, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, check=False)


@pytest.fixture
def simulator_inventory(tmp_path, qem_sim):
    """Convert a config.yaml of the simulator's servers; return (simulator, inventory, vault password file, config)."""
    config = load_yaml(FULL_CONFIG)
    config["replicate_servers"] = config["replicate_servers"][:2]
    # Without an email section the runs send no e-mail, so no request leaves 127.0.0.1.
    config.pop("email")
    # Different stop and resume values make qem_wait_timeout and qem_poll_interval templates that pick one by qem_action.
    config["settings"].update({"stop_timeout": 0.5, "resume_timeout": 0.6, "stop_check_interval": 0.2, "resume_retry_interval": 0.3,
                               "stop_max_polling_retries": 300, "resume_max_polling_retries": 300})
    config["logging"]["result_path"] = str(tmp_path / "results")
    config["backup"]["backup_path"] = str(tmp_path / "backups")
    vault_password_file = write_vault_password(tmp_path)
    dest = tmp_path / "inventory"
    completed = convert(tmp_path, write_config(tmp_path, config), dest, vault_password_file=str(vault_password_file))
    assert completed.returncode == 0, completed.stdout[-3000:]
    return qem_sim(SIMULATOR_SCENARIO), dest, vault_password_file, config


def test_converted_inventory_stops_and_resumes(tmp_path, simulator_inventory):
    sim, dest, vault_password_file, config = simulator_inventory

    stopped = run_playbook(tmp_path, sim, dest, vault_password_file, "stop_tasks.yml")
    assert stopped.returncode == 0, stopped.stdout[-4000:]
    assert sorted(requests_of(sim, "stop")) == SELECTED
    assert sim.task("Rep East, 1", "Not selected")["state"] == "RUNNING"
    assert len(list(pathlib.Path(config["backup"]["backup_path"]).glob("*/*before-stop.csv"))) == 2

    resumed = run_playbook(tmp_path, sim, dest, vault_password_file, "resume_tasks.yml")
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    assert sorted(requests_of(sim, "run")) == SELECTED
    assert list(pathlib.Path(config["logging"]["result_path"]).glob("qem_*.csv"))
    assert FULL_PASSWORD not in stopped.stdout + resumed.stdout
