"""When a socket stops trying early turns (handoff_hub.early_turns.Backoff): its wiring into
real conversations is tested with a real action server in tests/faults."""

from handoff_hub.early_turns import MAX_SKIPPED, Backoff


def _tries(backoff: Backoff, messages: int, defers: bool) -> list[bool]:
    """For each of `messages` messages, whether it got an early turn; each that did stopped
    before acting outside (`defers`) or was used."""
    tried = []
    for _ in range(messages):
        tried.append(backoff.wanted())
        if tried[-1] and defers:
            backoff.deferred()
        elif tried[-1]:
            backoff.used()
    return tried


def test_early_turns_that_keep_deferring_are_tried_ever_more_rarely():
    tried = [n for n, was in enumerate(_tries(Backoff(), 100, defers=True)) if was]
    # Tried, then 1, 2, 4, 8 messages skipped, then MAX_SKIPPED (16) each time.
    assert tried == [0, 2, 5, 10, 19, 36, 53, 70, 87]
    assert {b - a for a, b in zip(tried[5:], tried[6:], strict=False)} == {MAX_SKIPPED + 1}


def test_an_early_turn_used_starts_the_count_over():
    backoff = Backoff()
    assert _tries(backoff, 6, defers=True) == [True, False, True, False, False, True]
    # Four more skipped (after the third stop), then one is used: the count starts over.
    assert _tries(backoff, 5, defers=False) == [False] * 4 + [True]
    assert _tries(backoff, 3, defers=True) == [True, False, True]


def test_a_socket_whose_early_turns_are_used_always_gets_them():
    assert _tries(Backoff(), 50, defers=False) == [True] * 50
