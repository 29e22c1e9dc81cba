"""Delivering webhook events: signed JSON, retried with exponential backoff, at least once.

Deliveries live in the database, so a restarted process resumes them; a delivery is claimed
with a conditional UPDATE (a lease), so several processes never send the same attempt twice.
Receivers de-duplicate by the event id in `X-HandoffHub-Delivery`.
"""

import hashlib
import hmac
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from bot_engine import bounded_http
from handoff_hub.background import PollingThread
from handoff_hub.models import WebhookDelivery

logger = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _setting(name: str, default):
    return settings.HUB.get(name, default)


def backoff(attempts: int) -> timedelta:
    base = float(_setting("WEBHOOK_BACKOFF_SECONDS", 1.0))
    return timedelta(seconds=min(300.0, base * 2 ** max(0, attempts - 1)))


def deliver_due(limit: int = 50) -> int:
    """Send every delivery that is due now; returns how many were attempted."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        delivered_at=None, failed_at=None, next_attempt_at__lte=now
    ).values_list("pk", "attempts")[:limit]
    attempted = 0
    for pk, attempts in list(due):
        claimed = WebhookDelivery.objects.filter(
            pk=pk, attempts=attempts, delivered_at=None, next_attempt_at__lte=now
        ).update(attempts=attempts + 1, next_attempt_at=now + LEASE)
        if claimed:
            attempted += 1
            _attempt(WebhookDelivery.objects.select_related("webhook").get(pk=pk))
    return attempted


def _attempt(delivery: WebhookDelivery) -> None:
    body = json.dumps(
        {
            "id": str(delivery.event_id),
            "event": delivery.event,
            "created_at": delivery.created_at.isoformat(),
            "data": delivery.payload,
        },
        default=str,
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "HandoffHub-Webhooks/1",
        "X-HandoffHub-Event": delivery.event,
        "X-HandoffHub-Delivery": str(delivery.event_id),
        "X-HandoffHub-Signature": signature(delivery.webhook.secret, body),
    }
    # Bounded as a whole, and well inside the lease: an attempt still running when its lease
    # ends would be claimed and sent again.
    timeout = min(float(_setting("WEBHOOK_TIMEOUT_SECONDS", 5)), LEASE.total_seconds() / 2)
    error = ""
    try:
        reply = bounded_http.post(delivery.webhook.url, body, headers, timeout, max_bytes=0)
        ok = 200 <= reply.status < 300
        if not ok:
            error = f"HTTP {reply.status}"
    except bounded_http.CallFailed as failure:
        ok = False
        if failure.kind == bounded_http.TIMED_OUT:
            error = f"no answer within {timeout:g} s"
        else:
            error = f"{failure.kind}: {failure.detail}"
    now = timezone.now()
    if ok:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(delivered_at=now, last_error="")
        return
    max_attempts = int(_setting("WEBHOOK_MAX_ATTEMPTS", 8))
    if delivery.attempts >= max_attempts:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(failed_at=now, last_error=error)
        logger.warning("Webhook %s gave up after %s attempts: %s", delivery.pk, max_attempts, error)
    else:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=now + backoff(delivery.attempts), last_error=error
        )


def next_due_in_seconds() -> float | None:
    upcoming = (
        WebhookDelivery.objects.filter(delivered_at=None, failed_at=None)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if upcoming is None:
        return None
    return max(0.0, (upcoming - timezone.now()).total_seconds())


def _one_pass() -> float:
    try:
        deliver_due()
        pending = next_due_in_seconds()
        return 5.0 if pending is None else min(5.0, pending)
    finally:
        connection.close()  # hold no connection while idle


_worker = PollingThread("webhook-worker", _one_pass, logger, "Webhook delivery")


def wake_worker() -> None:
    """Start this process's delivery thread if needed and let it look for due deliveries now."""
    if _setting("WEBHOOK_WORKER", True):
        _worker.wake()


def stop_worker() -> bool:
    return _worker.stop()
