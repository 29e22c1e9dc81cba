"""Running the bot for a stored customer message and committing what it said.

The engine runs outside any transaction (it may call an action server); its result is applied
under the conversation's row lock only if the conversation is still with the bot and nobody
else advanced its tracker meanwhile. That is what guarantees no bot message after a handoff.

A socket's turn has a deadline (`TurnInput.deadline`). Past it the socket gives up on the
turn (socket_turns: the customer gets the apology); a turn picked up to be computed after it
is not computed (TurnExpired, NOT_COMPUTED); one computed anyway is not committed (GAVE_UP):
PendingTurn decides, once, whether its commit or its deadline owns the outcome. A REST turn
has a deadline too, which only cuts its calls to action servers and LLMs short.
"""

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import transaction

from bot_engine import Handoff, turn_deadline
from bot_engine.actions import outside_effects
from handoff_hub import group_commit, trackers, write_batch
from handoff_hub.engine import assistant_for, get_assistant
from handoff_hub.engine_pool import start_in_engine_thread
from handoff_hub.messaging import append_message, lock_conversation_light
from handoff_hub.models import Conversation, Message
from handoff_hub.status import ConversationStatus, HandoffReason, Sender

logger = logging.getLogger(__name__)

INTERNAL_ERROR_TEXT = "Sorry, something went wrong on our side. Please try again."
_MAX_ATTEMPTS = 3
# Keys of a Rasa bot message kept as rich data beside its text.
_RICH_KEYS = ("buttons", "quick_replies", "image", "attachment", "custom", "elements", "metadata")


@dataclass(frozen=True)
class TurnInput:
    """What the engine needs for one turn, read outside any transaction."""

    conversation_id: int
    sender_id: str
    site: str
    channel: str
    metadata: dict | None
    tracker_state: dict | None
    tracker_version: int
    text: str
    message_id: str
    # time.monotonic() when a socket gives up on the turn; no call to an action server or an
    # LLM waits past it (bot_engine.turn_deadline), a REST turn's included.
    deadline: float | None = None
    # Computed ahead of its message's store (early_turns): it stops, with EffectsDeferred,
    # before anything that acts outside the conversation.
    early: bool = False

    def past_deadline(self) -> bool:
        """Given up on (or about to be) before it was computed: computing it is wasted, and
        may run a custom action for a customer who already has the apology."""
        return self.deadline is not None and time.monotonic() > self.deadline


@dataclass(frozen=True)
class HiddenMessage:
    """A customer-side message the hub stores for the bot on its own; the widget hides it."""

    text: str
    client_id: str | None
    data: dict


SESSION_START_PAYLOAD = "/session_start"


def session_start_message(conversation: Conversation) -> HiddenMessage | None:
    """What a new chat the widget opened (`hello` with `start: true`, like Rasa webchat's
    initPayload) stores for the bot, or None when the assistant does not greet.

    Only an assistant with its own pattern_session_start speaks first; the turn carries the
    widget's page and user data (the chat's metadata) as the session's metadata.
    """
    if not get_assistant(conversation).greets_at_session_start:
        return None
    data = {"event": "session_start", "hidden": True}
    return HiddenMessage(SESSION_START_PAYLOAD, "session-start", data)


SILENCE_PAYLOAD = "/silence_timeout"


def silence_message(conversation_id: int, client_id: str | None) -> HiddenMessage | None:
    """What a widget's `silence` frame stores for the bot (its check-in after the customer went
    quiet), or None when the chat is not with a bot that knows the `silence_timeout` intent."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or conversation.status != ConversationStatus.BOT:
        return None
    if "silence_timeout" not in get_assistant(conversation).domain.intent_names:
        return None
    data = {"event": "silence_timeout", "hidden": True}
    return HiddenMessage(SILENCE_PAYLOAD, client_id, data)


STALE = "stale"  # apply_turn's answer when another turn landed first: recompute
NOT_WITH_BOT = "not_with_bot"  # apply_turn's answer when a human took the chat meanwhile
GAVE_UP = "gave_up"  # the answer for a turn its socket gave up on: dropped, never committed


def read_turn_input(conversation_id: int, message: Message) -> TurnInput | None:
    """The turn's input, or None when the conversation is no longer with the bot."""
    conversation = Conversation.objects.get(pk=conversation_id)
    if conversation.status != ConversationStatus.BOT:
        return None
    return turn_input_for(conversation, message, trackers.load(conversation))


