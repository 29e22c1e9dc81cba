"""A slow or dead rasa_sdk action server: timeouts, the internal-error answer, the optional
handoff — and the event loop keeps serving everyone else meanwhile."""

import asyncio
import contextlib
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.engine.conftest import ACTIONS_PYTHON, _stop_group
from tests.hub.conftest import customer, record_computed_turns, record_turn_requests, say
from tests.services import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures"
ACTION_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory) -> Path:
    """Where the action server's action_counted_weather notes each run."""
    return tmp_path_factory.mktemp("action-calls") / "calls.txt"


@pytest.fixture
def action_calls(calls_file):
    """The texts action_counted_weather ran for, in this test (a function: read it again)."""
    calls_file.write_text("")
    return lambda: calls_file.read_text().splitlines()


@pytest.fixture(scope="module")
def slow_action_server(calls_file):
    if not ACTIONS_PYTHON.exists():
        pytest.fail(".venv-actions is missing: run `make actions-venv` (make test does)")
    port = free_port()
    folder = FIXTURES / "slow_action_server"
    process = subprocess.Popen(
        [str(ACTIONS_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(folder), "ACTION_CALLS": str(calls_file)},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    yield url
    _stop_group(process)


def project_with_endpoint(
    tmp_path, url: str, timeout: float = ACTION_TIMEOUT, weather: str = "action_slow_weather"
) -> Path:
    """The weather bot calling `url`; `weather` is the action server's action it calls."""
    import shutil

    target = tmp_path / "slow_actions"
    shutil.copytree(FIXTURES / "slow_actions", target)
    (target / "endpoints.yml").write_text(
        f"action_endpoint:\n  url: {url}/webhook\n  timeout: {timeout}\n"
    )
    for name in ("domain.yml", "data/rules.yml"):
        path = target / name
        path.write_text(path.read_text().replace("action_slow_weather", weather))
    return target


def bot_said(frame: dict) -> bool:
    return frame["type"] == "message" and frame["sender"] == "bot"


@pytest.mark.parametrize("handoff_on_error", [True, False])
async def test_slow_action_server_times_out_apologises_and_never_blocks_others(
    settings, tmp_path, slow_action_server, handoff_on_error
):
    project = project_with_endpoint(tmp_path, slow_action_server)
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_PATH": str(project),
        "MODEL_DIR": str(tmp_path / "models"),
        "HANDOFF_ON_BOT_ERROR": handoff_on_error,
    }
    from handoff_hub.engine import get_assistant

    await asyncio.to_thread(get_assistant)  # train before the clock starts
    waiting, _ = await customer()
    other, _ = await customer()
    started = time.monotonic()
    await say(waiting, "what's the weather like?", "slow-1")

    # While the action server sits on the first turn, another chat is answered at once,
    # again and again: the turn waits in a thread, not on the event loop.
    latencies = []
    for n in range(5):
        sent = time.monotonic()
        await say(other, "hello", f"fast-{n}")
        reply = await other.until(bot_said)
        latencies.append(time.monotonic() - sent)
        assert reply["text"] == "Hello!"
    assert time.monotonic() - started < ACTION_TIMEOUT, "the fast chat waited for the slow one"
    assert max(latencies) < 0.5

    apology = await waiting.until(bot_said, timeout=10)
    assert ACTION_TIMEOUT * 0.9 <= time.monotonic() - started < ACTION_TIMEOUT + 5
    assert apology["text"].startswith("Sorry, I am having trouble")
    if handoff_on_error:
        await waiting.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    else:
        assert await waiting.quiet(1.0)
    await waiting.close()
    await other.close()


async def test_dead_action_server_gets_the_internal_error_answer(settings, tmp_path):
    project = project_with_endpoint(tmp_path, f"http://127.0.0.1:{free_port()}")
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_PATH": str(project),
        "MODEL_DIR": str(tmp_path / "models"),
        "HANDOFF_ON_BOT_ERROR": False,
    }
    chat, _ = await customer()
    await say(chat, "will it rain today?", "dead-1")
    apology = await chat.until(bot_said, timeout=30)
    assert apology["text"].startswith("Sorry, I am having trouble")
    await say(chat, "hello", "dead-2")
    assert (await chat.until(bot_said))["text"] == "Hello!"
    await chat.close()


