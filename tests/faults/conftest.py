"""The production topology for the fault tests: PostgreSQL + Redis + two hub processes behind
nginx, started once for the module that needs it, each piece restartable mid-test.

These tests run in the prod profile (`python -m tests.services -- pytest`, the second half of
`make test`); in the SQLite profile they are skipped.
"""

import json
import os
import subprocess
import sys

import pytest

from deploy.topology import Topology
from tests.conftest import PROD_PROFILE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

needs_topology = pytest.mark.skipif(
    not PROD_PROFILE, reason="needs PostgreSQL, Redis and several hub processes (prod profile)"
)


@pytest.fixture(scope="session")
def topology():
    # fsync off: the faults under test are process, network and service failures, not power
    # cuts, and it keeps the suite fast on a shared machine.
    hub = Topology(workers=2, durable=False, log=lambda message: None)
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()


def run_in_hub(topology: Topology, code: str):
    """Run Django code against the topology's database (a `manage.py shell`); JSON result."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=topology.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