def turn_input_for(conversation: Conversation, message: Message, tracker_state) -> TurnInput:
    text = message.text or message.data.get("payload", "")
    return turn_input_of(conversation, text, message.seq, tracker_state)


def turn_input_of(conversation: Conversation, text: str, seq: int, tracker_state) -> TurnInput:
    """The turn for the customer message `text` numbered `seq` (stored, or about to be)."""
    return TurnInput(
        conversation_id=conversation.pk,
        sender_id=str(conversation.public_id),
        site=conversation.site,
        channel=conversation.channel,
        metadata=conversation.customer_metadata or None,
        tracker_state=tracker_state,
        tracker_version=conversation.tracker_version,
        text=text,
        message_id=str(seq),
    )


def compute_turn(turn: TurnInput):
    """Run the engine (no transaction held: it may wait for an action server, never past the
    turn's deadline: bot_engine.turn_deadline).

    On the version active now for the chat's site: an activation during the turn takes
    effect on the next one. The result remembers it (`assistant_version`) for the record.
    """
    loaded = assistant_for(turn)  # reads only .site and .channel
    with outside_effects.local_only(turn.early), turn_deadline.until(turn.deadline):
        result = loaded.assistant.handle(
            turn.tracker_state,
            turn.text,
            sender_id=turn.sender_id,
            channel=turn.channel,
            metadata=turn.metadata,
            message_id=turn.message_id,
        )
    result.assistant_version = loaded
    return result


def compute_encoded_turn(turn: TurnInput):
    """compute_turn, plus what its commit writes of the tracker (encoded in this thread, not
    the writer's) and the first custom action it started (`action_ran`, or None)."""
    started: list[str] = []
    with outside_effects.watched(started.append):
        result = compute_turn(turn)
    result.action_ran = started[0] if started else None
    trackers.prepare_write(result, turn.tracker_state)
    return result


class EngineFailed(Exception):
    """The engine raised while computing a turn (as opposed to its commit failing)."""


class TurnOverran(Exception):
    """The turn was not committed by its deadline, and was given up on."""


class TurnExpired(Exception):
    """The turn was picked up to be computed after its deadline, and was not computed."""


NOT_COMPUTED = "not computed: past its deadline"  # TurnExpired's message, here and in workers


_BY_COMMIT, _BY_DEADLINE = "commit", "deadline"


class PendingTurn(asyncio.Future):
    """What a socket's turn will answer (see start_turn), and which of two owns that outcome,
    decided once: the turn's commit (claimed by the writer before it applies the turn) or its
    deadline (`expire`: the awaiting socket gets TurnOverran and apologises itself). A turn
    given up on may still be computing (a stuck thread cannot be stopped); what it sends
    later finds the future settled and is dropped (`_settle_from_thread`, the group commit's
    hand-back)."""

    def __init__(self, *, loop):
        super().__init__(loop=loop)
        self._settled_by: str | None = None
        self._claim = threading.Lock()

    def claim_for_deadline(self) -> bool:
        """From the loop, at the deadline: True if the commit had not begun (it now never
        lands), False if it has (it lands, and the future gets its answer)."""
        with self._claim:
            if self._settled_by is None:
                self._settled_by = _BY_DEADLINE
            return self._settled_by == _BY_DEADLINE

    def expire(self) -> None:
        """At the deadline, on the loop: unless its commit has begun, the turn is given up on
        and whoever awaits it gets TurnOverran."""
        if not self.done() and self.claim_for_deadline():
            self.set_exception(TurnOverran())

    def claim_for_commit(self) -> bool:
        """From the writer, before it applies the turn: True unless the socket gave up on it
        (again True for a batch that failed and runs its jobs once more)."""
        with self._claim:
            if self._settled_by is None:
                self._settled_by = _BY_COMMIT
            return self._settled_by == _BY_COMMIT


