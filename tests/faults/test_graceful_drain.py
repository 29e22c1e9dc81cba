"""A hub process told to stop (SIGTERM, as a deploy does) finishes what it was doing, sends
its clients elsewhere with close code 1012, and exits by itself."""

import asyncio
import random
import time

import pytest

from tests.faults.conftest import needs_topology
from tests.faults.customers import (
    Chaos,
    ScriptedCustomer,
    assert_nothing_lost_duplicated_or_reordered,
)
from tests.faults.test_chaos import catch_up_all, run_all, script

pytestmark = [needs_topology, pytest.mark.slow]
SERVICE_RESTART = 1012


async def test_a_draining_process_finishes_its_work_sends_clients_elsewhere_and_exits(topology):
    # Slow talkers: every one is mid-conversation when the process is told to stop.
    customers = [
        ScriptedCustomer(
            topology.url,
            script(random.Random(500 + n), 16),
            f"drain{n}",
            Chaos(think_seconds=(0.2, 0.5), rng=random.Random(900 + n)),
        )
        for n in range(80)
    ]
    running = asyncio.ensure_future(run_all(customers))
    await asyncio.sleep(2.0)  # every customer is talking, through both processes
    victim = topology.daphnes[0]
    process = victim.process
    started = time.monotonic()
    await asyncio.to_thread(victim.stop, 30)  # SIGTERM; SIGKILL only after 30 s
    took = time.monotonic() - started
    assert process.returncode == 0, f"the drain did not exit cleanly ({process.returncode})"
    assert took < 20, f"draining took {took:.1f} s"
    drain_log = victim.log_tail()
    await asyncio.to_thread(victim.start)  # the topology is shared with the other tests
    await asyncio.wait_for(running, 180)
    await asyncio.sleep(1.0)  # bot turns of the last messages land
    await catch_up_all(customers)

    assert_nothing_lost_duplicated_or_reordered(customers, topology.env["DATABASE_URL"])
    told_to_reconnect = [c for c in customers if SERVICE_RESTART in c.close_codes]
    assert told_to_reconnect, f"no client got the 1012 close:\n{drain_log}"
