"""Telling whoever computes a turn that a custom action is about to run.

A custom action may act on the world outside the conversation (cancel an order, open a
ticket), so a turn that ran one must not simply be computed again if it was lost half-way.
The hub's engine processes watch for this notice: a turn lost after it is not retried.
"""

import contextlib
import threading
from collections.abc import Callable, Iterator

_watching = threading.local()


@contextlib.contextmanager
def watched(notice: Callable[[str], None]) -> Iterator[None]:
    """Call `notice(action_name)` before each custom action the current thread runs."""
    outer = getattr(_watching, "notice", None)
    _watching.notice = notice
    try:
        yield
    finally:
        _watching.notice = outer


def about_to_run(action_name: str) -> None:
    """Announce a custom action (from the thread that runs it, before it starts)."""
    notice = getattr(_watching, "notice", None)
    if notice is not None:
        notice(action_name)
