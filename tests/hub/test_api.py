"""The REST API: authorisation, transitions through the state machine, queue figures."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from handoff_hub.agents import set_agent_status
from handoff_hub.messaging import lock_conversation, replay_since
from handoff_hub.models import AuditEvent, CannedResponse, Conversation, Queue
from handoff_hub.transitions import enqueue_handoff

pytestmark = pytest.mark.django_db(transaction=True)


def handed_off(queue=None) -> Conversation:
    conversation = Conversation.objects.create(queue=queue)
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {"summary": "x"})
    return conversation


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_anonymous_and_non_agents_are_refused(make_agent):
    assert APIClient().get("/api/conversations/").status_code in (401, 403)
    stranger = get_user_model().objects.create_user("stranger", password="x")
    assert api_as(stranger).get("/api/conversations/").status_code == 403


def test_agents_see_only_their_queues_and_supervisors_see_all(make_agent):
    billing = Queue.objects.create(name="Billing")
    alex, boss = make_agent("alex"), make_agent("boss", supervisor=True)
    mine, other = handed_off(), handed_off(billing)
    ids = {c["id"] for c in api_as(alex).get("/api/conversations/").json()}
    assert str(mine.public_id) in ids and str(other.public_id) not in ids
    assert api_as(alex).get(f"/api/conversations/{other.public_id}/").status_code == 404
    all_ids = {c["id"] for c in api_as(boss).get("/api/conversations/").json()}
    assert {str(mine.public_id), str(other.public_id)} <= all_ids


def test_claim_reply_transfer_and_resolve_go_through_the_state_machine(make_agent):
    alex, bea = make_agent("alex"), make_agent("bea")
    conversation = handed_off()
    url = f"/api/conversations/{conversation.public_id}"
    assert api_as(alex).post(f"{url}/claim/").json()["status"] == "assigned"
    lost = api_as(bea).post(f"{url}/claim/")
    assert lost.status_code == 409 and lost.json()["code"] == "already_claimed"
    reply = api_as(alex).post(f"{url}/messages/", {"text": "Hello!", "client_id": "r1"})
    assert reply.status_code == 201 and reply.json()["agent_name"] == "Alex"
    again = api_as(alex).post(f"{url}/messages/", {"text": "Hello!", "client_id": "r1"})
    assert again.status_code == 200 and again.json()["seq"] == reply.json()["seq"]
    denied = api_as(bea).post(f"{url}/resolve/")
    assert denied.status_code == 403 and denied.json()["code"] == "not_yours"
    moved = api_as(alex).post(f"{url}/transfer/", {"agent": bea.pk, "note": "billing question"})
    assert moved.json()["assigned_agent"] == "Bea"
    assert api_as(bea).post(f"{url}/resolve/").json()["status"] == "resolved"
    actions = list(
        AuditEvent.objects.filter(conversation=conversation).values_list("action", flat=True)
    )
    assert actions == ["enqueue_handoff", "claim", "transfer_to_agent", "resolve"]
    transcript = api_as(bea).get(f"{url}/").json()
    assert [m["sender"] for m in transcript["messages"]].count("agent") == 1


def test_transfer_needs_exactly_one_target(make_agent):
    alex = make_agent("alex")
    conversation = handed_off()
    url = f"/api/conversations/{conversation.public_id}/transfer/"
    assert api_as(alex).post(url, {"note": "?"}).status_code == 400


def test_private_notes_never_reach_the_customer(make_agent):
    alex = make_agent("alex")
    conversation = handed_off()
    url = f"/api/conversations/{conversation.public_id}/notes/"
    assert api_as(alex).post(url, {"text": "customer seems upset"}).status_code == 201
    assert api_as(alex).get(url).json()[0]["text"] == "customer seems upset"
    replayed = [m["text"] for m in replay_since(conversation.pk, 0)]
    assert "customer seems upset" not in replayed


def test_queue_stats_show_waiting_chats_and_capacity(make_agent):
    alex = make_agent("alex", capacity=2)
    set_agent_status(alex, "online")
    handed_off(), handed_off(), handed_off()
    support = api_as(alex).get("/api/queues/").json()[0]
    assert support["name"] == "Support"
    assert support["waiting"] == 3 and support["agents_online"] == 1
    assert support["free_capacity"] == 2 and support["oldest_wait_seconds"] >= 0


def test_agent_sets_own_status_and_bad_status_is_400(make_agent):
    alex = make_agent("alex")
    assert api_as(alex).patch("/api/agents/me/", {"status": "online"}).json()["status"] == "online"
    assert api_as(alex).patch("/api/agents/me/", {"status": "asleep"}).status_code == 400


def test_canned_responses_are_readable_by_agents_and_writable_by_supervisors(make_agent):
    alex, boss = make_agent("alex"), make_agent("boss", supervisor=True)
    created = api_as(boss).post("/api/canned-responses/", {"shortcut": "hi", "text": "Hello!"})
    assert created.status_code == 201
    assert api_as(alex).get("/api/canned-responses/").json()[0]["shortcut"] == "hi"
    refused = api_as(alex).post("/api/canned-responses/", {"shortcut": "x", "text": "y"})
    assert refused.status_code == 403
    assert CannedResponse.objects.count() == 1


def test_openapi_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    assert "/api/conversations/{id}/claim/" in schema


def test_api_docs_page_uses_no_cdn(make_agent):
    alex = make_agent("alex")
    client = APIClient()
    client.force_login(alex)
    page = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page
