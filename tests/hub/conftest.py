"""Fixtures for driving the hub over real WebSockets (Channels' communicator, full ASGI app)."""

import asyncio
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from handoff_hub import engine_wire
from handoff_hub.asgi import application

ORIGIN = (b"origin", b"http://localhost")
ROOT = Path(__file__).resolve().parents[2]


def session_cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


class Peer:
    """One WebSocket client with a buffer of everything it received."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.received: list[dict] = []

    async def send(self, frame: dict) -> None:
        await self.communicator.send_json_to(frame)

    async def next(self, timeout: float = 5) -> dict:
        frame = await self.communicator.receive_json_from(timeout=timeout)
        self.received.append(frame)
        return frame

    async def until(self, predicate, timeout: float = 10, seen: bool = False) -> dict:
        """Read frames until one matches `predicate`; fail if none does in time.

        With `seen=True` a frame already received earlier also counts (order-independent).
        """
        if seen:
            for frame in self.received:
                if predicate(frame):
                    return frame
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"No matching frame; got {self.received[-10:]}")
            try:
                frame = await self.next(timeout=remaining)
            except TimeoutError:
                raise AssertionError(f"No matching frame; got {self.received[-10:]}") from None
            if predicate(frame):
                return frame

    async def quiet(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.communicator.disconnect()


async def customer(
    token: str | None = None, last_seq: int = 0, **hello: object
) -> tuple[Peer, dict]:
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    assert connected
    peer = Peer(communicator)
    await peer.send({"type": "hello", "token": token, "last_seq": last_seq, **hello})
    welcome = await peer.until(lambda f: f["type"] == "welcome")
    return peer, welcome


async def agent(user) -> Peer:
    cookie = await database_sync_to_async(session_cookie_for)(user)
    communicator = WebsocketCommunicator(
        application, "/ws/console/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    peer = Peer(communicator)
    await peer.until(lambda f: f["type"] == "snapshot")
    return peer


async def say(peer: Peer, text: str, client_id: str) -> dict:
    """Send a customer message and wait for its acknowledgement."""
    await peer.send({"type": "message", "client_id": client_id, "text": text})
    return await peer.until(lambda f: f["type"] == "ack" and f["client_id"] == client_id)


ONE, TWO = "Hello from version one!", "Hello from version two!"


@pytest.fixture
def hub_settings(settings, tmp_path):
    """Assistant versions and their models kept in this test's own directory."""
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_STORE": str(tmp_path / "store"),
        "MODEL_DIR": str(tmp_path / "models"),
        "ASSISTANT_IMPORT_DIRS": [str(tmp_path), str(ROOT)],
    }
    return settings


@pytest.fixture
def make_version(hub_settings, tmp_path):
    """A trained version of assistant "Bot" whose greeting is `greeting`."""
    from handoff_hub.assistants import actions
    from handoff_hub.assistants.deploy import run_now
    from handoff_hub.assistants.models import Assistant, JobKind
    from tests.hub.assistant_projects import write_project

    bot, _ = Assistant.objects.get_or_create(name="Bot")
    count = iter(range(1, 100))

    def make(greeting: str):
        source = write_project(tmp_path / f"project-{next(count)}", greeting=greeting)
        version = actions.add_version_from_directory(bot, str(source))
        run_now(version, JobKind.TRAIN)
        assert version.is_trained, version.jobs.first().error
        return version

    return make


async def a_chat_switches_version_on_activation(make_version) -> None:
    """Version one answers a chat; once version two is activated, it answers the chat's next
    turn, and the row records which version said it."""
    from handoff_hub.assistants import actions
    from handoff_hub.models import Conversation

    first = await database_sync_to_async(make_version)(ONE)
    await database_sync_to_async(actions.activate_version)(first)
    second = await database_sync_to_async(make_version)(TWO)
    cust, welcome = await customer()
    await say(cust, "hello", "c1")
    reply = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert reply["text"] == ONE

    await database_sync_to_async(actions.activate_version)(second)
    await say(cust, "hello again", "c2")
    reply = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert reply["text"] == TWO
    stored = await Conversation.objects.aget(public_id=welcome["conversation"])
    assert stored.assistant_version_id == second.pk
    assert stored.assistant_fingerprint == second.model_fingerprint
    await cust.close()


def record_computed_turns(monkeypatch, in_engine_process: bool):
    """A function giving, for each turn the engine was asked to compute from now on, whether
    it was an early one (in engine threads: each compute; in engine processes: each request)."""
    if in_engine_process:
        sent = record_turn_requests(monkeypatch)
        return lambda: [early for _tracker, _token, early in sent]
    from handoff_hub import bot_turns

    computed = []
    real_compute = bot_turns.compute_turn

    def recording_compute(turn):
        computed.append(turn.early)
        return real_compute(turn)

    monkeypatch.setattr(bot_turns, "compute_turn", recording_compute)
    return lambda: list(computed)


def record_turn_requests(monkeypatch) -> list:
    """(carries a tracker, carries a token, is an early turn) of each turn request the hub
    sends from now on."""
    sent = []
    real_encode = engine_wire.encode

    def recording_encode(message):
        if isinstance(message, engine_wire.TurnRequest):
            turn = message.turn
            sent.append((turn.tracker_state is not None, message.token is not None, turn.early))
        return real_encode(message)

    monkeypatch.setattr(engine_wire, "encode", recording_encode)
    return sent
