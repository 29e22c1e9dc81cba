"""Flow-based (CALM) conversations through the hub over WebSockets: a confirmed
pattern_human_handoff reaches the live queue, a bot hang-up closes the chat, and a new version
of the assistant winds up flows that changed."""

import shutil
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from handoff_hub import trackers
from handoff_hub.models import AuditEvent, Conversation, HandoffTicket
from tests.hub.conftest import agent, customer, say

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _bot_message(text_start: str):
    return lambda f: (
        f["type"] == "message" and f["sender"] == "bot" and (f["text"] or "").startswith(text_start)
    )


async def test_confirmed_handoff_from_a_flow_reaches_the_queue_as_a_pattern(make_agent):
    user = await database_sync_to_async(make_agent)("alex")
    console = await agent(user)
    cust, welcome = await customer()
    await say(cust, "cancel my order NW-13579", "c-1")
    await cust.until(_bot_message("Would you like me to connect you"))
    status = await Conversation.objects.values_list("status", flat=True).aget(
        public_id=welcome["conversation"]
    )
    assert status == "bot"  # asking is not handing off
    await say(cust, "/SetSlots(confirm_human_handoff=true)", "c-2")
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    queued = await console.until(
        lambda f: (
            f["type"] == "conversation"
            and f["conversation"]["id"] == welcome["conversation"]
            and f["conversation"]["status"] == "queued"
        )
    )
    assert queued["conversation"]["reason"] == "pattern"
    ticket = await HandoffTicket.objects.aget(conversation__public_id=welcome["conversation"])
    assert ticket.reason == "pattern"
    assert ticket.bot_context["recent_flows"] == ["cancel_order"]
    assert ticket.bot_context["slots"]["order_number"] == "NW-13579"
    await cust.close()
    await console.close()


async def test_declined_handoff_stays_with_the_bot():
    cust, welcome = await customer()
    await say(cust, "cancel my order NW-13579", "c-1")
    await cust.until(_bot_message("Would you like me to connect you"))
    await say(cust, "/SetSlots(confirm_human_handoff=false)", "c-2")
    await cust.until(_bot_message("No problem."))
    conversation = await Conversation.objects.aget(public_id=welcome["conversation"])
    assert conversation.status == "bot"
    assert not await HandoffTicket.objects.filter(conversation=conversation).aexists()
    await cust.close()


async def test_bot_hang_up_after_silence_closes_the_chat():
    cust, welcome = await customer()
    await say(cust, "hello", "h-1")
    await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    await cust.send({"type": "silence", "client_id": "s-1"})
    await cust.until(_bot_message("Are you still there?"))
    await cust.send({"type": "silence", "client_id": "s-2"})
    await cust.until(_bot_message("It seems you are not there anymore."))
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "closed")
    closing = await cust.until(
        lambda f: f["type"] == "message" and f["sender"] == "system", seen=True
    )
    assert closing["text"] == "The assistant ended the chat."
    audit = await AuditEvent.objects.filter(
        conversation__public_id=welcome["conversation"], action="close"
    ).afirst()
    assert audit is not None and audit.detail == {"reason": "hangup"}
    await cust.close()


def _deploy(source: Path):
    """Add `source` as a new version of the Northwind assistant, train it, activate it."""
    from handoff_hub.assistants import actions
    from handoff_hub.assistants.deploy import run_now
    from handoff_hub.assistants.models import Assistant, JobKind

    northwind, _ = Assistant.objects.get_or_create(name="Northwind")
    version = actions.add_version_from_directory(northwind, str(source))
    job = run_now(version, JobKind.TRAIN)
    assert version.is_trained, job.error
    actions.activate_version(version)
    return version