def start_turn(turn: TurnInput, loop, future: asyncio.Future, commit: bool = True) -> None:
    """Compute `turn` and queue its commit, in an engine thread of this process or in an
    engine process (HUB_ENGINE_PROCESSES). From the event loop; returns at once.

    `future` (a PendingTurn of `loop`) gets `(apply_turn's answer, result)` once the commit is
    done, or EngineFailed if the engine raised or the turn was picked up past its deadline
    (caused by TurnExpired, or in an engine process by RemoteEngineError(NOT_COMPUTED)) — one
    wake-up of the loop per turn. Once the socket has given up on it (`claim_for_deadline`),
    its commit is refused, and the answer, should one come, is `(GAVE_UP, result)`.

    With `commit=False` (an early turn, early_turns) nothing is committed: `future` gets the
    computed result, or EngineFailed (caused by EffectsDeferred where it stopped before
    acting outside the conversation).
    """
    from handoff_hub import engine_processes

    if engine_processes.enabled():
        engine_processes.start_turn(turn, loop, future, commit)
    else:
        start_in_engine_thread(compute_and_commit, turn, loop, future, commit)


def hand_back(loop, future, result) -> None:
    """From any thread: a computed, uncommitted turn's result to `future` on `loop`."""
    _settle_from_thread(loop, future, result=result)


def compute_and_commit(turn: TurnInput, loop, future, commit: bool = True) -> None:
    """In an engine thread: compute the turn, then queue its commit (see start_turn), or
    without `commit` hand the result back."""
    # Whatever happens here, `future` is settled: the socket waits for it (and a drain for
    # the socket).
    if turn.past_deadline():  # it waited for a thread longer than its socket waits for it
        fail_turn(loop, future, TurnExpired(NOT_COMPUTED))
        return
    try:
        result = compute_encoded_turn(turn)
    except BaseException as error:  # handed to the waiting consumer
        fail_turn(loop, future, error)
        if not isinstance(error, Exception):
            raise
        return
    if commit:
        queue_commit(turn, result, loop, future)
    else:
        hand_back(loop, future, result)


def queue_commit(turn: TurnInput, result, loop, future: PendingTurn) -> None:
    """From any thread: commit a computed turn in the group commit; `future` gets the answer."""
    try:
        group_commit.submit_from_thread(
            _apply_and_keep,
            turn.conversation_id,
            turn.tracker_version,
            result,
            future,
            loop=loop,
            future=future,
            order_key=turn.conversation_id,
        )
    except BaseException as error:
        _settle_from_thread(loop, future, error)
        raise


def fail_turn(loop, future, error: BaseException) -> None:
    """From any thread: the engine could not compute the turn; the consumer apologises."""
    failure = EngineFailed(str(error) or type(error).__name__)
    failure.__cause__ = error
    _settle_from_thread(loop, future, failure)


def _apply_and_keep(conversation_id: int, base_version: int, result, pending: PendingTurn):
    if not pending.claim_for_commit():
        # The customer has had the apology; what the turn said now would follow it.
        logger.warning(
            "A bot turn of conversation %s ended after its deadline; dropped%s",
            conversation_id,
            f" (it ran {result.action_ran})" if result.action_ran else "",
        )
        return GAVE_UP, result
    return apply_turn(conversation_id, base_version, result), result


def _settle_from_thread(loop, future, error: BaseException | None = None, result=None) -> None:
    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for it
        loop.call_soon_threadsafe(settle)


def apply_turn(conversation_id: int, base_version: int, result) -> list[Message] | str:
    """Commit a computed turn under the row lock: NOT_WITH_BOT if a human took over meanwhile,
    STALE if another turn landed first, else what the bot said. Opens no savepoint (group
    commit)."""
    with transaction.atomic(savepoint=False):
        locked = lock_conversation_light(conversation_id)
        if locked.status != ConversationStatus.BOT:
            return NOT_WITH_BOT  # a human took over while the bot was thinking: it stays quiet
        if locked.tracker_version != base_version:
            return STALE
        return apply_turn_result(locked, result)


def deadline_from_now() -> float | None:
    """When a turn starting now is given up on (HUB_TURN_DEADLINE_SECONDS), in
    time.monotonic(), which engine threads and engine processes on this machine read alike."""
    seconds = settings.HUB["TURN_DEADLINE_SECONDS"]
    return time.monotonic() + seconds if seconds > 0 else None


