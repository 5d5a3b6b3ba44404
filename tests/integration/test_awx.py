# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stop and resume playbooks run as AWX runs them, and the AWX and execution environment files.

An imitated AWX job is one ansible-runner run over a private data directory laid out as AWX lays it
out:

- env/envvars holds the credential as environment variables, rendered from
  docs/awx/credential_type/injectors.yml. The CA certificate is in a file that the file injector
  writes to env/, and QEM_CA_PATH names it.
- env/extravars holds the extra variables. Everything the template itself does not define is
  tagged !unsafe.
- inventory/ holds an executable inventory script.
- env/cmdline holds the limit and, for the job type Check, --check.

Job slicing is imitated with one job per server and --limit, where AWX gives each slice a reduced
inventory instead. A workflow passes the artifacts of its finished jobs to the next job with a
shallow dict update, as AWX does.
"""

import copy
import json
import os
import pathlib
import re
import shlex
import stat
import subprocess
import sys
import tempfile
import types

import ansible_runner
import jinja2.sandbox
import pytest
import yaml

from qem_simulator import Simulator
from role_support import COLLECTION_ROOT, FAST_VARS, PASSWORD, USER, collections_path, scrub_secrets

AWX_DIR = COLLECTION_ROOT / "docs" / "awx"
CREDENTIAL_TYPE_DIR = AWX_DIR / "credential_type"
EE_FILE = COLLECTION_ROOT / "execution-environment.yml"
BIN_DIR = pathlib.Path(sys.executable).parent

# rep-01 has a Log Stream staging task with a reader and a stopped task; rep-02 a running task, a
# recovering one and a stopped one. The hyphens in the server names reach the artifact keys as '_'.
SCENARIO = {
    "description": "Two Replicate servers for the AWX jobs",
    "time_scale": 0.05,
    "users": [{"username": USER, "password": PASSWORD}],
    "servers": [
        {
            "name": "rep-01",
            "tasks": [
                {"name": "LS", "state": "RUNNING", "profile": "Log Stream Staging", "cdc_only": True,
                 "target_endpoint": {"name": "ls-target", "type": "Log Stream"}},
                {"name": "Sales reader", "state": "RUNNING", "reads_from": "LS", "cdc_only": True},
                {"name": "Legacy", "state": "STOPPED", "stop_reason": "NORMAL"},
            ],
        },
        {
            "name": "rep-02",
            "tasks": [
                {"name": "Orders", "state": "RUNNING", "cdc_only": True},
                {"name": "Customers", "state": "RECOVERY", "stop_reason": "RECOVERABLE_ERROR", "cdc_only": True},
                {"name": "Inventory", "state": "STOPPED", "stop_reason": "NORMAL"},
            ],
        },
    ],
}
SERVERS = ("rep-01", "rep-02")
RUNNING_BEFORE = {"rep-01": ["LS", "Sales reader"], "rep-02": ["Customers", "Orders"]}


class _UntrustedDumper(yaml.SafeDumper):
    """YAML dumper that tags every string, keys included, with !unsafe."""


_UntrustedDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar("!unsafe", value))


def _load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _job_template(name):
    return _load_yaml(AWX_DIR / "job_templates" / f"{name}.yml")


def _survey_defaults(template):
    return {item["variable"]: item["default"] for item in template["survey_spec"]["spec"] if "default" in item}


def render_injectors(inputs, private_data_dir):
    """Return the environment variables that AWX injects for a credential with these inputs.

    Empty inputs are left out of the template namespace, the file injector writes its file with
    mkstemp into env/ of the private data directory, mode 0600, and tower.filename is its path.
    """
    injectors = _load_yaml(CREDENTIAL_TYPE_DIR / "injectors.yml")
    sandbox = jinja2.sandbox.ImmutableSandboxedEnvironment()
    namespace = {key: value for key, value in inputs.items() if value}

    env_dir = pathlib.Path(private_data_dir) / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    handle, path = tempfile.mkstemp(dir=str(env_dir))
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(sandbox.from_string(injectors["file"]["template"]).render(**namespace))
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    namespace["tower"] = types.SimpleNamespace(filename=path)

    return {name: sandbox.from_string(template).render(**namespace) for name, template in injectors["env"].items()}


class AwxJob:
    """One finished job: runner status and output, the job events and the set_stats artifacts."""

    def __init__(self, runner, private_data_dir):
        self.private_data_dir = private_data_dir
        self.rc = runner.rc
        self.status = runner.status
        self.stdout = runner.stdout.read()
        self.events = list(runner.events)
        stats = [event for event in self.events if event.get("event") == "playbook_on_stats"]
        self.artifacts = stats[-1]["event_data"].get("artifact_data", {}) if stats else {}

    def tail(self):
        return self.stdout[-4000:]


class AwxSite:
    """A place that runs imitated AWX jobs against one simulator, with one shared backup volume.

    `volume` stands for the directory that "Paths to expose to isolated jobs" mounts into every job
    container: backups and reports written there outlive the job.
    """

    def __init__(self, sim, base_dir):
        self.sim = sim
        self.base_dir = pathlib.Path(base_dir)
        self.volume = self.base_dir / "volume"
        self.jobs = 0

    def credential_inputs(self):
        with open(self.sim.ca_path, encoding="utf-8") as handle:
            ca_cert = handle.read()
        return {"host": self.sim.host, "username": USER, "password": PASSWORD, "ca_cert": ca_cert}

    def run(self, template_name, limit=None, job_type=None, survey=None, launch_vars=None, credential=None):
        """Run one job of a job template file of docs/awx/job_templates and return an AwxJob.

        `survey` answers survey questions (the other questions take their defaults), `launch_vars`
        are further untrusted extra variables such as workflow artifacts, and `credential`
        replaces the credential inputs. The template's extra variables get the short waits of
        role_support.FAST_VARS, and backup and report directories on the volume.
        """
        template = _job_template(template_name)
        self.jobs += 1
        private_data_dir = self.base_dir / f"job-{self.jobs}"
        for subdir in ("env", "inventory"):
            (private_data_dir / subdir).mkdir(parents=True)
        (private_data_dir / "project").symlink_to(COLLECTION_ROOT, target_is_directory=True)

        envvars = render_injectors(credential or self.credential_inputs(), private_data_dir)
        envvars.update({
            "ANSIBLE_COLLECTIONS_PATH": collections_path(),
            "ANSIBLE_ASYNC_DIR": str(self.base_dir / "async"),
            "ANSIBLE_LOCAL_TEMP": str(self.base_dir / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        })
        _write_yaml(private_data_dir / "env" / "envvars", envvars)

        trusted = dict(template["extra_vars"], **FAST_VARS)
        trusted["qem_backup_dir"] = str(self.volume / "backups")
        trusted["qem_report_dir"] = str(self.volume / "reports")
        untrusted = dict(_survey_defaults(template), **(survey or {}))
        untrusted.update(launch_vars or {})
        _write_extravars(private_data_dir / "env" / "extravars", trusted, untrusted)

        _write_inventory_script(private_data_dir / "inventory" / "hosts", SERVERS)

        arguments = []
        limit = template.get("limit") if limit is None else limit
        if limit:
            arguments += ["--limit", limit]
        if (job_type or template["job_type"]) == "check":
            arguments.append("--check")
        (private_data_dir / "env" / "cmdline").write_text(shlex.join(arguments), encoding="utf-8")

        runner = ansible_runner.run(private_data_dir=str(private_data_dir), playbook=template["playbook"],
                                    ident=f"job-{self.jobs}", quiet=True, timeout=600)
        job = AwxJob(runner, private_data_dir)
        scrub_secrets(private_data_dir, [envvars.get("QEM_PASSWORD")])
        return job

    def backups(self, server):
        return sorted((self.volume / "backups" / server).glob("*.csv"))


def _write_yaml(path, data):
    path.write_text(yaml.safe_dump(data, default_flow_style=False), encoding="utf-8")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def _write_extravars(path, trusted, untrusted):
    """Write env/extravars: the template's own variables plain, the others tagged !unsafe."""
    text = yaml.safe_dump(trusted, default_flow_style=False)
    if untrusted:
        text += yaml.dump(untrusted, Dumper=_UntrustedDumper, default_flow_style=False)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def _write_inventory_script(path, hosts):
    """Write an executable inventory script that prints the inventory as JSON, as AWX does."""
    inventory = {
        "all": {"children": ["qem_replicate_servers", "ungrouped"]},
        "qem_replicate_servers": {"hosts": list(hosts)},
        "_meta": {"hostvars": {host: {"remote_tower_enabled": "true"} for host in hosts}},
    }
    path.write_text("#! /usr/bin/env python3\nprint(%r)\n" % json.dumps(inventory), encoding="utf-8")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IXUSR)


