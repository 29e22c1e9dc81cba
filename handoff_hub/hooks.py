"""Domain events for outgoing webhooks: recorded in the transaction, delivered after commit."""

import time
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

# How long the group commit trusts that no webhook is active (another process may add one).
WEBHOOK_REFRESH_SECONDS = 1.0
_changes = 0  # webhook changes seen in this process
_none_seen: tuple[int, float] | None = None  # (changes, when) of a read that found none

# Transition actions and the webhook event each one raises.
TRANSITION_EVENTS = {
    "enqueue_handoff": "handoff.requested",
    "claim": "conversation.assigned",
    "assign": "conversation.assigned",
    "transfer_to_agent": "conversation.assigned",
    "resolve": "conversation.resolved",
    "return_to_bot": "conversation.returned_to_bot",
}


def event_for_transition(action: str) -> str:
    return TRANSITION_EVENTS.get(action, f"conversation.{action}")


def emit_on_commit(event: str, payload: dict | Callable[[], dict]) -> None:
    """Queue `event` for every webhook that wants it; the deliveries commit with the change.

    `payload` may be a function: it is called only if some webhook wants the event.
    """
    from handoff_hub.models import WebhookDelivery
    from handoff_hub.webhooks.delivery import wake_worker

    webhooks = [w for w in _active_webhooks() if w.wants(event)]
    if not webhooks:
        return
    if callable(payload):
        payload = payload()
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=w, event=event, payload=payload, next_attempt_at=now)
        for w in webhooks
    )
    transaction.on_commit(wake_worker)


def any_active() -> bool:
    """Whether some webhook is active, as this batch sees it: if none is, emit_on_commit
    writes nothing (a group commit may then commit before its messages are announced)."""
    return bool(_active_webhooks())


def _active_webhooks() -> list:
    """Active webhooks, read once per group commit (one snapshot per transaction).

    Most hubs have none, and a query per batch for that was a twentieth of the writer's time:
    a batch trusts "none" for up to WEBHOOK_REFRESH_SECONDS (a webhook added in another
    process gets events that much later; one saved in this process once it commits). A list
    that is not empty is read again by every batch, so a deleted webhook never gets a delivery.
    """
    from handoff_hub.models import Webhook
    from handoff_hub.write_batch import batch_cache

    global _none_seen
    cache = batch_cache()
    if cache is None:
        return list(Webhook.objects.filter(is_active=True))
    if "webhooks" not in cache:
        # The change count is taken before the read: a change during it voids what it saw.
        changes, now, seen = _changes, time.monotonic(), _none_seen
        if seen is not None and seen[0] == changes and now - seen[1] < WEBHOOK_REFRESH_SECONDS:
            cache["webhooks"] = []
        else:
            # Raw: compiling the queryset cost more than running it, on the writer thread.
            quote = connection.ops.quote_name
            sql = f"SELECT * FROM {quote(Webhook._meta.db_table)} WHERE {quote('is_active')}"  # noqa: S608
            cache["webhooks"] = list(Webhook.objects.raw(sql))
            _none_seen = None if cache["webhooks"] else (changes, now)
    return cache["webhooks"]


def forget_webhooks(**_signal) -> None:
    """A webhook changed in this process: batches read them again — now, and once more when
    the change commits (a batch in between could not see it yet)."""
    webhooks_changed()
    transaction.on_commit(webhooks_changed)


def webhooks_changed() -> None:
    """The next batch reads the active webhooks again."""
    global _changes
    _changes += 1
