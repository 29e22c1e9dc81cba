"""Routing rules around the handoff: no agent available, business hours, bot failures,
verified customer identities, and agents who go silent."""

import asyncio
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from handoff_hub.availability import is_open, unavailable_reason
from handoff_hub.messaging import lock_conversation
from handoff_hub.models import Conversation, HandoffTicket, Message, Queue
from handoff_hub.status import NoAgentBehaviour
from handoff_hub.tokens import identity_signature
from handoff_hub.transitions import claim_conversation, enqueue_handoff
from tests.hub.conftest import agent, customer, say

pytestmark = pytest.mark.django_db(transaction=True)


def support(**fields) -> Queue:
    queue, _ = Queue.objects.get_or_create(name="Support", defaults={"is_default": True})
    Queue.objects.filter(pk=queue.pk).update(**fields)
    queue.refresh_from_db()
    return queue


def request_handoff(queue: Queue) -> Conversation:
    conversation = Conversation.objects.create(queue=queue)
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {"summary": "s"})
    conversation.refresh_from_db()
    return conversation


def test_business_hours_follow_the_queue_time_zone():
    queue = Queue(business_hours={"mon": ["09:00-17:00"]}, time_zone="Europe/Berlin")
    monday_0830_utc = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
    monday_1630_utc = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # 17:30 in Berlin
    assert is_open(queue, monday_0830_utc)
    assert not is_open(queue, monday_1630_utc)
    assert is_open(Queue(business_hours={}), monday_1630_utc)


def test_nobody_online_with_leave_message_takes_an_offline_ticket():
    queue = support(no_agent_behaviour=NoAgentBehaviour.LEAVE_MESSAGE)
    assert unavailable_reason(queue) == "no_agents_online"
    conversation = request_handoff(queue)
    assert conversation.status == "queued"
    assert HandoffTicket.objects.get(conversation=conversation).offline is True
    assert "Leave your message" in Message.objects.get(conversation=conversation).text


def test_nobody_online_with_back_to_bot_keeps_the_bot_talking(make_agent):
    queue = support(no_agent_behaviour=NoAgentBehaviour.BACK_TO_BOT)
    conversation = request_handoff(queue)
    assert conversation.status == "bot"
    assert not HandoffTicket.objects.filter(conversation=conversation).exists()
    said = Message.objects.get(conversation=conversation)
    assert said.sender == "bot" and "nobody from our team is available" in said.text


def test_a_full_queue_counts_as_unavailable(make_agent):
    from handoff_hub.agents import set_agent_status

    set_agent_status(make_agent("alex"), "online")
    queue = support(max_waiting=1)
    request_handoff(queue)
    assert unavailable_reason(queue) == "queue_full"


async def test_action_server_failure_apologises_and_hands_off(settings, tmp_path):
    from tests.engine.conftest import copy_project

    project = copy_project(
        "custom_fallback", tmp_path, "action_endpoint:\n  url: http://127.0.0.1:9/webhook\n"
    )
    settings.HUB = {**settings.HUB, "ASSISTANT_PATH": str(project), "HANDOFF_ON_BOT_ERROR": True}
    cust, welcome = await customer()
    await say(cust, "put me through to staff", "c1")
    apology = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert apology["text"].startswith("Sorry, I am having trouble")
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    ticket = await HandoffTicket.objects.aget(conversation__public_id=welcome["conversation"])
    assert ticket.reason == "bot_error"
    await cust.close()


class _EngineAbort(BaseException):
    """Not an Exception (like SystemExit from a library): it must not hang the socket."""


@pytest.mark.parametrize("error", [RuntimeError, _EngineAbort])
async def test_an_engine_that_raises_apologises_and_hands_off(settings, monkeypatch, caplog, error):
    """A bug in the engine (not an action server) still never leaves the chat silent."""
    from bot_engine import Assistant
    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT

    settings.HUB = {**settings.HUB, "HANDOFF_ON_BOT_ERROR": True}

    def broken(self, *args, **kwargs):
        raise error("engine bug")

    cust, welcome = await customer()
    monkeypatch.setattr(Assistant, "handle", broken)
    await say(cust, "hello", "c1")
    apology = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert apology["text"] == INTERNAL_ERROR_TEXT
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    ticket = await HandoffTicket.objects.aget(conversation__public_id=welcome["conversation"])
    assert ticket.reason == "bot_error"
    assert "engine bug" in caplog.text  # the traceback of the engine's error is logged
    await cust.close()


async def test_verified_identity_resumes_the_customers_open_chat_on_another_device(settings):
    settings.HUB = {**settings.HUB, "IDENTITY_SECRET": "host-site-secret"}
    identity = {"id": "cust-42", "hash": identity_signature("cust-42", "host-site-secret")}
    laptop = await _hello(identity)
    phone = await _hello(identity)
    assert phone["conversation"] == laptop["conversation"]
    stored = await Conversation.objects.aget(public_id=laptop["conversation"])
    assert stored.customer_id == "cust-42"


async def test_forged_identity_is_refused(settings):
    settings.HUB = {**settings.HUB, "IDENTITY_SECRET": "host-site-secret"}
    forged = {"id": "cust-42", "hash": identity_signature("cust-42", "guessed-secret")}
    error = await _hello(forged)
    assert error["type"] == "error" and error["code"] == "invalid_identity"


async def _hello(identity: dict) -> dict:
    from channels.testing import WebsocketCommunicator

    from handoff_hub.asgi import application
    from tests.hub.conftest import ORIGIN

    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    await communicator.connect()
    await communicator.send_json_to({"type": "hello", "identity": identity})
    frame = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    return frame


async def test_agent_whose_console_goes_silent_has_chats_requeued(settings, make_agent):
    settings.HUB = {**settings.HUB, "AGENT_SILENCE_SECONDS": 0.3}
    user = await database_sync_to_async(make_agent)("alex")
    console = await agent(user)
    queue = await database_sync_to_async(support)()
    conversation = await database_sync_to_async(request_handoff)(queue)
    await database_sync_to_async(claim_conversation)(conversation.pk, user)
    await console.close()
    for _ in range(50):
        await asyncio.sleep(0.1)
        await conversation.arefresh_from_db()
        if conversation.status == "queued":
            break
    assert conversation.status == "queued" and conversation.assigned_agent_id is None


async def test_silence_frame_lets_the_bot_check_in_but_never_after_handoff():
    cust, welcome = await customer()
    await cust.send({"type": "silence", "client_id": "s1"})
    check_in = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert check_in["text"].startswith("Are you still there?")
    await say(cust, "I want to talk to a human", "h1")
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    await cust.send({"type": "silence", "client_id": "s2"})
    await cust.send({"type": "ping"})
    await cust.until(lambda f: f["type"] == "pong")
    senders = [
        s
        async for s in Message.objects.filter(
            conversation__public_id=welcome["conversation"]
        ).values_list("sender", flat=True)
    ]
    assert senders.count("bot") == 2  # the check-in and the handoff message, nothing after
    await cust.close()