def merge_artifacts(jobs):
    """Merge the artifacts of finished jobs in the order they finished, as an AWX workflow does."""
    merged = {}
    for job in jobs:
        merged.update(copy.deepcopy(job.artifacts))
    return merged


def artifact_key(action, server):
    return f"qem_{action}_result__{re.sub('[^A-Za-z0-9_]', '_', server)}"


def requests_of(sim, endpoint):
    return sorted((event.get("server"), event.get("task")) for event in sim.events(endpoint=endpoint) if event.get("status") != 401)


# --- The patch-window workflow: stop in two slices, approval, resume in two slices ---------------


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """Run the workflow of docs/awx/workflow.yml once and return what each stage left.

    Between the approval and the resume, the stop template runs again outside the workflow. Its
    backups are the newest and record no running task, so only the workflow's artifacts, which
    name the backups of the first stop, lead the resume to the tasks that were running.
    """
    base_dir = tmp_path_factory.mktemp("awx-workflow")
    nodes = {node["identifier"]: node for node in _load_yaml(AWX_DIR / "workflow.yml")["workflow_nodes"]}
    with Simulator(copy.deepcopy(SCENARIO), state_dir=str(base_dir / "sim")) as sim:
        site = AwxSite(sim, base_dir)
        result = types.SimpleNamespace(site=site)

        result.stop_slices = [site.run("stop", limit=server, job_type=nodes["stop"]["job_type"], survey=nodes["stop"]["extra_data"])
                              for server in SERVERS]
        result.stop_requests = requests_of(sim, "stop")
        result.stop_artifacts = merge_artifacts(result.stop_slices)

        result.repeated_stop = site.run("stop", job_type="run")
        sim.reset_log()

        result.resume_slices = [site.run("resume", limit=server, job_type=nodes["resume"]["job_type"],
                                         survey=nodes["resume"]["extra_data"], launch_vars=result.stop_artifacts)
                                for server in SERVERS]
        result.run_requests = requests_of(sim, "run")
        result.final_states = {(server, task["name"]): sim.task(server, task["name"])["state"]
                               for server in SERVERS for task in _scenario_tasks(server)}
    return result


