"""Early turns: a socket's bot turn starts as its message arrives (handoff_hub.early_turns).

Real WebSockets, the real engine in engine threads and in an engine process, the real group
commit on the test database. What is counted: the writer's jobs (a message and its answer in
one, or two) and which turns the engine computed (early, or again after the store).
"""

import asyncio
import contextlib
import logging
import os
import signal
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from handoff_hub import bot_turns, chat_turns, early_turns, engine_processes, group_commit
from handoff_hub.bot_turns import TurnInput
from handoff_hub.messaging import StoredMessage, lock_conversation
from handoff_hub.models import Conversation, Message
from handoff_hub.status import ConversationStatus
from handoff_hub.transitions import enqueue_handoff
from tests.hub.conftest import customer, record_computed_turns, record_turn_requests, say

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# Two turns that reach no custom action (the demo assistant).
CHAT = ["hello", "I want to cancel my order"]
SLOW_ENOUGH = 10_000  # HUB_EARLY_TURN_MS: the store always waits for the early turn


@pytest.fixture(params=[False, True], ids=["engine threads", "engine process"])
def in_engine_process(request, settings):
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": int(request.param)}
    if request.param:
        engine_processes.start_engine_processes(wait=True)
    yield request.param
    if request.param:
        engine_processes.stop_engine_processes()


def _bot_said(frame: dict) -> bool:
    return frame["type"] == "message" and frame["sender"] == "bot"


def _transcript(public_id: str) -> list[tuple[str, str]]:
    messages = Message.objects.filter(conversation__public_id=public_id).order_by("seq")
    return list(messages.values_list("sender", "text"))


async def _talk(script: list[str]) -> tuple[str, int]:
    """In a new chat, say each line and wait for the bot's answer; (the chat, the writer's
    jobs its messages took)."""
    peer, welcome = await customer()
    jobs_before = group_commit.stats()[1]
    for number, text in enumerate(script):
        await say(peer, text, f"m-{number}")
        await peer.until(_bot_said, seen=True)
        peer.received.clear()
    jobs = group_commit.stats()[1] - jobs_before
    await peer.close()
    return welcome["conversation"], jobs


def _with_early_turns(settings, milliseconds: float) -> None:
    settings.HUB = {**settings.HUB, "EARLY_TURN_MS": milliseconds}


async def test_a_message_and_its_answer_commit_together(in_engine_process, settings, monkeypatch):
    computed = record_computed_turns(monkeypatch, in_engine_process)
    _with_early_turns(settings, 0)
    late, late_jobs = await _talk(CHAT)
    assert computed() == [False, False]
    assert late_jobs == 2 * len(CHAT)  # each message stored, then its answer committed

    _with_early_turns(settings, SLOW_ENOUGH)
    early, early_jobs = await _talk(CHAT)
    assert computed()[2:] == [True, True]  # each turn computed once, as its message came
    assert early_jobs == len(CHAT)  # stored with its answer
    said = await database_sync_to_async(_transcript)(early)
    assert said == await database_sync_to_async(_transcript)(late)
    assert [sender for sender, _ in said[:2]] == ["customer", "bot"]


@contextlib.contextmanager
def _early_turns_held(in_engine_process: bool, monkeypatch):
    """Early turns are computed only after the block (the engine process stopped, or early
    turns waiting in their engine thread): the store cannot wait for them."""
    if in_engine_process:
        pid = engine_processes.worker_pids()[0]
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)
        return
    released = threading.Event()
    real_compute = bot_turns.compute_turn

    def held(turn):
        if turn.early:
            released.wait(30)
        return real_compute(turn)

    monkeypatch.setattr(bot_turns, "compute_turn", held)
    try:
        yield
    finally:
        released.set()
        monkeypatch.setattr(bot_turns, "compute_turn", real_compute)


