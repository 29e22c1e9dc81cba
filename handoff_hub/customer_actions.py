"""What happens when a customer writes, whatever the channel (WebSocket widget, Rasa REST)."""

from dataclasses import dataclass, field

from handoff_hub.bot_turns import run_bot_turn
from handoff_hub.messaging import store_customer_message
from handoff_hub.models import Conversation, Message
from handoff_hub.status import FINISHED, ConversationStatus
from handoff_hub.transitions import reopen_conversation


@dataclass
class CustomerTurn:
    message: Message
    created: bool
    bot_replies: list[Message] = field(default_factory=list)


def receive_customer_message(
    conversation_id: int,
    text: str,
    client_id: str | None = None,
    on_stored=None,
    data: dict | None = None,
) -> CustomerTurn:
    """Store the message (once), then let the bot answer if the bot has the conversation.

    On the human side the message only reaches the agents (through the stored message's
    events); an ended chat is reopened with the bot. `on_stored(message, created)` runs once
    the message is committed, so a channel can acknowledge it before the bot answers.
    """
    message, created = store_customer_message(conversation_id, text, client_id, data)
    if on_stored is not None:
        on_stored(message, created)
    turn = CustomerTurn(message, created)
    if not created:
        return turn
    status = Conversation.objects.filter(pk=conversation_id).values_list("status", flat=True)[0]
    if status in FINISHED:
        status = reopen_conversation(conversation_id).status
    if status == ConversationStatus.BOT:
        turn.bot_replies = run_bot_turn(conversation_id, message)
    return turn


def rate_conversation(conversation_id: int, score: int, comment: str = "") -> None:
    """Store the customer's 1–5 satisfaction rating (the last one given counts)."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValueError("A rating is a whole number from 1 to 5.")
    Conversation.objects.filter(pk=conversation_id).update(
        rating=score, rating_comment=comment[:2000]
    )
