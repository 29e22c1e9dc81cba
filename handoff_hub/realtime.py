"""Channels groups and publishing events after the database commits.

The channel layer is a notification bus that may drop messages; the database is the record.
Publishing on commit means a client never sees a change that was rolled back, and a client that
missed an event catches up by replaying from the database.

Publishing never blocks the thread that committed: events go, in commit order, through one
outbox per event loop that a single task drains. If the layer (Redis) fails, the outbox drops
what it cannot send; a probe thread (`layer_probe`) notices when Redis answers again, and every
socket of this process catches up from the database (see `live.resync_all`).
"""

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from handoff_hub.layer_probe import LayerProbe, redis_url_of_layer

logger = logging.getLogger(__name__)
CONSOLE_GROUP = "console"
# After Redis is back, sockets catch up at once and once more a little later: channels_redis
# re-subscribes only when its receive loop next runs, and events in between are replayed too.
RESYNC_AGAIN_SECONDS = 2.0
_OUTBOX_LIMIT = 100_000


def _key(public_id) -> str:
    # Group names allow only [a-zA-Z0-9._-]: use the UUID's hex form whatever we were given.
    return uuid.UUID(str(public_id)).hex


def customer_group(public_id) -> str:
    """Every open widget of one conversation."""
    return f"customer.{_key(public_id)}"


def watchers_group(public_id) -> str:
    """Agents who have the conversation open (transcript, notes, typing)."""
    return f"watch.{_key(public_id)}"


def publish_on_commit(group: str, payload: dict | Callable[[], dict]) -> None:
    """Send `payload` to every socket in `group` once the current transaction commits.

    `payload` may be a function, called then: for frames of rows written later in the
    transaction.
    """
    transaction.on_commit(lambda: _send(group, payload() if callable(payload) else payload))


def send_now(group: str, payload: dict) -> None:
    """Send outside any transaction (for derived, non-stored frames such as queue positions)."""
    _send(group, payload)


class Outbox:
    """Events of one event loop, sent in order by one task; never blocks the sender."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()
        self.layer_down = False
        self.dropped = 0
        self.task = loop.create_task(self._drain())

    def put(self, group: str, payload: dict) -> None:
        # Called on the loop's thread (directly or through call_soon_threadsafe).
        if self.queue.qsize() >= _OUTBOX_LIMIT:
            self.dropped += 1  # the layer is far behind: clients will replay from the DB
            return
        self.queue.put_nowait((group, {"type": "hub.event", "payload": payload}))

    async def _drain(self) -> None:
        layer = get_channel_layer()
        while True:
            group, message = await self.queue.get()
            try:
                await layer.group_send(group, message)
                self._layer_answered()
            except Exception as error:  # noqa: BLE001 - the layer may drop; the DB replays
                self._layer_failed(error)

    def _layer_failed(self, error) -> None:
        if not self.layer_down:
            logger.warning("Channel layer failed (%r): events are dropped until it is back", error)
        self.layer_down = True

    def _layer_answered(self) -> None:
        if self.layer_down:
            self.layer_down = False
            logger.warning("Channel layer is back: every socket catches up from the database")
            from handoff_hub import live

            live.resync_all()
            self.loop.call_later(RESYNC_AGAIN_SECONDS, live.resync_all)


_outboxes: dict[asyncio.AbstractEventLoop, Outbox] = {}
_outbox_lock = threading.Lock()
_served_loop: asyncio.AbstractEventLoop | None = None
_probe: LayerProbe | None = None


def _tell_outboxes(method: str, *args) -> None:
    # From the probe's thread: each outbox hears it on its own loop.
    for loop, outbox in list(_outboxes.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(getattr(outbox, method), *args)


def _ensure_probe() -> None:
    global _probe
    url = redis_url_of_layer()
    if url is None or (_probe is not None and _probe.is_alive()):
        return
    _probe = LayerProbe(
        url,
        on_down=lambda: _tell_outboxes("_layer_failed", "no answer"),
        on_up=lambda: _tell_outboxes("_layer_answered"),
    )
    _probe.start()


def serve_from(loop: asyncio.AbstractEventLoop) -> None:
    """Consumers call this on connect: events committed in any thread go out on `loop`."""
    global _served_loop
    _served_loop = loop
    outbox_for(loop)


def outbox_for(loop: asyncio.AbstractEventLoop) -> Outbox:
    outbox = _outboxes.get(loop)
    if outbox is None:
        with _outbox_lock:
            for stale in [other for other in _outboxes if other.is_closed()]:
                del _outboxes[stale]
            outbox = _outboxes.get(loop) or Outbox(loop)
            _outboxes[loop] = outbox
            _ensure_probe()
    return outbox


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _send(group: str, payload: dict) -> None:
    loop = _served_loop
    here = _running_loop()
    if here is not None:
        outbox_for(here).put(group, payload)
    elif loop is not None and loop.is_running() and loop in _outboxes:
        loop.call_soon_threadsafe(_outboxes[loop].put, group, payload)
    else:
        # No sockets served here (management commands, sync tests): send and wait.
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, {"type": "hub.event", "payload": payload})


def publish_conversation_on_commit(conversation_id: int) -> None:
    """Tell the consoles how a conversation looks after the current transaction commits.

    The summary is computed after commit so it includes everything the transaction did.
    """

    def send() -> None:
        from handoff_hub.models import Conversation
        from handoff_hub.presenters import conversation_summary

        conversation = Conversation.objects.select_related("queue", "assigned_agent").get(
            pk=conversation_id
        )
        summary = conversation_summary(conversation)
        _send(CONSOLE_GROUP, {"type": "conversation", "conversation": summary})

    transaction.on_commit(send)
