"""A turn's deadline caps how long its calls wait (bot_engine.turn_deadline); the calls
themselves are tested against real servers (tests/engine/llm/test_client.py, and custom
actions on a real rasa_sdk server in tests/faults/test_action_server_faults.py)."""

import threading
import time

import pytest

from bot_engine.turn_deadline import DeadlinePassed, capped, until


def test_without_a_deadline_a_call_keeps_its_own_timeout():
    assert capped(30.0) == 30.0


def test_a_call_waits_at_most_for_what_is_left_of_the_turn():
    with until(time.monotonic() + 2):
        assert 1.5 < capped(30.0) <= 2
        assert capped(0.5) == 0.5  # a shorter timeout of its own stays
    assert capped(30.0) == 30.0  # the turn is over


def test_once_the_deadline_has_passed_no_call_is_made():
    with until(time.monotonic() - 0.1), pytest.raises(DeadlinePassed):
        capped(30.0)


def test_an_inner_deadline_cannot_extend_the_outer_one():
    soon = time.monotonic() + 1
    with until(soon):
        with until(soon + 100):
            assert capped(30.0) <= 1
        with until(None):
            assert capped(30.0) <= 1


def test_the_deadline_belongs_to_the_thread_running_the_turn():
    seen = []
    with until(time.monotonic() + 1):
        other = threading.Thread(target=lambda: seen.append(capped(30.0)))
        other.start()
        other.join()
    assert seen == [30.0]
