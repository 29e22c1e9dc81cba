"""Agent presence: status changes and what they trigger (dispatch, re-queueing their chats)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from handoff_hub.dispatch import after_change_on_commit
from handoff_hub.models import AgentProfile, Conversation
from handoff_hub.realtime import CONSOLE_GROUP, publish_on_commit
from handoff_hub.status import AgentStatus, ConversationStatus


def grant_role(user, supervisor: bool = False) -> None:
    """Put the user in the Agent or Supervisor group (created by a data migration)."""
    from django.contrib.auth.models import Group

    group = Group.objects.filter(name="Supervisor" if supervisor else "Agent").first()
    if group is not None:
        user.groups.add(group)


def set_agent_status(user, status: str) -> AgentProfile:
    """Online agents get chats; going offline hands their open chats back to the queue."""
    from handoff_hub.transitions import requeue_conversation

    if status not in AgentStatus.values:
        raise ValueError(f"Unknown agent status {status!r}.")
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().get(user=user)
        profile.status = status
        profile.last_seen_at = timezone.now()
        profile.save(update_fields=["status", "last_seen_at"])
        for queue_id in profile.queues.values_list("pk", flat=True):
            after_change_on_commit(queue_id)
        publish_on_commit(CONSOLE_GROUP, {"type": "agent", "agent_id": user.pk, "status": status})
    if status == AgentStatus.OFFLINE:
        mine = Conversation.objects.filter(assigned_agent=user, status=ConversationStatus.ASSIGNED)
        for conversation_id in mine.values_list("pk", flat=True):
            requeue_conversation(conversation_id, user, why="agent went offline")
    return profile


def go_offline_if_silent(user_id: int, silence_seconds: float) -> bool:
    """Take an agent offline (re-queueing their chats) if no console of theirs spoke lately."""
    cutoff = timezone.now() - timedelta(seconds=silence_seconds)
    profile = AgentProfile.objects.select_related("user").filter(user_id=user_id).first()
    if profile is None or profile.status == AgentStatus.OFFLINE:
        return False
    if profile.last_seen_at is not None and profile.last_seen_at > cutoff:
        return False
    set_agent_status(profile.user, AgentStatus.OFFLINE)
    return True


def touch_agent(user) -> None:
    """Record that the agent's console is alive (used to re-queue chats of silent agents)."""
    AgentProfile.objects.filter(user=user).update(last_seen_at=timezone.now())