async def test_a_turn_lost_after_its_custom_action_started_is_not_computed_again(
    settings, tmp_path, slow_action_server, monkeypatch
):
    """The engine process dies while the action server works on the turn's action: running
    the turn again could repeat what the action did, so the customer gets the apology."""
    import signal

    from handoff_hub import engine_processes
    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT

    project = project_with_endpoint(tmp_path, slow_action_server, timeout=60)
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_PATH": str(project),
        "MODEL_DIR": str(tmp_path / "models"),
        "HANDOFF_ON_BOT_ERROR": True,
        "ENGINE_PROCESSES": 1,
    }
    requests = record_turn_requests(monkeypatch)
    (process,) = await asyncio.to_thread(engine_processes.start_engine_processes)
    try:
        chat, _ = await customer()
        await say(chat, "what's the weather like?", "weather-1")
        deadline = time.monotonic() + 30
        while not any(entry.action_ran for entry in list(process.pending.values())):
            assert time.monotonic() < deadline, "the action server was never called"
            await asyncio.sleep(0.01)
        os.kill(process.process.pid, signal.SIGKILL)
        apology = await chat.until(bot_said, timeout=30)
        assert apology["text"] == INTERNAL_ERROR_TEXT
        await chat.until(lambda f: f["type"] == "status" and f["status"] == "queued")
        # The early turn stopped before the action; the turn computed once the message was
        # stored ran it, and was not sent again after the process died.
        early = [is_early for _tracker, _token, is_early in requests]
        assert early == [True, False], "the turn was sent again after its action had started"
        await chat.close()
    finally:
        await asyncio.to_thread(engine_processes.stop_engine_processes)


def project_with_python_action(tmp_path, calls_file: Path, seconds: float) -> Path:
    """The weather bot with action_slow_weather in-process (`actions_module`): it notes each
    run in `calls_file`, sleeps `seconds` — a wait no turn deadline can cut short, unlike a
    call to an action server — and says "Sunny, counted."."""
    import shutil

    target = tmp_path / "python_actions"
    shutil.copytree(FIXTURES / "slow_actions", target)
    (target / "endpoints.yml").write_text("action_endpoint:\n  actions_module: actions\n")
    (target / "actions.py").write_text(
        "import time\n\n\n"
        "class ActionSlowWeather:\n"
        "    def name(self):\n"
        "        return 'action_slow_weather'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        f"        with open({str(calls_file)!r}, 'a') as calls:\n"
        "            calls.write(tracker.latest_message.get('text') + '\\n')\n"
        f"        time.sleep({seconds})\n"
        "        dispatcher.utter_message(text='Sunny, counted.')\n"
        "        return []\n"
    )
    return target


def _run_project(settings, tmp_path, project: Path, **hub) -> None:
    """The hub runs `project` (its models kept under tmp_path), `hub` settings on top."""
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_PATH": str(project),
        "MODEL_DIR": str(tmp_path / "models"),
        **hub,
    }


def _in_process_weather_bot(settings, tmp_path, calls_file: Path, seconds: float) -> None:
    project = project_with_python_action(tmp_path, calls_file, seconds)
    _run_project(settings, tmp_path, project, HANDOFF_ON_BOT_ERROR=True)


@contextlib.asynccontextmanager
async def _one_engine_thread(in_engine_process: bool):
    """The hub's engine threads (and engine process, if asked) started anew with the settings
    just made (ENGINE_THREADS: 1), the assistant trained before the clock starts; all stopped
    after the block."""
    from handoff_hub import engine_pool, engine_processes
    from handoff_hub.engine import get_assistant

    await asyncio.to_thread(engine_pool.stop_engine_threads)  # the next pool has the setting's
    if in_engine_process:
        await asyncio.to_thread(engine_processes.start_engine_processes)
    try:
        await asyncio.to_thread(get_assistant)
        yield
    finally:
        if in_engine_process:
            await asyncio.to_thread(engine_processes.stop_engine_processes)
        await asyncio.to_thread(engine_pool.stop_engine_threads)


def _counted_weather_bot(settings, tmp_path, url: str) -> None:
    """The weather bot on action_counted_weather (1.5 s, each run noted), handing off on error."""
    project = project_with_endpoint(tmp_path, url, 30, "action_counted_weather")
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_PATH": str(project),
        "MODEL_DIR": str(tmp_path / "models"),
        "HANDOFF_ON_BOT_ERROR": True,
    }


