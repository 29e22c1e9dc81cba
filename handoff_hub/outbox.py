"""One outbox per event loop: live events in commit order, local sockets first, then Redis.

`put` runs on the loop's thread. It hands the event to this process's sockets at once
(handoff_hub.live) and queues it for the channel layer only when a socket on another process
may be in the group; one task drains that queue, so publishing never blocks the thread that
committed. If the layer (Redis) fails, the outbox drops what it cannot send; a probe thread
(`layer_probe`) notices when Redis answers again, and every socket of this process catches up
from the database (`live.resync_all`).
"""

import asyncio
import logging
import threading

from channels.layers import get_channel_layer

from handoff_hub import listeners, live
from handoff_hub.layer_probe import LayerProbe, redis_url_of_layer

logger = logging.getLogger(__name__)
# After Redis is back, sockets catch up at once and once more a little later: channels_redis
# re-subscribes only when its receive loop next runs, and events in between are replayed too.
RESYNC_AGAIN_SECONDS = 2.0
_OUTBOX_LIMIT = 100_000


class Outbox:
    """Events of one event loop, sent in order by one task; never blocks the sender."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()
        self.layer_down = False
        self.dropped = 0
        self.task = loop.create_task(self._drain())

    def put(self, group: str, payload: dict, remote: bool = True) -> None:
        live.deliver(group, payload)
        if not remote:
            return
        if self.queue.qsize() >= _OUTBOX_LIMIT:
            self.dropped += 1  # the layer is far behind: clients will replay from the DB
            return
        message = {"type": "hub.event", "payload": payload, "origin": listeners.PROCESS}
        self.queue.put_nowait((group, message))

    def put_many(self, events: list[tuple[str, dict, bool]]) -> None:
        for group, payload, remote in events:
            self.put(group, payload, remote)

    async def _drain(self) -> None:
        layer = get_channel_layer()
        while True:
            group, message = await self.queue.get()
            try:
                await group_send_fresh(layer, group, message)
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
            live.resync_all()
            self.loop.call_later(RESYNC_AGAIN_SECONDS, live.resync_all)


async def group_send_fresh(layer, group: str, message: dict) -> None:
    """`group_send`, tried once more if it fails: after a Redis restart the pool's old
    connection fails once, and only a fresh one tells whether Redis answers. (A process that
    publishes rarely meets that dead connection long after Redis came back.)"""
    try:
        await layer.group_send(group, message)
    except Exception:  # noqa: BLE001 - the second try raises what is really wrong
        await layer.group_send(group, message)


_outboxes: dict[asyncio.AbstractEventLoop, Outbox] = {}
_lock = threading.Lock()
_probe: LayerProbe | None = None


def outbox_for(loop: asyncio.AbstractEventLoop) -> Outbox:
    outbox = _outboxes.get(loop)
    if outbox is None:
        with _lock:
            for stale in [other for other in _outboxes if other.is_closed()]:
                del _outboxes[stale]
            outbox = _outboxes.get(loop) or Outbox(loop)
            _outboxes[loop] = outbox
            _ensure_probe()
    return outbox


def existing_outbox(loop: asyncio.AbstractEventLoop | None) -> Outbox | None:
    return _outboxes.get(loop) if loop is not None else None


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
