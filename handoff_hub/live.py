"""The sockets this process serves, so they can all catch up when live events were lost."""

import asyncio
import logging
import weakref

from channels.db import database_sync_to_async

logger = logging.getLogger(__name__)
_sockets: "weakref.WeakSet" = weakref.WeakSet()
# Sockets catching up at the same time: a process with thousands of sockets must keep serving
# the live ones while the rest replay.
RESYNC_CONCURRENCY = 8
_CHUNK = 500


def register(consumer) -> None:
    _sockets.add(consumer)


def unregister(consumer) -> None:
    _sockets.discard(consumer)


def count() -> int:
    return len(_sockets)


def resync_all() -> None:
    """Let every socket of this process catch up from the database (on the loop thread).

    One query reads where each socket's conversation stands; only the sockets that missed
    something replay, a few at a time.
    """
    asyncio.ensure_future(_resync_all())


def _heads(conversation_ids: list[int]) -> dict[int, tuple[str, int]]:
    """(status, last_seq) of each conversation."""
    from handoff_hub.models import Conversation

    heads = {}
    for start in range(0, len(conversation_ids), _CHUNK):
        rows = Conversation.objects.filter(pk__in=conversation_ids[start : start + _CHUNK])
        for pk, status, last_seq in rows.values_list("pk", "status", "last_seq"):
            heads[pk] = (status, last_seq)
    return heads


async def _resync_all() -> None:
    sockets = [s for s in list(_sockets) if getattr(s, "conversation", None) is not None]
    try:
        heads = await database_sync_to_async(_heads, thread_sensitive=False)(
            sorted({s.conversation.pk for s in sockets})
        )
    except Exception:  # noqa: BLE001 - the next resync (or the client's reconnect) catches up
        logger.exception("Could not read where the conversations stand")
        return
    behind = [s for s in sockets if s.missed(heads.get(s.conversation.pk))]
    gate = asyncio.Semaphore(RESYNC_CONCURRENCY)
    await asyncio.gather(*(_resync(s, heads[s.conversation.pk], gate) for s in behind))


async def _resync(consumer, head: tuple[str, int], gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            await consumer.resync(head)
        except Exception:  # noqa: BLE001 - one socket's failure must not stop the others
            logger.exception("Could not resync a socket")
