"""A controllable clock for writing history: seeding demo data and building test data sets.

Inside `simulated_time(start)` Django's `timezone.now()` returns the clock's time, so the real
state-machine functions stamp tickets, audit rows and messages as if they ran then. It patches
a process-wide function: use it only in a command or test that runs alone, never in the hub.
"""

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.utils import timezone


class SimulatedClock:
    def __init__(self, start: datetime):
        self.current = start

    def now(self) -> datetime:
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


@contextlib.contextmanager
def simulated_time(start: datetime) -> Iterator[SimulatedClock]:
    clock = SimulatedClock(start)
    real_now = timezone.now
    timezone.now = clock.now
    try:
        yield clock
    finally:
        timezone.now = real_now