def run_bot_turn(conversation_id: int, message: Message) -> list[Message]:
    """Let the bot answer `message`; returns what the bot said (nothing if a human has the chat).

    For the REST channels, in the request's thread. Nothing gives up on the turn here (its
    request waits for it), but its calls to action servers and LLMs wait no longer than
    HUB_TURN_DEADLINE_SECONDS from now, as a widget's do, so neither holds the request longer.
    """
    deadline = deadline_from_now()
    for _attempt in range(_MAX_ATTEMPTS):
        turn = read_turn_input(conversation_id, message)
        if turn is None:
            return []
        turn = replace(turn, deadline=deadline)
        try:
            result = compute_encoded_turn(turn)
        except Exception:
            logger.exception("Bot engine failed on conversation %s", turn.sender_id)
            return commit_bot_failure(conversation_id)
        said = apply_turn(conversation_id, turn.tracker_version, result)
        if said == NOT_WITH_BOT:
            return []
        if said != STALE:
            return said
        if result.action_ran is not None:
            return give_up_after_action(conversation_id, result.action_ran)
    logger.warning("Gave up on a bot turn for conversation %s after retries", conversation_id)
    return []


def give_up_after_action(conversation_id: int, action: str) -> list[Message]:
    """A turn refused as STALE after it ran a custom action is not computed again: that would
    run the action again (an order cancelled twice). The customer gets the apology, and a
    human if configured, as after any failed turn."""
    logger.warning(
        "A turn of conversation %s ran %s but another turn landed first; not redone",
        conversation_id,
        action,
    )
    return commit_bot_failure(conversation_id)


def apply_turn_result(conversation: Conversation, result) -> list[Message]:
    """Store the bot's messages and tracker; move to the queue if the bot handed off, close
    the chat if the bot hung up."""
    from handoff_hub.transitions import close_after_hangup, enqueue_handoff

    said = _store_bot_output(conversation, result)
    if result.handoff is None and result.error and settings.HUB.get("HANDOFF_ON_BOT_ERROR"):
        # The engine already apologised; a human picks up so the chat never goes silent.
        result.handoff = Handoff(HandoffReason.BOT_ERROR, {"error": result.error})
    if result.handoff is not None:
        context = dict(result.context or {})
        context.setdefault("handoff_detail", dict(result.handoff.detail or {}))
        enqueue_handoff(conversation, result.handoff.reason, context)
    elif getattr(result, "hangup", False):
        close_after_hangup(conversation)
    # The chat's last seq after this turn: the socket's next early turn numbers its message.
    result.committed_last_seq = conversation.last_seq
    return said


def resume_bot_after_human(
    conversation: Conversation, slots: dict, response: str = "utter_back_with_bot"
) -> None:
    """The bot takes the chat back (caller holds the row lock) and says `response`."""
    try:
        loaded = assistant_for(conversation)
        before = trackers.load(conversation)
        result = loaded.assistant.return_from_human(
            before,
            slots=slots,
            sender_id=str(conversation.public_id),
            response=response,
        )
        result.assistant_version = loaded
        trackers.prepare_write(result, before)
    except Exception:
        logger.exception("Bot engine failed to resume conversation %s", conversation.public_id)
        return
    _store_bot_output(conversation, result)


def _store_bot_output(conversation: Conversation, result) -> list[Message]:
    said = []
    for bot_message in result.messages:
        data = {k: bot_message[k] for k in _RICH_KEYS if bot_message.get(k)}
        text = bot_message.get("text") or ""
        said.append(append_message(conversation, Sender.BOT, text, data, save_conversation=False))
    fields = [*trackers.record_turn(conversation, result), "last_seq", "updated_at"]
    loaded = getattr(result, "assistant_version", None)
    if loaded is not None:  # which version said it, for analytics and support
        conversation.assistant_version_id = loaded.version_id
        conversation.assistant_fingerprint = loaded.fingerprint[:80]
        fields += ["assistant_version", "assistant_fingerprint"]
    # One UPDATE for the tracker and every message's seq.
    write_batch.save_conversation(conversation, fields)
    return said


def commit_bot_failure(conversation_id: int) -> list[Message]:
    """A chat never goes silent: apologise and, if configured, hand off to a human."""
    from handoff_hub.transitions import enqueue_handoff

    with transaction.atomic(savepoint=False):
        conversation = lock_conversation_light(conversation_id)
        if conversation.status != ConversationStatus.BOT:
            return []
        apology = append_message(
            conversation, Sender.BOT, INTERNAL_ERROR_TEXT, {"error": "bot_failed"}
        )
        if settings.HUB.get("HANDOFF_ON_BOT_ERROR", True):
            enqueue_handoff(conversation, HandoffReason.BOT_ERROR, {"summary": "The bot failed."})
        return [apology]
