"""Plain-dict views of domain objects for WebSocket frames and the console."""

from handoff_hub.models import Conversation, HandoffTicket


def agent_name(user) -> str | None:
    if user is None:
        return None
    profile = getattr(user, "agent_profile", None)
    return profile.name if profile else user.get_username()


# "Not known: read it" for conversation_summary's ticket and last message.
READ = object()


def last_message_of(conversation: Conversation):
    return conversation.messages.order_by("-seq").first()


def conversation_summary(conversation: Conversation, ticket=READ, last_message=READ) -> dict:
    """The console's view of a chat; pass its latest ticket and message if you hold them."""
    if ticket is READ:
        ticket = conversation.tickets.order_by("-enqueued_at").first()
    last = last_message
    if last is READ:
        last = last_message_of(conversation)
    return {
        "id": str(conversation.public_id),
        "status": conversation.status,
        "channel": conversation.channel,
        "queue": conversation.queue.name if conversation.queue_id else None,
        "assigned_agent": agent_name(conversation.assigned_agent),
        "assigned_agent_id": conversation.assigned_agent_id,
        "reason": ticket.reason if ticket else None,
        "enqueued_at": ticket.enqueued_at.isoformat() if ticket else None,
        "last_message": last.text[:140] if last else "",
        "last_sender": last.sender if last else None,
        "last_seq": conversation.last_seq,
        "updated_at": conversation.updated_at.isoformat(),
    }


def ticket_details(ticket: HandoffTicket | None) -> dict | None:
    if ticket is None:
        return None
    return {
        "reason": ticket.reason,
        "reason_label": ticket.get_reason_display(),
        "bot_context": ticket.bot_context,
        "summary": ticket.summary,
        "enqueued_at": ticket.enqueued_at.isoformat(),
        "assigned_at": ticket.assigned_at.isoformat() if ticket.assigned_at else None,
    }
