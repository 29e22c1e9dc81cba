"""Bot turns computed in engine processes (HUB_ENGINE_PROCESSES): real child processes on the
test database, driven over the customer WebSocket like any chat."""

import asyncio
import json
import os
import re
import shutil
import signal
import threading
import time

import pytest
from channels.db import database_sync_to_async

from handoff_hub import engine_processes, trackers
from handoff_hub.assistants import actions
from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT
from handoff_hub.engine import get_assistant
from handoff_hub.models import Conversation, Message
from tests.hub.conftest import (
    ONE,
    a_chat_switches_version_on_activation,
    customer,
    record_turn_requests,
    say,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# A stack frame's id: random 8 characters (in events, and in the stack's JSON patches).
FRAME_ID = re.compile(r'\\?"[A-Z0-9]{8}\\?"')
SCRIPT = [
    "hello",
    "I want to cancel my order",
    "NW-12345",
    "/SetSlots(confirm_human_handoff=false)",
    "thanks",
    "I want to talk to a human",
]


@pytest.fixture
def engine_process(settings):
    """One engine process for the test, ended with it."""
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1}
    engine_processes.start_engine_processes(wait=True)
    yield engine_processes
    engine_processes.stop_engine_processes()


def _transcript(public_id: str) -> tuple[list, list]:
    conversation = Conversation.objects.get(public_id=public_id)
    messages = list(
        Message.objects.filter(conversation=conversation)
        .order_by("seq")
        .values_list("sender", "text")
    )
    return messages, [_comparable(event) for event in trackers.load(conversation)["events"]]


def _comparable(event: dict) -> str:
    """An event as JSON without what differs from chat to chat: its timestamp, the stack's
    random frame ids, and the order of a stack patch's operations (jsonpatch builds them from
    a set, whose order depends on the process's hash seed; they touch distinct paths)."""
    event = {k: v for k, v in event.items() if k != "timestamp"}
    if event.get("event") == "stack":
        operations = json.loads(event["update"])
        event["update"] = sorted(json.dumps(op, sort_keys=True) for op in operations)
    return FRAME_ID.sub("<id>", json.dumps(event, sort_keys=True))


async def _talk(script: list[str]) -> str:
    cust, welcome = await customer()
    for number, text in enumerate(script):
        await say(cust, text, f"m-{number}")
        await cust.until(
            lambda f: (
                (f["type"] == "message" and f["sender"] == "bot")
                or (f["type"] == "status" and f["status"] == "queued")
            )
        )
    await cust.close()
    return welcome["conversation"]


async def test_a_chat_in_an_engine_process_is_the_chat_the_hub_threads_give(settings):
    in_threads = await _talk(SCRIPT)
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1}
    await database_sync_to_async(engine_processes.start_engine_processes)()
    try:
        # The hub's own engine must not be used for these turns.
        assistant = await database_sync_to_async(get_assistant)()
        with _hub_engine_refuses(assistant):
            in_process = await _talk(SCRIPT)
    finally:
        await database_sync_to_async(engine_processes.stop_engine_processes)()
    threads = await database_sync_to_async(_transcript)(in_threads)
    process = await database_sync_to_async(_transcript)(in_process)
    assert process == threads
    messages, events = process
    assert ("bot", INTERNAL_ERROR_TEXT) not in messages
    assert sum(1 for sender, _ in messages if sender == "bot") >= len(SCRIPT)
    assert any('"event": "slot"' in event for event in events)


async def test_an_engine_process_chat_across_snapshots_reads_back_as_in_threads(
    settings, monkeypatch
):
    """A snapshot turn stores the whole state the hub rebuilt from an engine process's reply
    (its input plus the events sent back), and the tracker still reads back whole."""
    in_threads = await _talk(SCRIPT)
    monkeypatch.setattr(trackers, "SNAPSHOT_EVERY", 2)
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1}
    await database_sync_to_async(engine_processes.start_engine_processes)()
    try:
        in_process = await _talk(SCRIPT)
    finally:
        await database_sync_to_async(engine_processes.stop_engine_processes)()
    stored = await Conversation.objects.aget(public_id=in_process)
    assert stored.tracker_base_version >= 4  # snapshots at turns 2 and 4 at least
    threads = await database_sync_to_async(_transcript)(in_threads)
    assert await database_sync_to_async(_transcript)(in_process) == threads


