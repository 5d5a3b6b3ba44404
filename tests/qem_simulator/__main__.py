"""Command line: serve a scenario until SIGTERM or SIGINT.

    python -m qem_simulator --scenario FILE [--port 0] [--http] [--state-dir DIR] [--verbose]

Prints one JSON line with base_url, host, ca_path and control_url, then serves.
"""

import argparse
import json
import logging
import signal
import sys
import threading

from .scenario import ScenarioError
from .simulator import Simulator


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m qem_simulator", description="Serve a simulated Qlik Enterprise Manager REST API on 127.0.0.1.")
    parser.add_argument("--scenario", help="scenario YAML or JSON file; without it the simulator has no servers and the default user")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 (the default) picks a free port")
    parser.add_argument("--http", action="store_true", help="serve plain HTTP instead of HTTPS (for debugging)")
    parser.add_argument("--state-dir", help="directory for ca.pem, server.pem and server-key.pem (default: a new temporary directory)")
    parser.add_argument("--verbose", action="store_true", help="log each request (method, path, status) to stderr")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the simulator until SIGTERM or SIGINT; return the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        simulator = Simulator(args.scenario, port=args.port, tls=not args.http, state_dir=args.state_dir)
    except (OSError, ScenarioError) as exc:
        sys.stderr.write(f"qem_simulator: cannot load scenario: {exc}\n")
        return 2

    stop_requested = threading.Event()

    def request_stop(signum, frame):  # pylint: disable=unused-argument
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        simulator.start()
    except OSError as exc:
        sys.stderr.write(f"qem_simulator: cannot listen on 127.0.0.1:{args.port}: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(simulator.info()) + "\n")
    sys.stdout.flush()
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
