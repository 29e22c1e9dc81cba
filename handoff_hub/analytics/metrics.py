"""The analytics report: every figure of the dashboard, the CSV export and the API, for a scope.

A report covers the conversations that *started* in the scope's days and in which the customer
wrote at least once (opening the widget is not a conversation), narrowed to one queue, agent or
assistant version when the scope names one. Definitions: docs/subsystems/analytics.md.
"""

from collections import Counter, defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.utils import timezone

from handoff_hub import trackers
from handoff_hub.analytics.filters import Scope
from handoff_hub.analytics.stats import (
    duration_summary,
    rate,
    rating_summary,
    wait_histogram,
)
from handoff_hub.analytics.timelines import RESOLVED, TicketTimeline, ticket_timelines
from handoff_hub.assistants.models import AssistantVersion
from handoff_hub.bot_turns import SILENCE_PAYLOAD  # the hub's check-in is no user message
from handoff_hub.models import Conversation, HandoffTicket, Message, Queue
from handoff_hub.presenters import agent_name
from handoff_hub.status import HandoffReason, Sender

TOP_INTENTS = 10
NO_VERSION_LABEL = "HUB_ASSISTANT_PATH (no version)"


def selected_conversations(scope: Scope):
    customer_wrote = Message.objects.filter(conversation=OuterRef("pk"), sender=Sender.CUSTOMER)
    conversations = Conversation.objects.filter(
        Exists(customer_wrote), created_at__gte=scope.start_at, created_at__lt=scope.end_before
    )
    if scope.version_id is not None:
        conversations = conversations.filter(assistant_version_id=scope.version_id)
    if scope.queue_id is not None or scope.agent_id is not None:
        tickets = _narrowed(HandoffTicket.objects.filter(conversation=OuterRef("pk")), scope)
        conversations = conversations.filter(Exists(tickets))
    return conversations


def _narrowed(tickets, scope: Scope):
    if scope.queue_id is not None:
        tickets = tickets.filter(queue_id=scope.queue_id)
    if scope.agent_id is not None:
        tickets = tickets.filter(agent_id=scope.agent_id)
    return tickets


def analytics_report(scope: Scope) -> dict:
    """All figures for `scope` as plain JSON-ready data."""
    conversations = selected_conversations(scope)
    rows = list(conversations.values("pk", "created_at", "rating", "assistant_version_id"))
    tickets = _narrowed(HandoffTicket.objects.filter(conversation__in=conversations), scope)
    timelines = ticket_timelines(tickets)
    nlu = {pk: user_intent_counts(state) for pk, state in trackers.load_many(conversations).items()}
    handed = {t.conversation_id for t in timelines}
    ratings = {row["pk"]: row["rating"] for row in rows if row["rating"] is not None}
    return {
        "scope": scope.as_dict(),
        "summary": summary(rows, timelines, nlu, handed),
        "handoffs_by_reason": handoffs_by_reason(timelines),
        "top_intents_before_handoff": top_intents(timelines),
        "wait_distribution": wait_histogram([t.wait for t in timelines if t.wait is not None]),
        "per_day": per_day(scope, rows, handed),
        "by_queue": by_queue(timelines, ratings),
        "by_agent": by_agent(timelines, ratings),
        "by_version": by_version(rows, nlu, handed),
    }


def user_intent_counts(tracker_state: dict | None) -> tuple[int, int]:
    """(user messages the bot understood or not, how many of them were nlu_fallback).

    A message appears once per message id even when a fallback replays it to the policies.
    """
    seen: set = set()
    messages = fallbacks = 0
    for event in (tracker_state or {}).get("events") or []:
        if event.get("event") != "user" or event.get("text") == SILENCE_PAYLOAD:
            continue
        key = event.get("message_id")
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        messages += 1
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        fallbacks += intent == "nlu_fallback"
    return messages, fallbacks


def summary(rows: list[dict], timelines: list[TicketTimeline], nlu: dict, handed: set) -> dict:
    total = len(rows)
    handed_off = sum(1 for row in rows if row["pk"] in handed)
    abandoned = sum(1 for t in timelines if t.ending == "abandoned")
    messages = sum(nlu.get(row["pk"], (0, 0))[0] for row in rows)
    fallbacks = sum(nlu.get(row["pk"], (0, 0))[1] for row in rows)
    return {
        "conversations": total,
        "contained": total - handed_off,
        "containment_rate": rate(total - handed_off, total),
        "handed_off": handed_off,
        "handoff_rate": rate(handed_off, total),
        "handoffs": len(timelines),
        "abandoned": abandoned,
        "abandonment_rate": rate(abandoned, len(timelines)),
        "user_messages": messages,
        "nlu_fallbacks": fallbacks,
        "nlu_fallback_rate": rate(fallbacks, messages),
        "wait": _durations(timelines, "wait"),
        "first_response": _durations(timelines, "first_response"),
        "handle": _durations(timelines, "handle"),
        "resolution": _durations(timelines, "resolution"),
        "ratings": rating_summary([row["rating"] for row in rows if row["rating"] is not None]),
    }


