"""A socket's bot turn started when its message arrives, beside the message's store.

Without it a message waits for two group commits in a row — its store, then its answer —
with the engine's round trip between them. An early turn is computed from the socket's cached
tracker while the message is being stored, on the guess that nothing else changes the chat
meanwhile: the tracker version and the message's seq it assumed are checked under the row
lock (`fits`). The store waits up to HUB_EARLY_TURN_MS for it; computed by then and fitting,
the message and the bot's answer commit in one job (`store_with_answer`), and the customer's
answer comes one commit sooner. Otherwise the message is stored alone and the early result,
when it fits, is committed as the turn's first attempt (socket_turns).

An early turn stops before anything that acts outside the conversation (a custom action, an
LLM call: EffectsDeferred), because its message may yet fail to be stored; such a turn is
computed again, normally, once it is. Nothing it computed is committed unless it fits (an
engine process keeps an early turn's tracker beside the chat's latest, not instead of it:
engine_worker.TrackerStore). A socket whose early turns keep stopping so gets fewer (Backoff).

A message committed with its answer in a batch that fails after its commit loses the live
frames of both (the widget catches up by replay), where before only the message's were lost.
"""

import asyncio
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction

from handoff_hub import bot_turns, chat_turns, group_commit
from handoff_hub.messaging import StoredMessage, lock_conversation_light, store_in_locked
from handoff_hub.status import ConversationStatus

logger = logging.getLogger(__name__)


MAX_SKIPPED = 16  # early turns skipped in a row at most, for a socket whose turns keep deferring


class Backoff:
    """Whether a socket's next message gets an early turn. One that stops before an action
    or an LLM call is thrown away and computed again (its NLU twice); for an assistant that
    does so on every turn, early turns would cost a computation per message and save nothing.
    After each such stop the next 1, 2, 4 … MAX_SKIPPED messages get none; an early turn that
    is used starts the count over."""

    def __init__(self) -> None:
        self.skipping = 0  # messages left to go without an early turn
        self.next_skip = 1

    def wanted(self) -> bool:
        if self.skipping:
            self.skipping -= 1
            return False
        return True

    def deferred(self) -> None:
        self.skipping = self.next_skip
        self.next_skip = min(2 * self.next_skip, MAX_SKIPPED)

    def used(self) -> None:
        self.next_skip = 1


def enabled(conversation_id: int) -> bool:
    """Start an early turn for this chat's next message? Not while one of its turns runs
    here: the socket's cached tracker would be about to change."""
    return settings.HUB.get("EARLY_TURN_MS", 0) > 0 and chat_turns.idle(conversation_id)


@dataclass
class EarlyTurn:
    turn: bot_turns.TurnInput
    future: asyncio.Future  # the computed, uncommitted result (start_turn, commit=False)
    spoiled: bool = False  # its joint store failed: not to be trusted

    def fits(self, stored: StoredMessage) -> bool:
        """Was it computed on what the row held when `stored` was stored?"""
        return (
            not self.spoiled
            and stored.created
            and stored.status == ConversationStatus.BOT
            and stored.tracker_version == self.turn.tracker_version
            and str(stored.message.seq) == self.turn.message_id
        )

    def computed(self):
        """The result, if the turn has been computed; else None."""
        future = self.future
        if future.done() and not future.cancelled() and future.exception() is None:
            return future.result()
        return None

    async def store(self, conversation_id: int, text: str, client_id, data) -> StoredMessage | None:
        """Store the message with the bot's answer (committed if the turn fits), once the turn
        is computed, if it is within HUB_EARLY_TURN_MS; None: the caller stores it alone."""
        if not self.future.done():
            await asyncio.wait([self.future], timeout=settings.HUB["EARLY_TURN_MS"] / 1000)
        result = self.computed()
        if result is None:
            return None
        try:
            return await group_commit.submit(
                store_with_answer,
                conversation_id,
                text,
                client_id,
                data,
                self,
                result,
                order_key=conversation_id,
                client_id=client_id,
            )
        except DatabaseError as error:  # the database, most likely, not the answer
            logger.warning("Could not store a message with its answer (%s); alone now", error)
        except Exception:  # noqa: BLE001 - the message must still be stored
            logger.exception("Could not store a message with its answer; storing it alone")
        # The failed job was rolled back; what made it fail may be in the result.
        self.spoiled = True
        return None

    def commit_when_computed(self, done: bot_turns.PendingTurn) -> None:
        """Once computed, commit the result as a turn started with bot_turns.start_turn would
        be: `done` gets the commit's answer, or the computation's failure."""
        loop = asyncio.get_running_loop()

        def computed(future: asyncio.Future) -> None:
            if done.done():  # given up on at its deadline
                return
            if future.cancelled():
                bot_turns.fail_turn(loop, done, RuntimeError("the early turn was cancelled"))
            elif future.exception() is not None:
                done.set_exception(future.exception())
            else:
                bot_turns.queue_commit(self.turn, future.result(), loop, done)

        self.future.add_done_callback(computed)


def start(turn: bot_turns.TurnInput) -> EarlyTurn:
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    # A failure nobody reads (the turn was not used) is not "never retrieved" noise in the log.
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    bot_turns.start_turn(turn, loop, future, commit=False)
    return EarlyTurn(turn, future)


def store_with_answer(
    conversation_id: int, text: str, client_id, data, early: EarlyTurn, result
) -> StoredMessage:
    """In the group commit: store the message and, if `early` fits it, commit `result` as its
    turn under the same row lock (`StoredMessage.answer`: what the bot said)."""
    with transaction.atomic(savepoint=False):
        locked = lock_conversation_light(conversation_id)
        stored = store_in_locked(locked, text, client_id, data)
        if early.fits(stored):
            stored.answer = bot_turns.apply_turn_result(locked, result)
        return stored
