"""Shared pytest fixture: ``qem_sim`` starts QEM simulators and stops them at teardown."""

import pytest


@pytest.fixture
def qem_sim(tmp_path):
    """Return a factory: ``qem_sim(scenario, **options)`` starts a Simulator and returns it.

    `scenario` is a dict, a YAML/JSON file path or None; the options are those of
    ``Simulator`` (port, tls, state_dir). Each simulator's certificates go to its own
    directory under the test's tmp_path unless state_dir is given.
    """
    from qem_simulator import Simulator  # pylint: disable=import-outside-toplevel

    started = []

    def start(scenario=None, **options):
        options.setdefault("state_dir", str(tmp_path / f"qem-sim-{len(started)}"))
        simulator = Simulator(scenario, **options)
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in reversed(started):
        simulator.stop()