async def _until_called(action_calls) -> None:
    deadline = time.monotonic() + 30
    while not action_calls():
        assert time.monotonic() < deadline, "the action server was never called"
        await asyncio.sleep(0.02)


def _bot_texts(conversation_id: int) -> list[str]:
    from handoff_hub.models import Message

    bot = Message.objects.filter(conversation_id=conversation_id, sender="bot")
    return list(bot.order_by("seq").values_list("text", flat=True))


def _store_and_answer_elsewhere(conversation_id: int, text: str) -> list:
    """A turn of the chat that does not come through this process's sockets (as one from a
    second tab on another hub process would): stored and answered at once."""
    from handoff_hub.bot_turns import run_bot_turn
    from handoff_hub.messaging import store_customer_message

    message, _created = store_customer_message(conversation_id, text, "elsewhere-1")
    return run_bot_turn(conversation_id, message)


async def test_a_turn_overtaken_after_its_custom_action_ran_is_not_computed_again(
    settings, tmp_path, slow_action_server, action_calls
):
    """While the action server works on a turn, another turn of the chat lands first: the
    first is refused as STALE, and computing it again would call the action again."""
    from channels.db import database_sync_to_async

    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT
    from handoff_hub.models import Conversation

    _counted_weather_bot(settings, tmp_path, slow_action_server)
    chat, welcome = await customer()
    await say(chat, "what's the weather like?", "weather-1")
    await _until_called(action_calls)
    conversation = await Conversation.objects.aget(public_id=welcome["conversation"])
    said = await database_sync_to_async(_store_and_answer_elsewhere)(conversation.pk, "hello")
    assert [m.text for m in said] == ["Hello!"]
    apology = await chat.until(lambda f: bot_said(f) and f["text"] == INTERNAL_ERROR_TEXT)
    await chat.until(lambda f: f["type"] == "status" and f["status"] == "queued")
    await asyncio.sleep(2)  # time enough for a second run of the action to show
    assert action_calls() == ["what's the weather like?"]
    assert not any(bot_said(f) and f["text"] == "Sunny, counted." for f in chat.received)
    assert apology["seq"] > 0
    await chat.close()


async def test_two_tabs_turns_on_one_process_wait_for_each_other_and_both_run_once(
    settings, tmp_path, slow_action_server, action_calls
):
    """A customer with two tabs asks twice at once: the second turn waits for the first and
    is computed on what it left, so each runs the action once and neither is refused."""
    from channels.db import database_sync_to_async

    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT
    from handoff_hub.models import Conversation

    _counted_weather_bot(settings, tmp_path, slow_action_server)
    first, welcome = await customer()
    second, _ = await customer(token=welcome["token"])
    await say(first, "what's the weather like?", "tab-1")
    await say(second, "will it rain today?", "tab-2")
    for tab in (first, second):
        await tab.until(lambda f: f["type"] == "message" and f["seq"] == 4, timeout=20)
    conversation = await Conversation.objects.aget(public_id=welcome["conversation"])
    bot = await database_sync_to_async(_bot_texts)(conversation.pk)
    assert bot == ["Sunny, counted.", "Sunny, counted."]
    assert INTERNAL_ERROR_TEXT not in bot
    assert sorted(action_calls()) == ["what's the weather like?", "will it rain today?"]
    await first.close()
    await second.close()


async def test_a_resend_on_another_tab_waits_for_the_first_answer_and_is_not_answered_again(
    settings, tmp_path, slow_action_server, action_calls
):
    """The widget resends a message from a second tab while the first tab's turn for it is
    still running: the resend is not stored again, and waits for that turn instead of running
    the bot (and its action) a second time."""
    from channels.db import database_sync_to_async

    from handoff_hub.models import Conversation

    _counted_weather_bot(settings, tmp_path, slow_action_server)
    first, welcome = await customer()
    second, _ = await customer(token=welcome["token"])
    await say(first, "what's the weather like?", "same-1")
    await _until_called(action_calls)
    resent = await say(second, "what's the weather like?", "same-1")
    assert resent["duplicate"] is True
    for tab in (first, second):
        await tab.until(lambda f: bot_said(f) and f["text"] == "Sunny, counted.", timeout=20)
    await asyncio.sleep(2)  # time enough for a second answer to show
    conversation = await Conversation.objects.aget(public_id=welcome["conversation"])
    bot = await database_sync_to_async(_bot_texts)(conversation.pk)
    assert bot == ["Sunny, counted."]
    assert action_calls() == ["what's the weather like?"]
    await first.close()
    await second.close()