def _durations(timelines: list[TicketTimeline], measure: str) -> dict:
    values = [getattr(t, measure) for t in timelines]
    return duration_summary([v for v in values if v is not None])


def handoffs_by_reason(timelines: list[TicketTimeline]) -> list[dict]:
    counts = Counter(t.reason for t in timelines)
    return [
        {"reason": reason.value, "label": reason.label, "count": counts.get(reason.value, 0)}
        for reason in HandoffReason
    ]


def intent_before_handoff(timeline: TicketTimeline) -> str | None:
    """The customer's last intent before the handoff; for an explicit request, the one before
    the request itself (what they wanted help with), when there is one."""
    latest = [i.get("name") for i in timeline.bot_context.get("latest_intents") or []]
    latest = [name for name in latest if name]
    if not latest:
        return None
    if timeline.reason == HandoffReason.EXPLICIT_REQUEST:
        earlier = [name for name in latest if name != latest[0]]
        if earlier:
            return earlier[0]
    return latest[0]


def top_intents(timelines: list[TicketTimeline]) -> list[dict]:
    counts = Counter(filter(None, map(intent_before_handoff, timelines)))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_INTENTS]
    return [{"intent": intent, "count": count} for intent, count in ranked]


def per_day(scope: Scope, rows: list[dict], handed: set) -> list[dict]:
    started: Counter = Counter()
    handed_off: Counter = Counter()
    for row in rows:
        day = timezone.localtime(row["created_at"]).date()
        started[day] += 1
        handed_off[day] += row["pk"] in handed
    return [
        {
            "date": day.isoformat(),
            "conversations": started[day],
            "handed_off": handed_off[day],
            "contained": started[day] - handed_off[day],
            "handoff_rate": rate(handed_off[day], started[day]),
        }
        for day in scope.days
    ]


def _average_rating(conversation_ids: set, ratings: dict) -> float | None:
    given = [ratings[pk] for pk in conversation_ids if pk in ratings]
    return round(sum(given) / len(given), 2) if given else None


def by_queue(timelines: list[TicketTimeline], ratings: dict) -> list[dict]:
    groups: dict = defaultdict(list)
    for timeline in timelines:
        groups[timeline.queue_id].append(timeline)
    names = dict(Queue.objects.filter(pk__in=groups.keys()).values_list("pk", "name"))
    result = [
        {
            "queue_id": queue_id,
            "queue": names.get(queue_id, "(no queue)"),
            "handoffs": len(group),
            "abandoned": sum(1 for t in group if t.ending == "abandoned"),
            "wait": _durations(group, "wait"),
            "handle": _durations(group, "handle"),
            "average_rating": _average_rating({t.conversation_id for t in group}, ratings),
        }
        for queue_id, group in groups.items()
    ]
    return sorted(result, key=lambda row: row["queue"])


def by_agent(timelines: list[TicketTimeline], ratings: dict) -> list[dict]:
    groups: dict = defaultdict(list)
    for timeline in timelines:
        if timeline.agent_id is not None:
            groups[timeline.agent_id].append(timeline)
    users = get_user_model().objects.filter(pk__in=groups.keys()).select_related("agent_profile")
    names = {user.pk: agent_name(user) for user in users}
    result = [
        {
            "agent_id": agent_id,
            "agent": names.get(agent_id, f"user {agent_id}"),
            "handled": len(group),
            "resolved": sum(1 for t in group if t.ending in RESOLVED),
            "first_response": _durations(group, "first_response"),
            "handle": _durations(group, "handle"),
            "average_rating": _average_rating({t.conversation_id for t in group}, ratings),
        }
        for agent_id, group in groups.items()
    ]
    return sorted(result, key=lambda row: row["agent"])


def by_version(rows: list[dict], nlu: dict, handed: set) -> list[dict]:
    groups: dict = defaultdict(list)
    for row in rows:
        groups[row["assistant_version_id"]].append(row)
    versions = AssistantVersion.objects.filter(pk__in=[k for k in groups if k is not None])
    labels = {v.pk: str(v) for v in versions.select_related("assistant")}
    result = []
    for version_id, group in groups.items():
        handed_off = sum(1 for row in group if row["pk"] in handed)
        messages = sum(nlu.get(row["pk"], (0, 0))[0] for row in group)
        fallbacks = sum(nlu.get(row["pk"], (0, 0))[1] for row in group)
        result.append(
            {
                "version_id": version_id,
                "version": labels.get(version_id, NO_VERSION_LABEL),
                "conversations": len(group),
                "containment_rate": rate(len(group) - handed_off, len(group)),
                "handoff_rate": rate(handed_off, len(group)),
                "nlu_fallback_rate": rate(fallbacks, messages),
            }
        )
    return sorted(result, key=lambda row: row["version"])
