"""Storing and replaying a conversation's messages.

Every message gets the next per-conversation sequence number while the conversation row is
locked, so clients can ask for "everything after seq N" and never miss or repeat one.
"""

from dataclasses import dataclass

from django.db import transaction

from handoff_hub import hooks, write_batch
from handoff_hub.models import Conversation, Message
from handoff_hub.realtime import (
    customer_group,
    publish_conversation_on_commit,
    publish_on_commit,
    watchers_group,
)
from handoff_hub.status import HUMAN_SIDE, Sender


def lock_conversation(conversation_id: int) -> Conversation:
    """Fetch the conversation row locked for the rest of the current transaction."""
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def lock_conversation_light(conversation_id: int) -> Conversation:
    """The locked row without the tracker (it grows with the chat); loaded only if used.

    Inside a group commit the batch locked it already, with the batch's other rows.
    """
    locked = write_batch.locked_conversation(conversation_id)
    if locked is not None:
        return locked
    return (
        Conversation.objects.select_for_update()
        .defer("tracker_state", "customer_metadata")
        .get(pk=conversation_id)
    )


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
    save_conversation: bool = True,
) -> Message:
    """Append to a conversation already locked by the caller; publish on commit.

    With `save_conversation=False` the caller saves the conversation's `last_seq` itself (one
    UPDATE for several appended messages) before its transaction ends.
    """
    conversation.last_seq += 1
    if save_conversation:
        write_batch.save_conversation(conversation, ["last_seq", "updated_at"])
    message = Message(
        conversation=conversation,
        seq=conversation.last_seq,
        sender=sender,
        text=text,
        data=data or {},
        client_id=client_id,
        agent=agent,
    )
    public_id = str(conversation.public_id)

    def for_agents() -> dict:
        return {**serialize_message(message), "conversation": public_id}

    # Frames are built when sent, after commit, and webhook payloads once the row is written
    # (in a group commit: after the batch's INSERT): both carry exactly what a replay reads.
    write_batch.add_message(message, lambda: hooks.emit_on_commit("message.created", for_agents))
    publish_on_commit(customer_group(public_id), lambda: serialize_message(message), conversation)
    publish_on_commit(watchers_group(public_id), for_agents, conversation)
    if conversation.status in HUMAN_SIDE and sender != Sender.SYSTEM:
        # The consoles' lists show a human's chats with their latest message and count the
        # customer's unread ones. A system message comes with a transition, which tells them.
        publish_conversation_on_commit(conversation.pk, conversation)
    return message


@dataclass
class StoredMessage:
    message: Message
    created: bool
    # The conversation as the store saw it under the row lock.
    status: str
    tracker_version: int
    # A resend of a message the bot never answered (e.g. the database failed in between).
    unanswered: bool = False
    # What the bot said, when its turn was committed with the message (early_turns).
    answer: list[Message] | None = None


def store_incoming(
    conversation_id: int, text: str, client_id: str | None, data: dict | None = None
) -> StoredMessage:
    """Store a customer message once (a resend with the same client id is not stored again).

    Opens no savepoint, so it can run inside a group commit (handoff_hub.group_commit).
    """
    with transaction.atomic(savepoint=False):
        conversation = lock_conversation_light(conversation_id)
        return store_in_locked(conversation, text, client_id, data)


def store_in_locked(
    conversation: Conversation, text: str, client_id: str | None, data: dict | None
) -> StoredMessage:
    """store_incoming's work on a conversation the caller has locked."""
    if client_id:
        existing = write_batch.message_with_client_id(conversation, client_id)
        if existing is not None:
            return StoredMessage(
                existing,
                False,
                conversation.status,
                conversation.tracker_version,
                unanswered=existing.seq == conversation.last_seq,
            )
    message = append_message(conversation, Sender.CUSTOMER, text, data, client_id)
    return StoredMessage(message, True, conversation.status, conversation.tracker_version)


def store_customer_message(
    conversation_id: int, text: str, client_id: str | None, data: dict | None = None
) -> tuple[Message, bool]:
    """Store a customer message once. Returns (message, created); a resend is not stored again."""
    stored = store_incoming(conversation_id, text, client_id, data)
    return stored.message, stored.created


def replay_since(conversation_id: int, last_seq: int, limit: int = 500) -> list[dict]:
    """The conversation's messages after `last_seq`, oldest first."""
    messages = (
        Message.objects.filter(conversation_id=conversation_id, seq__gt=last_seq)
        .select_related("agent__agent_profile")
        .order_by("seq")[:limit]
    )
    return [serialize_message(m) for m in messages]
