"""Where a waiting customer stands: queue position and an honest wait estimate."""

import math
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from handoff_hub.models import AgentProfile, Conversation, HandoffTicket, Queue
from handoff_hub.status import AgentStatus, ConversationStatus

# Used until a queue has handled enough chats to know its own pace.
DEFAULT_HANDLE_SECONDS = 300
RECENT_TICKETS = 50


def waiting_conversations(queue_id: int) -> list[int]:
    """Ids of the chats waiting in a queue, first come first served."""
    open_tickets = HandoffTicket.objects.filter(
        conversation__queue_id=queue_id,
        conversation__status=ConversationStatus.QUEUED,
        resolved_at=None,
    ).order_by("enqueued_at", "pk")
    ids: list[int] = []
    for conversation_id in open_tickets.values_list("conversation_id", flat=True):
        if conversation_id not in ids:
            ids.append(conversation_id)
    return ids


def oldest_wait_seconds(waiting: list[int], now=None) -> int | None:
    """How long the longest-waiting of these chats has waited (None if none is waiting)."""
    oldest = (
        HandoffTicket.objects.filter(conversation_id__in=waiting, resolved_at=None)
        .order_by("enqueued_at")
        .values_list("enqueued_at", flat=True)
        .first()
    )
    if oldest is None:
        return None
    return int(((now or timezone.now()) - oldest).total_seconds())


def average_handle_seconds(queue_id: int) -> float:
    """Mean time from assignment to resolution over the queue's recent chats."""
    recent = (
        HandoffTicket.objects.filter(
            queue_id=queue_id, assigned_at__isnull=False, resolved_at__isnull=False
        )
        .order_by("-resolved_at")
        .values_list("assigned_at", "resolved_at")[:RECENT_TICKETS]
    )
    durations = [(done - start) / timedelta(seconds=1) for start, done in recent]
    return sum(durations) / len(durations) if durations else DEFAULT_HANDLE_SECONDS


def online_slots(queue_id: int) -> int:
    """Chats the queue's online agents can take at once (their summed capacity)."""
    agents = AgentProfile.objects.filter(queues=queue_id, status=AgentStatus.ONLINE)
    return sum(agents.values_list("capacity", flat=True))


def free_slots(queue_id: int) -> int:
    agents = AgentProfile.objects.filter(queues=queue_id, status=AgentStatus.ONLINE).annotate(
        busy=Count(
            "user__assigned_conversations",
            filter=Q(user__assigned_conversations__status=ConversationStatus.ASSIGNED),
        )
    )
    return sum(max(0, a.capacity - a.busy) for a in agents)


def eta_seconds(position: int, free: int, slots: int, handle_seconds: float) -> int | None:
    """Seconds until the chat at `position` (1-based) is likely picked up; None if nobody is on.

    Each of the queue's `slots` concurrent places frees about once per average handle time, so
    the chat at position p waits about ceil((p - free) / slots) handle times (none if a place is
    free now). Counting every online agent's capacity, not the number of agents, is what keeps
    the estimate honest for agents who take several chats at once.
    """
    if slots == 0:
        return None
    if position <= free:
        return 0
    return int(math.ceil((position - free) / slots) * handle_seconds)


def queue_positions(queue: Queue) -> list[tuple[Conversation, dict]]:
    """A position frame for every chat waiting in `queue`."""
    waiting = waiting_conversations(queue.pk)
    # Only what a frame's delivery needs: not every waiting chat's tracker.
    by_id = Conversation.objects.only("public_id", "listeners").in_bulk(waiting)
    frame = _frame_maker(queue.pk)
    return [(by_id[pk], frame(position)) for position, pk in enumerate(waiting, start=1)]


def position_frame(conversation: Conversation) -> dict | None:
    """Where one waiting chat stands now (None if it is not waiting in a queue): what a widget
    that just (re)connected is told, without waiting for the queue's next change."""
    if conversation.status != ConversationStatus.QUEUED or conversation.queue_id is None:
        return None
    waiting = waiting_conversations(conversation.queue_id)
    if conversation.pk not in waiting:
        return None
    return _frame_maker(conversation.queue_id)(waiting.index(conversation.pk) + 1)


def _frame_maker(queue_id: int):
    slots = online_slots(queue_id)
    handle = average_handle_seconds(queue_id)
    free = free_slots(queue_id)

    def frame(position: int) -> dict:
        return {
            "type": "queue",
            "position": position,
            "eta_seconds": eta_seconds(position, free, slots, handle),
            "agents_online": slots > 0,
        }

    return frame