async def test_a_turn_cancelled_mid_action_holds_the_chat_until_its_commit_lands(
    settings, tmp_path, slow_action_server, action_calls
):
    """A tab's socket task is cancelled (Daphne kills a consumer that outlives its client)
    while its turn's action runs: the task ends at once, the turn runs on and commits (a drain
    waits for it), and the other tab's next turn waits for it. Before, that next turn landed
    first and the cancelled one's answer was dropped as STALE."""
    from channels.db import database_sync_to_async

    from handoff_hub import lifecycle
    from handoff_hub.models import Conversation

    _counted_weather_bot(settings, tmp_path, slow_action_server)
    first, welcome = await customer()
    second, _ = await customer(token=welcome["token"])
    await say(first, "what's the weather like?", "gone-1")
    await _until_called(action_calls)
    first.communicator.future.cancel()
    await asyncio.wait([first.communicator.future], timeout=0.5)
    assert first.communicator.future.done()  # not held until the action (1.5 s) answers
    assert lifecycle.in_flight() == 1  # the turn, running on without its socket
    await say(second, "hello", "stays-1")
    await second.until(lambda f: bot_said(f) and f["text"] == "Hello!", timeout=20)
    conversation = await Conversation.objects.aget(public_id=welcome["conversation"])
    bot = await database_sync_to_async(_bot_texts)(conversation.pk)
    assert bot == ["Sunny, counted.", "Hello!"]
    assert action_calls() == ["what's the weather like?"]
    await second.close()


async def test_a_rest_turn_overtaken_after_its_custom_action_ran_gets_the_apology(
    settings, tmp_path, slow_action_server, action_calls
):
    """The same rule on the REST path (`run_bot_turn`): while its action runs, a turn from the
    chat's widget lands first; the REST turn is not computed again."""
    from channels.db import database_sync_to_async

    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT, run_bot_turn
    from handoff_hub.messaging import store_customer_message
    from handoff_hub.models import Conversation

    _counted_weather_bot(settings, tmp_path, slow_action_server)
    chat, welcome = await customer()
    conversation = await Conversation.objects.aget(public_id=welcome["conversation"])

    def rest_turn() -> list:
        message, _created = store_customer_message(
            conversation.pk, "what's the weather like?", "rest-1"
        )
        return run_bot_turn(conversation.pk, message)

    rest = asyncio.ensure_future(database_sync_to_async(rest_turn)())
    await _until_called(action_calls)
    await say(chat, "hello", "widget-1")
    await chat.until(lambda f: bot_said(f) and f["text"] == "Hello!")
    said = await asyncio.wait_for(rest, timeout=20)
    assert [m.text for m in said] == [INTERNAL_ERROR_TEXT]
    await asyncio.sleep(2)  # time enough for a second run of the action to show
    assert action_calls() == ["what's the weather like?"]
    assert "Sunny, counted." not in await database_sync_to_async(_bot_texts)(conversation.pk)
    await chat.close()


@pytest.mark.parametrize("in_engine_process", [False, True], ids=["engine threads", "process"])
async def test_a_turn_past_its_deadline_gets_the_apology_and_its_late_answer_is_dropped(
    settings, tmp_path, calls_file, action_calls, in_engine_process
):
    """The in-process action (1.5 s: no deadline can cut it short) outlasts the turn's
    deadline (0.5 s): the customer gets the apology at the deadline, and the chat is free for
    the next turn. The answer that comes later is not stored after the apology (the chat stays
    with the bot, so only the deadline's refusal keeps it out)."""
    from channels.db import database_sync_to_async

    from handoff_hub import engine_processes
    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT
    from handoff_hub.models import Conversation

    _in_process_weather_bot(settings, tmp_path, calls_file, 1.5)
    settings.HUB = {
        **settings.HUB,
        "HANDOFF_ON_BOT_ERROR": False,
        "TURN_DEADLINE_SECONDS": 0.5,
        "ENGINE_PROCESSES": int(in_engine_process),
    }
    if in_engine_process:
        await asyncio.to_thread(engine_processes.start_engine_processes)
    try:
        from handoff_hub.engine import get_assistant

        await asyncio.to_thread(get_assistant)  # train before the clock starts
        chat, welcome = await customer()
        await say(chat, "what's the weather like?", "late-1")
        apology = await chat.until(bot_said, timeout=10)
        assert apology["text"] == INTERNAL_ERROR_TEXT
        assert action_calls() == ["what's the weather like?"]  # still running: 1.5 s
        await asyncio.sleep(2.5)  # the action answers, and the turn tries to commit
        await say(chat, "hello", "late-2")
        await chat.until(lambda f: bot_said(f) and f["text"] == "Hello!", timeout=20)
        conversation = await Conversation.objects.aget(public_id=welcome["conversation"])
        bot = await database_sync_to_async(_bot_texts)(conversation.pk)
        assert bot == [INTERNAL_ERROR_TEXT, "Hello!"]
        assert not any(bot_said(f) and f["text"] == "Sunny, counted." for f in chat.received)
        await chat.close()
    finally:
        if in_engine_process:
            await asyncio.to_thread(engine_processes.stop_engine_processes)


