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


async def _sales_chat_under_a_supervisors_eye(make_agent):
    """A Sales chat, Bea who serves Sales, a supervisor's console and the chat's customer."""
    chat, bea = await database_sync_to_async(_sales_chat_and_agent)(make_agent)
    boss = await database_sync_to_async(make_agent)("sam", supervisor=True)
    boss_console = await agent(boss)
    cust, _ = await customer(token=issue_customer_token(chat.public_id))
    return chat, bea, boss_console, cust


async def test_a_bot_handoffs_summary_shows_its_queue_ticket_and_last_message(make_agent):
    """The summary a bot turn's handoff sends (built by the turn's batch) matches the rows."""
    chat, _bea, boss_console, cust = await _sales_chat_under_a_supervisors_eye(make_agent)
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


async def test_every_message_of_a_human_handled_chat_reaches_the_consoles_list(make_agent):
    """The list shows each queued or assigned chat's latest message, whoever wrote it."""
    from handoff_hub.agent_actions import send_agent_message
    from handoff_hub.transitions import claim_conversation

    chat, bea, boss_console, cust = await _sales_chat_under_a_supervisors_eye(make_agent)
    public_id = str(chat.public_id)

    def summary_saying(text: str):
        def matches(frame: dict) -> bool:
            summary = frame.get("conversation") or {}
            return (
                frame["type"] == "conversation"
                and summary.get("id") == public_id
                and summary.get("last_message") == text
            )

        return matches

    await say(cust, "I want to talk to a human", "c-1")
    await boss_console.until(
        lambda f: f["type"] == "conversation" and f["conversation"]["id"] == public_id
    )
    await say(cust, "still there?", "c-2")  # queued: the list's preview follows
    queued = (await boss_console.until(summary_saying("still there?")))["conversation"]
    assert (queued["status"], queued["last_sender"]) == ("queued", "customer")
    await database_sync_to_async(claim_conversation)(chat.pk, bea)
    await say(cust, "are you there?", "c-3")
    summary = (await boss_console.until(summary_saying("are you there?")))["conversation"]
    assert (summary["status"], summary["last_sender"]) == ("assigned", "customer")
    assert (summary["assigned_agent"], summary["queue"]) == ("Bea", "Sales")
    assert summary["reason"] == "explicit_request"
    row = await Conversation.objects.aget(pk=chat.pk)
    assert summary["last_seq"] == row.last_seq
    await database_sync_to_async(send_agent_message)(chat.pk, bea, "Yes, I am here.")
    reply = (await boss_console.until(summary_saying("Yes, I am here.")))["conversation"]
    assert (reply["last_sender"], reply["last_seq"]) == ("agent", row.last_seq + 1)
    for peer in (cust, boss_console):
        await peer.close()
