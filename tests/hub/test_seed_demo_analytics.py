"""`seed_demo_analytics`: a month of demo history made through the real code paths, once."""

import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from handoff_hub.analytics.demo_month import SEEDED_AGENTS, seeded_conversations
from handoff_hub.analytics.filters import Scope
from handoff_hub.analytics.metrics import analytics_report
from handoff_hub.models import AuditEvent, HandoffTicket, Message, Webhook
from handoff_hub.status import HandoffReason

pytestmark = pytest.mark.django_db
UNTIL = date(2026, 3, 8)
SCOPE = Scope(date(2026, 3, 4), UNTIL)


def seed(*extra: str) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo_analytics", "--days", "5", "--per-day", "10", "--seed", "3",
        "--until", UNTIL.isoformat(), *extra, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def test_seeding_makes_every_kind_of_conversation_through_the_state_machine():
    assert "Seeded" in seed()
    conversations = seeded_conversations()
    assert conversations.count() >= 30
    reasons = set(HandoffTicket.objects.values_list("reason", flat=True))
    assert reasons == set(HandoffReason.values)  # every reason, manual handoffs included
    for ticket in HandoffTicket.objects.all():
        trail = AuditEvent.objects.filter(
            conversation=ticket.conversation, action="enqueue_handoff"
        )
        assert trail.filter(detail__ticket=ticket.pk).exists()
    assert Message.objects.filter(sender="agent").exists()
    assert Message.objects.filter(sender="bot").exists()  # the real bot answered
    report = analytics_report(SCOPE)
    summary = report["summary"]
    assert summary["conversations"] == conversations.count()
    assert 0 < summary["containment_rate"] < 1 and summary["abandoned"] > 0
    assert summary["wait"]["count"] > 0 and summary["ratings"]["count"] > 0
    assert summary["user_messages"] > summary["nlu_fallbacks"] > 0
    assert [d["date"] for d in report["per_day"]] == [f"2026-03-0{n}" for n in range(4, 9)]
    assert all(day["conversations"] for day in report["per_day"])
    agents = {row["agent"] for row in report["by_agent"]}
    assert len(agents) >= 2 and agents <= {name for _user, name, _queues in SEEDED_AGENTS}


def test_seeding_runs_once_and_the_same_seed_gives_the_same_month():
    seed()
    first = analytics_report(SCOPE)
    count = seeded_conversations().count()
    assert "already seeded" in seed()
    assert seeded_conversations().count() == count
    seed("--replace")
    again = analytics_report(SCOPE)
    assert again["summary"] == first["summary"]
    assert again["handoffs_by_reason"] == first["handoffs_by_reason"]
    assert again["per_day"] == first["per_day"]


def test_seeding_refuses_to_send_demo_events_to_live_webhooks():
    Webhook.objects.create(url="https://example.com/hook", secret="s")
    with pytest.raises(CommandError, match="Active webhooks"):
        seed()
    assert not seeded_conversations().exists()