async def test_a_chat_is_free_for_its_next_turn_while_the_turn_given_up_on_still_runs(
    settings, tmp_path, calls_file, action_calls
):
    """Right after the apology, the chat's next message is answered: it does not wait for the
    stuck turn (its in-process action still has a second to go)."""
    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT

    _in_process_weather_bot(settings, tmp_path, calls_file, 1.5)
    settings.HUB = {**settings.HUB, "HANDOFF_ON_BOT_ERROR": False, "TURN_DEADLINE_SECONDS": 0.3}
    from handoff_hub.engine import get_assistant

    await asyncio.to_thread(get_assistant)  # train before the clock starts
    chat, _ = await customer()
    sent = time.monotonic()
    await say(chat, "what's the weather like?", "free-1")
    assert (await chat.until(bot_said, timeout=10))["text"] == INTERNAL_ERROR_TEXT
    await say(chat, "hello", "free-2")
    await chat.until(lambda f: bot_said(f) and f["text"] == "Hello!", timeout=10)
    assert time.monotonic() - sent < 1.5, "the next turn waited for the stuck one"
    await chat.close()


@pytest.mark.parametrize("in_engine_process", [False, True], ids=["engine threads", "process"])
async def test_a_turn_that_waited_for_a_thread_past_its_deadline_is_never_computed(
    settings, tmp_path, calls_file, action_calls, in_engine_process
):
    """One engine thread, busy with a 1.5 s in-process action: the second chat's turn waits
    for it past its deadline. Both customers get the apology; the waiting turn is not computed
    later, so its action never runs for a customer who was already told it failed. The busy
    engine process is not replaced: its running turn ends within its grace past the deadline,
    and a turn that only waited is no stuck thread."""
    from handoff_hub import engine_processes
    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT

    _in_process_weather_bot(settings, tmp_path, calls_file, 1.5)
    settings.HUB = {
        **settings.HUB,
        "HANDOFF_ON_BOT_ERROR": False,
        "TURN_DEADLINE_SECONDS": 1.0,
        "ENGINE_WEDGED_SECONDS": 1.0,
        "ENGINE_THREADS": 1,
        "ENGINE_PROCESSES": int(in_engine_process),
    }
    async with _one_engine_thread(in_engine_process):
        first, _ = await customer()
        second, _ = await customer()
        await say(first, "what's the weather like?", "busy-1")
        await _until_called(action_calls)
        await say(second, "will it rain today?", "waits-1")
        for chat in (first, second):
            assert (await chat.until(bot_said, timeout=10))["text"] == INTERNAL_ERROR_TEXT
        pids = engine_processes.worker_pids()
        await asyncio.sleep(3)  # the thread is free again after 1.5 s
        assert action_calls() == ["what's the weather like?"]
        assert engine_processes.worker_pids() == pids
        await first.close()
        await second.close()


