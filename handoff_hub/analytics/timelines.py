"""One timeline per handoff ticket, read from the ticket and the conversation's audit trail.

The audit trail tells what the ticket fields cannot: when the chat was *first* assigned (a
re-queue clears the ticket's assignment) and how the ticket ended (resolved by an agent,
returned to the bot, abandoned in the queue, or closed by the customer).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from handoff_hub.models import AuditEvent

ASSIGNING = frozenset({"claim", "assign", "transfer_to_agent"})
ENDINGS = {"resolve": "resolved", "return_to_bot": "returned", "abandon": "abandoned"}
# Endings after which the agent's work counts as done (handle and resolution times).
RESOLVED = frozenset({"resolved", "returned"})


@dataclass
class TicketTimeline:
    ticket_id: int
    conversation_id: int
    queue_id: int | None
    agent_id: int | None
    reason: str
    bot_context: dict
    enqueued_at: datetime
    first_response_at: datetime | None
    first_assigned_at: datetime | None = None
    ended_at: datetime | None = None
    ending: str | None = None  # resolved, returned, abandoned, closed; None while open

    def seconds(self, start: datetime | None, end: datetime | None) -> float | None:
        if start is None or end is None:
            return None
        return max(0.0, (end - start).total_seconds())

    @property
    def wait(self) -> float | None:
        return self.seconds(self.enqueued_at, self.first_assigned_at)

    @property
    def first_response(self) -> float | None:
        return self.seconds(self.enqueued_at, self.first_response_at)

    @property
    def handle(self) -> float | None:
        if self.ending not in (*RESOLVED, "closed"):
            return None
        return self.seconds(self.first_assigned_at, self.ended_at)

    @property
    def resolution(self) -> float | None:
        return self.seconds(self.enqueued_at, self.ended_at) if self.ending in RESOLVED else None


def ticket_timelines(tickets) -> list[TicketTimeline]:
    """Timelines for a queryset of tickets, from two queries."""
    rows = list(
        tickets.values(
            "pk",
            "conversation_id",
            "queue_id",
            "agent_id",
            "reason",
            "bot_context",
            "enqueued_at",
            "first_response_at",
        )
    )
    timelines = {
        row["pk"]: TicketTimeline(
            ticket_id=row["pk"],
            conversation_id=row["conversation_id"],
            queue_id=row["queue_id"],
            agent_id=row["agent_id"],
            reason=row["reason"],
            bot_context=row["bot_context"] or {},
            enqueued_at=row["enqueued_at"],
            first_response_at=row["first_response_at"],
        )
        for row in rows
    }
    events = AuditEvent.objects.filter(
        conversation_id__in=tickets.values("conversation_id")
    ).order_by("conversation_id", "created_at", "pk")
    by_conversation = defaultdict(list)
    for event in events.values("conversation_id", "action", "from_status", "detail", "created_at"):
        by_conversation[event["conversation_id"]].append(event)
    for trail in by_conversation.values():
        _apply_trail(trail, timelines)
    return list(timelines.values())


def _apply_trail(trail: list[dict], timelines: dict[int, TicketTimeline]) -> None:
    current: TicketTimeline | None = None
    for event in trail:
        action = event["action"]
        if action == "enqueue_handoff":
            current = timelines.get((event["detail"] or {}).get("ticket"))
        elif current is None:
            continue
        elif action in ASSIGNING and current.first_assigned_at is None:
            current.first_assigned_at = event["created_at"]
        elif action in ENDINGS or (action == "close" and event["from_status"] == "assigned"):
            current.ending = ENDINGS.get(action, "closed")
            current.ended_at = event["created_at"]
            current = None
