"""Is Redis (the channel layer) up? A thread of its own asks it every second.

The probe has its own connection and never runs on the event loop: a loop busy with a burst of
new sockets, or publishes queued behind channels_redis's per-connection lock, is not an
outage. (The loop-side heartbeat this replaces timed out during connect storms, declared
Redis down, and every socket of the process replayed from the database at once — which kept
the loop busy enough to time out again.)
"""

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)
PROBE_SECONDS = 1.0
PROBE_TIMEOUT = 5.0


def redis_url_of_layer() -> str | None:
    """The Redis URL of the default channel layer, or None for a process-local layer."""
    from django.conf import settings

    config = settings.CHANNEL_LAYERS.get("default", {})
    if "redis" not in config.get("BACKEND", "").lower():
        return None
    hosts = config.get("CONFIG", {}).get("hosts") or []
    host = hosts[0] if hosts else None
    return host if isinstance(host, str) else (host or {}).get("address")


class LayerProbe(threading.Thread):
    """Calls `on_down()` when Redis stops answering and `on_up()` when it answers again
    (both from this thread: hand them to the loop yourself)."""

    def __init__(self, url: str, on_down: Callable[[], None], on_up: Callable[[], None]):
        super().__init__(name="layer-probe", daemon=True)
        self.url, self.on_down, self.on_up = url, on_down, on_up
        self.down = False

    def run(self) -> None:
        import redis

        client = redis.Redis.from_url(
            self.url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
        )
        while True:
            time.sleep(PROBE_SECONDS)
            try:
                client.ping()
            except (redis.RedisError, OSError) as error:
                if not self.down:
                    logger.warning("Redis does not answer (%r)", error)
                    self.down = True
                    self.on_down()
                continue
            if self.down:
                self.down = False
                self.on_up()
