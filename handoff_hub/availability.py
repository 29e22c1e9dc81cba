"""Can a queue answer a chat right now? Business hours, agents online, room in the queue."""

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from handoff_hub.models import Queue
from handoff_hub.queue_stats import online_slots, waiting_conversations

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(queue: Queue, now: datetime | None = None) -> bool:
    """Within the queue's business hours (in its own time zone); no hours means always open."""
    if not queue.business_hours:
        return True
    try:
        zone = ZoneInfo(queue.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = (now or timezone.now()).astimezone(zone)
    for span in queue.business_hours.get(DAYS[local.weekday()], []):
        try:
            start, end = (time.fromisoformat(part.strip()) for part in str(span).split("-"))
        except ValueError:
            continue
        if start <= local.time() < end:
            return True
    return False


def unavailable_reason(queue: Queue, now: datetime | None = None) -> str | None:
    """Why nobody can take a new chat in `queue` now, or None if someone can."""
    if not is_open(queue, now):
        return "closed"
    if online_slots(queue.pk) == 0:
        return "no_agents_online"
    if queue.max_waiting is not None and len(waiting_conversations(queue.pk)) >= queue.max_waiting:
        return "queue_full"
    return None
