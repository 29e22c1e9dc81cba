"""The sockets this process serves: its local groups, and catching up when live events were
lost.

A live event goes straight to this process's sockets in its group (no channel-layer round
trip), and through Redis only when a socket on another process may be in it (see
handoff_hub.listeners). Events a process publishes through Redis carry its id, and its own
sockets drop them on the way back: they had them locally.
"""

import asyncio
import logging
import weakref
from collections.abc import Callable

from channels.db import database_sync_to_async

logger = logging.getLogger(__name__)
_sockets: "weakref.WeakSet" = weakref.WeakSet()
_groups: "dict[str, weakref.WeakSet]" = {}
# group → the write of this process's entry in the conversation's listeners.
_noting: dict[str, asyncio.Future] = {}
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


# ---- local groups ----
def join(group: str, consumer) -> bool:
    """Add a local socket to `group`; True if it is the group's first on this process."""
    members = _groups.setdefault(group, weakref.WeakSet())
    first = not members
    members.add(consumer)
    return first


def has_local(group: str) -> bool:
    """Does a socket of this process listen to `group`? (Safe from any thread.)"""
    return bool(_groups.get(group))


def leave(group: str, consumer) -> bool:
    """Take a local socket out of `group`; True if it was the group's last on this process."""
    members = _groups.get(group)
    if members is None or consumer not in members:
        return False
    members.discard(consumer)
    if not members:
        del _groups[group]
        _noting.pop(group, None)
        return True
    return False


def noting(group: str, write: Callable[[], asyncio.Future]) -> asyncio.Future:
    """The write of this process's listener entry for `group`: started by the group's first
    socket and awaited by every socket that joins, so none reads its backlog before the entry
    is committed. A write that failed is tried again by the next one."""
    pending = _noting.get(group)
    if pending is None or (pending.done() and (pending.cancelled() or pending.exception())):
        pending = _noting[group] = write()
    return pending


def deliver(group: str, payload: dict) -> None:
    """Hand `payload` to every socket of `group` on this process (on the loop's thread)."""
    for consumer in list(_groups.get(group, ())):
        consumer.deliver(payload)


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
