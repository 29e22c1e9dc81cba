"""What a graceful shutdown waits for: messages in flight, and whether this process drains.

A process that drains answers `/healthz` with 503 (the proxy stops sending it new clients),
finishes every message it already started storing, then closes its sockets so the widgets and
consoles reconnect to another process and replay what they missed by seq.
"""

import asyncio
import contextlib
import time

_in_flight = 0
_draining = False


def is_draining() -> bool:
    return _draining


def start_draining() -> None:
    global _draining
    _draining = True


def in_flight() -> int:
    return _in_flight


@contextlib.asynccontextmanager
async def tracked():
    """Count the enclosed work as in flight (event-loop side, so no lock is needed)."""
    global _in_flight
    _in_flight += 1
    try:
        yield
    finally:
        _in_flight -= 1


async def wait_until_idle(timeout: float) -> bool:
    """Wait until no tracked work is running; False if `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while _in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return _in_flight == 0


def stop_worker_threads() -> None:
    """End the hub's long-lived database threads and close their connections: the engine
    processes and pool, then the group-commit writer their turns commit through, then the
    queue refresher the writer's commits wake. The last step of a shutdown; each starts again
    when used."""
    from handoff_hub import dispatch, engine_pool, engine_processes, group_commit

    engine_processes.stop_engine_processes()
    engine_pool.stop_engine_threads()
    group_commit.stop()
    dispatch.stop_background_refresher()
