"""Scenarios of the benchmark: servers, tasks and their transition times, built from a fixed seed.

Every server has one Log Stream staging task (LS) and tasks that read from it or not, all running
and CDC only, so a stop has no full load to hold. Each task's stop and run take a random time
between MIN_TRANSITION_S and MAX_TRANSITION_S scenario seconds; the simulator's time_scale turns
them into real seconds.
"""

import random
from dataclasses import dataclass

MIN_TRANSITION_S = 2.0
MAX_TRANSITION_S = 20.0
LATENCY_MS = 20
SEED = 20261204
STAGING_TASK = "LS"


@dataclass(frozen=True)
class BenchScenario:
    """One benchmark case: how many servers, how many tasks on each, and the time scale."""

    name: str
    servers: int
    tasks_per_server: int
    time_scale: float

    @property
    def server_names(self):
        return [f"rep-{index:03d}" for index in range(1, self.servers + 1)]

    def task_names(self):
        """Return the task names of one server: the staging task first, then T001, T002, ..."""
        return [STAGING_TASK] + [f"T{index:03d}" for index in range(1, self.tasks_per_server)]


SCENARIOS = (
    BenchScenario("a", servers=1, tasks_per_server=200, time_scale=1.0),
    BenchScenario("b", servers=10, tasks_per_server=50, time_scale=1.0),
    BenchScenario("c", servers=40, tasks_per_server=20, time_scale=1.0),
)


def build(scenario, seed=SEED):
    """Return the simulator scenario (a dict) of one benchmark case."""
    rng = random.Random(f"{seed}-{scenario.name}")
    servers = []
    for server in scenario.server_names:
        tasks = []
        for index, name in enumerate(scenario.task_names()):
            task = {
                "name": name,
                "state": "RUNNING",
                "cdc_only": True,
                "latency": None,
                "stop_duration": round(rng.uniform(MIN_TRANSITION_S, MAX_TRANSITION_S), 1),
                "run_duration": round(rng.uniform(MIN_TRANSITION_S, MAX_TRANSITION_S), 1),
            }
            if name == STAGING_TASK:
                task["profile"] = "Log Stream Staging"
                task["target_endpoint"] = {"name": f"ls-{server}", "type": "Log Stream"}
            elif index % 2 == 1:
                # Every other task reads from the staging task, so the stop and resume order matters.
                task["reads_from"] = STAGING_TASK
            tasks.append(task)
        servers.append({"name": server, "tasks": tasks})
    return {
        "description": f"benchmark {scenario.name}: {scenario.servers} servers x {scenario.tasks_per_server} tasks",
        "time_scale": scenario.time_scale,
        "latency_ms": LATENCY_MS,
        "servers": servers,
    }
