"""How long a turn's calls to the outside world may wait: never past the turn's deadline.

Whoever runs a turn may give it a deadline (`until`, in time.monotonic() seconds; the hub gives
each widget turn HUB_TURN_DEADLINE_SECONDS). Past it nobody waits for the turn: the customer
has had the apology. A custom action or an LLM call still waiting then, under its own longer
timeout, would only hold an engine thread that other chats' turns need (and get an engine
process replaced as wedged), so each call waits at most for what is left (`capped`).
"""

import contextlib
import threading
import time
from collections.abc import Iterator

_turn = threading.local()


class DeadlinePassed(Exception):
    """The current turn's deadline came before a call it was about to make."""


@contextlib.contextmanager
def until(deadline: float | None) -> Iterator[None]:
    """The current thread's turn must be done by `deadline` (None: no deadline of its own)."""
    outer = getattr(_turn, "deadline", None)
    if outer is not None and deadline is not None:
        deadline = min(outer, deadline)
    _turn.deadline = deadline if deadline is not None else outer
    try:
        yield
    finally:
        _turn.deadline = outer


def capped(timeout: float) -> float:
    """`timeout`, or what is left of the current turn's time if that is less; DeadlinePassed
    when nothing is left."""
    deadline = getattr(_turn, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the turn's deadline has passed")
    return min(timeout, left)
