"""Outgoing webhooks against a real local HTTP receiver: signing, headers, retries, giving up."""

import asyncio
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, transaction

from handoff_hub.messaging import lock_conversation
from handoff_hub.models import Conversation, Webhook, WebhookDelivery
from handoff_hub.transitions import claim_conversation, enqueue_handoff
from tests.raw_http import misbehaving_server

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """A real HTTP server on loopback that records requests and answers scripted statuses."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": self.headers, "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.requests) >= count, f"got {len(self.requests)} requests, wanted {count}"
        return self.requests

    def close(self):
        self.server.shutdown()


@pytest.fixture
def fast_retries(settings):
    settings.HUB = {**settings.HUB, "WEBHOOK_BACKOFF_SECONDS": 0.05, "WEBHOOK_MAX_ATTEMPTS": 3}


def hand_off() -> Conversation:
    conversation = Conversation.objects.create()
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {"summary": "s"})
    return conversation


def test_handoff_event_is_signed_and_identified(fast_retries):
    receiver = Receiver([200])
    Webhook.objects.create(url=receiver.url, secret="s3cret", events=["handoff.requested"])
    conversation = hand_off()
    request = receiver.wait_for(1)[0]
    body, headers = request["body"], request["headers"]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-HandoffHub-Signature"] == expected
    assert headers["X-HandoffHub-Event"] == "handoff.requested"
    payload = json.loads(body)
    assert payload["id"] == headers["X-HandoffHub-Delivery"]
    assert payload["data"]["conversation"] == str(conversation.public_id)
    assert payload["data"]["to"] == "queued"
    receiver.close()


def test_only_subscribed_events_are_sent(fast_retries, make_agent):
    receiver = Receiver([])
    Webhook.objects.create(url=receiver.url, secret="k", events=["conversation.assigned"])
    conversation = hand_off()
    claim_conversation(conversation.pk, make_agent("alex"))
    receiver.wait_for(1)
    time.sleep(0.3)
    assert [r["headers"]["X-HandoffHub-Event"] for r in receiver.requests] == [
        "conversation.assigned"
    ]
    receiver.close()


def test_failed_deliveries_are_retried_with_the_same_event_id(fast_retries):
    receiver = Receiver([500, 500, 200])
    Webhook.objects.create(url=receiver.url, secret="k", events=["handoff.requested"])
    hand_off()
    requests = receiver.wait_for(3)
    ids = {r["headers"]["X-HandoffHub-Delivery"] for r in requests}
    assert len(ids) == 1
    delivery = WebhookDelivery.objects.get()
    deadline = time.monotonic() + 5
    while delivery.delivered_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
        delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.delivered_at is not None
    receiver.close()


def test_delivery_gives_up_after_max_attempts(fast_retries):
    receiver = Receiver([500] * 10)
    Webhook.objects.create(url=receiver.url, secret="k", events=["handoff.requested"])
    hand_off()
    receiver.wait_for(3)
    delivery = WebhookDelivery.objects.get()
    deadline = time.monotonic() + 5
    while delivery.failed_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
        delivery.refresh_from_db()
    assert delivery.failed_at is not None and delivery.last_error == "HTTP 500"
    time.sleep(0.3)
    assert len(receiver.requests) == 3
    receiver.close()


def test_a_webhook_saved_right_after_a_batch_saw_none_gets_the_next_event(monkeypatch):
    """The group commit trusts "no webhooks" for a while; saving one here must end that."""
    from handoff_hub import group_commit, hooks
    from handoff_hub.messaging import store_incoming

    monkeypatch.setattr(hooks, "WEBHOOK_REFRESH_SECONDS", 60)  # however slow the machine

    async def store(text: str, client_id: str) -> None:
        await group_commit.submit(store_incoming, conversation.pk, text, client_id, None)

    conversation = Conversation.objects.create()
    asyncio.run(store("before", "c-1"))
    assert not WebhookDelivery.objects.exists()  # and the writer now believes there are none
    hook = Webhook.objects.create(url="http://127.0.0.1:9/", secret="k", events=["message.created"])
    asyncio.run(store("after", "c-2"))
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.event == "message.created"
    assert delivery.payload["text"] == "after"


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite's writer would wait for the open transaction"
)
def test_a_webhook_saved_in_a_transaction_counts_once_that_commits(monkeypatch):
    """A batch between the save and its commit cannot see the webhook and notes "none";
    the commit must void that."""
    from handoff_hub import group_commit, hooks
    from handoff_hub.messaging import store_incoming

    monkeypatch.setattr(hooks, "WEBHOOK_REFRESH_SECONDS", 60)

    async def store(text: str, client_id: str) -> None:
        await group_commit.submit(store_incoming, conversation.pk, text, client_id, None)

    conversation = Conversation.objects.create()
    with transaction.atomic():
        hook = Webhook.objects.create(
            url="http://127.0.0.1:9/", secret="k", events=["message.created"]
        )
        asyncio.run(store("meanwhile", "c-1"))  # the writer's own transaction sees no webhook
    asyncio.run(store("after", "c-2"))
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.payload["text"] == "after"


def test_a_receiver_trickling_its_answer_is_given_up_on_at_the_timeout(settings):
    # Held past its lease, the delivery would be claimed and sent again.
    settings.HUB = {**settings.HUB, "WEBHOOK_TIMEOUT_SECONDS": 0.5, "WEBHOOK_MAX_ATTEMPTS": 1}
    url, stop = misbehaving_server(b"HTTP/1.1 200 OK\r\nX-Slow: ", 30)
    Webhook.objects.create(url=url, secret="k", events=["handoff.requested"])
    try:
        hand_off()
        delivery = WebhookDelivery.objects.get()
        deadline = time.monotonic() + 10
        while delivery.failed_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
            delivery.refresh_from_db()
    finally:
        stop.set()
    assert delivery.failed_at is not None
    assert delivery.last_error == "no answer within 0.5 s"
