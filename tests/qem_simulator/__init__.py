"""A simulator of the Qlik Enterprise Manager REST API for tests of the qem.replicate collection."""

from .scenario import ScenarioError, load_scenario
from .simulator import Simulator

__all__ = ["ScenarioError", "Simulator", "load_scenario"]