async def test_activating_a_version_whose_running_flow_changed_winds_it_up(settings, tmp_path):
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_STORE": str(tmp_path / "store"),
        "MODEL_DIR": str(tmp_path / "models"),
        "ASSISTANT_IMPORT_DIRS": [str(tmp_path)],
    }
    project = tmp_path / "northwind"
    shutil.copytree(ROOT / "demo_assistant", project, ignore=shutil.ignore_patterns(".models"))
    first = await database_sync_to_async(_deploy)(project)
    cust, welcome = await customer()
    await say(cust, "I want to change my delivery address", "v-1")
    await cust.until(_bot_message("Sure — what's your order number?"))

    # Admin uploads a version in which the running flow is different, and activates it.
    flows = project / "data" / "flows.yml"
    flows.write_text(flows.read_text().replace("the new delivery address", "the address"))
    second = await database_sync_to_async(_deploy)(project)
    assert second.pk != first.pk

    await say(cust, "NW-20930", "v-2")
    await cust.until(_bot_message("There has been an update to my code."))
    await cust.until(_bot_message("What else can I help you with?"))
    stored = await Conversation.objects.aget(public_id=welcome["conversation"])
    assert stored.assistant_version_id == second.pk
    await cust.close()


async def test_activating_a_version_leaves_chats_whose_flow_did_not_change_alone(
    settings, tmp_path
):
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_STORE": str(tmp_path / "store"),
        "MODEL_DIR": str(tmp_path / "models"),
        "ASSISTANT_IMPORT_DIRS": [str(tmp_path)],
    }
    project = tmp_path / "northwind"
    shutil.copytree(ROOT / "demo_assistant", project, ignore=shutil.ignore_patterns(".models"))
    await database_sync_to_async(_deploy)(project)
    cust, _ = await customer()
    await say(cust, "I want to change my delivery address", "v-1")
    await cust.until(_bot_message("Sure — what's your order number?"))

    # Only a response changed: the running flow is the same, so the chat just goes on.
    (project / "data" / "extra_responses.yml").write_text(
        'version: "3.1"\nresponses:\n  utter_unrelated_new_response:\n    - text: "New!"\n'
    )
    await database_sync_to_async(_deploy)(project)
    await say(cust, "NW-20930", "v-2")
    reply = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert reply["text"] == "What's the new delivery address?"
    await cust.close()


async def test_a_new_chat_the_widget_opens_is_greeted_by_the_session_start_pattern():
    # The demo overrides pattern_session_start with its greeting; the page data is the
    # session's metadata.
    cust, welcome = await customer(start=True, metadata={"page_url": "https://shop.example/"})
    greeting = await cust.until(_bot_message("Hi! I'm the Northwind assistant."))
    hidden = [f for f in cust.received if f["type"] == "message" and f["sender"] == "customer"]
    assert [f["data"] for f in hidden] == [{"event": "session_start", "hidden": True}]
    assert greeting["seq"] == hidden[0]["seq"] + 1
    stored = await Conversation.objects.aget(public_id=welcome["conversation"])
    events = (await database_sync_to_async(trackers.load)(stored))["events"]
    started = [e for e in events if e["event"] == "flow_started"]
    assert [e["flow_id"] for e in started] == ["pattern_session_start"]
    assert stored.customer_metadata == {"page_url": "https://shop.example/"}
    await cust.close()

    # Reconnecting to the same chat does not greet again.
    again, _ = await customer(token=welcome["token"], last_seq=greeting["seq"], start=True)
    assert await again.quiet()
    await again.close()


async def test_without_start_or_without_a_greeting_pattern_nobody_speaks_first(settings):
    from handoff_hub.engine import get_assistant
    from handoff_hub.models import Message

    cust, first = await customer()
    assert await cust.quiet(1.0)
    await cust.close()
    # An assistant of rules only has no pattern_session_start of its own.
    fixture = ROOT / "tests/engine/fixtures/custom_fallback"
    settings.HUB = {**settings.HUB, "ASSISTANT_PATH": str(fixture)}
    assert not (await database_sync_to_async(get_assistant)()).greets_at_session_start
    cust, second = await customer(start=True)
    assert await cust.quiet(1.0)
    await cust.close()
    chats = [first["conversation"], second["conversation"]]
    assert not await Message.objects.filter(conversation__public_id__in=chats).aexists()
