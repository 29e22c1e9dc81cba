"""Live events between hub processes: a process delivers to its own sockets directly and
publishes through Redis only when a conversation's row lists a socket on another process.

Customer and agent sit on different processes (and on the same one), sockets join while
messages are being committed, and a crashed process left its entry behind; every socket still
sees every message exactly once live, and nothing falls between its backlog and live events.
"""

import asyncio
import json
from collections import Counter

import pytest
from websockets.asyncio.client import connect

from tests.faults.conftest import needs_topology, run_in_hub

pytestmark = [needs_topology, pytest.mark.slow]

MAKE_SUPERVISOR = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from handoff_hub.models import AgentProfile
from handoff_hub.transitions import default_queue
user = get_user_model().objects.create_user("{name}")
profile = AgentProfile.objects.create(user=user, display_name="{name}", is_supervisor=True)
profile.queues.add(default_queue())
browser = Client()  # a real login session, as the console's cookie
browser.force_login(user)
print(json.dumps(browser.cookies["sessionid"].value))
"""
HAND_OFF = """
import json
from django.db import transaction
from handoff_hub.messaging import lock_conversation
from handoff_hub.models import Conversation
from handoff_hub.transitions import enqueue_handoff
with transaction.atomic():
    pk = Conversation.objects.get(public_id="{conversation}").pk
    enqueue_handoff(lock_conversation(pk), "test", {{}})
print(json.dumps(True))
"""
LISTENERS = """
import json
from handoff_hub.models import Conversation
c = Conversation.objects.get(public_id="{conversation}")
{change}
print(json.dumps([c.listeners, c.last_seq]))
"""
CRASHED = "0badc0ffee00"


class Socket:
    """A raw WebSocket that keeps every frame it got, duplicates included."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url: str, path: str, session_key: str | None = None) -> "Socket":
        headers = {"Cookie": f"sessionid={session_key}"} if session_key else {}
        ws = await connect(
            url.replace("http://", "ws://") + path,
            origin=url,
            additional_headers=headers,
            ping_interval=None,
            open_timeout=30,
        )
        return cls(ws)

    async def _read(self) -> None:
        async for raw in self.ws:
            self.frames.append(json.loads(raw))

    async def send(self, **frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def first(self, kind: str, timeout: float = 15) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for frame in self.frames:
                if frame["type"] == kind:
                    return frame
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} frame in {self.frames}")

    def live_seqs(self) -> Counter:
        return Counter(f["seq"] for f in self.frames if f["type"] == "message")

    def seen_seqs(self) -> set[int]:
        """Live messages and any transcript's, by seq."""
        seqs = set(self.live_seqs())
        for frame in self.frames:
            if frame["type"] == "transcript":
                seqs |= {m["seq"] for m in frame["messages"]}
        return seqs

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def hub(topology, code: str):
    return await asyncio.to_thread(run_in_hub, topology, code)


async def customer(url: str, token: str | None = None) -> tuple[Socket, dict]:
    socket = await Socket.open(url, "/ws/chat/")
    await socket.send(type="hello", token=token, last_seq=0)
    return socket, await socket.first("welcome")


async def agent_watching(url: str, session_key: str, conversation: str) -> Socket:
    socket = await Socket.open(url, "/ws/console/", session_key)
    await socket.first("snapshot")
    await socket.send(type="open", conversation=conversation)
    await socket.first("transcript")
    return socket


async def quiet(*sockets: Socket, seconds: float = 0.8) -> None:
    """Wait until no socket got anything for `seconds`."""
    while True:
        before = [len(s.frames) for s in sockets]
        await asyncio.sleep(seconds)
        if [len(s.frames) for s in sockets] == before:
            return


async def handed_over_chat(topology, agent_name: str, customer_url: str, agent_url: str):
    """A chat on `customer_url` claimed by an agent on `agent_url`; both sockets open."""
    key = await hub(topology, MAKE_SUPERVISOR.format(name=agent_name))
    widget, welcome = await customer(customer_url)
    conversation = welcome["conversation"]
    await hub(topology, HAND_OFF.format(conversation=conversation))
    agent = await agent_watching(agent_url, key, conversation)
    await agent.send(type="claim", conversation=conversation)
    await widget.first("status")
    await quiet(widget, agent)
    return key, widget, welcome, agent


async def exchange(widget: Socket, agent: Socket, conversation: str, rounds: int) -> None:
    """Customer and agent type at the same time, each without waiting for the other."""

    async def customer_side():
        for n in range(rounds):
            await widget.send(type="message", client_id=f"c{n}", text=f"customer {n}")
            await asyncio.sleep(0.01)

    async def agent_side():
        await asyncio.sleep(0.5)  # the claim lands first
        for n in range(rounds):
            await agent.send(
                type="reply", conversation=conversation, client_id=f"a{n}", text=f"agent {n}"
            )
            await asyncio.sleep(0.01)

    await asyncio.gather(customer_side(), agent_side())