async def test_an_engine_process_stuck_in_a_turn_given_up_on_is_replaced(
    settings, tmp_path, calls_file, caplog
):
    """An in-process action takes 30 s (nothing cuts it short, as the turn's deadline does a
    call to an action server): the turn is given up on at 0.5 s, and the engine process still
    computing it a wedge-time later is replaced (its stuck thread cannot be stopped
    otherwise); the chat talks on with the new one."""
    from handoff_hub import engine_processes
    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT

    project = project_with_python_action(tmp_path, calls_file, 30)
    settings.HUB = {
        **settings.HUB,
        "ASSISTANT_PATH": str(project),
        "MODEL_DIR": str(tmp_path / "models"),
        "HANDOFF_ON_BOT_ERROR": False,
        "TURN_DEADLINE_SECONDS": 0.5,
        "ENGINE_WEDGED_SECONDS": 1.5,
        "ENGINE_PROCESSES": 1,
    }
    (process,) = await asyncio.to_thread(engine_processes.start_engine_processes)
    try:
        (before,) = engine_processes.worker_pids()
        chat, _ = await customer()
        await say(chat, "what's the weather like?", "stuck-1")
        assert (await chat.until(bot_said, timeout=10))["text"] == INTERNAL_ERROR_TEXT
        deadline = time.monotonic() + 20
        while engine_processes.worker_pids() in ([before], []):
            assert time.monotonic() < deadline, "the stuck engine process was kept"
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(process.ready.wait, 60)  # the new one has loaded
        assert "a thread stuck in a turn long past its deadline" in caplog.text
        await say(chat, "hello", "stuck-2")
        await chat.until(lambda f: bot_said(f) and f["text"] == "Hello!", timeout=30)
        await chat.close()
    finally:
        await asyncio.to_thread(engine_processes.stop_engine_processes)


@pytest.mark.parametrize("in_engine_process", [False, True], ids=["engine threads", "process"])
async def test_an_action_server_call_waits_no_longer_than_its_turn_deadline(
    settings, tmp_path, slow_action_server, in_engine_process
):
    """The action server takes 30 s and the action's timeout is 60 s, but the turn is given
    up on at 1 s: the call is cut short then, so the only engine thread is free for the next
    chat at once, and the engine process is not replaced as wedged."""
    from handoff_hub import engine_processes
    from handoff_hub.bot_turns import INTERNAL_ERROR_TEXT

    _run_project(
        settings,
        tmp_path,
        project_with_endpoint(tmp_path, slow_action_server, timeout=60),
        HANDOFF_ON_BOT_ERROR=False,
        TURN_DEADLINE_SECONDS=1.0,
        ENGINE_WEDGED_SECONDS=1.5,
        ENGINE_THREADS=1,
        ENGINE_PROCESSES=int(in_engine_process),
    )
    async with _one_engine_thread(in_engine_process):
        pids = engine_processes.worker_pids()
        first, _ = await customer()
        await say(first, "what's the weather like?", "cut-1")
        # The hub's apology at the deadline, or the engine's for the failed action, committed
        # just before it: the call ends as the deadline comes.
        apology = (await first.until(bot_said, timeout=10))["text"]
        assert apology == INTERNAL_ERROR_TEXT or apology.startswith("Sorry, I am having trouble")
        second, _ = await customer()
        await say(second, "hello", "cut-2")
        # Not 29 s later, when the action server would have answered.
        await second.until(lambda f: bot_said(f) and f["text"] == "Hello!", timeout=5)
        await asyncio.sleep(2)  # past the wedge grace: a thread still stuck would show
        assert engine_processes.worker_pids() == pids
        await first.close()
        await second.close()


def test_a_rest_turn_waits_for_an_action_server_no_longer_than_the_turn_deadline(
    settings, tmp_path, slow_action_server, client
):
    """The REST channel's request waits for its turn, but the action server's 30 s (timeout
    60 s) are cut short at HUB_TURN_DEADLINE_SECONDS: the request gets the engine's answer for
    a failed action then, and the chat talks on."""
    project = project_with_endpoint(tmp_path, slow_action_server, timeout=60)
    _run_project(settings, tmp_path, project, HANDOFF_ON_BOT_ERROR=False, TURN_DEADLINE_SECONDS=1)
    from handoff_hub.engine import get_assistant

    get_assistant()  # train before the clock starts
    body = {"sender": "rest-customer", "message": "what's the weather like?"}
    started = time.monotonic()
    response = client.post("/webhooks/rest/webhook", body, content_type="application/json")
    assert response.status_code == 200
    assert time.monotonic() - started < 5, "the request waited for the action server"
    assert [reply["text"] for reply in response.json()] == [
        "Sorry, I am having trouble with that. Please try again in a few minutes."
    ]
    body = {"sender": "rest-customer", "message": "hello"}
    response = client.post("/webhooks/rest/webhook", body, content_type="application/json")
    assert [reply["text"] for reply in response.json()] == ["Hello!"]