class _hub_engine_refuses:
    def __init__(self, assistant):
        self.assistant = assistant

    def __enter__(self):
        def refuse(*args, **kwargs):
            raise AssertionError("a turn ran in the hub process")

        self.assistant.handle = refuse  # shadows the class's method on this instance only

    def __exit__(self, *exc):
        del self.assistant.handle


async def test_later_turns_of_a_chat_leave_its_tracker_off_the_wire(engine_process, monkeypatch):
    sent = record_turn_requests(monkeypatch)
    await _talk(SCRIPT[:4])
    # The first turn of a new chat has no tracker yet; every later one sends only a token.
    # Each starts early, as its message arrives; the third reaches a custom action (the order
    # number's check), so it stops there and is sent again once its message is stored, and
    # the next message gets no early turn (early_turns.Backoff).
    assert sent == [
        (False, False, True),
        (False, True, True),
        (False, True, True),
        (False, True, False),
        (False, True, False),
    ]


async def test_a_replaced_engine_process_is_sent_the_tracker_it_no_longer_holds(
    engine_process, monkeypatch
):
    cust, welcome = await customer()
    await say(cust, SCRIPT[0], "m-0")
    await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    old_pid = engine_process.worker_pids()[0]
    os.kill(old_pid, signal.SIGKILL)
    new_pid = await database_sync_to_async(_wait_for_new_worker)(old_pid)
    assert new_pid != old_pid
    sent = record_turn_requests(monkeypatch)
    for number, text in enumerate(SCRIPT[1:4], start=1):
        await say(cust, text, f"m-{number}")
        await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    await cust.close()
    # Only a token first; the new process does not know it and gets the tracker once. The
    # third turn is sent again after its early computation stopped at a custom action; the
    # next message gets no early turn (early_turns.Backoff).
    assert sent == [
        (False, True, True),
        (True, False, True),
        (False, True, True),
        (False, True, False),
        (False, True, False),
    ]
    # The new process started from the stored tracker: the chat goes on as in one process.
    expected = await _talk(SCRIPT[:4])
    got = await database_sync_to_async(_transcript)(welcome["conversation"])
    want = await database_sync_to_async(_transcript)(expected)
    assert got == want


async def test_a_turn_lost_with_its_engine_process_is_computed_again_by_the_replacement(
    engine_process,
):
    cust, welcome = await customer()
    pid = engine_process.worker_pids()[0]
    os.kill(pid, signal.SIGSTOP)  # the turn is sent and waits in a process that never answers
    try:
        await say(cust, "hello", "m-0")
        await cust.quiet(0.3)
    finally:
        os.kill(pid, signal.SIGKILL)
    reply = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot", timeout=60)
    assert reply["text"] != INTERNAL_ERROR_TEXT
    assert engine_process.worker_pids()[0] != pid
    await cust.close()
    messages, _ = await database_sync_to_async(_transcript)(welcome["conversation"])
    assert [sender for sender, _ in messages].count("customer") == 1


async def test_a_turn_sent_to_a_process_that_just_died_is_computed_by_the_replacement(
    engine_process, monkeypatch
):
    (process,) = engine_process.start_engine_processes(wait=False)
    # The process dies, and its reader has not yet noticed when the next turn is sent.
    noticed = threading.Event()
    real_replace = engine_processes.EngineProcess._replace

    def replace_once_noticed(self, *args):
        noticed.wait(30)
        real_replace(self, *args)

    monkeypatch.setattr(engine_processes.EngineProcess, "_replace", replace_once_noticed)
    cust, welcome = await customer()
    dead = process.process
    os.kill(dead.pid, signal.SIGKILL)
    await asyncio.to_thread(dead.wait)
    sent = record_turn_requests(monkeypatch)
    await say(cust, "hello", "m-0")
    while not sent:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.1)  # whatever the failed send leads to happens now
    noticed.set()
    reply = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot", timeout=60)
    assert reply["text"] != INTERNAL_ERROR_TEXT
    assert process.process.pid != dead.pid
    await cust.close()