async def test_customer_and_agent_on_different_processes_each_see_every_message_once(topology):
    customer_url, agent_url = (d.url for d in topology.daphnes)
    _key, widget, welcome, agent = await handed_over_chat(
        topology, "cross-agent", customer_url, agent_url
    )
    conversation = welcome["conversation"]
    # A second tab of the customer on the same process: it hears the agent through Redis once.
    tab, _ = await customer(customer_url, welcome["token"])
    listeners, _ = await hub(topology, LISTENERS.format(conversation=conversation, change=""))
    customer_process = {e.split(":")[1] for e in listeners if e.startswith("customer:")}
    watcher_process = {e.split(":")[1] for e in listeners if e.startswith("watcher:")}
    assert len(customer_process) == len(watcher_process) == 1, listeners
    assert customer_process != watcher_process, listeners

    await exchange(widget, agent, conversation, rounds=25)
    await quiet(widget, tab, agent)

    _, last_seq = await hub(topology, LISTENERS.format(conversation=conversation, change=""))
    everything = set(range(1, last_seq + 1))
    texts = {f["text"] for f in widget.frames if f["type"] == "message"}
    assert {f"agent {n}" for n in range(25)} <= texts
    for socket in (widget, tab):
        assert socket.live_seqs().most_common(1)[0][1] == 1, "a message came twice"
        assert set(socket.live_seqs()) == everything, "a message never came"
    assert agent.seen_seqs() == everything
    assert agent.live_seqs().most_common(1)[0][1] == 1, "the agent got a message twice"
    for socket in (widget, tab, agent):
        await socket.close()


async def test_a_crashed_process_entry_costs_a_publish_and_loses_or_doubles_nothing(topology):
    # Customer and agent on one process: without the stale entries nothing would cross Redis.
    url = topology.daphnes[0].url
    _key, widget, welcome, agent = await handed_over_chat(topology, "stale-agent", url, url)
    conversation = welcome["conversation"]
    stale = (
        f"c.listeners = [*c.listeners, 'customer:{CRASHED}', 'watcher:{CRASHED}']\n"
        "c.save(update_fields=['listeners'])"
    )
    await hub(topology, LISTENERS.format(conversation=conversation, change=stale))

    await exchange(widget, agent, conversation, rounds=15)
    await quiet(widget, agent)

    _, last_seq = await hub(topology, LISTENERS.format(conversation=conversation, change=""))
    assert set(widget.live_seqs()) == set(range(1, last_seq + 1))
    assert widget.live_seqs().most_common(1)[0][1] == 1, "the process's own echo came back"
    assert agent.seen_seqs() == set(range(1, last_seq + 1))
    assert agent.live_seqs().most_common(1)[0][1] == 1
    await widget.close()
    await agent.close()
    await asyncio.sleep(1.0)
    listeners, _ = await hub(topology, LISTENERS.format(conversation=conversation, change=""))
    assert sorted(listeners) == [f"customer:{CRASHED}", f"watcher:{CRASHED}"], listeners


async def test_sockets_joining_on_another_process_mid_burst_miss_nothing(topology):
    customer_url, agent_url = (d.url for d in topology.daphnes)
    key, widget, welcome, agent = await handed_over_chat(
        topology, "joining-agent", customer_url, agent_url
    )
    conversation = welcome["conversation"]
    burst = asyncio.ensure_future(exchange(widget, agent, conversation, rounds=40))
    # While both type, watchers open on the agent's process and tabs on the customer's.
    late: list[Socket] = []
    while not burst.done():
        late.append(await agent_watching(agent_url, key, conversation))
        late.append((await customer(customer_url, welcome["token"]))[0])
        await asyncio.sleep(0.05)
    await burst
    await quiet(widget, agent, *late)

    _, last_seq = await hub(topology, LISTENERS.format(conversation=conversation, change=""))
    assert len(late) >= 4, "the burst ended before anyone joined"
    for socket in late:
        seen = socket.seen_seqs()
        assert seen == set(range(1, last_seq + 1)), f"missing {set(range(1, last_seq + 1)) - seen}"
    for socket in [widget, agent, *late]:
        await socket.close()
    await asyncio.sleep(1.0)
    listeners, _ = await hub(topology, LISTENERS.format(conversation=conversation, change=""))
    assert listeners == [], "the last sockets to leave did not take their entries away"
