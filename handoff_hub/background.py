"""What the hub's polling threads (webhook delivery, assistant jobs, the queue refresher)
share: how they report a failing pass, keep their database connection and are stopped."""

import logging
import threading

from django.db import close_old_connections, connection


class FailureStreak:
    """A loop's failure is logged with its traceback once, then a line a pass until it works
    again: a database outage must not write the same traceback every few seconds."""

    def __init__(self, logger: logging.Logger, what: str):
        self.logger = logger
        self.what = what
        self.failing = False

    def failed(self, error: BaseException) -> None:
        """Call from the `except` block of a failed pass."""
        if self.failing:
            self.logger.warning("%s still failing: %s", self.what, error)
        else:
            self.logger.exception("%s failed", self.what)
        self.failing = True

    def passed(self) -> None:
        if self.failing:
            self.logger.warning("%s works again", self.what)
        self.failing = False


class PollingThread:
    """One daemon thread running `one_pass` until stopped; `one_pass` returns the seconds to
    wait before the next pass (`retry_seconds` after a failed one; None: until woken), and
    `wake()` cuts a wait short. Each pass starts with Django's connection upkeep
    (CONN_MAX_AGE, broken connections); the thread closes its connection when it ends."""

    def __init__(self, name, one_pass, logger: logging.Logger, what: str, retry_seconds=5.0):
        self.name = name
        self.retry_seconds = retry_seconds
        self.one_pass = one_pass
        self.streak = FailureStreak(logger, what)
        self.wake_event = threading.Event()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        """Start the thread if it is not running, and let it make a pass now."""
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.stop_event.clear()
                self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self.thread.start()
        self.wake_event.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Let the current pass finish and end the thread (a shutdown, or a test's end).
        True if it ended within `timeout` seconds."""
        with self.lock:
            thread, self.thread = self.thread, None
            if thread is None:
                return True
            self.stop_event.set()
            self.wake_event.set()
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        try:
            while not self.stop_event.is_set():
                # Cleared before the pass, not after the wait: a wake during the pass (or
                # just after the wait ended) then makes another pass instead of being lost.
                self.wake_event.clear()
                wait = self.retry_seconds
                try:
                    close_old_connections()
                    wait = self.one_pass()
                    self.streak.passed()
                except Exception as error:  # noqa: BLE001 - survive a database hiccup
                    self.streak.failed(error)
                self.wake_event.wait(wait)
        finally:
            connection.close()
