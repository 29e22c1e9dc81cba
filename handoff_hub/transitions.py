"""The conversation state machine: the only code that changes a conversation's status.

Every transition is one function that runs in a transaction with the rows locked (agent profile
first, then conversation, everywhere, so two transitions never deadlock), checks the table
below, writes an audit row, and publishes its events only after commit.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from handoff_hub import hooks
from handoff_hub.availability import unavailable_reason
from handoff_hub.messaging import append_message, lock_conversation
from handoff_hub.models import AgentProfile, AuditEvent, Conversation, HandoffTicket, Queue
from handoff_hub.realtime import (
    customer_group,
    publish_conversation_on_commit,
    publish_on_commit,
)
from handoff_hub.status import AgentStatus, NoAgentBehaviour, Sender
from handoff_hub.status import ConversationStatus as S

HUMAN = frozenset({S.QUEUED, S.ASSIGNED})
ENDED = frozenset({S.RESOLVED, S.ABANDONED, S.CLOSED})

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset, str]] = {
    "enqueue_handoff": (frozenset({S.BOT}), S.QUEUED),
    "claim": (frozenset({S.QUEUED}), S.ASSIGNED),
    "assign": (frozenset({S.QUEUED}), S.ASSIGNED),
    "transfer_to_agent": (HUMAN, S.ASSIGNED),
    "transfer_to_queue": (HUMAN, S.QUEUED),
    "requeue": (frozenset({S.ASSIGNED}), S.QUEUED),
    "resolve": (HUMAN, S.RESOLVED),
    "return_to_bot": (HUMAN, S.BOT),
    "abandon": (frozenset({S.QUEUED}), S.ABANDONED),
    "close": (frozenset({S.BOT, S.ASSIGNED, S.RESOLVED}), S.CLOSED),
    "reopen": (ENDED, S.BOT),
}

SYSTEM_TEXTS = {
    "queued": "You're in the queue. A member of our team will be with you shortly.",
    "offline": (
        "Our team isn't available right now. Leave your message here and we'll get back to "
        "you as soon as we can."
    ),
    "joined": "{name} joined the chat.",
    "transferred": "You're being transferred to {target}.",
    "requeued": "Your agent had to leave; you're back in the queue.",
    "resolved": "This conversation has been marked as resolved. Thanks for chatting with us!",
    "returned": "You're back with our virtual assistant.",
    "closed": "You ended the chat.",
    "hung_up": "The assistant ended the chat.",
}


@dataclass(frozen=True)
class TransitionError(Exception):
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def _check(action: str, conversation: Conversation) -> str:
    allowed_from, to_status = TRANSITIONS[action]
    if conversation.status not in allowed_from:
        raise TransitionError(
            "invalid_transition",
            f"Cannot {action.replace('_', ' ')} a conversation that is {conversation.status}.",
        )
    return to_status


def _move(conversation: Conversation, action: str, actor=None, **detail) -> None:
    to_status = _check(action, conversation)
    detail_from = conversation.status
    AuditEvent.objects.create(
        conversation=conversation,
        action=action,
        from_status=conversation.status,
        to_status=to_status,
        actor=actor,
        detail=detail,
    )
    conversation.status = to_status
    if to_status != S.ASSIGNED:
        conversation.assigned_agent = None
    # Only the fields a transition changes, written now (a queue's count of waiting chats in
    # the same transaction must see it): a whole-row save also rewrote the tracker, which the
    # group commit writes anyway.
    conversation.save(update_fields=["status", "assigned_agent", "queue", "updated_at"])
    hooks.emit_on_commit(
        hooks.event_for_transition(action),
        {
            "conversation": str(conversation.public_id),
            "action": action,
            "from": detail_from,
            "to": to_status,
            "detail": detail,
        },
    )
    publish_conversation_on_commit(conversation.pk, conversation)
    publish_on_commit(
        customer_group(conversation.public_id),
        {"type": "status", "status": to_status},
        conversation,
    )
    # Capacity or the queue changed: let the dispatcher and queue positions catch up.
    from handoff_hub import dispatch

    dispatch.after_change_on_commit(conversation.queue_id)


def _system(conversation: Conversation, key: str, event: str, **fields) -> None:
    text = SYSTEM_TEXTS[key].format(**fields)
    append_message(conversation, Sender.SYSTEM, text, {"event": event, **fields})


def _open_tickets(conversation: Conversation):
    return HandoffTicket.objects.filter(conversation=conversation, resolved_at=None)


def _lock_agent(user) -> AgentProfile:
    try:
        return AgentProfile.objects.select_for_update().get(user=user)
    except AgentProfile.DoesNotExist:
        raise TransitionError("not_an_agent", "Only agents can take conversations.") from None


def _give_to_agent(conversation: Conversation, profile: AgentProfile, action: str, actor) -> None:
    busy = Conversation.objects.filter(assigned_agent=profile.user, status=S.ASSIGNED).count()
    if busy >= profile.capacity:
        raise TransitionError(
            "at_capacity", f"{profile.name} already has {busy} of {profile.capacity} chats."
        )
    conversation.assigned_agent = profile.user
    _move(conversation, action, actor, agent=profile.user_id)
    profile.last_assigned_at = timezone.now()
    profile.save(update_fields=["last_assigned_at"])
    _open_tickets(conversation).update(agent=profile.user, assigned_at=timezone.now())
    _system(conversation, "joined", "agent_joined", name=profile.name)


def default_queue() -> Queue:
    queue = Queue.objects.filter(is_default=True).first() or Queue.objects.first()
    if queue is None:
        queue = Queue.objects.create(name="Support", is_default=True)
    return queue


def enqueue_handoff(
    conversation: Conversation, reason: str, bot_context: dict, actor=None
) -> HandoffTicket | None:
    """Move a locked conversation from the bot to the live-agent queue.

    The caller holds the row lock (the bot turn that produced the handoff). A repeated handoff
    of a conversation already on the human side is a no-op and returns None.
    """
    if conversation.status != S.BOT:
        return None
    queue = conversation.queue or default_queue()
    unavailable = unavailable_reason(queue)
    if unavailable and queue.no_agent_behaviour == NoAgentBehaviour.BACK_TO_BOT:
        from handoff_hub.bot_turns import resume_bot_after_human

        resume_bot_after_human(conversation, {}, response="utter_human_handoff_not_available")
        return None
    conversation.queue = queue
    offline = bool(unavailable) and queue.no_agent_behaviour == NoAgentBehaviour.LEAVE_MESSAGE
    ticket = HandoffTicket.objects.create(
        conversation=conversation,
        queue=queue,
        reason=reason,
        bot_context=bot_context,
        summary=bot_context.get("summary", ""),
        offline=offline,
    )
    _move(
        conversation,
        "enqueue_handoff",
        actor,
        reason=reason,
        ticket=ticket.pk,
        unavailable=unavailable,
    )
    _system(conversation, "offline" if offline else "queued", "queued")
    return ticket


def claim_conversation(conversation_id: int, user) -> Conversation:
    """An agent takes a queued chat. Capacity is never exceeded; a chat is never claimed twice."""
    with transaction.atomic():
        profile = _lock_agent(user)
        conversation = lock_conversation(conversation_id)
        if conversation.status == S.ASSIGNED and conversation.assigned_agent_id == user.pk:
            return conversation
        if conversation.status == S.ASSIGNED:
            raise TransitionError("already_claimed", "Another agent claimed this chat first.")
        _give_to_agent(conversation, profile, "claim", user)
        if profile.status == AgentStatus.OFFLINE:
            profile.status = AgentStatus.ONLINE
            profile.save(update_fields=["status"])
        return conversation


def assign_conversation(conversation_id: int, agent_user) -> Conversation:
    """The dispatcher gives a queued chat to an agent (no human actor)."""
    with transaction.atomic():
        profile = _lock_agent(agent_user)
        conversation = lock_conversation(conversation_id)
        _give_to_agent(conversation, profile, "assign", None)
        return conversation


def transfer_to_agent(conversation_id: int, user, target_user, note: str = "") -> Conversation:
    with transaction.atomic():
        profile = _lock_agent(target_user)
        conversation = lock_conversation(conversation_id)
        _require_owner_or_supervisor(conversation, user)
        if conversation.assigned_agent_id == target_user.pk:
            raise TransitionError("same_agent", "The chat is already with that agent.")
        _system(conversation, "transferred", "transferred", target=profile.name)
        _give_to_agent(conversation, profile, "transfer_to_agent", user)
        _note_transfer(conversation, user, note)
        return conversation


def check_transfer_to_queue(conversation: Conversation, user) -> None:
    """Raise TransitionError unless `user` may move `conversation` to another queue now
    (a form validates with it; transfer_to_queue checks again under the row lock)."""
    _check("transfer_to_queue", conversation)
    _require_owner_or_supervisor(conversation, user)


def transfer_to_queue(conversation_id: int, user, queue: Queue, note: str = "") -> Conversation:
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        check_transfer_to_queue(conversation, user)
        conversation.queue = queue
        _open_tickets(conversation).update(queue=queue, agent=None, assigned_at=None)
        _move(conversation, "transfer_to_queue", user, queue=queue.pk)
        _system(conversation, "transferred", "transferred", target=queue.name)
        _note_transfer(conversation, user, note)
        return conversation


def requeue_conversation(conversation_id: int, actor=None, why: str = "") -> Conversation:
    """Put an assigned chat back in its queue (its agent went offline or silent)."""
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        _open_tickets(conversation).update(agent=None, assigned_at=None)
        _move(conversation, "requeue", actor, why=why)
        _system(conversation, "requeued", "requeued")
        return conversation


def resolve_conversation(conversation_id: int, user) -> Conversation:
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        _require_owner_or_supervisor(conversation, user)
        _move(conversation, "resolve", user)
        _open_tickets(conversation).update(resolved_at=timezone.now())
        _system(conversation, "resolved", "resolved")
        return conversation


def return_to_bot(conversation_id: int, user, slots: dict | None = None) -> Conversation:
    """Hand the chat back to the bot, which is told the human part ended and may continue."""
    from handoff_hub.bot_turns import resume_bot_after_human

    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        _require_owner_or_supervisor(conversation, user)
        _move(conversation, "return_to_bot", user, slots=sorted(slots or {}))
        _open_tickets(conversation).update(resolved_at=timezone.now())
        _system(conversation, "returned", "returned")
        resume_bot_after_human(conversation, slots or {})
        return conversation


def end_chat_by_customer(conversation_id: int) -> Conversation:
    """The customer closed the chat: waiting chats are abandoned, others closed."""
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        action = "abandon" if conversation.status == S.QUEUED else "close"
        _move(conversation, action, None)
        _open_tickets(conversation).update(resolved_at=timezone.now())
        _system(conversation, "closed", "closed")
        return conversation


def close_after_hangup(conversation: Conversation) -> None:
    """The bot ended the conversation (`action_hangup`); the caller holds the row lock."""
    if conversation.status != S.BOT:
        return
    _move(conversation, "close", None, reason="hangup")
    _system(conversation, "hung_up", "closed")


def reopen_conversation(conversation_id: int) -> Conversation:
    """A customer writes into an ended chat: it goes back to the bot."""
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        if conversation.status in ENDED:
            _move(conversation, "reopen", None)
        return conversation


def _note_transfer(conversation: Conversation, user, note: str) -> None:
    if note:
        from handoff_hub.models import PrivateNote

        PrivateNote.objects.create(conversation=conversation, author=user, text=note)


def _require_owner_or_supervisor(conversation: Conversation, user) -> None:
    if user is None or conversation.assigned_agent_id == user.pk or user.is_superuser:
        return
    profile = AgentProfile.objects.filter(user=user).first()
    if profile is not None and profile.is_supervisor:
        return
    if conversation.status == S.QUEUED and profile is not None:
        return
    raise TransitionError("not_yours", "This conversation is assigned to another agent.")
