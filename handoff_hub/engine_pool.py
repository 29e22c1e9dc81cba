"""The engine's own thread pool: bot turns (CPU, or waiting on an action server) off the
event loop, each with its thread's database connection kept healthy.

A pool of its own, so a slow action server can never take the threads the rest of the process
(HTTP views, agent actions) runs on.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections

from handoff_hub import connection_upkeep

_engine_pool: ThreadPoolExecutor | None = None
# The pool's threads' database handles (they keep their connections), closed with the pool.
_engine_handles: list = []


async def in_engine_thread(function, *args):
    """Run engine work in the pool and await its result."""
    return await asyncio.get_running_loop().run_in_executor(
        _pool(), with_fresh_connection, function, args
    )


def start_in_engine_thread(function, *args) -> None:
    """Run `function` in the engine pool without awaiting it (it reports back itself)."""
    _pool().submit(with_fresh_connection, function, args)


def _pool() -> ThreadPoolExecutor:
    global _engine_pool
    if _engine_pool is None:
        _engine_pool = ThreadPoolExecutor(
            max_workers=int(settings.HUB.get("ENGINE_THREADS", 16)),
            thread_name_prefix="engine",
            initializer=_note_handles,
            initargs=(_engine_handles,),
        )
    return _engine_pool


def _note_handles(handles: list) -> None:
    handles.extend(connections.all())


def stop_engine_threads() -> None:
    """Let the engine threads finish their turns, end them and close their database
    connections (at shutdown); the next turn starts a new pool."""
    global _engine_pool, _engine_handles
    handles, _engine_handles = _engine_handles, []  # a new pool notes its own
    pool, _engine_pool = _engine_pool, None
    if pool is None:
        return
    pool.shutdown(wait=True)
    for handle in handles:
        handle.inc_thread_sharing()  # its thread has ended: closing it here is safe
        try:
            handle.close()
        finally:
            handle.dec_thread_sharing()


def with_fresh_connection(function, args):
    try:
        # Before the work too: after an idle spell its first query checks the connection's
        # health (a database restarted meanwhile is reconnected to, not failed on).
        connection_upkeep.tidy()
        result = function(*args)
    except BaseException:
        connection_upkeep.tidy(after_error=True)
        raise
    connection_upkeep.tidy()
    return result