@pytest.mark.parametrize("in_engine_process", [False, True], ids=["engine threads", "process"])
async def test_an_early_turn_runs_no_action_for_a_message_that_was_not_stored(
    settings, tmp_path, slow_action_server, action_calls, in_engine_process, monkeypatch
):
    """The bot's turn starts as the message arrives, before it is stored; the store fails and
    the customer is told to send it again. The early turn stopped before the custom action, so
    the action runs once, for the message that was stored, not also for the one that was not."""
    from django.db import DatabaseError

    from handoff_hub import consumers, early_turns, engine_processes

    _counted_weather_bot(settings, tmp_path, slow_action_server)
    settings.HUB = {
        **settings.HUB,
        "ENGINE_PROCESSES": int(in_engine_process),
        "EARLY_TURN_MS": 10_000,  # the store waits for the early turn, however far it gets
    }
    database_away = True

    def or_fail(store):
        def store_or_fail(*args):
            if database_away:  # in its batch, and again alone
                raise DatabaseError("the database went away")
            return store(*args)

        return store_or_fail

    # Alone, or with the answer (the early turn computed to its end, had it run the action).
    monkeypatch.setattr(consumers, "store_incoming", or_fail(consumers.store_incoming))
    monkeypatch.setattr(early_turns, "store_in_locked", or_fail(early_turns.store_in_locked))
    if in_engine_process:
        await asyncio.to_thread(engine_processes.start_engine_processes)
    try:
        chat, _ = await customer()
        text = "what's the weather like?"
        await chat.send({"type": "message", "client_id": "early-1", "text": text})
        error = await chat.until(lambda f: f["type"] == "error", timeout=20)
        assert error["code"] == "try_again"
        # The store waited for the early turn to end: had it run the action, that is noted.
        assert action_calls() == []
        database_away = False
        await say(chat, text, "early-1")  # the widget sends it again
        await chat.until(lambda f: bot_said(f) and f["text"] == "Sunny, counted.", timeout=20)
        assert action_calls() == [text]
        await chat.close()
    finally:
        if in_engine_process:
            await asyncio.to_thread(engine_processes.stop_engine_processes)


@pytest.mark.parametrize("in_engine_process", [False, True], ids=["engine threads", "process"])
async def test_early_turns_back_off_while_every_turn_runs_a_custom_action(
    settings, tmp_path, slow_action_server, action_calls, in_engine_process, monkeypatch
):
    """Each early turn of the weather question stops before its custom action and is thrown
    away: the socket tries them ever more rarely (1, 2, 4 … messages skipped), each action
    still runs once per message, and an early turn used again (the greeting) starts over."""
    from handoff_hub import engine_processes

    project = project_with_endpoint(tmp_path, slow_action_server, 30, "action_quick_weather")
    # EARLY_TURN_MS: the store waits for the early turn, so each takes one path.
    _run_project(
        settings,
        tmp_path,
        project,
        ENGINE_PROCESSES=int(in_engine_process),
        EARLY_TURN_MS=10_000,
    )
    if in_engine_process:
        await asyncio.to_thread(engine_processes.start_engine_processes)
    try:
        computed = record_computed_turns(monkeypatch, in_engine_process)
        chat, _ = await customer()
        weather, greeting = "what's the weather like?", "hello"
        script = [weather] * 7 + [greeting] * 4 + [weather] * 3
        for number, text in enumerate(script):
            await say(chat, text, f"m-{number}")
            answer = "Sunny, quickly." if text == weather else "Hello!"
            await chat.until(lambda f, a=answer: bot_said(f) and f["text"] == a, timeout=20)
            chat.received.clear()
        # Per message, the turns computed and whether each was early.
        deferred, normal, used = [True, False], [False], [True]
        by_message = [
            *[deferred, normal],  # then 1 skipped
            *[deferred, normal, normal],  # then 2
            *[deferred, normal],  # then 4: the greetings skip the other 3
            *[normal, normal, normal, used],  # used: the count starts over
            *[deferred, normal],  # then 1 again, not 8
            deferred,
        ]
        assert computed() == [early for turns in by_message for early in turns]
        assert action_calls() == [weather] * 10
        await chat.close()
    finally:
        if in_engine_process:
            await asyncio.to_thread(engine_processes.stop_engine_processes)
