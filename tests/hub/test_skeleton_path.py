"""The walking skeleton, end to end over WebSockets: bot, handoff, queue, claim, agent reply."""

import pytest
from channels.db import database_sync_to_async

from handoff_hub.engine import get_assistant
from handoff_hub.models import AuditEvent, Conversation, HandoffTicket, Message
from tests.hub.conftest import agent, customer, say

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

HANDOFF_REQUEST = "I want to talk to a human"


def _is_message_from(sender):
    return lambda f: f["type"] == "message" and f["sender"] == sender


async def _hand_off(cust) -> None:
    await say(cust, HANDOFF_REQUEST, "handoff-1")
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")


def _summary_of(public_id: str) -> dict:
    from handoff_hub.presenters import conversation_summary

    return conversation_summary(Conversation.objects.get(public_id=public_id))


async def test_customer_message_is_stored_then_answered_by_the_bot(make_agent):
    cust, welcome = await customer()
    ack = await say(cust, "hello", "c-1")
    assert ack["seq"] == 1 and ack["duplicate"] is False
    reply = await cust.until(_is_message_from("bot"))
    assert reply["seq"] > 1 and reply["text"]
    stored = await database_sync_to_async(list)(
        Message.objects.filter(conversation__public_id=welcome["conversation"]).values_list(
            "sender", "text"
        )
    )
    assert stored[0] == ("customer", "hello")
    assert ("bot", reply["text"]) in stored
    await cust.close()


async def test_handoff_puts_the_chat_in_the_live_queue_and_agent_reply_reaches_customer(
    make_agent,
):
    user = await database_sync_to_async(make_agent)("alex")
    console = await agent(user)
    cust, welcome = await customer()
    conversation_id = welcome["conversation"]

    await _hand_off(cust)
    queued = await console.until(
        lambda f: f["type"] == "conversation" and f["conversation"]["id"] == conversation_id
    )
    assert queued["conversation"]["status"] == "queued"
    assert queued["conversation"]["reason"] == "explicit_request"
    # Built by the group commit from the rows it held: the same as reading the chat afterwards.
    assert queued["conversation"] == await database_sync_to_async(_summary_of)(conversation_id)

    await console.send({"type": "open", "conversation": conversation_id})
    transcript = await console.until(lambda f: f["type"] == "transcript")
    texts = [m["text"] for m in transcript["messages"]]
    assert HANDOFF_REQUEST in texts
    assert transcript["ticket"]["reason"] == "explicit_request"
    assert transcript["ticket"]["bot_context"]["latest_intents"]

    await console.send({"type": "claim", "conversation": conversation_id})
    joined = await cust.until(
        lambda f: f["type"] == "message" and f["data"].get("event") == "agent_joined"
    )
    assert "Alex" in joined["text"]
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "assigned", seen=True)

    await console.send(
        {
            "type": "reply",
            "conversation": conversation_id,
            "client_id": "a-1",
            "text": "Hi, Alex here",
        }
    )
    from_agent = await cust.until(_is_message_from("agent"))
    assert from_agent["text"] == "Hi, Alex here"
    assert from_agent["agent_name"] == "Alex"

    await say(cust, "Thanks Alex", "c-after")
    seen_by_agent = await console.until(
        lambda f: (
            f["type"] == "message" and f["sender"] == "customer" and f["text"] == "Thanks Alex"
        )
    )
    assert seen_by_agent["conversation"] == conversation_id

    conversation = await Conversation.objects.aget(public_id=conversation_id)
    assert conversation.status == "assigned"
    actions = [
        a
        async for a in AuditEvent.objects.filter(conversation=conversation).values_list(
            "action", flat=True
        )
    ]
    assert actions == ["enqueue_handoff", "claim"]
    assert await HandoffTicket.objects.filter(conversation=conversation).acount() == 1
    await cust.close()
    await console.close()


async def test_customer_message_after_handoff_never_reaches_bot(make_agent, monkeypatch):
    assistant = await database_sync_to_async(get_assistant)()
    turns = []
    real_handle = assistant.handle

    def counting_handle(*args, **kwargs):
        turns.append(args[1] if len(args) > 1 else kwargs.get("text"))
        return real_handle(*args, **kwargs)

    monkeypatch.setattr(assistant, "handle", counting_handle)
    cust, welcome = await customer()
    await _hand_off(cust)
    assert turns == [HANDOFF_REQUEST]
    handed_off_at = (await Conversation.objects.aget(public_id=welcome["conversation"])).last_seq

    for n in range(5):
        await say(cust, f"hello? hello {n}", f"after-{n}")
    assert turns == [HANDOFF_REQUEST], "the bot engine saw a message after the handoff"
    later_senders = [
        s
        async for s in Message.objects.filter(
            conversation__public_id=welcome["conversation"], seq__gt=handed_off_at
        ).values_list("sender", flat=True)
    ]
    assert later_senders == ["customer"] * 5
    await cust.close()


