"""A scripted customer that behaves like the widget: it resends what was not acknowledged,
reconnects with its token and last seq, and keeps every message it was shown, by seq.

The fault tests compare what each one saw with the database afterwards.
"""

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field

import psycopg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

RECONNECT_ERRORS = (OSError, ConnectionClosed, InvalidStatus, TimeoutError, asyncio.TimeoutError)


class Reconnect(Exception):
    """The socket is gone (or the hub asked us to try again later): connect again."""


@dataclass
class Chaos:
    """How unreliable the customer's own network is."""

    drop_after_send: float = 0.0  # chance to drop the socket right after sending (before ack)
    think_seconds: tuple[float, float] = (0.02, 0.15)
    rng: random.Random = field(default_factory=lambda: random.Random(8))


class ScriptedCustomer:
    def __init__(self, base_url: str, script: list[str], name: str, chaos: Chaos | None = None):
        self.url = base_url.replace("http://", "ws://") + "/ws/chat/"
        self.origin = base_url
        self.script = script
        self.name = name
        self.chaos = chaos or Chaos()
        self.token: str | None = None
        self.conversation: str | None = None
        self.seen: dict[int, dict] = {}
        self.acked: dict[str, int] = {}
        self.try_again = 0
        self.reconnects = 0
        self.close_codes: list[int] = []  # close codes the hub sent this customer
        self.ws = None
        self._ack_waiters: dict[str, asyncio.Future] = {}

    @property
    def last_seq(self) -> int:
        seq = 0
        while seq + 1 in self.seen:
            seq += 1
        return seq

    async def _open(self) -> None:
        self.ws = await connect(self.url, origin=self.origin, open_timeout=10, ping_interval=None)
        await self.ws.send(
            json.dumps({"type": "hello", "token": self.token, "last_seq": self.last_seq})
        )
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if frame["type"] == "welcome":
                self.token, self.conversation = frame["token"], frame["conversation"]
                return
            if frame["type"] == "error":
                await self.ws.close()
                raise Reconnect(frame["code"])
            self._take(frame)

    def _take(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "message":
            self.seen.setdefault(frame["seq"], frame)
        elif kind == "ack":
            self.acked[frame["client_id"]] = frame["seq"]
            waiter = self._ack_waiters.pop(frame["client_id"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(frame["seq"])
        elif kind == "error" and frame.get("code") == "try_again":
            self.try_again += 1
            waiter = self._ack_waiters.pop(frame.get("ref"), None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(Reconnect("try_again"))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._take(json.loads(raw))
        except ConnectionClosed:
            pass
        for waiter in self._ack_waiters.values():
            if not waiter.done():
                waiter.set_exception(Reconnect("closed"))
        self._ack_waiters.clear()

    async def _send_until_acked(self, client_id: str, text: str, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while client_id not in self.acked:
            if loop.time() > deadline:
                raise AssertionError(f"{self.name}: '{text}' never acknowledged")
            reader = None
            try:
                if self.ws is None:
                    await self._open()
                reader = asyncio.ensure_future(self._read())
                waiter = loop.create_future()
                self._ack_waiters[client_id] = waiter
                await self.ws.send(
                    json.dumps({"type": "message", "client_id": client_id, "text": text})
                )
                if self.chaos.rng.random() < self.chaos.drop_after_send:
                    self.ws.transport.abort()  # the network drops, the message may be in flight
                await asyncio.wait_for(waiter, 10)
                await asyncio.sleep(0)
                reader.cancel()
            except (Reconnect, *RECONNECT_ERRORS):
                self.reconnects += 1
                if reader is not None:
                    reader.cancel()
                await self._drop()
                await asyncio.sleep(self.chaos.rng.uniform(0.1, 0.6))

    async def _drop(self) -> None:
        closed_by_hub = self.ws.protocol.close_rcvd if self.ws is not None else None
        if closed_by_hub is not None:
            self.close_codes.append(closed_by_hub.code)
        if self.ws is not None:
            with contextlib.suppress(Exception):  # already gone
                self.ws.transport.abort()
        self.ws = None

    async def run(self, timeout: float = 120) -> None:
        """Send the whole script, each message until it is acknowledged."""
        deadline = asyncio.get_running_loop().time() + timeout
        for number, text in enumerate(self.script):
            await self._send_until_acked(f"{self.name}-{number}", text, deadline)
            await asyncio.sleep(self.chaos.rng.uniform(*self.chaos.think_seconds))
        await self._drop()

    async def catch_up(self, quiet: float = 0.7, attempts: int = 20) -> None:
        """Reconnect once more and read until nothing new comes (replay by last seq)."""
        for _attempt in range(attempts):
            try:
                await self._open()
                while True:
                    try:
                        self._take(json.loads(await asyncio.wait_for(self.ws.recv(), quiet)))
                    except TimeoutError:
                        break
                await self.ws.close()
                self.ws = None
                return
            except (Reconnect, *RECONNECT_ERRORS):
                await self._drop()
                await asyncio.sleep(0.5)
        raise AssertionError(f"{self.name} could not reconnect to catch up")

    async def listen(self, seconds: float) -> None:
        """Stay connected (no resend, no reconnect) and take what the hub pushes."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            try:
                self._take(json.loads(await asyncio.wait_for(self.ws.recv(), end - loop.time())))
            except TimeoutError:
                return

    def view(self) -> list[tuple[int, str, str]]:
        return [(s, self.seen[s]["sender"], self.seen[s]["text"]) for s in sorted(self.seen)]


def stored_transcripts(database_url: str, conversations: list[str]) -> dict[str, list]:
    """Every listed conversation's messages in the database, as (seq, sender, text), by seq."""
    query = (
        "SELECT c.public_id::text, m.seq, m.sender, m.text FROM hub_message m "
        "JOIN hub_conversation c ON c.id = m.conversation_id "
        "WHERE c.public_id::text = ANY(%s) ORDER BY c.public_id, m.seq"
    )
    found: dict[str, list] = {conversation: [] for conversation in conversations}
    with psycopg.connect(database_url) as connection:
        for public_id, seq, sender, text in connection.execute(query, (conversations,)):
            found[public_id].append((seq, sender, text))
    return found


def assert_nothing_lost_duplicated_or_reordered(customers: list[ScriptedCustomer], database_url):
    stored = stored_transcripts(database_url, [c.conversation for c in customers])
    for customer in customers:
        transcript = stored[customer.conversation]
        said = [text for _seq, sender, text in transcript if sender == "customer"]
        assert said == customer.script, f"{customer.name}: stored {said}, sent {customer.script}"
        seqs = [seq for seq, _sender, _text in transcript]
        assert seqs == list(range(1, len(seqs) + 1)), f"{customer.name}: gaps in {seqs}"
        assert customer.view() == transcript, f"{customer.name} saw something else than stored"
        for client_id, seq in customer.acked.items():
            number = int(client_id.rsplit("-", 1)[1])
            assert transcript[seq - 1] == (seq, "customer", customer.script[number])
