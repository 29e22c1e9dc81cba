"""An engine process: computes bot turns for the hub process that started it.

    python -m handoff_hub.engine_worker --fd N

Started by `handoff_hub.engine_processes` with one end of a socket pair as file descriptor N.
It reads turn requests, runs each in a thread of its own pool (a turn may wait on an action
server) and writes the replies back in whatever order they finish. The turn is computed by the
same code as in the hub (`bot_turns.compute_turn`), on the same database and assistant
versions; it commits nothing — the hub commits the result under the conversation's row lock.

It keeps the tracker state of each chat's latest turn, so the chat's next turn need not send
it. It ends when the hub closes its end (a drain, or the hub died), or when a thread is stuck
in a turn long past the turn's deadline (OverdueTurns); not on signals meant for the hub
(Ctrl-C, a service manager's SIGTERM to the whole group), which must not cut off the turns
the hub is waiting for.
"""

import argparse
import contextlib
import itertools
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_hub.settings")

from bot_engine.actions import outside_effects  # noqa: E402 - after the path is set
from handoff_hub import engine_wire, watch_ticks  # noqa: E402

logger = logging.getLogger(__name__)
# Chats whose latest tracker a worker keeps; an older one is sent again when it talks.
KEPT_TRACKERS = 5000
# ...and their events in all. An event held costs ~1.3 KB (a 100-turn chat of the demo
# assistant: ~400 events, ~0.5 MB), so 5,000 long chats alone would be gigabytes.
KEPT_EVENTS = 200_000


class TrackerStore:
    """The latest computed state per conversation, each under a token only its turn knows;
    the least recently kept go first when there are over `size` chats or `events` events.

    An early turn's state (handoff_hub.early_turns) is kept beside the chat's latest, not
    instead of it: the hub may not commit it, and then computes the turn again from the
    state before. A chat holds at most two states."""

    def __init__(self, size: int = KEPT_TRACKERS, events: int = KEPT_EVENTS):
        self.size = size
        self.events = events
        # conversation id -> its states, newest last: (token, state, its number of events)
        self._states: OrderedDict[int, list[tuple[str, dict, int]]] = OrderedDict()
        self._held_events = 0
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._prefix = secrets.token_hex(8) + "-"

    def get(self, conversation_id: int, token: str) -> dict | None:
        with self._lock:
            kept = self._states.get(conversation_id) or ()
            return next((state for named, state, _ in kept if named == token), None)

    def keep(self, conversation_id: int, state: dict, alongside: bool = False) -> str:
        """Keep `state` as the chat's latest; with `alongside` (an early turn's), the latest
        before it stays too."""
        token = f"{self._prefix}{next(self._counter)}"
        count = len(state.get("events") or ())
        with self._lock:
            kept = self._states.get(conversation_id) if alongside else None
            if kept:
                for _token, _state, dropped in kept[:-1]:  # all but the latest go
                    self._held_events -= dropped
                kept = [kept[-1], (token, state, count)]
                self._states.move_to_end(conversation_id)
            else:
                self._forget(conversation_id)
                kept = [(token, state, count)]
            self._states[conversation_id] = kept
            self._held_events += count
            # The chat just kept stays, even alone over the budget: its next turn needs it.
            while len(self._states) > 1 and (
                len(self._states) > self.size or self._held_events > self.events
            ):
                self._forget(next(iter(self._states)))
        return token

    def drop(self, conversation_id: int) -> None:
        with self._lock:
            self._forget(conversation_id)

    def held(self) -> tuple[int, int]:
        """(chats, events) kept now."""
        with self._lock:
            return len(self._states), self._held_events

    def _forget(self, conversation_id: int) -> None:
        for _token, _state, count in self._states.pop(conversation_id, ()):
            self._held_events -= count


