"""Figures for the supervisors' live dashboard (drawn as charts by static/console/dashboard.js)."""

from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from handoff_hub.models import AgentProfile, HandoffTicket, Queue
from handoff_hub.queue_stats import oldest_wait_seconds, waiting_conversations
from handoff_hub.status import AgentStatus, ConversationStatus


def dashboard_figures(now=None) -> dict:
    now = now or timezone.now()
    queues = []
    for queue in Queue.objects.order_by("name"):
        waiting = waiting_conversations(queue.pk)
        queues.append(
            {
                "name": queue.name,
                "waiting": len(waiting),
                "oldest_wait_seconds": oldest_wait_seconds(waiting, now) or 0,
            }
        )
    agents = AgentProfile.objects.annotate(
        busy=Count(
            "user__assigned_conversations",
            filter=Q(user__assigned_conversations__status=ConversationStatus.ASSIGNED),
        )
    )
    online = [a for a in agents if a.status == AgentStatus.ONLINE]
    since = now - timedelta(hours=24)
    per_hour = dict(
        HandoffTicket.objects.filter(enqueued_at__gte=since)
        .annotate(hour=TruncHour("enqueued_at"))
        .values_list("hour")
        .annotate(count=Count("pk"))
        .values_list("hour", "count")
    )
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [start + timedelta(hours=i) for i in range(24)]
    return {
        "queues": queues,
        "agents": {
            "online": len(online),
            "busy": sum(1 for a in online if a.busy > 0),
            "away": sum(1 for a in agents if a.status == AgentStatus.AWAY),
            "chats": sum(a.busy for a in agents),
            "capacity": sum(a.capacity for a in online),
        },
        "handoffs_per_hour": [
            {"hour": h.strftime("%H:00"), "count": per_hour.get(h, 0)} for h in hours
        ],
    }