def _scenario_tasks(server):
    return next(item["tasks"] for item in SCENARIO["servers"] if item["name"] == server)


def test_stop_slices_succeed(workflow):
    for job in workflow.stop_slices:
        assert job.status == "successful", job.tail()
        assert job.rc == 0


def test_stop_slices_stop_running_tasks(workflow):
    expected = sorted((server, task) for server, tasks in RUNNING_BEFORE.items() for task in tasks)
    assert workflow.stop_requests == expected


def test_stop_slice_artifacts_per_server(workflow):
    for server, job in zip(SERVERS, workflow.stop_slices):
        assert sorted(job.artifacts) == [artifact_key("stop", server)]


def test_stop_artifacts_merge_across_slices(workflow):
    assert sorted(workflow.stop_artifacts) == [artifact_key("stop", server) for server in SERVERS]


def test_stop_artifact_lists_stopped_tasks(workflow):
    for server in SERVERS:
        artifact = workflow.stop_artifacts[artifact_key("stop", server)]
        assert artifact["server"] == server
        assert artifact["action"] == "stop"
        assert sorted(artifact["stopped"]) == RUNNING_BEFORE[server]
        assert sorted(artifact["was_running"]) == RUNNING_BEFORE[server]
        assert artifact["safe_to_patch"] is True
        assert artifact["check_mode"] is False
        assert artifact["failed"] is False


def test_stop_artifact_backup_on_volume(workflow):
    for server in SERVERS:
        backup_path = pathlib.Path(workflow.stop_artifacts[artifact_key("stop", server)]["backup_path"])
        assert backup_path.parent == workflow.site.volume / "backups" / server
        assert backup_path.is_file()
        assert backup_path.name.endswith("_before-stop.csv")


def test_stop_artifact_report_paths_exist(workflow):
    for server in SERVERS:
        artifact = workflow.stop_artifacts[artifact_key("stop", server)]
        assert pathlib.Path(artifact["results_path"]).is_file()
        assert pathlib.Path(artifact["report_path"]).is_file()


def test_repeated_stop_finds_nothing_running(workflow):
    job = workflow.repeated_stop
    assert job.rc == 0, job.tail()
    for server in SERVERS:
        assert job.artifacts[artifact_key("stop", server)]["was_running"] == []


def test_resume_slices_succeed(workflow):
    for job in workflow.resume_slices:
        assert job.status == "successful", job.tail()
        assert job.rc == 0


def test_resume_uses_artifact_backups(workflow):
    expected = sorted((server, task) for server, tasks in RUNNING_BEFORE.items() for task in tasks)
    assert workflow.run_requests == expected


def test_resume_restores_running_tasks(workflow):
    for (server, task), state in workflow.final_states.items():
        expected = "RUNNING" if task in RUNNING_BEFORE[server] else "STOPPED"
        assert state == expected, (server, task)


