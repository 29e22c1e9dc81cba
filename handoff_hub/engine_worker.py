"""An engine process: computes bot turns for the hub process that started it.

    python -m handoff_hub.engine_worker --fd N

Started by `handoff_hub.engine_processes` with one end of a socket pair as file descriptor N.
It reads turn requests, runs each in a thread of its own pool (a turn may wait on an action
server) and writes the replies back in whatever order they finish. The turn is computed by the
same code as in the hub (`bot_turns.compute_turn`), on the same database and assistant
versions; it commits nothing — the hub commits the result under the conversation's row lock.

It keeps the tracker state of each conversation's latest turn, so the next turn of that chat
need not send it again. It exits when the hub closes its end (or dies).
"""

import argparse
import itertools
import logging
import os
import socket
import sys
import threading
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_hub.settings")

logger = logging.getLogger("handoff_hub.engine_worker")

# The hub passes the database it uses (a test run's renamed database, say) and the settings
# a turn depends on, so a worker computes exactly what the hub's own threads would.
INHERITED_DATABASE = "HUB_ENGINE_WORKER_DATABASE"
# Conversations whose latest tracker a worker keeps; older ones are sent again when they talk.
KEPT_TRACKERS = 5000


class TrackerStore:
    """The latest computed state per conversation, each under a token only its turn knows."""

    def __init__(self, size: int = KEPT_TRACKERS):
        self.size = size
        self._states: OrderedDict[int, tuple[str, dict]] = OrderedDict()
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._prefix = f"{os.getpid()}-{id(self):x}-"

    def get(self, conversation_id: int, token: str | None) -> dict | None:
        with self._lock:
            kept = self._states.get(conversation_id)
        if kept is None or kept[0] != token:
            return None
        return kept[1]

    def keep(self, conversation_id: int, state: dict) -> str:
        token = f"{self._prefix}{next(self._tokens)}"
        with self._lock:
            self._states[conversation_id] = (token, state)
            self._states.move_to_end(conversation_id)
            while len(self._states) > self.size:
                self._states.popitem(last=False)
        return token


class EngineWorker:
    def __init__(self, sock: socket.socket, threads: int):
        self.sock = sock
        self.trackers = TrackerStore()
        self.send_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="engine")

    def serve(self) -> None:
        from handoff_hub import engine_wire

        try:
            while True:
                request = engine_wire.read_frame(self.sock)
                self.pool.submit(self.answer, request)
        except (engine_wire.WireClosed, OSError):
            pass  # the hub closed its end: finish what runs, then exit
        finally:
            self.pool.shutdown(wait=True)

    def answer(self, request) -> None:
        from handoff_hub import engine_wire

        try:
            reply = self.compute(request)
        except Exception:
            reply = engine_wire.TurnFailed(request.request_id, traceback.format_exc())
        with self.send_lock:
            engine_wire.send_frame(self.sock, reply)

    def compute(self, request):
        from handoff_hub import engine_wire
        from handoff_hub.bot_turns import compute_turn
        from handoff_hub.engine_pool import with_fresh_connection

        turn = request.turn
        if turn.tracker_state is None and request.token is not None:
            state = self.trackers.get(turn.conversation_id, request.token)
            if state is None:
                return engine_wire.NeedState(request.request_id)
            turn = replace(turn, tracker_state=state)
        result = with_fresh_connection(compute_turn, (turn,))
        token = self.trackers.keep(turn.conversation_id, result.tracker_state)
        return engine_wire.reply_for(request.request_id, token, turn.tracker_state, result)


def use_inherited_database() -> None:
    from django.db import connections

    name = os.environ.get(INHERITED_DATABASE)
    if name:
        connections["default"].settings_dict["NAME"] = name


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    import django

    django.setup()
    from django.conf import settings

    use_inherited_database()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s engine-worker %(message)s")
    sock = socket.socket(fileno=args.fd)
    from handoff_hub.engine import get_assistant

    get_assistant()  # load (or train) the default assistant before the first turn needs it
    from handoff_hub.gc_tuning import freeze_startup_objects

    freeze_startup_objects()
    from handoff_hub import engine_wire

    worker = EngineWorker(sock, int(settings.HUB.get("ENGINE_THREADS", 16)))
    engine_wire.send_frame(sock, engine_wire.Ready(os.getpid()))
    logger.info("ready (pid %s)", os.getpid())
    worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
