"""Bot turns in engine processes of their own (HUB_ENGINE_PROCESSES = N > 0).

In one hub process the event loop, the group-commit writer and the engine threads share one
interpreter lock, and the engine is a third of what that lock does per message. With engine
processes, the turn's computation runs in N child processes of this one (each with its own
lock, on another core); the hub sends the turn's input and gets back what the turn added.

A conversation always goes to the same process (by id), which keeps its latest tracker so the
next turn need not send it. Replies are read by one thread per process, which queues the
turn's commit itself: the hub commits it under the row lock exactly as a turn computed in a
thread (`bot_turns.queue_commit`). A process that dies fails the turns it had (the customer
gets the apology and, if configured, a human) and is replaced at once.
"""

import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings
from django.db import connections

from handoff_hub import engine_wire
from handoff_hub.bot_turns import fail_turn, queue_commit

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
# A process that dies this soon after starting is not restarted at once (a broken setup would
# otherwise spin); turns sent meanwhile fail fast.
_RESTART_PAUSE_SECONDS = 1.0
_SHORT_LIFE_SECONDS = 5.0

_processes: list["EngineProcess"] = []
_start_lock = threading.Lock()


class RemoteEngineError(Exception):
    """The engine raised in an engine process; the message is its traceback there."""


class EngineProcessEnded(Exception):
    """The engine process computing a turn ended before it answered."""


def enabled() -> bool:
    return int(settings.HUB.get("ENGINE_PROCESSES", 0)) > 0


def start_turn(turn, previous, loop, future) -> None:
    """bot_turns.start_turn's path when engine processes are on."""
    processes = _processes or start_engine_processes(wait=False)
    processes[turn.conversation_id % len(processes)].start_turn(turn, previous, loop, future)


def start_engine_processes(wait: bool = True, timeout: float = 120) -> list["EngineProcess"]:
    """Start this process's engine processes (once); with `wait`, until they have loaded the
    default assistant (a hub process does this before it listens)."""
    global _processes
    with _start_lock:
        if not _processes:
            count = int(settings.HUB.get("ENGINE_PROCESSES", 0)) or 1
            _processes = [EngineProcess(index) for index in range(count)]
        processes = _processes
    if wait:
        for process in processes:
            process.wait_ready(timeout)
    return processes


def stop_engine_processes(timeout: float = 10) -> None:
    """Let the engine processes answer the turns they have, then end them (at shutdown)."""
    global _processes
    with _start_lock:
        processes, _processes = _processes, []
    for process in processes:
        process.stop(timeout)


def worker_pids() -> list[int]:
    """The running engine processes' ids (for operators and the fault tests)."""
    return [p.process.pid for p in _processes if p.process is not None]


@dataclass(frozen=True)
class _Pending:
    turn: object
    previous: tuple | None
    loop: object
    future: object