class EngineWorker:
    def __init__(self, sock: socket.socket, threads: int, compute_turn, in_connection):
        self.sock = sock
        self.trackers = TrackerStore()
        self.send_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="engine")
        self.compute_turn = compute_turn  # bot_turns.compute_turn
        self.in_connection = in_connection  # engine_pool.with_fresh_connection
        self.overdue = OverdueTurns()

    def serve(self) -> None:
        try:
            while True:
                request = engine_wire.read_frame(self.sock)
                if isinstance(request, engine_wire.Ping):
                    self._send(engine_wire.encode(engine_wire.Pong(request.number)))
                    continue
                self.pool.submit(self.answer, request)
        except (engine_wire.WireClosed, OSError):
            pass  # the hub closed its end: finish what runs, then exit
        finally:
            self.pool.shutdown(wait=True)

    def answer(self, request) -> None:
        """Compute and send one reply; whatever goes wrong, the hub hears about the turn."""
        try:
            frame = engine_wire.encode(self.compute(request))
        except outside_effects.EffectsDeferred as deferred:  # an early turn, stopped in time
            frame = engine_wire.encode(
                engine_wire.TurnFailed(request.request_id, str(deferred), deferred.step)
            )
        except BaseException:  # the hub's turn must be settled, even by SystemExit
            frame = engine_wire.encode(
                engine_wire.TurnFailed(request.request_id, traceback.format_exc())
            )
        self._send(frame)

    def _send(self, frame: bytes) -> None:
        with self.send_lock:
            try:
                self.sock.sendall(frame)
            except OSError:
                pass  # the hub is gone; nobody waits for this turn

    def compute(self, request):
        from handoff_hub.bot_turns import NOT_COMPUTED

        turn = request.turn
        if turn.past_deadline():  # it waited here longer than the hub waits for it
            return engine_wire.TurnFailed(request.request_id, NOT_COMPUTED)
        with self.overdue.computing(request.request_id, turn.deadline):
            return self._compute(request, turn)

    def _compute(self, request, turn):
        from handoff_hub.engine_replies import reply_for

        if turn.tracker_state is None and request.token is not None:
            state = self.trackers.get(turn.conversation_id, request.token)
            if state is None:
                return engine_wire.NeedState(request.request_id)
            turn = replace(turn, tracker_state=state)
        announced = []

        def action_starts(action: str) -> None:
            if not announced:  # the hub needs to hear it once per turn, before the first
                announced.append(action)
                notice = engine_wire.ActionStarted(request.request_id, action)
                self._send(engine_wire.encode(notice))

        with outside_effects.watched(action_starts):
            result = self.in_connection(self.compute_turn, (turn,))
        if result.handoff is not None or result.hangup:
            # The chat leaves the bot: when it comes back it starts from the stored tracker.
            # (Unless this was an early turn, which the hub may not commit.)
            if not turn.early:
                self.trackers.drop(turn.conversation_id)
            token = None
        else:
            state = result.tracker_state
            token = self.trackers.keep(turn.conversation_id, state, alongside=turn.early)
        return reply_for(request.request_id, token, turn.tracker_state, result)


class OverdueTurns:
    """The turns this process's threads are computing, by their deadlines, and the way out
    when one stays stuck long past its deadline: the hub gave up on it then, and a thread stuck
    in it cannot be stopped, so the process exits and the hub replaces it, as after any death
    (its other turns run again there, unless they had started a custom action). A turn still
    waiting for a thread is no sign of that: it is answered at once, uncomputed."""

    def __init__(self):
        self._deadlines: dict[int, float] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def computing(self, request_id: int, deadline: float | None):
        if deadline is None:
            yield
            return
        with self._lock:
            self._deadlines[request_id] = deadline
        try:
            yield
        finally:
            with self._lock:
                self._deadlines.pop(request_id, None)

    def watch(self, grace: float, exit_process=os._exit, ticks=None) -> None:
        """Exit once a turn has been computed for `grace` seconds past its deadline (in a
        thread of its own; returns only if `exit_process` does)."""
        if ticks is None:
            ticks = watch_ticks.ticks(watch_ticks.interval_for(grace))
        for paused_for in ticks:
            now = time.monotonic()
            with self._lock:
                for request_id in self._deadlines:  # a pause is no turn's time
                    self._deadlines[request_id] += paused_for
                overdue = sum(1 for d in self._deadlines.values() if now > d + grace)
            if overdue:
                logger.error(
                    "Engine process %s: %d turn(s) still computing %g s past their deadline; "
                    "exiting so that the hub replaces this process",
                    os.getpid(),
                    overdue,
                    grace,
                )
                exit_process(engine_wire.STUCK_EXIT_CODE)
                return


def use_inherited_database() -> None:
    from django.db import connections

    name = os.environ.get(engine_wire.INHERITED_DATABASE)
    if name:
        connections["default"].settings_dict["NAME"] = name


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)
    # Not handed on to anything this process starts: a child holding it would keep the hub
    # from noticing that this process died.
    os.set_inheritable(args.fd, False)
    sock = socket.socket(fileno=args.fd)
    import django

    django.setup()
    from django.conf import settings

    use_inherited_database()
    from handoff_hub.bot_turns import compute_turn
    from handoff_hub.engine import get_assistant
    from handoff_hub.engine_pool import with_fresh_connection
    from handoff_hub.gc_tuning import tune_for_serving

    get_assistant()  # load (or train) the default assistant before the first turn needs it
    tune_for_serving()
    threads = int(settings.HUB.get("ENGINE_THREADS", 16))
    worker = EngineWorker(sock, threads, compute_turn, with_fresh_connection)
    grace = float(settings.HUB["ENGINE_WEDGED_SECONDS"])
    if grace > 0:
        threading.Thread(target=worker.overdue.watch, args=(grace,), daemon=True).start()
    engine_wire.send_frame(sock, engine_wire.Ready(os.getpid()))
    logger.info("Engine process %s ready", os.getpid())
    worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