async def test_a_turn_that_loses_two_engine_processes_apologises_and_hands_off(
    engine_process, monkeypatch
):
    cust, welcome = await customer()
    sent = record_turn_requests(monkeypatch)
    pid = engine_process.worker_pids()[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        await say(cust, "hello", "m-0")
        await cust.quiet(0.3)
    finally:
        os.kill(pid, signal.SIGKILL)
    # The retry goes to the replacement: it dies too before answering.
    replacement = await database_sync_to_async(_wait_for_new_worker)(pid, ready=False)
    os.kill(replacement, signal.SIGKILL)
    apology = await cust.until(
        lambda f: f["type"] == "message" and f["sender"] == "bot", timeout=60
    )
    assert apology["text"] == INTERNAL_ERROR_TEXT
    assert len(sent) == 2  # the turn, and its one retry on the replacement
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    await cust.close()
    # A third process answers the next chat.
    await database_sync_to_async(_wait_for_new_worker)(replacement)
    public_id = await _talk(["hello"])
    messages, _ = await database_sync_to_async(_transcript)(public_id)
    assert messages[0] == ("customer", "hello")
    assert messages[1][0] == "bot" and messages[1][1] != INTERNAL_ERROR_TEXT


async def test_a_wedged_engine_process_is_killed_and_the_replacement_answers_its_turn(
    settings, monkeypatch
):
    """Alive but answering nothing (here: stopped), an engine process is found out by its
    unanswered pings, killed and replaced; the turn it held runs again on the replacement."""
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1, "ENGINE_WEDGED_SECONDS": 2.5}
    await database_sync_to_async(engine_processes.start_engine_processes)()
    try:
        pid = engine_processes.worker_pids()[0]
        cust, _ = await customer()
        sent = record_turn_requests(monkeypatch)
        os.kill(pid, signal.SIGSTOP)
        await say(cust, "hello", "m-0")
        reply = await cust.until(
            lambda f: f["type"] == "message" and f["sender"] == "bot", timeout=60
        )
        assert reply["text"] != INTERNAL_ERROR_TEXT  # computed, not the apology
        assert len(sent) == 2  # to the stopped process, then to its replacement
        assert engine_processes.worker_pids() != [pid]
        await cust.close()
    finally:
        await database_sync_to_async(engine_processes.stop_engine_processes)()


async def test_with_the_watchdog_off_a_stopped_engine_process_is_waited_for(settings):
    """HUB_ENGINE_WEDGED_SECONDS = 0: a silent process is left alone; its turn waits, and is
    answered by that same process once it runs again."""
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1, "ENGINE_WEDGED_SECONDS": 0}
    await database_sync_to_async(engine_processes.start_engine_processes)()
    try:
        pid = engine_processes.worker_pids()[0]
        cust, _ = await customer()
        os.kill(pid, signal.SIGSTOP)
        try:
            await say(cust, "hello", "m-0")
            # Longer than the 2.5 s after which the test above has its process killed.
            assert await cust.quiet(3.0)  # no answer, no apology
            assert engine_processes.worker_pids() == [pid]
        finally:
            os.kill(pid, signal.SIGCONT)
        reply = await cust.until(
            lambda f: f["type"] == "message" and f["sender"] == "bot", timeout=30
        )
        assert reply["text"] != INTERNAL_ERROR_TEXT
        await cust.close()
    finally:
        await database_sync_to_async(engine_processes.stop_engine_processes)()


