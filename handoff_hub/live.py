"""The sockets this process serves, so they can all catch up when live events were lost."""

import asyncio
import logging
import weakref

logger = logging.getLogger(__name__)
_sockets: "weakref.WeakSet" = weakref.WeakSet()


def register(consumer) -> None:
    _sockets.add(consumer)


def unregister(consumer) -> None:
    _sockets.discard(consumer)


def count() -> int:
    return len(_sockets)


def resync_all() -> None:
    """Ask every socket of this process to catch up from the database (on the loop thread)."""
    for consumer in list(_sockets):
        asyncio.ensure_future(_resync(consumer))


async def _resync(consumer) -> None:
    try:
        await consumer.resync()
    except Exception:  # noqa: BLE001 - one socket's failure must not stop the others
        logger.exception("Could not resync a socket")
