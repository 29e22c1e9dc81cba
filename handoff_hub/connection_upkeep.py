"""Connection upkeep for the hub's long-lived worker threads (group-commit writer, engine pool).

Django checks a kept connection's health with a `SELECT 1` round trip on its first use after
`close_old_connections()`. Run before every batch or turn, as a request would, that is one
more round trip each, on the thread every message waits for. These threads tidy up at most
once a second, and at once after an error (raised, or caught by the work but noted by Django
on the connection); with CONN_MAX_AGE = 0 (nothing kept) every time, as before. An engine
thread tidies before a turn as well as after, so one that was idle for a while checks its
connection on the turn's first query.
"""

import threading
import time

from django.db import close_old_connections, connection

INTERVAL_SECONDS = 1.0
_last = threading.local()


def tidy(after_error: bool = False) -> None:
    """Honour CONN_MAX_AGE and drop a connection the database broke, now and then."""
    now = time.monotonic()
    kept = connection.settings_dict.get("CONN_MAX_AGE") != 0
    recently = now - getattr(_last, "at", -INTERVAL_SECONDS) < INTERVAL_SECONDS
    if kept and recently and not (after_error or connection.errors_occurred):
        return
    _last.at = now
    close_old_connections()
