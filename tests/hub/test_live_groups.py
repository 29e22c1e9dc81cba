"""A socket listens to its conversation before anything can be published to it."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from handoff_hub import listeners, write_batch
from handoff_hub.models import Conversation
from handoff_hub.realtime import customer_group, layer_is_shared
from tests.hub.conftest import customer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_an_event_published_the_moment_a_new_chat_is_committed_reaches_its_widget(
    monkeypatch,
):
    # Another process may write to the chat as soon as its row (listing this process as a
    # listener) is committed, and a new chat replays nothing: its socket must listen by then.
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    new_rows: list[Conversation] = []
    frame = {"type": "message", "seq": 1, "sender": "agent", "text": "Hello from elsewhere"}
    create_conversation = write_batch.create_conversation

    def create_and_publish_at_commit(**fields) -> Conversation:
        conversation = create_conversation(**fields)
        new_rows.append(conversation)
        event = {"type": "hub.event", "origin": "another-process", "payload": frame}
        send = layer.group_send(customer_group(conversation.public_id), event)
        # The writer thread waits for the publish: nothing of the hub moves on meanwhile.
        transaction.on_commit(lambda: asyncio.run_coroutine_threadsafe(send, loop).result(5))
        return conversation

    monkeypatch.setattr(write_batch, "create_conversation", create_and_publish_at_commit)
    peer, welcome = await customer()
    [conversation] = new_rows
    assert welcome["conversation"] == str(conversation.public_id)
    if layer_is_shared():
        assert conversation.listeners == [listeners.key(listeners.CUSTOMER)]
    got = await peer.until(lambda f: f["type"] == "message", timeout=3)
    assert got["text"] == "Hello from elsewhere"
    await peer.close()
