"""Channels groups and publishing events after the database commits.

The channel layer is a notification bus that may drop messages; the database is the record.
Publishing on commit means a client never sees a change that was rolled back, and a client that
missed an event catches up by replaying from the database.
"""

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

CONSOLE_GROUP = "console"


def _key(public_id) -> str:
    # Group names allow only [a-zA-Z0-9._-]: use the UUID's hex form whatever we were given.
    return uuid.UUID(str(public_id)).hex


def customer_group(public_id) -> str:
    """Every open widget of one conversation."""
    return f"customer.{_key(public_id)}"


def watchers_group(public_id) -> str:
    """Agents who have the conversation open (transcript, notes, typing)."""
    return f"watch.{_key(public_id)}"


def publish_on_commit(group: str, payload: dict) -> None:
    """Send `payload` to every socket in `group` once the current transaction commits."""
    transaction.on_commit(lambda: _send(group, payload))


def send_now(group: str, payload: dict) -> None:
    """Send outside any transaction (for derived, non-stored frames such as queue positions)."""
    _send(group, payload)


def _send(group: str, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "hub.event", "payload": payload})


def publish_conversation_on_commit(conversation_id: int) -> None:
    """Tell the consoles how a conversation looks after the current transaction commits.

    The summary is computed after commit so it includes everything the transaction did.
    """

    def send() -> None:
        from handoff_hub.models import Conversation
        from handoff_hub.presenters import conversation_summary

        conversation = Conversation.objects.select_related("queue", "assigned_agent").get(
            pk=conversation_id
        )
        summary = conversation_summary(conversation)
        _send(CONSOLE_GROUP, {"type": "conversation", "conversation": summary})

    transaction.on_commit(send)
