"""An engine process's OverdueTurns: it exits only for a turn its threads are still computing
well past the turn's deadline, never for one that merely waited for a thread."""

import threading
import time

from handoff_hub.engine_wire import STUCK_EXIT_CODE
from handoff_hub.engine_worker import OverdueTurns


def _watched(overdue: OverdueTurns, grace: float, ticks=None) -> list:
    exits = []
    exited = threading.Event()

    def exit_process(code: int) -> None:
        exits.append(code)
        exited.set()

    watching = threading.Thread(target=overdue.watch, args=(grace, exit_process, ticks))
    watching.daemon = True
    watching.start()
    return exits, exited


def test_a_turn_computed_past_its_deadline_and_grace_ends_the_process():
    overdue = OverdueTurns()
    exits, exited = _watched(overdue, grace=0.3)
    with overdue.computing(1, time.monotonic()):  # its deadline is now
        assert exited.wait(5)
    assert exits == [STUCK_EXIT_CODE]


def test_turns_within_their_grace_or_without_a_deadline_or_done_do_not():
    overdue = OverdueTurns()
    exits, exited = _watched(overdue, grace=0.3)
    with overdue.computing(1, None), overdue.computing(2, time.monotonic() + 5):
        assert not exited.wait(1)
    with overdue.computing(3, time.monotonic() - 10):
        pass  # finished: no longer computing
    assert not exited.wait(1)
    assert exits == []


def test_time_the_process_spent_paused_is_no_turns():
    overdue = OverdueTurns()
    with overdue.computing(1, time.monotonic() - 1):  # past its grace, counting the pause
        # A tick after a 100 s pause (a frozen container), then an ordinary one.
        exits, exited = _watched(overdue, grace=0.3, ticks=iter([100.0, 0.0]))
        assert not exited.wait(0.5)
    assert exits == []

    with overdue.computing(2, time.monotonic() - 1):
        exits, exited = _watched(overdue, grace=0.3, ticks=iter([0.0]))
        assert exited.wait(5)
    assert exits == [STUCK_EXIT_CODE]
