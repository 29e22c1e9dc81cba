"""Redis and PostgreSQL go away mid-run and come back; nothing acknowledged is lost."""

import asyncio
import random
import urllib.error
import urllib.request

import pytest

from tests.faults.conftest import needs_topology
from tests.faults.customers import (
    Chaos,
    ScriptedCustomer,
    assert_nothing_lost_duplicated_or_reordered,
)
from tests.faults.test_chaos import catch_up_all, run_all, script

pytestmark = [needs_topology, pytest.mark.slow]


def health(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def customers_for(topology, prefix: str, count: int, length: int = 5):
    return [
        ScriptedCustomer(
            topology.url,
            script(random.Random(f"{prefix}{n}"), length),
            f"{prefix}{n}",
            Chaos(think_seconds=(0.2, 0.5), rng=random.Random(f"{prefix}-chaos{n}")),
        )
        for n in range(count)
    ]


async def test_redis_restart_mid_run_recovers_and_connected_clients_catch_up_by_replay(topology):
    customers = customers_for(topology, "redis", 40)
    running = asyncio.ensure_future(run_all(customers))
    await asyncio.sleep(1.5)
    await asyncio.to_thread(topology.redis.stop)
    await asyncio.sleep(2.5)
    assert await asyncio.to_thread(health, topology.daphnes[1].url) == 503
    await asyncio.to_thread(topology.redis.start)
    await asyncio.wait_for(running, 120)
    assert await asyncio.to_thread(health, topology.url) == 200
    await asyncio.sleep(3)  # heartbeats notice Redis is back and sockets resync
    await catch_up_all(customers)
    assert_nothing_lost_duplicated_or_reordered(customers, topology.env["DATABASE_URL"])


async def test_redis_restart_replays_missed_events_to_sockets_that_stayed_open(topology):
    customer = ScriptedCustomer(topology.url, ["hello"], "stay-open")
    await customer.run()
    await customer._open()
    await asyncio.to_thread(topology.redis.stop)
    # The bot's answer is published while Redis is down: live delivery drops it.
    await customer.ws.send('{"type": "message", "client_id": "stay-open-x", "text": "thanks"}')
    await customer.listen(1.0)
    assert "stay-open-x" in customer.acked
    await asyncio.to_thread(topology.redis.start)
    await customer.listen(4.0)  # no reconnect: the hub replays what the socket missed
    senders = [sender for _seq, sender, _text in customer.view()]
    assert senders[-2:] == ["customer", "bot"], customer.view()
    await customer.ws.close()


async def test_database_outage_gets_try_again_and_acknowledges_only_what_was_stored(topology):
    customers = customers_for(topology, "pgdown", 30, length=6)
    running = asyncio.ensure_future(run_all(customers))
    await asyncio.sleep(1.5)
    await asyncio.to_thread(topology.postgres.stop, "fast")
    await asyncio.sleep(1.0)
    assert await asyncio.to_thread(health, topology.daphnes[0].url) == 503
    await asyncio.sleep(2.0)
    await asyncio.to_thread(topology.postgres.start)
    await asyncio.wait_for(running, 120)
    await asyncio.sleep(1.0)
    await catch_up_all(customers)
    assert sum(c.try_again for c in customers) > 0, "no message met the outage"
    # Every acknowledged client id is in the database with the acknowledged seq.
    assert_nothing_lost_duplicated_or_reordered(customers, topology.env["DATABASE_URL"])
    assert await asyncio.to_thread(health, topology.url) == 200
