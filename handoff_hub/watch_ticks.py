"""The clock of a watchdog thread: a tick every few seconds, and how long the process was
paused before it (a frozen container, a stalled VM), which is nobody's fault and must not be
judged as time a worker or a turn took. Plain Python: engine processes use it before Django
is set up."""

import time
from collections.abc import Callable, Iterator


def interval_for(threshold: float) -> float:
    """How often to look, for a watchdog that acts after `threshold` seconds."""
    return max(0.05, min(2.0, threshold / 3))


def ticks(
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[float]:
    """Every `interval` seconds (timed from when the caller asks for the next tick), the
    seconds the process was paused meanwhile: 0.0 unless it slept over twice the interval."""
    while True:
        asleep_since = clock()
        sleep(interval)
        overslept = clock() - asleep_since - interval
        yield overslept if overslept > interval else 0.0
