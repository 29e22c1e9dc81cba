"""The bot's turns for one customer socket: the message is stored, now the bot answers.

A socket keeps the tracker of the last turn it committed, so the next turn does not re-read a
tracker that grows with the chat; it is used only while the row's
`tracker_version`, read under the lock when the message was stored, still matches. A turn the
row refuses because another one landed first (STALE) is recomputed from the row, unless it had
started a custom action; one refused because a human took the chat (NOT_WITH_BOT) is dropped;
one lost with the engine process computing it is computed once more, unless it had started a
custom action. Turns of one chat on one process run one at a time (handoff_hub.chat_turns;
an early turn committed with its message does not wait for that, and its fit check under the
row lock is what keeps it from landing on another turn's tracker);
one whose socket goes away (the task cancelled) runs on to its end, and the chat's next turn
here waits for it. A turn not committed by its deadline (HUB_TURN_DEADLINE_SECONDS) gets the
apology, as a failed one does, and frees the chat: a stuck thread must not silence it forever.

The cache also lets a turn start as its message arrives (`start_early`, handoff_hub.early_turns):
such a turn is the first attempt only if it was computed on what the store found.
"""

import asyncio
import dataclasses
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings

from bot_engine.actions.outside_effects import EffectsDeferred
from handoff_hub import chat_turns, early_turns, group_commit
from handoff_hub.bot_turns import (
    GAVE_UP,
    NOT_WITH_BOT,
    STALE,
    EngineFailed,
    PendingTurn,
    TurnOverran,
    commit_bot_failure,
    deadline_from_now,
    give_up_after_action,
    read_turn_input,
    start_turn,
    turn_input_for,
    turn_input_of,
)
from handoff_hub.engine_pool import in_engine_thread
from handoff_hub.engine_processes import EngineProcessEnded
from handoff_hub.messaging import StoredMessage
from handoff_hub.status import FINISHED, ConversationStatus
from handoff_hub.transitions import reopen_conversation

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


