"""Telling whoever computes a turn that it is about to act outside the conversation.

A custom action may act on the world outside the conversation (cancel an order, open a
ticket), so a turn that ran one must not simply be computed again if it was lost half-way.
The hub's engine processes watch for this notice: a turn lost after it is not retried.

A turn may also be computed ahead, before its message is stored (the hub's early turns):
under `local_only()` it stops where it would first act outside (a custom action, an LLM
call) with EffectsDeferred, and is computed again once the message is stored.
"""

import contextlib
import threading
from collections.abc import Callable, Iterator

_watching = threading.local()


class EffectsDeferred(Exception):
    """A turn computed under `local_only()` reached a step that acts outside: `step`."""

    def __init__(self, step: str):
        super().__init__(f"stopped before {step}: the turn is computed ahead of its message")
        self.step = step


@contextlib.contextmanager
def watched(notice: Callable[[str], None]) -> Iterator[None]:
    """Call `notice(action_name)` before each custom action the current thread runs."""
    outer = getattr(_watching, "notice", None)
    _watching.notice = notice
    try:
        yield
    finally:
        _watching.notice = outer


@contextlib.contextmanager
def local_only(active: bool = True) -> Iterator[None]:
    """While active, the current thread's turn raises EffectsDeferred instead of acting
    outside the conversation."""
    outer = getattr(_watching, "local_only", False)
    _watching.local_only = active or outer
    try:
        yield
    finally:
        _watching.local_only = outer


def about_to_run(action_name: str) -> None:
    """Announce a custom action (from the thread that runs it, before it starts)."""
    if getattr(_watching, "local_only", False):
        raise EffectsDeferred(f"custom action {action_name}")
    notice = getattr(_watching, "notice", None)
    if notice is not None:
        notice(action_name)


def about_to_call(service: str) -> None:
    """Before a call to an outside service that costs or may be logged (an LLM): not made
    for a turn computed ahead."""
    if getattr(_watching, "local_only", False):
        raise EffectsDeferred(service)
