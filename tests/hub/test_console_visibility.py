"""Live console events reach only the agents who may see the chat (and every supervisor)."""

import pytest
from channels.db import database_sync_to_async

from handoff_hub.models import AgentProfile, Conversation, Queue
from handoff_hub.tokens import issue_customer_token
from tests.hub.conftest import agent, customer, say

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _sales_chat_and_agent(make_agent):
    make_agent("alex")  # creates the Support queue, alex serves it
    sales = Queue.objects.create(name="Sales")
    bea = make_agent("bea")
    profile = AgentProfile.objects.get(user=bea)
    profile.queues.set([sales])
    chat = Conversation.objects.create(queue=sales)
    return chat, bea


async def test_queued_chat_of_another_queue_never_reaches_an_agent_console(make_agent):
    chat, bea = await database_sync_to_async(_sales_chat_and_agent)(make_agent)
    alex = await database_sync_to_async(
        lambda: AgentProfile.objects.get(display_name="Alex").user
    )()
    boss = await database_sync_to_async(make_agent)("sam", supervisor=True)
    alex_console, bea_console, boss_console = [await agent(u) for u in (alex, bea, boss)]

    cust, _ = await customer(token=issue_customer_token(chat.public_id))
    await say(cust, "I want to talk to a human", "c-1")
    public_id = str(chat.public_id)

    def queued(frame: dict) -> bool:
        return frame["type"] == "conversation" and frame["conversation"]["id"] == public_id

    assert (await bea_console.until(queued))["conversation"]["queue"] == "Sales"
    await boss_console.until(queued)
    # alex stays quiet about it (frames of alex's own queue would still arrive)
    while not await alex_console.quiet(1.0):
        await alex_console.next()
    assert not any(queued(f) for f in alex_console.received)
    for peer in (cust, alex_console, bea_console, boss_console):
        await peer.close()


async def test_a_bot_handoff_summary_is_read_inside_its_batch(make_agent):
    """The summary of a chat a bot turn hands off is built by the turn's batch, before its
    commit: the queue, the new ticket, and the last message the batch wrote."""
    chat, _bea = await database_sync_to_async(_sales_chat_and_agent)(make_agent)
    boss = await database_sync_to_async(make_agent)("sam", supervisor=True)
    boss_console = await agent(boss)
    cust, _ = await customer(token=issue_customer_token(chat.public_id))
    await say(cust, "I want to talk to a human", "c-1")
    public_id = str(chat.public_id)
    frame = await boss_console.until(
        lambda f: f["type"] == "conversation" and f["conversation"]["id"] == public_id
    )
    summary = frame["conversation"]
    row = await Conversation.objects.aget(pk=chat.pk)
    ticket = await row.tickets.aget()
    last = await row.messages.order_by("-seq").afirst()
    assert (summary["status"], summary["queue"]) == ("queued", "Sales")
    assert summary["reason"] == ticket.reason == "explicit_request"
    assert summary["enqueued_at"] == ticket.enqueued_at.isoformat()
    assert (summary["last_message"], summary["last_seq"]) == (last.text, row.last_seq)
    assert last.seq > 2  # the bot said something, then the hub queued the chat
    for peer in (cust, boss_console):
        await peer.close()