class SocketTurns:
    def __init__(self):
        # (tracker_version, tracker_state, last_seq) after this socket's last committed turn.
        self.tracker: tuple[int, dict | None, int] | None = None
        self.early_backoff = early_turns.Backoff()

    def new_chat(self, tracker_version: int) -> None:
        """A chat this socket just created has no tracker yet: its first turn reads no row."""
        self.tracker = (tracker_version, None, 0)

    def forget(self) -> None:
        self.tracker = None

    def start_early(self, conversation, text: str) -> early_turns.EarlyTurn | None:
        """Start the turn for the customer message `text` before it is stored, on the cached
        tracker and the seq it will get if nothing else lands first; None when there is no
        cache, the chat has a turn running here, or this socket's early turns back off."""
        if self.tracker is None or not early_turns.enabled(conversation.pk):
            return None
        if not self.early_backoff.wanted():
            return None
        version, state, last_seq = self.tracker
        turn = turn_input_of(conversation, text, last_seq + 1, state)
        turn = dataclasses.replace(
            turn, tracker_version=version, deadline=deadline_from_now(), early=True
        )
        try:
            return early_turns.start(turn)
        except Exception:  # noqa: BLE001 - only a head start is lost: the turn runs as usual
            logger.exception("Could not start an early turn of %s", conversation.public_id)
            return None

    async def answer(
        self, conversation, stored: StoredMessage, early: early_turns.EarlyTurn | None = None
    ) -> None:
        """Run the bot's turn off the event loop and commit it, unless a human has the chat.
        `early`: the turn started as the message arrived, if any (its result may already be
        committed with the message: `stored.answer`)."""
        conversation_id = conversation.pk
        if stored.answer is not None:
            self._committed(conversation_id, early.turn, early.computed())
            return
        status = stored.status
        if status in FINISHED:
            status = (await database_sync_to_async(reopen_conversation)(conversation_id)).status
            self.tracker = None
        if status != ConversationStatus.BOT:
            return
        async with chat_turns.one_at_a_time(conversation_id):
            version = stored.tracker_version
            if chat_turns.last_commit(conversation_id, version) > version:
                # Another socket's turn of this chat landed since the message was stored.
                if not stored.created:
                    return  # a resend, answered by that turn (the first socket's)
                version = -1  # re-read the tracker it left
            if early is not None and not (
                early.fits(stored) and early.turn.tracker_version == version
            ):
                early = None  # computed on something else than the row now holds
            turn = asyncio.ensure_future(self._take_turn(conversation, stored, version, early))
            try:
                await asyncio.shield(turn)
            except asyncio.CancelledError:
                # The message is stored and another tab may wait for its answer: the turn
                # commits without this socket, and holds the chat until it has.
                chat_turns.finish_later(conversation_id, turn)
                raise

    async def _take_turn(self, conversation, stored: StoredMessage, version: int, early) -> None:
        # An early turn's deadline counts from its message's arrival.
        deadline = early.turn.deadline if early is not None else deadline_from_now()
        try:
            await self._compute_and_commit(conversation, stored, version, deadline, early)
        except TurnOverran:
            self.tracker = None  # which turn the cache holds is not known here: re-read it
            logger.error(
                "A bot turn of conversation %s was not committed within %g s; given up",
                conversation.public_id,
                settings.HUB["TURN_DEADLINE_SECONDS"],
            )
            await group_commit.submit(
                commit_bot_failure, conversation.pk, order_key=conversation.pk
            )

    async def _compute_and_commit(
        self, conversation, stored: StoredMessage, version: int, deadline: float | None, early
    ) -> None:
        conversation_id = conversation.pk
        retried_lost_turn = False
        # One more pass than MAX_ATTEMPTS for the retry of a turn lost with its process, and
        # one for an early turn that stopped before acting outside the conversation.
        passes = MAX_ATTEMPTS + 1 + (early is not None)
        for _attempt in range(passes):
            done = PendingTurn(loop=asyncio.get_running_loop())
            if early is not None:  # the first attempt, started as the message arrived
                turn = early.turn
                early.commit_when_computed(done)
                early = None
            else:
                turn = await self._turn_input(conversation, stored, version, deadline)
                if turn is None:
                    return
                start_turn(turn, asyncio.get_running_loop(), done)
            try:
                said, result = await _committed_by_deadline(done, deadline)
            except EngineFailed as failure:
                if turn.early and isinstance(failure.__cause__, EffectsDeferred):
                    self.early_backoff.deferred()
                    continue  # its message is stored now: computed again, acting this time
                if turn.past_deadline():  # not computed for that reason, or too late anyway
                    raise TurnOverran() from None
                lost = failure.__cause__
                if (
                    isinstance(lost, EngineProcessEnded)
                    and lost.action_ran is None
                    and not retried_lost_turn
                ):
                    # Its engine process died before answering: nothing was committed, so the
                    # turn runs once more on the replacement (twice would be a message that
                    # kills the engine, and the customer gets the apology instead). Not after
                    # a custom action started: running it again could repeat what it did.
                    retried_lost_turn = True
                    logger.warning("Retrying a turn of %s: %s", turn.sender_id, failure)
                    continue
                logger.error(
                    "Bot engine failed on conversation %s",
                    turn.sender_id,
                    exc_info=failure.__cause__,
                )
                await group_commit.submit(
                    commit_bot_failure, conversation_id, order_key=conversation_id
                )
                self.tracker = None  # the apology took a seq: the next early turn would miss
                return
            if said in (NOT_WITH_BOT, GAVE_UP):
                self.tracker = None  # the turn was dropped: the cache must not hold it
                return
            if said != STALE:
                self._committed(conversation_id, turn, result)
                return
            self.tracker = None  # re-read below, or after the apology
            if result.action_ran is not None:  # another process's turn of the chat landed
                await group_commit.submit(
                    give_up_after_action,
                    conversation_id,
                    result.action_ran,
                    order_key=conversation_id,
                )
                return
            version = -1  # re-read the tracker another turn moved on
        logger.warning("Gave up on a bot turn for conversation %s", conversation.public_id)

    async def _turn_input(self, conversation, stored: StoredMessage, version: int, deadline):
        """The turn for `stored` on the cached tracker if it is at `version`, else on the
        row's (None: the chat is no longer with the bot)."""
        if self.tracker is not None and self.tracker[0] == version:
            turn = turn_input_for(conversation, stored.message, self.tracker[1])
            turn = dataclasses.replace(turn, tracker_version=version)
        else:
            reading = in_engine_thread(read_turn_input, conversation.pk, stored.message)
            turn = await _by_deadline(reading, deadline)
            if turn is None:
                return None
        return dataclasses.replace(turn, deadline=deadline)

    def _committed(self, conversation_id: int, turn, result) -> None:
        """`result`, computed on `turn`, is committed: the cache holds what it left."""
        if turn.early:
            self.early_backoff.used()
        version = turn.tracker_version + 1
        self.tracker = (version, result.tracker_state, result.committed_last_seq)
        chat_turns.note_commit(conversation_id, version)


async def _by_deadline(awaitable, deadline: float | None):
    if deadline is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, deadline - time.monotonic())
    except TimeoutError:
        raise TurnOverran() from None


async def _committed_by_deadline(done: PendingTurn, deadline: float | None):
    """What the turn's commit answered, or TurnOverran once the deadline came first (a commit
    that had begun by then lands, and is answered)."""
    if deadline is None:
        return await done
    # A timer on the turn itself, not wait_for: the loop wakes once per turn, as it does
    # without a deadline (wait_for's shield and waiter took ~35 µs more per turn).
    expiry = asyncio.get_running_loop().call_later(deadline - time.monotonic(), done.expire)
    try:
        return await done
    finally:
        expiry.cancel()