def test_resume_artifacts_list_resumed_tasks(workflow):
    resume_artifacts = merge_artifacts(workflow.resume_slices)
    for server in SERVERS:
        artifact = resume_artifacts[artifact_key("resume", server)]
        assert sorted(artifact["resumed"]) == RUNNING_BEFORE[server]
        assert artifact["stopped"] == []
        assert artifact["safe_to_patch"] is None


def test_awx_jobs_print_no_warnings(workflow):
    jobs = workflow.stop_slices + [workflow.repeated_stop] + workflow.resume_slices
    for job in jobs:
        assert "[WARNING]" not in job.stdout, job.tail()


def test_credential_reaches_play_as_env(workflow):
    job = workflow.stop_slices[0]
    envvars = yaml.safe_load((job.private_data_dir / "env" / "envvars").read_text(encoding="utf-8"))
    extravars = (job.private_data_dir / "env" / "extravars").read_text(encoding="utf-8")
    assert pathlib.Path(envvars["QEM_CA_PATH"]).parent == job.private_data_dir / "env"
    assert PASSWORD not in extravars
    assert PASSWORD not in job.stdout


# --- Single jobs -----------------------------------------------------------------------------------


def test_check_job_changes_nothing(qem_sim, tmp_path):
    sim = qem_sim(copy.deepcopy(SCENARIO))
    site = AwxSite(sim, tmp_path)

    job = site.run("stop")

    assert job.rc == 0, job.tail()
    assert requests_of(sim, "stop") == []
    assert site.backups("rep-01") == []
    assert "[WARNING]" not in job.stdout, job.tail()
    artifact = job.artifacts[artifact_key("stop", "rep-02")]
    assert artifact["check_mode"] is True
    assert artifact["backup_path"] == ""
    assert sorted(artifact["stopped"]) == RUNNING_BEFORE["rep-02"]


def test_survey_task_names_select(qem_sim, tmp_path):
    sim = qem_sim(copy.deepcopy(SCENARIO))
    site = AwxSite(sim, tmp_path)

    job = site.run("stop", limit="rep-02", job_type="run", survey={"qem_mode": "S", "qem_survey_task_names": " Orders\r\nInventory\n\n"})

    assert job.rc == 0, job.tail()
    assert requests_of(sim, "stop") == [("rep-02", "Orders")]
    assert job.artifacts[artifact_key("stop", "rep-02")]["stopped"] == ["Orders"]


def test_resume_without_artifacts_uses_newest(qem_sim, tmp_path):
    sim = qem_sim(copy.deepcopy(SCENARIO))
    site = AwxSite(sim, tmp_path)
    stop = site.run("stop", limit="rep-02", job_type="run")
    assert stop.rc == 0, stop.tail()
    sim.reset_log()

    resume = site.run("resume", limit="rep-02", job_type="run")

    assert resume.rc == 0, resume.tail()
    assert requests_of(sim, "run") == [("rep-02", "Customers"), ("rep-02", "Orders")]


def test_unverified_credential_warns(qem_sim, tmp_path):
    sim = qem_sim(copy.deepcopy(SCENARIO))
    site = AwxSite(sim, tmp_path)
    credential = {"host": sim.host, "username": USER, "password": PASSWORD, "validate_certs": "false"}

    job = site.run("stop", limit="rep-01", credential=credential)

    assert job.rc == 0, job.tail()
    assert "verification is off" in job.stdout


# --- The credential type, job template and workflow files ------------------------------------------


def test_credential_type_files_agree():
    combined = _load_yaml(CREDENTIAL_TYPE_DIR / "credential_type.yml")
    assert combined["inputs"] == _load_yaml(CREDENTIAL_TYPE_DIR / "inputs.yml")
    assert combined["injectors"] == _load_yaml(CREDENTIAL_TYPE_DIR / "injectors.yml")


def test_injected_names_avoid_ansible_prefix():
    injectors = _load_yaml(CREDENTIAL_TYPE_DIR / "injectors.yml")
    assert sorted(injectors["env"]) == ["QEM_CA_PATH", "QEM_HOST", "QEM_PASSWORD", "QEM_USERNAME", "QEM_VALIDATE_CERTS"]
    assert "extra_vars" not in injectors


def test_injectors_verify_by_default(tmp_path):
    env = render_injectors({"host": "qem.example.com", "username": USER, "password": PASSWORD}, tmp_path)
    assert env["QEM_VALIDATE_CERTS"] == "true"
    assert env["QEM_CA_PATH"] == ""


