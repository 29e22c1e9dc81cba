"""A hundred agents on two hub processes claim the same chat at the same moment."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from tests.faults.conftest import needs_topology, run_in_hub
from tests.faults.customers import ScriptedCustomer

pytestmark = [needs_topology, pytest.mark.slow]

AGENTS = 100
MAKE_AGENTS = f"""
import json
from django.contrib.auth import get_user_model
from django.test import Client
from handoff_hub.models import AgentProfile
from handoff_hub.transitions import default_queue
queue = default_queue()
keys = []
for n in range({AGENTS}):
    user = get_user_model().objects.create_user(f"racer{{n}}")  # no password: fast
    profile = AgentProfile.objects.create(user=user, display_name=f"Racer {{n}}")
    profile.queues.add(queue)
    browser = Client()  # a real login session, as the console's cookie
    browser.force_login(user)
    keys.append(browser.cookies["sessionid"].value)
print(json.dumps(keys))
"""


async def console(url: str, session_key: str):
    ws = await connect(
        url.replace("http://", "ws://") + "/ws/console/",
        origin=url,
        additional_headers={"Cookie": f"sessionid={session_key}"},
        ping_interval=None,
        open_timeout=30,
    )
    while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "snapshot":
        pass
    return ws


async def answers(ws, quiet: float, deadline: float) -> list[dict]:
    """Frames until the claim was refused, or nothing came for `quiet` seconds."""
    frames = []
    loop = asyncio.get_running_loop()
    try:
        while loop.time() < deadline:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
            if frames[-1]["type"] == "error":
                break
    except TimeoutError:
        pass
    return frames


async def test_hundred_agents_across_processes_claim_one_chat_exactly_one_wins(topology):
    keys = await asyncio.to_thread(run_in_hub, topology, MAKE_AGENTS)
    customer = ScriptedCustomer(topology.url, ["I want to talk to a human"], "claimed")
    await customer.run()
    processes = [d.url for d in topology.daphnes]
    consoles = await asyncio.gather(
        *(console(processes[n % len(processes)], key) for n, key in enumerate(keys))
    )
    claim = json.dumps({"type": "claim", "conversation": customer.conversation})
    await asyncio.gather(*(ws.send(claim) for ws in consoles))
    deadline = asyncio.get_running_loop().time() + 60
    replies = await asyncio.gather(*(answers(ws, 5.0, deadline) for ws in consoles))
    refused = [
        n
        for n, frames in enumerate(replies)
        if any(f["type"] == "error" and f["code"] == "already_claimed" for f in frames)
    ]
    winners = set(range(AGENTS)) - set(refused)
    assert len(winners) == 1, f"{len(winners)} agents think they won"
    (winner,) = winners
    owner = await asyncio.to_thread(
        run_in_hub,
        topology,
        "import json\nfrom handoff_hub.models import Conversation, AuditEvent\n"
        f"c = Conversation.objects.get(public_id='{customer.conversation}')\n"
        "print(json.dumps([c.status, c.assigned_agent.username,"
        " AuditEvent.objects.filter(conversation=c, action='claim').count()]))",
    )
    assert owner == ["assigned", f"racer{winner}", 1]
    for ws in consoles:
        await ws.close()