async def test_resent_message_is_acknowledged_again_but_stored_once(make_agent):
    cust, welcome = await customer()
    first = await say(cust, "where is my order", "same-id")
    again = await say(cust, "where is my order", "same-id")
    assert again["seq"] == first["seq"] and again["duplicate"] is True
    count = await Message.objects.filter(
        conversation__public_id=welcome["conversation"], client_id="same-id"
    ).acount()
    assert count == 1
    await cust.close()


async def test_reconnecting_customer_gets_exactly_what_they_missed(make_agent):
    cust, welcome = await customer()
    await say(cust, "hello", "c-1")
    await cust.until(_is_message_from("bot"))
    await cust.close()
    conversation = await Conversation.objects.aget(public_id=welcome["conversation"])

    again, rewelcome = await customer(token=welcome["token"], last_seq=1)
    assert rewelcome["conversation"] == welcome["conversation"]
    replayed = []
    while not await again.quiet(0.3):
        frame = await again.next()
        if frame["type"] == "message":
            replayed.append(frame["seq"])
    assert replayed == list(range(2, conversation.last_seq + 1))
    await again.close()


async def test_a_waiting_customer_who_reconnects_is_told_their_queue_position_at_once():
    first, welcome = await customer()
    await _hand_off(first)
    await first.close()
    second, _ = await customer()  # another chat joins the queue behind the first
    await _hand_off(second)

    again, rewelcome = await customer(token=welcome["token"], last_seq=0)
    assert rewelcome["status"] == "queued"
    position = await again.until(lambda f: f["type"] == "queue")
    assert position["position"] == 1
    await again.close()
    await second.close()


async def test_a_waiting_customer_hears_of_their_place_only_when_it_changes(make_agent):
    from handoff_hub.transitions import claim_conversation

    agent = await database_sync_to_async(make_agent)("alex")  # offline: nothing is assigned
    peers = []
    for number in range(3):
        peer, welcome = await customer()
        await _hand_off(peer)
        position = await peer.until(lambda f: f["type"] == "queue")
        assert position["position"] == number + 1
        peers.append((peer, welcome["conversation"]))
    # Each chat joining at the back moved nobody ahead of it: those sockets heard nothing
    # more, though every change of the queue told each waiting chat where it stands.
    first, second, third = (peer for peer, _ in peers)
    assert await first.quiet(0.3) and await second.quiet(0.1)
    # The first is claimed: the two behind it move up, and hear it.
    chat = await Conversation.objects.aget(public_id=peers[0][1])
    await database_sync_to_async(claim_conversation)(chat.pk, agent)
    assert (await second.until(lambda f: f["type"] == "queue"))["position"] == 1
    assert (await third.until(lambda f: f["type"] == "queue"))["position"] == 2
    for peer, _ in peers:
        await peer.close()


async def test_a_status_change_between_welcome_and_joining_still_reaches_the_widget(monkeypatch):
    """The welcome's status is read before the socket joins its group: a handoff committed in
    that instant is in no backlog and no live event of this socket."""
    from handoff_hub.consumers import CustomerConsumer
    from handoff_hub.messaging import lock_conversation
    from handoff_hub.transitions import enqueue_handoff

    first, welcome = await customer()
    await first.close()

    def hand_off_now():
        from django.db import transaction

        conversation = Conversation.objects.get(public_id=welcome["conversation"])
        with transaction.atomic():
            enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {})

    join = CustomerConsumer.join_group

    async def join_after_a_handoff(self, *args, **kwargs):
        await database_sync_to_async(hand_off_now)()
        return await join(self, *args, **kwargs)

    monkeypatch.setattr(CustomerConsumer, "join_group", join_after_a_handoff)
    again, rewelcome = await customer(token=welcome["token"], last_seq=0)
    assert rewelcome["status"] == "bot"  # read before the handoff
    status = await again.until(lambda f: f["type"] == "status")
    assert status["status"] == "queued"
    await again.close()