def test_injectors_write_ca_file(tmp_path):
    env = render_injectors({"host": "qem.example.com", "username": USER, "password": PASSWORD, "ca_cert": "PEM TEXT"}, tmp_path)
    ca_file = pathlib.Path(env["QEM_CA_PATH"])
    assert ca_file.read_text(encoding="utf-8") == "PEM TEXT"
    assert ca_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("name", ["stop", "resume"])
def test_job_template_playbook_exists(name):
    assert (COLLECTION_ROOT / _job_template(name)["playbook"]).is_file()


@pytest.mark.parametrize("name", ["stop", "resume"])
def test_survey_variables_reach_role(name):
    template = _job_template(name)
    role_options = _load_yaml(COLLECTION_ROOT / "roles" / "qem_tasks" / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    template_text = json.dumps(template["extra_vars"])
    for item in template["survey_spec"]["spec"]:
        assert item["variable"] in role_options or item["variable"] in template_text, item["variable"]


def test_workflow_approval_between_jobs():
    nodes = {node["identifier"]: node for node in _load_yaml(AWX_DIR / "workflow.yml")["workflow_nodes"]}
    assert nodes["stop"]["unified_job_template"]["name"] == _job_template("stop")["name"]
    assert nodes["stop"]["related"]["success_nodes"] == [{"identifier": "patching-done"}]
    assert nodes["patching-done"]["unified_job_template"]["type"] == "workflow_approval"
    assert nodes["patching-done"]["related"]["success_nodes"] == [{"identifier": "resume"}]
    assert nodes["resume"]["unified_job_template"]["name"] == _job_template("resume")["name"]


# --- The execution environment -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ee_context(tmp_path_factory):
    """Run ansible-builder create on execution-environment.yml and return the build context."""
    context = tmp_path_factory.mktemp("ee") / "context"
    completed = subprocess.run([str(BIN_DIR / "ansible-builder"), "create", "--file", str(EE_FILE), "--context", str(context),
                                "--output-filename", "Containerfile"], capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return context


def test_ee_context_requires_requests(ee_context):
    lines = (ee_context / "_build" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "requests" in [line.split("#")[0].strip() for line in lines]


def test_ee_context_installs_collection(ee_context):
    requirements = _load_yaml(ee_context / "_build" / "requirements.yml")
    containerfile = (ee_context / "Containerfile").read_text(encoding="utf-8")
    assert requirements["collections"] == [{"name": "qem_replicate", "type": "dir"}]
    assert "ansible-galaxy collection install" in containerfile
    assert (ee_context / "_build" / "qem_replicate" / "galaxy.yml").is_file()


def test_ee_pins_tested_versions(ee_context):
    pins = dict(line.split("==") for line in (COLLECTION_ROOT / "requirements-test.txt").read_text(encoding="utf-8").splitlines()
                if "==" in line and not line.startswith("#"))
    install_refs = re.search(r'ARG ANSIBLE_INSTALL_REFS="([^"]*)"', (ee_context / "Containerfile").read_text(encoding="utf-8")).group(1)
    assert f"ansible-core=={pins['ansible-core']}" in install_refs.split()
    assert f"ansible-runner=={pins['ansible-runner']}" in install_refs.split()


def test_ee_galaxy_stage_installs_collection(ee_context, tmp_path):
    """Run the galaxy and introspection steps of the Containerfile here, without a container."""
    build_dir = ee_context / "_build"
    collections = tmp_path / "collections"
    # Without PYTHONPATH and with an empty collections path, ansible-galaxy finds no copy of the
    # collection installed already, as in the galaxy stage of the image build.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1", ANSIBLE_COLLECTIONS_PATH=str(collections))
    install = subprocess.run([str(BIN_DIR / "ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
                              "--collections-path", str(collections)],
                             cwd=str(build_dir), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = collections / "ansible_collections" / "qem" / "replicate"
    assert (installed / "plugins" / "modules" / "qem_task_action.py").is_file()
    assert (installed / "roles" / "qem_tasks" / "tasks" / "artifacts.yml").is_file()
    assert not (installed / "tests").exists()

    pip_file = tmp_path / "pip.txt"
    introspect = subprocess.run([sys.executable, str(build_dir / "scripts" / "introspect.py"), "introspect", str(collections),
                                 "--write-pip", str(pip_file), "--write-bindep", str(tmp_path / "bindep.txt")],
                                capture_output=True, text=True, timeout=120, check=False)
    assert introspect.returncode == 0, introspect.stdout + introspect.stderr
    assert pip_file.read_text(encoding="utf-8").splitlines() == ["requests  # from collection qem.replicate"]
