"""The hub's polling threads: a failing pass is logged with its traceback once, then a line a
pass, and the thread stops when asked."""

import logging
import threading

from handoff_hub.background import PollingThread


def test_a_failure_streak_logs_one_traceback_then_short_lines_and_recovery(caplog):
    passes = []
    outcomes = iter(["fail", "fail", "fail", "ok"])
    done = threading.Event()

    def one_pass() -> float:
        outcome = next(outcomes, "ok")
        passes.append(outcome)
        if len(passes) >= 4:
            done.set()
        if outcome == "fail":
            raise ConnectionError("database went away")
        return 60.0

    logger = logging.getLogger("test.poller")
    poller = PollingThread("test-poller", one_pass, logger, "Poller", retry_seconds=0.01)
    with caplog.at_level(logging.WARNING, logger="test.poller"):
        poller.wake()
        assert done.wait(10)
        poller.stop()
    records = [r for r in caplog.records if r.name == "test.poller"]
    with_traceback = [r for r in records if r.exc_info]
    assert len(with_traceback) == 1 and with_traceback[0].getMessage() == "Poller failed"
    assert [r.getMessage() for r in records[1:]] == [
        "Poller still failing: database went away",
        "Poller still failing: database went away",
        "Poller works again",
    ]


def test_stop_ends_the_thread_and_wake_starts_a_new_one():
    calls = []
    poller = PollingThread("test-poller", lambda: calls.append(1) or 60.0, logging.getLogger(), "P")
    poller.wake()
    first = poller.thread
    poller.stop()
    assert not first.is_alive()
    poller.wake()
    assert poller.thread is not first and poller.thread.is_alive()
    poller.stop()
    assert len(calls) >= 2
