"""The base of the hub's WebSocket consumers: connection hygiene and live groups."""

import asyncio
import logging

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from handoff_hub import group_commit, listeners, live
from handoff_hub.realtime import layer_is_shared, running_loop

logger = logging.getLogger(__name__)


class HubConsumer(AsyncJsonWebsocketConsumer):
    """Channels refreshes the database connection before every handler — a trip to a worker
    thread for each frame and each live event. The hub does it only where a handler touches
    the database from the shared async-ORM thread (`refresh_connections_on`); the message
    path's threads (group commit, engine pool) manage their own connections.

    Live events come two ways: straight from this process (`deliver`, see handoff_hub.live)
    and through the channel layer from other processes (`hub_event`); both end in
    `on_live_event`, handled one at a time with the socket's frames.
    """

    refresh_connections_on: frozenset[str] = frozenset({"websocket.connect"})

    async def __call__(self, scope, receive, send) -> None:
        # One inbox for the socket's frames and this process's live events: both are handled
        # one at a time, in the order they came, like the channel layer's events.
        self.loop = asyncio.get_running_loop()
        self.inbox: asyncio.Queue = asyncio.Queue()
        pump = self.loop.create_task(self._pump(receive))
        try:
            await super().__call__(scope, self.inbox.get, send)
        finally:
            pump.cancel()

    async def _pump(self, receive) -> None:
        while True:
            message = await receive()
            self.inbox.put_nowait(message)
            if message["type"] == "websocket.disconnect":
                return

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        if message["type"] in self.refresh_connections_on:
            await aclose_old_connections()
        await handler(message)

    # ---- live groups ----
    async def join_group(
        self, group: str, conversation_id: int | None = None, kind: str = "", noted=False
    ) -> None:
        """Join `group` here and on the channel layer. For a conversation's group (`kind`),
        return only once this process is in the row's listeners, as the caller reads the
        backlog next (see handoff_hub.listeners); `noted`: the row is (or will be, for a
        chat not created yet: `conversation_id` None) created with this process's entry."""
        live.join(group, self)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
            if kind and layer_is_shared():
                entry = listeners.key(kind)
                write = (
                    _done
                    if noted
                    else lambda: group_commit.submit(
                        listeners.add, conversation_id, entry, order_key=conversation_id
                    )
                )
                # Shielded: a socket that closes meanwhile must not cancel the others' wait.
                await asyncio.shield(live.noting(group, write))
        except BaseException:
            self._leave_here(group, conversation_id, kind)
            raise

    async def leave_group(
        self, group: str, conversation_id: int | None = None, kind: str = ""
    ) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)
        removal = self._leave_here(group, conversation_id, kind)
        if removal is not None:
            # Waited for, so a closed socket leaves no write running behind it.
            await asyncio.wait([removal])

    def _leave_here(
        self, group: str, conversation_id: int | None, kind: str
    ) -> asyncio.Future | None:
        """Leave the local group; if it was this process's last socket there, the removal of
        its listener entry (until it commits, writers publish to a process that drops it)."""
        if not (live.leave(group, self) and kind and layer_is_shared()):
            return None
        if conversation_id is None:
            return None  # the chat's row was never created: it lists nobody
        removal = group_commit.submit(
            listeners.remove, conversation_id, listeners.key(kind), order_key=conversation_id
        )
        removal.add_done_callback(_log_failure)
        return removal

    def deliver(self, payload: dict) -> None:
        """An event of this process for this socket (called on the outbox's loop)."""
        loop = getattr(self, "loop", None)
        if loop is None or loop.is_closed():
            return
        message = {"type": "hub.local", "payload": payload}
        if loop is running_loop():
            self.inbox.put_nowait(message)
        else:
            loop.call_soon_threadsafe(self.inbox.put_nowait, message)

    async def hub_local(self, event: dict) -> None:
        await self.on_live_event(event["payload"])

    async def hub_event(self, event: dict) -> None:
        if event.get("origin") == listeners.PROCESS:
            return  # published by this process for others: delivered here directly
        await self.on_live_event(event["payload"])

    async def on_live_event(self, payload: dict) -> None:
        await self.send_json(payload)


def _done() -> asyncio.Future:
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("Could not update a conversation's listeners: %s", future.exception())
