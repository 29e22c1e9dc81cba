"""Bad frames get error frames on a socket that stays open; nobody reads what isn't theirs."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from handoff_hub.asgi import application
from handoff_hub.models import Message
from handoff_hub.tokens import issue_customer_token
from tests.hub.conftest import ORIGIN, agent, customer, say, session_cookie_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _raw_customer() -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "explode"}', "unknown_type"),
        ('{"type": "message", "text": "hi"}', "hello_first"),
        ('{"type": "hello", "token": "forged.token.value"}', "invalid_token"),
        ('{"type": "hello", "last_seq": -3}', "bad_field"),
        ('{"type": "hello", "metadata": "nope"}', "bad_field"),
        ('{"type": "hello", "token": ' + '"' + "x" * 600 + '"}', "bad_field"),
    ],
)
async def test_malformed_frame_gets_error_frame_and_socket_stays_open(raw, code):
    communicator = await _raw_customer()
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == code
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()


async def test_oversized_frame_and_message_are_refused_without_storing(settings):
    cust, welcome = await customer()
    await cust.communicator.send_to(text_data="x" * 20_000)
    assert (await cust.until(lambda f: f["type"] == "error"))["code"] == "frame_too_large"
    settings.HUB = {**settings.HUB, "MAX_MESSAGE_CHARS": 10}
    await cust.send({"type": "message", "client_id": "long", "text": "far too long a message"})
    error = await cust.until(lambda f: f["type"] == "error")
    assert error["code"] == "message_too_long" and error["ref"] == "long"
    await cust.send({"type": "message", "client_id": "empty", "text": "   "})
    assert (await cust.until(lambda f: f["type"] == "error"))["code"] == "empty_message"
    assert not await Message.objects.filter(
        conversation__public_id=welcome["conversation"]
    ).aexists()
    await cust.close()


async def test_customer_with_another_token_cannot_read_the_first_chat():
    first, first_welcome = await customer()
    await say(first, "my secret order number is 4711", "s-1")
    second, second_welcome = await customer()
    assert second_welcome["conversation"] != first_welcome["conversation"]
    assert await second.quiet(0.3)
    texts = [f.get("text") for f in second.received]
    assert "my secret order number is 4711" not in texts
    # A token is bound to its conversation: the second customer's token resumes only theirs.
    resumed, resumed_welcome = await customer(token=second_welcome["token"])
    assert resumed_welcome["conversation"] == second_welcome["conversation"]
    await first.close()
    await second.close()
    await resumed.close()


async def test_token_signed_for_a_missing_conversation_is_refused():
    token = issue_customer_token("00000000-0000-0000-0000-000000000000")
    communicator = await _raw_customer()
    await communicator.send_json_to({"type": "hello", "token": token})
    error = await communicator.receive_json_from(timeout=5)
    assert error["code"] == "invalid_token"
    await communicator.disconnect()


async def test_console_socket_refuses_anonymous_and_non_agents():
    anonymous = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN])
    connected, code = await anonymous.connect()
    assert not connected and code == 4401
    user = await database_sync_to_async(get_user_model().objects.create_user)(
        "mallory", password="x"
    )
    cookie = await database_sync_to_async(session_cookie_for)(user)
    not_agent = WebsocketCommunicator(
        application, "/ws/console/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    connected, code = await not_agent.connect()
    assert not connected and code == 4403


async def test_websocket_from_a_foreign_origin_is_rejected():
    communicator = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_agent_cannot_reply_to_a_chat_they_have_not_claimed(make_agent):
    user = await database_sync_to_async(make_agent)("alex")
    console = await agent(user)
    cust, welcome = await customer()
    await say(cust, "I want to talk to a human", "h-1")
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    await console.send(
        {"type": "reply", "conversation": welcome["conversation"], "client_id": "r", "text": "hi"}
    )
    error = await console.until(lambda f: f["type"] == "error")
    assert error["code"] == "not_assigned"
    await console.send({"type": "open", "conversation": "not-a-uuid"})
    assert (await console.until(lambda f: f["type"] == "error"))["code"] == "not_found"
    await cust.close()
    await console.close()


async def test_a_message_with_a_nul_character_is_refused_and_nothing_is_stored():
    # PostgreSQL cannot store U+0000: refused up front, on either database, never retried.
    cust, welcome = await customer()
    await cust.communicator.send_to(
        text_data='{"type": "message", "client_id": "nul", "text": "hi\\u0000there"}'
    )
    error = await cust.until(lambda f: f["type"] == "error")
    assert error["code"] == "bad_field" and error["ref"] == "nul"
    assert not await Message.objects.filter(
        conversation__public_id=welcome["conversation"]
    ).aexists()
    await say(cust, "hi there", "ok")
    ack = await cust.until(lambda f: f["type"] == "ack", seen=True)
    assert ack["client_id"] == "ok" and ack["seq"] == 1
    await cust.close()
