"""Rasa-compatible endpoints: the REST channel, /model/parse, and the tracker."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from handoff_hub.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_rest_webhook_answers_like_a_rasa_server(client):
    response = post(client, "/webhooks/rest/webhook", {"sender": "anna", "message": "hello"})
    assert response.status_code == 200
    replies = response.json()
    assert replies[0]["recipient_id"] == "anna"
    assert replies[0]["text"].startswith("Hi! I'm the Northwind assistant")
    conversation = Conversation.objects.get(channel="rest", customer_id="anna")
    assert list(conversation.messages.values_list("sender", flat=True)) == ["customer", "bot"]


def test_after_handoff_rest_returns_nothing_and_the_message_waits_for_an_agent(client):
    post(
        client, "/webhooks/rest/webhook", {"sender": "ben", "message": "I want to talk to a human"}
    )
    response = post(client, "/webhooks/rest/webhook", {"sender": "ben", "message": "hello?"})
    assert response.json() == []
    conversation = Conversation.objects.get(customer_id="ben")
    assert conversation.status == "queued"
    last = Message.objects.filter(conversation=conversation).order_by("-seq").first()
    assert (last.sender, last.text) == ("customer", "hello?")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"sender": "", "message": "hi"}',
        b'{"sender": "x", "message": 5}',
        b'{"sender": "x", "message": "hi", "metadata": []}',
    ],
)
def test_rest_webhook_rejects_bad_requests_with_400(client, body):
    response = client.post("/webhooks/rest/webhook", body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_model_parse_returns_rasa_parse_shape(client):
    result = post(client, "/model/parse", {"text": "where is my order NW-12345"}).json()
    assert result["intent"]["name"] == "order_status"
    assert result["entities"][0]["entity"] == "order_number"
    assert result["entities"][0]["value"] == "NW-12345"
    assert len(result["intent_ranking"]) > 1 and result["text"] == "where is my order NW-12345"


def test_tracker_is_for_agents_only(client, make_agent):
    post(client, "/webhooks/rest/webhook", {"sender": "cleo", "message": "hello"})
    assert client.get("/conversations/cleo/tracker").status_code in (401, 403)
    stranger = get_user_model().objects.create_user("stranger", password="x")
    token = Token.objects.create(user=stranger)
    denied = client.get("/conversations/cleo/tracker", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert denied.status_code == 403
    agent_token = Token.objects.create(user=make_agent("alex"))
    tracker = client.get(
        "/conversations/cleo/tracker", HTTP_AUTHORIZATION=f"Token {agent_token.key}"
    ).json()
    assert tracker["sender_id"] == "cleo"
    assert [e["event"] for e in tracker["events"]][:2] == ["action", "session_started"]
    assert tracker["latest_message"]["intent"]["name"] == "greet"