class EngineProcess:
    """One engine process, its socket, and the turns sent to it that await an answer."""

    def __init__(self, index: int):
        self.index = index
        self.pending: dict[int, _Pending] = {}
        self.request_ids = itertools.count(1)
        # Held while a request is recorded and sent, and while a dead process is replaced:
        # a turn is either failed with the old process or sent to the new one, never lost.
        self.send_lock = threading.Lock()
        self.stopping = False
        self.ready = threading.Event()
        self.sock: socket.socket | None = None
        self.process: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.started_at = 0.0
        with self.send_lock:
            self._spawn()

    def start_turn(self, turn, previous, loop, future) -> None:
        token = getattr(turn.tracker_state, "token", None)
        wire_turn = replace(turn, tracker_state=None) if token else turn
        with self.send_lock:
            request_id = next(self.request_ids)
            self.pending[request_id] = _Pending(turn, previous, loop, future)
            self._send_locked(engine_wire.TurnRequest(request_id, wire_turn, token))

    def wait_ready(self, timeout: float) -> None:
        if not self.ready.wait(timeout):
            raise RuntimeError(f"engine process {self.index} did not start in {timeout} s")

    def stop(self, timeout: float) -> None:
        self.stopping = True
        with self.send_lock:
            sock, process, reader = self.sock, self.process, self.reader
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_WR)  # the worker finishes its turns, then exits
                except OSError:
                    pass
        if reader is not None:
            reader.join(timeout)
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._fail_all(EngineProcessEnded("the hub is shutting down"))
        if sock is not None:
            sock.close()

    # --- the process and its socket (callers hold send_lock) ---

    def _spawn(self) -> None:
        hub_end, worker_end = socket.socketpair()
        fd = worker_end.fileno()
        command = [sys.executable, "-m", "handoff_hub.engine_worker", "--fd", str(fd)]
        self.ready.clear()
        # Our own interpreter and module, no user input in the command.
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=_worker_environment(), pass_fds=[fd]
        )
        worker_end.close()
        self.sock, self.started_at = hub_end, time.monotonic()
        self.reader = threading.Thread(
            target=self._read_replies,
            args=(hub_end, self.process),
            name=f"engine-process-{self.index}",
            daemon=True,
        )
        self.reader.start()

    def _send_locked(self, request: engine_wire.TurnRequest) -> None:
        try:
            engine_wire.send_frame(self.sock, request)
        except OSError as error:  # the process is gone; its reader replaces it
            entry = self.pending.pop(request.request_id, None)
            if entry is not None:
                fail_turn(entry.loop, entry.future, EngineProcessEnded(str(error)))

    # --- the reader thread ---

    def _read_replies(self, sock: socket.socket, process: subprocess.Popen) -> None:
        reason = "closed its socket"
        try:
            while True:
                self._on_reply(engine_wire.read_frame(sock))
        except (engine_wire.WireClosed, OSError) as error:
            reason = str(error)
        except Exception:  # an unreadable frame: the stream is lost, so is the process
            logger.exception("Engine process %s sent an unreadable frame", self.index)
            reason = "unreadable frame"
        self._replace(sock, process, reason)

    def _on_reply(self, reply) -> None:
        if isinstance(reply, engine_wire.Ready):
            self.ready.set()
            return
        entry = self.pending.pop(reply.request_id, None)
        if entry is None:
            return
        if isinstance(reply, engine_wire.NeedState):  # it no longer holds that tracker
            with self.send_lock:
                self.pending[reply.request_id] = entry
                whole = replace(entry.turn, tracker_state=dict(entry.turn.tracker_state or {}))
                self._send_locked(engine_wire.TurnRequest(reply.request_id, whole))
            return
        if isinstance(reply, engine_wire.TurnFailed):
            fail_turn(entry.loop, entry.future, RemoteEngineError(reply.error))
            return
        try:
            previous = entry.previous
            if previous is not None and previous[0] is not entry.turn.tracker_state:
                previous = None
            result = engine_wire.result_from(reply, entry.turn, previous)
            queue_commit(entry.turn, result, entry.loop, entry.future)
        except Exception as error:  # settled by queue_commit, or here
            logger.exception("Could not commit a turn from engine process %s", self.index)
            fail_turn(entry.loop, entry.future, error)

    def _replace(self, sock: socket.socket, process: subprocess.Popen, reason: str) -> None:
        if not self.stopping and time.monotonic() - self.started_at < _SHORT_LIFE_SECONDS:
            time.sleep(_RESTART_PAUSE_SECONDS)
        with self.send_lock:
            if self.sock is not sock:
                return
            lost, self.pending = self.pending, {}
            sock.close()
            if process.poll() is None:
                process.kill()
            process.wait()
            if not self.stopping:
                self._spawn()
        for entry in lost.values():
            fail_turn(entry.loop, entry.future, EngineProcessEnded(reason))
        if not self.stopping:
            logger.error(
                "Engine process %s ended (exit code %s, %s); %d turn(s) failed; started another",
                self.index,
                process.returncode,
                reason,
                len(lost),
            )

    def _fail_all(self, error: Exception) -> None:
        with self.send_lock:
            lost, self.pending = self.pending, {}
        for entry in lost.values():
            fail_turn(entry.loop, entry.future, error)


def _worker_environment() -> dict:
    """The hub's environment plus what a worker must share with it though the settings
    would say otherwise (a test run's database and overridden settings)."""
    hub = settings.HUB
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "handoff_hub.settings"
            ),
            "HUB_ENGINE_WORKER_DATABASE": str(connections["default"].settings_dict["NAME"]),
            "HUB_ASSISTANT_PATH": str(hub["ASSISTANT_PATH"]),
            "HUB_MODEL_DIR": str(hub["MODEL_DIR"]),
            "HUB_ENGINE_THREADS": str(hub.get("ENGINE_THREADS", 16)),
            "HUB_ASSISTANT_REFRESH_SECONDS": str(hub.get("ASSISTANT_REFRESH_SECONDS", 1.0)),
            "HUB_ENGINE_PROCESSES": "0",  # a worker computes in its own threads
        }
    )
    return env
