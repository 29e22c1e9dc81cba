"""Storing and replaying a conversation's messages.

Every message gets the next per-conversation sequence number while the conversation row is
locked, so clients can ask for "everything after seq N" and never miss or repeat one.
"""

from django.db import transaction

from handoff_hub import hooks
from handoff_hub.models import Conversation, Message
from handoff_hub.realtime import customer_group, publish_on_commit, watchers_group
from handoff_hub.status import Sender


def lock_conversation(conversation_id: int) -> Conversation:
    """Fetch the conversation row locked for the rest of the current transaction."""
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def serialize_message(message: Message) -> dict:
    agent_name = None
    if message.agent_id is not None:
        profile = getattr(message.agent, "agent_profile", None)
        agent_name = profile.name if profile else message.agent.get_username()
    return {
        "type": "message",
        "seq": message.seq,
        "sender": message.sender,
        "text": message.text,
        "data": message.data,
        "client_id": message.client_id,
        "agent_name": agent_name,
        "created_at": message.created_at.isoformat(),
    }


def append_message(
    conversation: Conversation,
    sender: str,
    text: str = "",
    data: dict | None = None,
    client_id: str | None = None,
    agent=None,
) -> Message:
    """Append to a conversation already locked by the caller; publish on commit."""
    conversation.last_seq += 1
    conversation.save(update_fields=["last_seq", "updated_at"])
    message = Message.objects.create(
        conversation=conversation,
        seq=conversation.last_seq,
        sender=sender,
        text=text,
        data=data or {},
        client_id=client_id,
        agent=agent,
    )
    frame = serialize_message(message)
    hooks.emit_on_commit("message.created", {**frame, "conversation": str(conversation.public_id)})
    publish_on_commit(customer_group(conversation.public_id), frame)
    publish_on_commit(
        watchers_group(conversation.public_id),
        {**frame, "conversation": str(conversation.public_id)},
    )
    return message


def store_customer_message(
    conversation_id: int, text: str, client_id: str | None, data: dict | None = None
) -> tuple[Message, bool]:
    """Store a customer message once. Returns (message, created); a resend is not stored again."""
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        if client_id:
            existing = Message.objects.filter(
                conversation=conversation, client_id=client_id
            ).first()
            if existing is not None:
                return existing, False
        message = append_message(conversation, Sender.CUSTOMER, text, data, client_id)
        return message, True


def replay_since(conversation_id: int, last_seq: int, limit: int = 500) -> list[dict]:
    """The conversation's messages after `last_seq`, oldest first."""
    messages = (
        Message.objects.filter(conversation_id=conversation_id, seq__gt=last_seq)
        .select_related("agent__agent_profile")
        .order_by("seq")[:limit]
    )
    return [serialize_message(m) for m in messages]
