"""This process's turns of each chat: one at a time, and the version the last one left.

A customer with two tabs open sends from two sockets. Their turns of the chat wait for each
other, so the second is computed on the tracker the first left instead of being refused as
STALE and computed twice; turns on different processes still can be, and socket_turns does
not redo one that ran a custom action. A turn whose socket went away still holds its chat
until it ends (`finish_later`).
"""

import asyncio
import collections
import contextlib
import logging

from handoff_hub import lifecycle

logger = logging.getLogger(__name__)

_RECENT = 10_000  # chats whose last committed version is remembered

# Per chat, the tracker_version its last turn on this process committed (the most recent
# chats only): a turn that waited for another knows to re-read, even after that one left.
_commits: collections.OrderedDict[int, int] = collections.OrderedDict()


class _Chat:
    def __init__(self):
        self.lock = asyncio.Lock()
        self.waiting = 0  # turns holding or waiting for the lock, and unfinished ones
        self.unfinished: set[asyncio.Task] = set()  # turns their sockets left running


_chats: dict[int, _Chat] = {}


@contextlib.asynccontextmanager
async def one_at_a_time(conversation_id: int):
    """Hold the chat's turn on this process (its entry lives while a turn holds or waits)."""
    chat = _chats.get(conversation_id)
    if chat is None:
        chat = _chats[conversation_id] = _Chat()
    chat.waiting += 1
    try:
        async with chat.lock:
            unfinished = [task for task in chat.unfinished if not task.done()]
            if unfinished:
                await asyncio.wait(unfinished)
            yield
    finally:
        _leave(conversation_id, chat)


def idle(conversation_id: int) -> bool:
    """No turn of the chat holds it, waits for it or runs on here."""
    return conversation_id not in _chats


def finish_later(conversation_id: int, turn: asyncio.Future) -> None:
    """The holder of the chat's turn leaves (its socket closed) while `turn` runs on: the
    chat's next turn here waits for it as if it still held the chat, and a drain waits for it
    as work in flight."""
    chat = _chats[conversation_id]  # the caller holds the turn, so its entry exists
    chat.waiting += 1

    async def run_out() -> None:
        async with lifecycle.tracked():
            try:
                await turn
            except Exception:
                logger.exception("A bot turn of conversation %s failed", conversation_id)

    task = asyncio.ensure_future(run_out())
    chat.unfinished.add(task)

    def ended(_task) -> None:
        chat.unfinished.discard(task)
        _leave(conversation_id, chat)

    task.add_done_callback(ended)


def _leave(conversation_id: int, chat: _Chat) -> None:
    chat.waiting -= 1
    if chat.waiting == 0:
        del _chats[conversation_id]


def note_commit(conversation_id: int, version: int) -> None:
    """A turn of the chat committed, leaving its tracker at `version`."""
    _commits[conversation_id] = max(version, _commits.get(conversation_id, 0))
    _commits.move_to_end(conversation_id)
    if len(_commits) > _RECENT:
        _commits.popitem(last=False)


def last_commit(conversation_id: int, default: int) -> int:
    """The version the chat's last turn here left, or `default` if none is remembered."""
    return _commits.get(conversation_id, default)