async def test_an_engine_process_that_never_gets_ready_is_killed_and_replaced(settings, caplog):
    """Stopped while it loads (as one whose project's actions module hangs on import, or whose
    model sits on a stalled disk, would be), an engine process is killed
    HUB_ENGINE_START_SECONDS after it started; its replacement loads and answers the chat."""
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1, "ENGINE_START_SECONDS": 2}
    await asyncio.to_thread(get_assistant)  # trained here: the children load it from the cache
    (process,) = await asyncio.to_thread(engine_processes.start_engine_processes, False)
    try:
        (pid,) = engine_processes.worker_pids()
        os.kill(pid, signal.SIGSTOP)
        assert not process.ready.is_set(), "it got ready before it could be stopped"
        deadline = time.monotonic() + 20
        while engine_processes.worker_pids() in ([pid], []):
            assert time.monotonic() < deadline, "the process that never got ready was kept"
            await asyncio.sleep(0.01)
        assert process.start_limit == 4  # the replacement has twice as long
        process.start_limit = 0  # and here all the time it needs, on a loaded machine
        killed = r"not ready \d+\.\d s after it started; killing it \(the next one has 4 s\)"
        assert re.search(killed, caplog.text)
        assert await asyncio.to_thread(process.ready.wait, 60)
        assert process.start_limit == 2  # one got ready: the limit is the setting's again
        cust, _ = await customer()
        await say(cust, "hello", "m-0")
        reply = await cust.until(
            lambda f: f["type"] == "message" and f["sender"] == "bot", timeout=30
        )
        assert reply["text"] != INTERNAL_ERROR_TEXT
        await cust.close()
    finally:
        await asyncio.to_thread(engine_processes.stop_engine_processes)


async def test_with_its_start_limit_off_a_loading_engine_process_is_waited_for(settings):
    """HUB_ENGINE_START_SECONDS = 0: however long a process takes to load, it is kept."""
    settings.HUB = {**settings.HUB, "ENGINE_PROCESSES": 1, "ENGINE_START_SECONDS": 0}
    await asyncio.to_thread(get_assistant)
    (process,) = await asyncio.to_thread(engine_processes.start_engine_processes, False)
    try:
        (pid,) = engine_processes.worker_pids()
        os.kill(pid, signal.SIGSTOP)
        try:
            assert not process.ready.is_set(), "it got ready before it could be stopped"
            await asyncio.sleep(3)  # longer than the 2 s after which the test above kills it
            assert engine_processes.worker_pids() == [pid]
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await asyncio.to_thread(process.ready.wait, 60)
        assert engine_processes.worker_pids() == [pid]
    finally:
        await asyncio.to_thread(engine_processes.stop_engine_processes)


async def test_stopping_lets_the_turns_an_engine_process_has_finish(engine_process, monkeypatch):
    sent = record_turn_requests(monkeypatch)
    cust, welcome = await customer()
    await say(cust, "hello", "m-0")
    while not sent:  # the consumer reads the turn's input first, then sends it
        await asyncio.sleep(0.005)
    # Stopped at once: the turn just sent is answered and committed before the process ends.
    await database_sync_to_async(engine_process.stop_engine_processes)()
    assert engine_process.worker_pids() == []
    reply = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert reply["text"] != INTERNAL_ERROR_TEXT
    await cust.close()


@pytest.fixture
def engine_process_on_versions(hub_settings):
    """An engine process that sees activations at once (it inherits these settings)."""
    hub_settings.HUB = {**hub_settings.HUB, "ENGINE_PROCESSES": 1, "ASSISTANT_REFRESH_SECONDS": 0}
    engine_processes.start_engine_processes(wait=True)
    yield engine_processes
    engine_processes.stop_engine_processes()


async def test_an_engine_process_runs_the_version_active_in_the_hubs_database(
    make_version, engine_process_on_versions
):
    # Version one is found in this test's database, not the default one.
    await a_chat_switches_version_on_activation(make_version)


async def test_an_engine_that_fails_in_its_process_apologises_hands_off_and_logs_why(
    make_version, engine_process_on_versions, caplog
):
    broken = await database_sync_to_async(make_version)(ONE)
    await database_sync_to_async(actions.activate_version)(broken)
    shutil.rmtree(broken.project_path)  # the engine process has not loaded it: it cannot
    cust, welcome = await customer()
    await say(cust, "hello", "c1")
    apology = await cust.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert apology["text"] == INTERNAL_ERROR_TEXT
    await cust.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    await cust.close()
    # The engine process's own traceback reaches the hub's log.
    assert "RemoteEngineError" in caplog.text and "Traceback" in caplog.text
    assert broken.project_path in caplog.text


def _wait_for_new_worker(old_pid: int, timeout: float = 60, ready: bool = True) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes = engine_processes.start_engine_processes(wait=False)
        process = processes[0].process
        if process is not None and process.pid != old_pid:
            if ready:
                processes[0].wait_ready(timeout)
            return process.pid
        time.sleep(0.01)
    raise AssertionError("the engine process was not replaced")
