"""Running the bot for a stored customer message and committing what it said.

The engine runs outside any transaction (it may call an action server); its result is applied
under the conversation's row lock only if the conversation is still with the bot and nobody
else advanced its tracker meanwhile. That is what guarantees no bot message after a handoff.
"""

import logging

from django.conf import settings
from django.db import transaction

from bot_engine import Handoff
from handoff_hub.engine import LoadedAssistant, assistant_for
from handoff_hub.messaging import append_message, lock_conversation
from handoff_hub.models import Conversation, Message
from handoff_hub.status import ConversationStatus, HandoffReason, Sender

logger = logging.getLogger(__name__)

INTERNAL_ERROR_TEXT = "Sorry, something went wrong on our side. Please try again."
_MAX_ATTEMPTS = 3
# Keys of a Rasa bot message kept as rich data beside its text.
_RICH_KEYS = ("buttons", "quick_replies", "image", "attachment", "custom", "elements", "metadata")


def run_bot_turn(conversation_id: int, message: Message) -> list[Message]:
    """Let the bot answer `message`; returns what the bot said (nothing if a human has the chat)."""
    for _attempt in range(_MAX_ATTEMPTS):
        conversation = Conversation.objects.get(pk=conversation_id)
        if conversation.status != ConversationStatus.BOT:
            return []
        try:
            # The active version now; an activation during the turn takes effect on the next.
            loaded = assistant_for(conversation)
            result = loaded.assistant.handle(
                conversation.tracker_state,
                message.text or message.data.get("payload", ""),
                sender_id=str(conversation.public_id),
                channel=conversation.channel,
                metadata=conversation.customer_metadata or None,
                message_id=str(message.seq),
            )
        except Exception:
            logger.exception("Bot engine failed on conversation %s", conversation.public_id)
            return _commit_bot_failure(conversation_id)
        with transaction.atomic():
            locked = lock_conversation(conversation_id)
            if locked.status != ConversationStatus.BOT:
                return []  # a human took over while the bot was thinking: it stays quiet
            if locked.tracker_version != conversation.tracker_version:
                continue  # another turn landed first: redo ours on the fresh tracker
            return apply_turn_result(locked, result, loaded)
    logger.warning("Gave up on a bot turn for conversation %s after retries", conversation_id)
    return []


def apply_turn_result(
    conversation: Conversation, result, loaded: LoadedAssistant | None = None
) -> list[Message]:
    """Store the bot's messages and tracker; move to the queue if the bot handed off, close
    the chat if the bot hung up."""
    from handoff_hub.transitions import close_after_hangup, enqueue_handoff

    said = _store_bot_output(conversation, result, loaded)
    if result.handoff is None and result.error and settings.HUB.get("HANDOFF_ON_BOT_ERROR"):
        # The engine already apologised; a human picks up so the chat never goes silent.
        result.handoff = Handoff(HandoffReason.BOT_ERROR, {"error": result.error})
    if result.handoff is not None:
        context = dict(result.context or {})
        context.setdefault("handoff_detail", dict(result.handoff.detail or {}))
        enqueue_handoff(conversation, result.handoff.reason, context)
    elif getattr(result, "hangup", False):
        close_after_hangup(conversation)
    return said


def resume_bot_after_human(
    conversation: Conversation, slots: dict, response: str = "utter_back_with_bot"
) -> None:
    """The bot takes the chat back (caller holds the row lock) and says `response`."""
    try:
        loaded = assistant_for(conversation)
        result = loaded.assistant.return_from_human(
            conversation.tracker_state,
            slots=slots,
            sender_id=str(conversation.public_id),
            response=response,
        )
    except Exception:
        logger.exception("Bot engine failed to resume conversation %s", conversation.public_id)
        return
    _store_bot_output(conversation, result, loaded)


def _store_bot_output(
    conversation: Conversation, result, loaded: LoadedAssistant | None = None
) -> list[Message]:
    said = []
    for bot_message in result.messages:
        data = {k: bot_message[k] for k in _RICH_KEYS if bot_message.get(k)}
        said.append(append_message(conversation, Sender.BOT, bot_message.get("text") or "", data))
    conversation.tracker_state = result.tracker_state
    conversation.tracker_version += 1
    fields = ["tracker_state", "tracker_version", "updated_at"]
    if loaded is not None:  # which version said it, for analytics and support
        conversation.assistant_version_id = loaded.version_id
        conversation.assistant_fingerprint = loaded.fingerprint[:80]
        fields += ["assistant_version", "assistant_fingerprint"]
    conversation.save(update_fields=fields)
    return said


def _commit_bot_failure(conversation_id: int) -> list[Message]:
    """A chat never goes silent: apologise and, if configured, hand off to a human."""
    from handoff_hub.transitions import enqueue_handoff

    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        if conversation.status != ConversationStatus.BOT:
            return []
        apology = append_message(
            conversation, Sender.BOT, INTERNAL_ERROR_TEXT, {"error": "bot_failed"}
        )
        if settings.HUB.get("HANDOFF_ON_BOT_ERROR", True):
            enqueue_handoff(conversation, HandoffReason.BOT_ERROR, {"summary": "The bot failed."})
        return [apology]