async def test_an_early_turn_computed_after_the_store_is_committed_as_it_is(
    in_engine_process, settings, monkeypatch
):
    """An early turn still computing when its message is stored is the turn's first attempt:
    committed once computed, not computed again."""
    computed = record_computed_turns(monkeypatch, in_engine_process)
    _with_early_turns(settings, 0)
    expected, _ = await _talk(CHAT)
    _with_early_turns(settings, 20)
    peer, welcome = await customer()
    jobs_before = group_commit.stats()[1]
    for number, text in enumerate(CHAT):
        with _early_turns_held(in_engine_process, monkeypatch):
            ack = await say(peer, text, f"m-{number}")  # stored, with no answer yet
        assert not any(_bot_said(frame) for frame in peer.received)
        answer = await peer.until(_bot_said)
        assert answer["seq"] == ack["seq"] + 1
        peer.received.clear()
    jobs = group_commit.stats()[1] - jobs_before
    await peer.close()
    assert computed()[2:] == [True, True]
    assert jobs == 2 * len(CHAT)
    said = await database_sync_to_async(_transcript)(welcome["conversation"])
    assert said == await database_sync_to_async(_transcript)(expected)


async def test_a_tab_with_an_old_tracker_has_its_early_turn_computed_again(settings, monkeypatch):
    """Another tab's turn moved the chat on: an early turn computed on this tab's cached
    tracker does not fit the row, and the answer is the one the row's tracker gives."""
    computed = record_computed_turns(monkeypatch, False)
    _with_early_turns(settings, SLOW_ENOUGH)
    script = ["hello", "I want to cancel my order", "no"]
    expected, _ = await _talk(script)
    assert computed() == [True, True, True]

    first, welcome = await customer()
    second, _ = await customer(token=welcome["token"])
    await say(second, script[0], "b-0")  # this tab has no cache: the row's tracker is read
    await second.until(_bot_said)
    ack = await say(first, script[1], "a-1")  # this tab's cache is from before "hello"
    await first.until(lambda f: _bot_said(f) and f["seq"] > ack["seq"], seen=True)
    await _until_idle(welcome["conversation"])  # else the next message starts no early turn
    ack = await say(second, script[2], "b-2")  # this tab's cache is from before "cancel"
    await second.until(lambda f: _bot_said(f) and f["seq"] > ack["seq"], seen=True)
    await first.close()
    await second.close()
    assert computed()[3:] == [False, True, False, True, False]
    got = await database_sync_to_async(_transcript)(welcome["conversation"])
    assert got == await database_sync_to_async(_transcript)(expected)


async def _until_idle(public_id: str) -> None:
    conversation = await Conversation.objects.aget(public_id=public_id)
    for _ in range(500):
        if chat_turns.idle(conversation.pk):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the chat's turn never ended")


def _turn(version: int, seq: int) -> TurnInput:
    return TurnInput(1, "s", "", "web", None, None, version, "hi", str(seq), early=True)


def _stored(created=True, status=ConversationStatus.BOT, version=3, seq=7) -> StoredMessage:
    return StoredMessage(Message(seq=seq), created, status, version)


async def test_an_early_turn_fits_only_the_row_it_was_computed_for():
    early = early_turns.EarlyTurn(
        _turn(version=3, seq=7), asyncio.get_running_loop().create_future()
    )
    assert early.fits(_stored())
    assert not early.fits(_stored(created=False))  # a resend: answered already
    assert not early.fits(_stored(status=ConversationStatus.QUEUED))
    assert not early.fits(_stored(version=4))  # another turn landed first
    assert not early.fits(_stored(seq=8))  # another message came first
    early.spoiled = True
    assert not early.fits(_stored())


def _hand_off(conversation_id: int) -> None:
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation_id), "explicit_request", {})


async def test_a_chat_handed_off_before_its_message_is_stored_gets_no_early_answer(
    in_engine_process, settings, monkeypatch
):
    computed = record_computed_turns(monkeypatch, in_engine_process)
    _with_early_turns(settings, SLOW_ENOUGH)
    real_store = early_turns.EarlyTurn.store

    async def store_after_a_handoff(self, conversation_id, *args):
        await asyncio.wait([self.future])  # computed, answer in hand
        await database_sync_to_async(_hand_off)(conversation_id)
        return await real_store(self, conversation_id, *args)

    monkeypatch.setattr(early_turns.EarlyTurn, "store", store_after_a_handoff)
    peer, welcome = await customer()
    await say(peer, "hello", "m-0")
    await peer.until(lambda f: f["type"] == "status" and f["status"] == "queued", seen=True)
    while not await peer.quiet(0.5):
        await peer.next()
    await peer.close()
    assert not any(_bot_said(frame) for frame in peer.received), peer.received
    assert computed() == [True]
    said = await database_sync_to_async(_transcript)(welcome["conversation"])
    assert [sender for sender, _ in said if sender != "system"] == ["customer"]


