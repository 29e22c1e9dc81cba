"""PendingTurn: a socket's turn is settled by its commit or given up at its deadline, never
both — whichever comes first wins, from any thread."""

import asyncio
import gc
import threading
import time

import pytest

from handoff_hub.bot_turns import PendingTurn


async def test_a_turn_given_up_on_is_refused_its_commit():
    pending = PendingTurn(loop=asyncio.get_running_loop())
    assert pending.claim_for_deadline()
    assert not pending.claim_for_commit()
    assert not pending.claim_for_commit()


async def test_a_turn_whose_commit_began_is_not_given_up_and_may_commit_again():
    pending = PendingTurn(loop=asyncio.get_running_loop())
    assert pending.claim_for_commit()
    assert not pending.claim_for_deadline()
    assert pending.claim_for_commit()  # a batch that failed runs its jobs again


async def test_from_two_threads_at_once_exactly_one_side_wins():
    for _ in range(200):
        pending = PendingTurn(loop=asyncio.get_running_loop())
        start = threading.Barrier(2)
        answers = {}

        def commit(pending=pending, start=start, answers=answers):
            start.wait()
            answers["commit"] = pending.claim_for_commit()

        writer = threading.Thread(target=commit)
        writer.start()
        start.wait()
        answers["deadline"] = pending.claim_for_deadline()
        writer.join()
        assert answers["commit"] != answers["deadline"]


async def test_what_a_turn_given_up_on_sends_later_is_dropped_not_reported():
    from handoff_hub.bot_turns import TurnOverran, fail_turn

    loop = asyncio.get_running_loop()
    reported = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        pending = PendingTurn(loop=loop)
        pending.expire()
        # From the engine thread, later: the engine process it ran in died.
        fail_turn(loop, pending, RuntimeError("the engine process died later"))
        await asyncio.sleep(0.05)  # the hand-back has run
        assert isinstance(pending.exception(), TurnOverran)
        del pending
        gc.collect()
        assert reported == []
    finally:
        loop.set_exception_handler(None)


async def test_at_the_deadline_a_commit_that_has_begun_is_waited_for_and_answered():
    from handoff_hub.socket_turns import _committed_by_deadline

    loop = asyncio.get_running_loop()
    pending = PendingTurn(loop=loop)
    assert pending.claim_for_commit()  # the writer has it
    loop.call_later(0.3, pending.set_result, ("said", "result"))
    assert await _committed_by_deadline(pending, time.monotonic() + 0.05) == ("said", "result")


async def test_at_the_deadline_a_turn_not_committing_is_given_up():
    from handoff_hub.socket_turns import TurnOverran, _committed_by_deadline

    pending = PendingTurn(loop=asyncio.get_running_loop())
    with pytest.raises(TurnOverran):
        await _committed_by_deadline(pending, time.monotonic() + 0.05)
    assert not pending.claim_for_commit()
