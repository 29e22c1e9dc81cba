"""Hundreds of conversations while the network and the hub itself fail under them."""

import asyncio
import random

import pytest

from tests.faults.conftest import needs_topology
from tests.faults.customers import (
    Chaos,
    ScriptedCustomer,
    assert_nothing_lost_duplicated_or_reordered,
)

pytestmark = [needs_topology, pytest.mark.slow]

PHRASES = [
    "hello",
    "what are your opening hours",
    "how long does shipping take",
    "how do I return something",
    "thanks",
    "are you a bot",
]


def script(rng: random.Random, length: int = 4) -> list[str]:
    return [f"{rng.choice(PHRASES)} #{n}" for n in range(length)]


async def run_all(customers, stagger: float = 0.005) -> None:
    tasks = []
    for customer in customers:
        tasks.append(asyncio.ensure_future(customer.run()))
        await asyncio.sleep(stagger)
    await asyncio.gather(*tasks)


async def catch_up_all(customers) -> None:
    semaphore = asyncio.Semaphore(50)

    async def one(customer):
        async with semaphore:
            await customer.catch_up()

    await asyncio.gather(*(one(c) for c in customers))


async def test_chaos_run_with_a_killed_hub_process_loses_duplicates_and_reorders_nothing(
    topology,
):
    customers = [
        ScriptedCustomer(
            topology.url,
            script(random.Random(n)),
            f"chaos{n}",
            Chaos(drop_after_send=0.12, rng=random.Random(1000 + n)),
        )
        for n in range(240)
    ]
    running = asyncio.ensure_future(run_all(customers))
    await asyncio.sleep(2.0)
    victim = topology.daphnes[0]
    await asyncio.to_thread(victim.kill)  # SIGKILL: nothing in flight finishes
    await asyncio.sleep(1.5)
    await asyncio.to_thread(victim.start)
    await asyncio.wait_for(running, 180)
    await asyncio.sleep(1.0)  # bot turns of the last messages land
    await catch_up_all(customers)

    assert_nothing_lost_duplicated_or_reordered(customers, topology.env["DATABASE_URL"])
    assert sum(c.reconnects for c in customers) > 20, "the chaos did not happen"
    replies = sum(1 for c in customers for _s, sender, _t in c.view() if sender == "bot")
    assert replies >= len(customers) * 3, "the bot stopped answering"