async def test_a_failed_joint_store_stores_the_message_alone_and_answers_it(
    settings, monkeypatch, caplog
):
    computed = record_computed_turns(monkeypatch, False)
    await _fail_the_first_joint_store(settings, monkeypatch, caplog)
    assert computed() == [True, False]  # the early result is not trusted: computed again


async def test_an_unused_early_turn_costs_the_engine_process_nothing_it_kept(
    settings, monkeypatch, caplog
):
    """The engine process kept the early turn's state beside the one before: the turn
    computed again after the store names the one before, and is not sent the whole tracker."""
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1}
    await database_sync_to_async(engine_processes.start_engine_processes)()
    try:
        peer, _ = await customer()
        await say(peer, "hello", "m-0")  # a committed turn: the process holds its state
        await peer.until(_bot_said, seen=True)
        sent = record_turn_requests(monkeypatch)
        await _fail_the_first_joint_store(settings, monkeypatch, caplog, peer)
        # early, with a token; again after the store, with the token from before
        assert sent == [(False, True, True), (False, True, False)]
    finally:
        await database_sync_to_async(engine_processes.stop_engine_processes)()


async def _fail_the_first_joint_store(settings, monkeypatch, caplog, peer=None):
    """A message whose joint store fails after its writes (rolled back): it is stored alone
    and answered once."""
    _with_early_turns(settings, SLOW_ENOUGH)
    real_joint = early_turns.store_with_answer
    failed = []

    def fail_after_writing(*args):
        real_joint(*args)
        failed.append(True)
        raise RuntimeError("the joint store failed after its writes")  # they roll back

    monkeypatch.setattr(early_turns, "store_with_answer", fail_after_writing)
    if peer is None:
        peer, welcome = await customer()
    public_id = peer.received[0]["conversation"]
    before = await database_sync_to_async(_transcript)(public_id)
    with caplog.at_level(logging.ERROR, logger="handoff_hub.early_turns"):
        ack = await say(peer, "hello", "joint-1")
        await peer.until(lambda f: _bot_said(f) and f["seq"] > ack["seq"], seen=True)
    await peer.close()
    assert failed and "storing it alone" in caplog.text
    said = await database_sync_to_async(_transcript)(public_id)
    assert [sender for sender, _ in said[len(before) :]] == ["customer", "bot"]


async def test_after_the_apology_no_early_turn_is_started_on_a_seq_it_took(settings, monkeypatch):
    """The apology for a failed turn takes a seq but moves no tracker: the socket's cache no
    longer knows the chat's last seq, so the next message starts no early turn that could
    never fit."""
    computed = record_computed_turns(monkeypatch, False)
    settings.HUB = {**settings.HUB, "HANDOFF_ON_BOT_ERROR": False}
    _with_early_turns(settings, SLOW_ENOUGH)
    counting = bot_turns.compute_turn
    failures = [RuntimeError("the engine failed once")]

    def fail_once(turn):
        result = counting(turn)
        if failures:
            raise failures.pop()
        return result

    monkeypatch.setattr(bot_turns, "compute_turn", fail_once)
    peer, welcome = await customer()
    await say(peer, "hello", "m-0")
    apology = await peer.until(_bot_said, seen=True)
    assert apology["text"] == bot_turns.INTERNAL_ERROR_TEXT
    ack = await say(peer, "hello", "m-1")
    await peer.until(lambda f: _bot_said(f) and f["seq"] > ack["seq"], seen=True)
    await peer.close()
    assert computed() == [True, False]  # the failed early turn, then one from the row
