"""The hub's long-lived database threads (group-commit writer, engine pool, queue refresher)
stop at shutdown with their connections closed, and start again when next used."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection, connections

from handoff_hub import dispatch, engine_pool, group_commit
from handoff_hub.lifecycle import stop_worker_threads
from handoff_hub.messaging import store_incoming
from handoff_hub.models import Conversation, Queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def kept_connections(monkeypatch):
    # As in production (CONN_MAX_AGE > 0): the threads keep their connections between jobs.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    yield
    stop_worker_threads()


def _handle_after_a_query():
    """This thread's own database handle, connected."""
    Conversation.objects.count()
    return connections["default"]


async def test_a_stopped_writer_ends_with_its_connection_closed_and_the_next_write_restarts_it():
    writer = group_commit.GroupCommitter()
    conversation = await database_sync_to_async(Conversation.objects.create)()
    handle = await writer.submit(_handle_after_a_query)
    first = writer.thread
    assert handle.connection is not None  # kept after the batch
    assert await asyncio.to_thread(writer.stop)
    assert not first.is_alive()
    assert handle.connection is None
    stored = await writer.submit(
        store_incoming, conversation.pk, "after the stop", "c-1", None, order_key=conversation.pk
    )
    assert stored.created and stored.message.seq == 1
    assert writer.thread is not first and writer.thread.is_alive()
    assert await asyncio.to_thread(writer.stop)


async def test_a_write_queued_while_the_writer_stops_is_still_committed():
    writer = group_commit.GroupCommitter()
    conversation = await database_sync_to_async(Conversation.objects.create)()
    await writer.submit(_handle_after_a_query)
    writer.jobs.put(group_commit._STOP)  # a stop already asked for when the write comes
    stored = await asyncio.wait_for(
        writer.submit(store_incoming, conversation.pk, "late", "c-2", None), timeout=10
    )
    assert stored.created
    assert await asyncio.to_thread(writer.stop)


async def test_stopped_engine_threads_close_their_connections_and_a_later_turn_gets_new_ones():
    handle = await engine_pool.in_engine_thread(_handle_after_a_query)
    assert handle.connection is not None
    await asyncio.to_thread(engine_pool.stop_engine_threads)
    assert handle.connection is None
    again = await engine_pool.in_engine_thread(_handle_after_a_query)
    assert again is not handle and again.connection is not None


async def test_a_stopped_queue_refresher_closes_its_connection_and_a_later_request_restarts_it(
    monkeypatch,
):
    queue = await database_sync_to_async(Queue.objects.create)(name="Support")
    refreshed: list = []
    real_refresh = dispatch.refresh_queue

    def refresh_and_note(queue_id: int) -> None:
        real_refresh(queue_id)
        refreshed.append((threading.current_thread(), connections["default"]))

    monkeypatch.setattr(dispatch, "refresh_queue", refresh_and_note)
    for _attempt in range(2):
        dispatch._request_refresh(queue.pk)
        await _until(lambda: refreshed)
        thread, handle = refreshed.pop()
        assert handle.connection is not None
        assert await asyncio.to_thread(dispatch.stop_background_refresher)
        assert not thread.is_alive() and handle.connection is None


async def _until(condition, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)
