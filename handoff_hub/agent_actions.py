"""What an agent does inside a conversation that is not a status change: replying, reading."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from handoff_hub.messaging import append_message, lock_conversation
from handoff_hub.models import AgentProfile, Conversation, HandoffTicket, Message, PrivateNote
from handoff_hub.presenters import agent_name
from handoff_hub.realtime import publish_on_commit, watchers_group
from handoff_hub.status import ConversationStatus, Sender
from handoff_hub.transitions import TransitionError


def is_supervisor(user) -> bool:
    if user.is_superuser:
        return True
    return AgentProfile.objects.filter(user=user, is_supervisor=True).exists()


def conversations_visible_to(user):
    """Agents see their own chats and the queues they serve; supervisors see everything."""
    conversations = Conversation.objects.select_related("queue", "assigned_agent")
    if is_supervisor(user):
        return conversations
    return conversations.filter(
        Q(assigned_agent=user) | Q(queue__agents__user=user) | Q(queue__isnull=True)
    ).distinct()


def send_agent_message(
    conversation_id: int, user, text: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Store an agent's reply to a chat they own. Returns (message, created)."""
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        if conversation.status != ConversationStatus.ASSIGNED:
            raise TransitionError("not_assigned", "Claim the conversation before replying.")
        if conversation.assigned_agent_id != user.pk:
            raise TransitionError("not_yours", "This conversation is assigned to another agent.")
        if client_id:
            existing = Message.objects.filter(conversation=conversation, client_id=client_id)
            if (found := existing.first()) is not None:
                return found, False
        message = append_message(conversation, Sender.AGENT, text, client_id=client_id, agent=user)
        HandoffTicket.objects.filter(
            conversation=conversation, resolved_at=None, first_response_at=None
        ).update(first_response_at=timezone.now())
        return message, True


def serialize_note(note: PrivateNote) -> dict:
    return {
        "type": "note",
        "conversation": str(note.conversation.public_id),
        "id": note.pk,
        "author": agent_name(note.author),
        "text": note.text,
        "created_at": note.created_at.isoformat(),
    }


def add_private_note(conversation_id: int, user, text: str) -> PrivateNote:
    """A note for agents only: published to the agents watching, never to the customer."""
    with transaction.atomic():
        # Locked: who watches (its `listeners`) must be current when the note is published.
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        note = PrivateNote.objects.create(conversation=conversation, author=user, text=text)
        publish_on_commit(
            watchers_group(conversation.public_id), serialize_note(note), conversation
        )
        return note


def notes_of(conversation_id: int) -> list[dict]:
    notes = PrivateNote.objects.filter(conversation_id=conversation_id).select_related(
        "author__agent_profile", "conversation"
    )
    return [serialize_note(n) for n in notes]
