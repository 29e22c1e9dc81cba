"""Analytics figures against values computed by hand on a small fixed data set.

The data set is built through the real state machine (handoff, claim, reply, re-queue,
resolve, return to bot, abandon, close, rate) under a simulated clock, so every timestamp is
known. Days are UTC (TIME_ZONE). Percentiles interpolate linearly between closest ranks.
"""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from handoff_hub.agent_actions import send_agent_message
from handoff_hub.analytics.clock import simulated_time
from handoff_hub.analytics.filters import Scope
from handoff_hub.analytics.metrics import analytics_report, intent_before_handoff
from handoff_hub.analytics.stats import percentile
from handoff_hub.assistants.models import Assistant, AssistantVersion
from handoff_hub.customer_actions import rate_conversation
from handoff_hub.messaging import lock_conversation, store_customer_message
from handoff_hub.models import Conversation, Queue
from handoff_hub.transitions import (
    claim_conversation,
    end_chat_by_customer,
    enqueue_handoff,
    requeue_conversation,
    resolve_conversation,
    return_to_bot,
)

pytestmark = pytest.mark.django_db
D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
SCOPE = Scope(D1, D2)


def at(day: date, clock_time: str) -> datetime:
    hour, minute, second = (int(p) for p in clock_time.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def tracker(*messages: tuple[str, str], replay_last: bool = False) -> dict:
    """What the engine stores: one user event per message (message_id = its seq)."""
    events = []
    for seq, (text, intent) in enumerate(messages, start=1):
        events.append(
            {
                "event": "user",
                "text": text,
                "message_id": str(seq),
                "parse_data": {"intent": {"name": intent, "confidence": 0.9}},
            }
        )
        events.append({"event": "action", "name": "action_listen"})
    if replay_last:  # a fallback replays the message to the policies: still one message
        events.append({**events[-2], "parse_data": {"intent": {"name": messages[-1][1]}}})
    return {"events": events}


class DataSet:
    """Six conversations in the range, one outside it, one where the customer never wrote."""

    def __init__(self, clock, make_agent):
        self.clock = clock
        self.alex = make_agent("alex")
        self.bea = make_agent("bea")
        self.support = Queue.objects.get(name="Support")
        self.billing = Queue.objects.create(name="Billing")
        bot = Assistant.objects.create(name="Bot")
        self.version = AssistantVersion.objects.create(
            assistant=bot, number=1, source="directory", project_path="/x", content_sha256="0"
        )

    def conversation(self, when: datetime, messages, queue=None, version=None, **options):
        self.clock.set(when)
        conversation = Conversation.objects.create(queue=queue, assistant_version=version)
        for text, _intent in messages:
            store_customer_message(conversation.pk, text, None)
        Conversation.objects.filter(pk=conversation.pk).update(
            tracker_state=tracker(*messages, **options)
        )
        return conversation

    def hand_off(self, conversation, reason: str, latest: list[str]) -> None:
        context = {"latest_intents": [{"name": name, "confidence": 0.9} for name in latest]}
        with transaction.atomic():
            enqueue_handoff(lock_conversation(conversation.pk), reason, context)

    def then(self, when: datetime, step, *args) -> None:
        self.clock.set(when)
        step(*args)


@pytest.fixture
def data(make_agent):
    with simulated_time(at(D1, "08:00:00")) as clock:
        d = DataSet(clock, make_agent)
        d.c1 = d.conversation(
            at(D1, "09:00:00"), [("hi", "greet"), ("where is it", "order_status")], None, d.version
        )
        rate_conversation(d.c1.pk, 5)

        d.c2 = d.conversation(
            at(D1, "10:00:00"),
            [("a return", "return_item"), ("a human", "human_handoff")],
            replay_last=True,
        )
        d.hand_off(d.c2, "explicit_request", ["human_handoff", "human_handoff", "return_item"])
        d.then(at(D1, "10:01:00"), claim_conversation, d.c2.pk, d.alex)
        d.then(at(D1, "10:01:30"), send_agent_message, d.c2.pk, d.alex, "Hi, Alex here")
        d.then(at(D1, "10:06:00"), resolve_conversation, d.c2.pk, d.alex)
        rate_conversation(d.c2.pk, 4)

        d.c3 = d.conversation(
            at(D1, "11:00:00"), [("blorp", "nlu_fallback"), ("zzz", "nlu_fallback")]
        )
        d.hand_off(d.c3, "two_stage_fallback", ["shipping_info"])
        d.then(at(D1, "11:04:00"), end_chat_by_customer, d.c3.pk)  # abandoned in the queue

        d.c4 = d.conversation(at(D2, "09:00:00"), [("my order", "order_status")], d.billing)
        d.hand_off(d.c4, "custom_action", ["order_status"])
        d.then(at(D2, "09:03:00"), claim_conversation, d.c4.pk, d.bea)
        d.then(at(D2, "09:04:00"), send_agent_message, d.c4.pk, d.bea, "Looking")
        d.then(at(D2, "09:05:00"), requeue_conversation, d.c4.pk, d.bea)
        d.then(at(D2, "09:07:00"), claim_conversation, d.c4.pk, d.alex)
        d.then(at(D2, "09:10:00"), return_to_bot, d.c4.pk, d.alex)
        rate_conversation(d.c4.pk, 2)

        d.c5 = d.conversation(at(D2, "10:00:00"), [("what?", "out_of_scope")])
        d.hand_off(d.c5, "core_fallback", ["out_of_scope"])
        d.then(at(D2, "10:00:20"), claim_conversation, d.c5.pk, d.alex)
        d.then(at(D2, "10:02:20"), end_chat_by_customer, d.c5.pk)  # closed while with alex

        d.c8 = d.conversation(
            at(D2, "12:00:00"),
            [("hello", "greet"), ("qwe", "nlu_fallback"), ("bye", "goodbye")],
            None,
            d.version,
        )
        d.then(at(D2, "12:05:00"), store_customer_message, d.c8.pk, "/silence_timeout", None)
        state = Conversation.objects.get(pk=d.c8.pk).tracker_state
        state["events"].append({"event": "user", "text": "/silence_timeout", "message_id": "4"})
        Conversation.objects.filter(pk=d.c8.pk).update(tracker_state=state)
        rate_conversation(d.c8.pk, 3)

        d.clock.set(at(D2, "13:00:00"))
        Conversation.objects.create()  # opened the widget, never wrote: not a conversation
        d.conversation(at(date(2026, 3, 4), "00:00:01"), [("hi", "greet")])  # the day after
    return d


def test_summary_figures_match_the_hand_computed_values(data):
    summary = analytics_report(SCOPE)["summary"]
    assert {k: summary[k] for k in ("conversations", "contained", "handed_off", "handoffs")} == {
        "conversations": 6,
        "contained": 2,
        "handed_off": 4,
        "handoffs": 4,
    }
    assert summary["containment_rate"] == 0.3333 and summary["handoff_rate"] == 0.6667
    assert summary["abandoned"] == 1 and summary["abandonment_rate"] == 0.25
    # 11 messages the bot saw (replays and the silence check-in excluded), 3 not understood.
    assert (summary["user_messages"], summary["nlu_fallbacks"]) == (11, 3)
    assert summary["nlu_fallback_rate"] == 0.2727
    # Waits 60 (c2), 180 (c4: its first assignment, not the one after the re-queue), 20 (c5).
    assert summary["wait"] == {"count": 3, "p50": 60.0, "p90": 156.0, "average": 86.7}
    assert summary["first_response"] == {"count": 2, "p50": 165.0, "p90": 225.0, "average": 165.0}
    # Handle: c2 300, c4 420 (from the first assignment to the return), c5 120 (closed).
    assert summary["handle"] == {"count": 3, "p50": 300.0, "p90": 396.0, "average": 280.0}
    assert summary["resolution"] == {"count": 2, "p50": 480.0, "p90": 576.0, "average": 480.0}
    assert summary["ratings"] == {
        "count": 4,
        "average": 3.5,
        "distribution": [{"score": s, "count": int(s in (2, 3, 4, 5))} for s in range(1, 6)],
    }


def test_handoffs_by_reason_intents_waits_and_days(data):
    report = analytics_report(SCOPE)
    by_reason = {r["reason"]: r["count"] for r in report["handoffs_by_reason"]}
    assert by_reason == {
        "explicit_request": 1,
        "two_stage_fallback": 1,
        "core_fallback": 1,
        "pattern": 0,
        "custom_action": 1,
        "bot_error": 0,
        "manual": 0,
    }
    assert report["top_intents_before_handoff"] == [
        {"intent": name, "count": 1}
        for name in ("order_status", "out_of_scope", "return_item", "shipping_info")
    ]
    waits = {b["bucket"]: b["count"] for b in report["wait_distribution"] if b["count"]}
    assert waits == {"< 30 s": 1, "1–2 min": 1, "2–5 min": 1}
    assert report["per_day"] == [
        {
            "date": "2026-03-02",
            "conversations": 3,
            "handed_off": 2,
            "contained": 1,
            "handoff_rate": 0.6667,
        },
        {
            "date": "2026-03-03",
            "conversations": 3,
            "handed_off": 2,
            "contained": 1,
            "handoff_rate": 0.6667,
        },
    ]


def test_figures_per_queue_agent_and_version(data):
    report = analytics_report(SCOPE)
    billing, support = report["by_queue"]
    assert (billing["queue"], billing["handoffs"], billing["abandoned"]) == ("Billing", 1, 0)
    assert billing["wait"]["p50"] == 180.0 and billing["handle"]["p50"] == 420.0
    assert billing["average_rating"] == 2.0
    assert (support["queue"], support["handoffs"], support["abandoned"]) == ("Support", 3, 1)
    assert support["wait"]["p50"] == 40.0 and support["handle"]["p50"] == 210.0
    assert support["average_rating"] == 4.0
    [alex] = report["by_agent"]  # bea handed c4 back to the queue; alex ended it
    assert (alex["agent"], alex["handled"], alex["resolved"]) == ("Alex", 3, 2)
    assert alex["first_response"]["p50"] == 165.0 and alex["handle"]["p50"] == 300.0
    assert alex["average_rating"] == 3.0
    by_version = {row["version"]: row for row in report["by_version"]}
    assert by_version["Bot v1"] == {
        "version_id": data.version.pk,
        "version": "Bot v1",
        "conversations": 2,
        "containment_rate": 1.0,
        "handoff_rate": 0.0,
        "nlu_fallback_rate": 0.2,
    }
    fallback = by_version["HUB_ASSISTANT_PATH (no version)"]
    assert (fallback["conversations"], fallback["handoff_rate"]) == (4, 1.0)
    assert fallback["nlu_fallback_rate"] == 0.3333


def test_filters_narrow_to_one_queue_agent_or_version(data):
    billing = analytics_report(Scope(D1, D2, queue_id=data.billing.pk))["summary"]
    assert (billing["conversations"], billing["handoffs"], billing["handoff_rate"]) == (1, 1, 1.0)
    alex = analytics_report(Scope(D1, D2, agent_id=data.alex.pk))["summary"]
    assert (alex["conversations"], alex["handoffs"], alex["abandoned"]) == (3, 3, 0)
    assert alex["wait"]["p50"] == 60.0
    bea = analytics_report(Scope(D1, D2, agent_id=data.bea.pk))["summary"]
    assert bea["conversations"] == 0 and bea["handoff_rate"] is None
    version = analytics_report(Scope(D1, D2, version_id=data.version.pk))["summary"]
    assert (version["conversations"], version["handoffs"]) == (2, 0)
    assert version["ratings"]["average"] == 4.0
    day_two = analytics_report(Scope(D2, D2))["summary"]
    assert (day_two["conversations"], day_two["handoffs"]) == (3, 2)


def test_percentiles_interpolate_between_ranks():
    assert percentile([20, 60, 180], 0.9) == pytest.approx(156)
    assert percentile([5], 0.5) == 5 and percentile([], 0.5) is None
    assert percentile([1, 2, 3, 4], 0.5) == 2.5


def test_the_intent_before_an_explicit_request_is_what_the_customer_wanted(data):
    from handoff_hub.analytics.timelines import TicketTimeline

    def ticket(reason: str, names: list[str]) -> TicketTimeline:
        context = {"latest_intents": [{"name": n} for n in names]}
        return TicketTimeline(1, 1, None, None, reason, context, at(D1, "10:00:00"), None)

    assert intent_before_handoff(ticket("explicit_request", ["human", "human", "refund"])) == (
        "refund"
    )
    assert intent_before_handoff(ticket("explicit_request", ["human"])) == "human"
    assert intent_before_handoff(ticket("two_stage_fallback", ["refund", "greet"])) == "refund"
    assert intent_before_handoff(ticket("bot_error", [])) is None


def csv_rows(response) -> list[tuple[str, ...]]:
    return [tuple(row) for row in csv.reader(io.StringIO(response.content.decode()))]


def test_csv_export_carries_the_same_figures(client, data, make_agent):
    client.force_login(make_agent("boss", supervisor=True))
    response = client.get("/analytics/export.csv", {"start": "2026-03-02", "end": "2026-03-03"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "handoff-hub-analytics-2026-03-02-2026-03-03.csv" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == ("section", "key", "metric", "value")
    for expected in [
        ("summary", "", "conversations", "6"),
        ("summary", "", "handoff_rate", "0.6667"),
        ("summary", "", "wait_p90_seconds", "156.0"),
        ("summary", "", "rating_average", "3.5"),
        ("ratings", "5", "conversations", "1"),
        ("handoffs_by_reason", "custom_action", "handoffs", "1"),
        ("top_intents_before_handoff", "return_item", "handoffs", "1"),
        ("wait_distribution", "2–5 min", "tickets", "1"),
        ("per_day", "2026-03-03", "handed_off", "2"),
        ("by_queue", "Billing", "wait_p50_seconds", "180.0"),
        ("by_agent", "Alex", "resolved", "2"),
        ("by_version", "Bot v1", "nlu_fallback_rate", "0.2"),
    ]:
        assert expected in rows, expected
    assert len(rows) == len(set(rows))


def test_api_returns_the_same_report_and_documents_it(client, data, make_agent):
    client.force_login(make_agent("boss", supervisor=True))
    response = client.get("/api/analytics/", {"start": "2026-03-02", "end": "2026-03-03"})
    assert response.status_code == 200
    assert response.json() == analytics_report(SCOPE)
    bad = client.get("/api/analytics/", {"start": "2026-03-05", "end": "2026-03-01"})
    assert bad.status_code == 400 and "start date" in bad.content.decode()
    schema = client.get("/api/schema/").content.decode()
    assert "/api/analytics/" in schema and "AnalyticsReport" in schema


def test_dashboard_shows_figures_charts_and_links(client, data, make_agent):
    client.force_login(make_agent("boss", supervisor=True))
    page = client.get("/analytics/", {"start": "2026-03-02", "end": "2026-03-03"})
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="conversations">6<' in text
    assert 'data-testid="handoff-rate">66.7 %<' in text
    assert 'data-testid="wait-p50">1 min<' in text
    assert text.count('<svg class="chart"') == 5
    assert "Custom action: 1" in text  # a bar's tooltip in the reasons chart
    assert "/analytics/export.csv?start=2026-03-02&amp;end=2026-03-03" in text
    live = client.get("/console/dashboard/").content.decode()
    assert 'href="/analytics/"' in live


def test_user_text_is_escaped_in_the_page_charts_and_csv(client, make_agent):
    evil = "<script>alert(1)</script>"
    boss = make_agent("boss", supervisor=True)
    queue = Queue.objects.create(name=evil)
    alex = make_agent("alex")
    alex.agent_profile.display_name = '=HYPERLINK("http://x")'
    alex.agent_profile.save()
    conversation = Conversation.objects.create(queue=queue)
    store_customer_message(conversation.pk, "hi", None)
    with transaction.atomic():
        context = {"latest_intents": [{"name": evil}]}
        enqueue_handoff(lock_conversation(conversation.pk), "pattern", context)
    claim_conversation(conversation.pk, alex)
    client.force_login(boss)
    page = client.get("/analytics/").content.decode()
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    rows = csv_rows(client.get("/analytics/export.csv"))
    assert ("by_agent", '\'=HYPERLINK("http://x")', "handled", "1") in rows


@pytest.mark.parametrize("url", ["/analytics/", "/analytics/export.csv", "/api/analytics/"])
def test_agents_who_are_not_supervisors_cannot_see_analytics(client, make_agent, url):
    assert client.get(url).status_code in (302, 403)  # anonymous: login or refusal
    client.force_login(make_agent("alex"))
    assert client.get(url).status_code == 403
    admin = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    admin.groups.add(Group.objects.get(name="Admin"))  # the Admin role grants view_analytics
    client.force_login(admin)
    assert client.get(url).status_code == 200


def test_admin_home_links_to_analytics_for_those_who_may_see_them(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert 'href="/analytics/"' in page and "Reports" in page
