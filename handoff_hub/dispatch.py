"""Event-driven assignment of waiting chats, and live queue positions for waiting customers.

Runs after every commit that changes a queue or an agent's free capacity (a chat queued,
resolved, transferred, returned; an agent coming online) — never as a periodic sweep.
"""

import logging
import threading

from django.db import transaction
from django.db.models import Count, Q

from handoff_hub import realtime
from handoff_hub.background import PollingThread
from handoff_hub.models import AgentProfile, Queue
from handoff_hub.queue_stats import queue_positions, waiting_conversations
from handoff_hub.realtime import customer_group, send_now
from handoff_hub.status import AgentStatus, ConversationStatus, RoutingMode
from handoff_hub.write_batch import batch_cache

logger = logging.getLogger(__name__)
_local = threading.local()


def after_change_on_commit(queue_id: int | None) -> None:
    if queue_id is None:
        return
    if batch_cache() is not None:
        # Inside the message path's group commit: the writer thread must not wait for a
        # queue pass (which scales with the queue), so a thread of its own runs it.
        transaction.on_commit(lambda: _request_refresh(queue_id))
    else:
        transaction.on_commit(lambda: refresh_queue(queue_id))


# Queues the message path asked to refresh, coalesced until the refresher's next pass.
_pending: set[int] = set()
_pending_lock = threading.Lock()


def _request_refresh(queue_id: int) -> None:
    with _pending_lock:
        _pending.add(queue_id)
    _background.wake()


def _refresh_pending() -> None:
    with _pending_lock:
        queue_ids = sorted(_pending)
        _pending.clear()
    for queue_id in queue_ids:
        try:
            refresh_queue(queue_id)
        except Exception:  # noqa: BLE001 - one queue's failure must not skip the others
            logger.exception("Queue %s refresh failed", queue_id)
    return None  # sleep until the next request


_background = PollingThread("dispatch", _refresh_pending, logger, "Queue refresh")


def stop_background_refresher(timeout: float = 10.0) -> bool:
    """End the message path's queue-refresh thread and close its connection (at shutdown)."""
    return _background.stop(timeout)


def refresh_queue(queue_id: int) -> None:
    """Assign what can be assigned, then tell every waiting customer where they stand.

    Assignments commit and schedule this again; a thread already refreshing just notes that
    another pass is due instead of recursing.
    """
    pending = getattr(_local, "pending", None)
    if pending is not None:
        pending.add(queue_id)
        return
    _local.pending = {queue_id}
    try:
        while _local.pending:
            current = _local.pending.pop()
            queue = Queue.objects.filter(pk=current).first()
            if queue is None:
                continue
            dispatch_queue(queue)
            # Every position frame in one hand-over to the loop, not one wake-up each; with
            # its row, a frame crosses Redis only if a widget on another process listens
            # (a pass over 1,000 waiting chats made 1,000 publishes and wake-ups before).
            with realtime.collecting() as frames:
                for conversation, frame in queue_positions(queue):
                    send_now(customer_group(conversation.public_id), frame, conversation)
            realtime.hand_over(frames, lambda: None)
    finally:
        _local.pending = None


def dispatch_queue(queue: Queue) -> int:
    """Give waiting chats to available agents per the queue's routing mode. Returns how many."""
    from handoff_hub.transitions import TransitionError, assign_conversation

    if queue.routing_mode == RoutingMode.MANUAL:
        return 0
    assigned = 0
    for conversation_id in waiting_conversations(queue.pk):
        agent = pick_agent(queue)
        if agent is None:
            break
        try:
            assign_conversation(conversation_id, agent.user)
            assigned += 1
        except TransitionError as error:
            # Someone claimed it first or the agent filled up meanwhile: move on.
            logger.info("Dispatch skipped conversation %s: %s", conversation_id, error)
    return assigned


def pick_agent(queue: Queue) -> AgentProfile | None:
    """The online agent of `queue` with free capacity who should get the next chat."""
    candidates = (
        AgentProfile.objects.filter(queues=queue, status=AgentStatus.ONLINE)
        .select_related("user")
        .annotate(
            busy=Count(
                "user__assigned_conversations",
                filter=Q(user__assigned_conversations__status=ConversationStatus.ASSIGNED),
            )
        )
    )
    free = [a for a in candidates if a.busy < a.capacity]
    if not free:
        return None
    never = 0.0

    def last_assigned(agent: AgentProfile) -> float:
        return agent.last_assigned_at.timestamp() if agent.last_assigned_at else never

    if queue.routing_mode == RoutingMode.ROUND_ROBIN:
        return min(free, key=lambda a: (last_assigned(a), a.pk))
    return min(free, key=lambda a: (a.busy / a.capacity, last_assigned(a), a.pk))
