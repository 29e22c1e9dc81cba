"""Bot turns in engine processes of their own (HUB_ENGINE_PROCESSES = N > 0).

In one hub process the event loop, the group-commit writer and the engine threads share one
interpreter lock, and the engine is a third of what that lock does per message. With engine
processes, the turn's computation runs in N child processes of this one (each with its own
lock, on another core); the hub sends the turn's input and gets back what the turn added.

A conversation always goes to the same process (by id), which keeps its latest tracker so the
next turn need not send it. Replies are read by one thread per process, which queues the
turn's commit itself: the hub commits it under the row lock exactly as a turn computed in a
thread (`bot_turns.queue_commit`). A process that dies fails the turns it had (the customer
gets the apology and, if configured, a human) and is replaced at once; so is one that stops
answering even pings (HUB_ENGINE_WEDGED_SECONDS), or that is still not ready long after it
started (HUB_ENGINE_START_SECONDS), which is killed first.
"""

import collections
import contextlib
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

from bot_engine.actions import outside_effects
from handoff_hub import engine_replies, engine_wire, watch_ticks
from handoff_hub.bot_turns import fail_turn, hand_back, queue_commit

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
# A process that dies this soon after starting is replaced only after a pause (a broken setup
# would otherwise spin); its turns fail after the pause.
_RESTART_PAUSE_SECONDS = 1.0
_SHORT_LIFE_SECONDS = 5.0

_processes: list["EngineProcess"] = []
_start_lock = threading.Lock()
_shutting_down = False


class RemoteEngineError(Exception):
    """The engine raised in an engine process; the message is its traceback there."""


class EngineProcessEnded(Exception):
    """The engine process computing a turn ended (or could not start) before it answered.

    `action_ran` names the custom action the turn had started, if any: such a turn is not
    computed again, since the action may already have acted (cancelled an order, say).
    """

    def __init__(self, reason: str, action_ran: str | None = None):
        super().__init__(reason if action_ran is None else f"{reason}, during {action_ran}")
        self.action_ran = action_ran


def enabled() -> bool:
    return int(settings.HUB.get("ENGINE_PROCESSES", 0)) > 0


def start_turn(turn, loop, future, commit: bool = True) -> None:
    """bot_turns.start_turn's path when engine processes are on. Never blocks the loop."""
    if _shutting_down:  # after the drain's last step: nothing may start processes again
        fail_turn(loop, future, EngineProcessEnded("the hub is shutting down"))
        return
    processes = _processes or start_engine_processes(wait=False)
    processes[turn.conversation_id % len(processes)].start_turn(turn, loop, future, commit)


def start_engine_processes(
    wait: bool = True, timeout: float | None = None
) -> list["EngineProcess"]:
    """Start this process's engine processes (once); with `wait`, until they have loaded the
    default assistant (a hub process does this before it listens), at most `timeout` seconds
    (None: HUB_ENGINE_START_SECONDS, after which one still loading is killed; 0 there: no
    limit)."""
    global _processes, _shutting_down
    with _start_lock:
        _shutting_down = False
        if not _processes:
            count = int(settings.HUB.get("ENGINE_PROCESSES", 0)) or 1
            _processes = [EngineProcess(index) for index in range(count)]
        processes = _processes
    if wait:
        if timeout is None:
            timeout = float(settings.HUB["ENGINE_START_SECONDS"]) or None
        for process in processes:
            process.wait_ready(timeout)
    return processes


def stop_engine_processes(timeout: float = 10) -> None:
    """Let the engine processes answer the turns they have and commit them, then end them
    (the last step of a shutdown), all within about `timeout` seconds."""
    global _processes, _shutting_down
    with _start_lock:
        processes, _processes = _processes, []
        _shutting_down = True
    for process in processes:
        process.close_requests()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.wait_ended(max(0.5, deadline - time.monotonic()))


def worker_pids() -> list[int]:
    """The running engine processes' ids."""
    return [p.process.pid for p in _processes if p.process is not None]


@dataclass(frozen=True)
class _Pending:
    turn: object  # bot_turns.TurnInput
    loop: object  # asyncio.AbstractEventLoop
    future: object  # asyncio.Future of `loop`
    commit: bool = True  # False: an early turn, its result handed back uncommitted
    action_ran: str | None = None  # the custom action the worker said it started


class EngineProcess:
    """One engine process, its socket, and the turns sent to it that await an answer."""

    def __init__(self, index: int):
        self.index = index
        self.pending: dict[int, _Pending] = {}
        self.request_ids = itertools.count(1)
        # Held while a request is recorded and written, and while a dead process is replaced:
        # a turn is either failed with the old process or sent to the new one, never lost.
        self.lock = threading.Lock()
        self.stopping = False
        self.ready = threading.Event()
        self.sock: socket.socket | None = None
        self.process: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.started_at = 0.0
        # Bytes the socket would not take at once; a writer thread sends them (in order).
        self.backlog: collections.deque[bytes] = collections.deque()
        self.backlog_ready = threading.Condition(self.lock)
        self.writer = threading.Thread(
            target=self._write_backlog, name=f"engine-process-{index}-writer", daemon=True
        )
        self.writer.start()
        self.wedged_after = float(settings.HUB["ENGINE_WEDGED_SECONDS"])
        self.start_within = float(settings.HUB["ENGINE_START_SECONDS"])
        # Doubled after each process killed for it, back when one gets ready: an assistant
        # that always loads a little slower than the limit is not restarted for ever.
        self.start_limit = self.start_within
        self.paused_while_loading = 0.0  # of the current process's time since it started
        self.killed_loading = False
        self.last_heard = time.monotonic()  # when the worker last sent anything
        self.watchdog = threading.Thread(
            target=self._watch, name=f"engine-process-{index}-watchdog", daemon=True
        )
        with self.lock:
            self._spawn()
        self.watchdog.start()

    def start_turn(self, turn, loop, future, commit: bool = True) -> None:
        token = getattr(turn.tracker_state, "token", None)
        wire_turn = replace(turn, tracker_state=None) if token else turn
        with self.lock:
            request_id = next(self.request_ids)
            self.pending[request_id] = _Pending(turn, loop, future, commit)
            self._send_locked(engine_wire.TurnRequest(request_id, wire_turn, token))

    def wait_ready(self, timeout: float | None) -> None:
        if not self.ready.wait(timeout):
            raise RuntimeError(f"engine process {self.index} did not start in {timeout} s")

    def close_requests(self) -> None:
        """No more turns: the worker answers the ones it has, then exits."""
        with self.lock:
            self.stopping = True
            self.backlog_ready.notify()
            if not self.backlog and self.sock is not None:
                _shut(self.sock, socket.SHUT_WR)
            # else: the writer thread shuts it after sending what is still queued

    def wait_ended(self, timeout: float) -> None:
        reader, process = self.reader, self.process
        if reader is not None:
            reader.join(timeout)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(5)
        self._fail_all(EngineProcessEnded("the hub is shutting down"))

    # --- the process and its socket (callers hold the lock) ---

    def _spawn(self) -> None:
        hub_end, worker_end = socket.socketpair()
        fd = worker_end.fileno()
        command = [sys.executable, "-m", "handoff_hub.engine_worker", "--fd", str(fd)]
        self.ready.clear()
        try:
            # Our own interpreter and module, no user input in the command.
            self.process = subprocess.Popen(  # noqa: S603
                command, env=_worker_environment(), pass_fds=[fd]
            )
        except BaseException:
            hub_end.close()
            self.sock = None  # the next turn tries again
            raise
        finally:
            worker_end.close()
        self.sock, self.started_at = hub_end, time.monotonic()
        self.paused_while_loading, self.killed_loading = 0.0, False
        self.last_heard = self.started_at
        self.backlog.clear()
        self.reader = threading.Thread(
            target=self._read_replies,
            args=(hub_end, self.process),
            name=f"engine-process-{self.index}",
            daemon=True,
        )
        self.reader.start()

    def _send_locked(self, request: engine_wire.TurnRequest) -> None:
        try:
            frame = engine_wire.encode(request)
        except Exception as error:  # not the process's fault: no retry would help
            self._fail_locked(request.request_id, error)
            return
        try:
            if self.sock is None:  # a replacement failed to start: try again now
                self._spawn()
        except Exception as error:  # still none: no reader will answer for this turn
            self._fail_locked(request.request_id, EngineProcessEnded(str(error)))
            return
        try:
            self._write_locked(frame)
        except OSError as error:
            if self.stopping:  # our end is shut for the drain: no reply will come for it
                self._fail_locked(request.request_id, EngineProcessEnded(str(error)))
                return
            # The process is gone and its reader may not have noticed yet: the turn stays
            # pending, and the reader fails it with the others, so that a retry goes to the
            # replacement, not to this dead socket again. (The shutdown makes sure the reader
            # ends, should the process be alive with a socket that fails.)
            logger.warning("Engine process %s: %s; its turns go to a new one", self.index, error)
            _shut(self.sock, socket.SHUT_RDWR)

    def _write_locked(self, frame: bytes) -> None:
        """Send `frame` as far as the socket takes it at once; the writer thread sends the
        rest, and anything queued behind what already waits (OSError: the socket failed)."""
        if self.backlog:  # keep the order: behind what already waits
            self.backlog.append(frame)
            return
        sent = _send_without_blocking(self.sock, frame)
        if sent < len(frame):  # the worker is behind: never block the event loop on it
            self.backlog.append(frame[sent:])
            self.backlog_ready.notify()

    def _ping_locked(self, number: int) -> None:
        with contextlib.suppress(OSError):  # the reader sees the process gone
            self._write_locked(engine_wire.encode(engine_wire.Ping(number)))

    def _fail_locked(self, request_id: int, error: BaseException) -> None:
        """Fail one turn that will get no reply (the caller holds the lock)."""
        entry = self.pending.pop(request_id, None)
        if entry is not None:
            fail_turn(entry.loop, entry.future, error)

    def _write_backlog(self) -> None:
        while True:
            with self.lock:
                while not self.backlog:
                    if self.stopping:
                        return
                    self.backlog_ready.wait()
                sock, frame = self.sock, self.backlog[0]
            try:
                sock.sendall(frame)  # blocking, outside the lock
            except OSError:
                pass  # the reader sees the process gone and fails its turns
            with self.lock:
                if self.backlog and self.backlog[0] is frame and self.sock is sock:
                    self.backlog.popleft()
                if self.stopping and not self.backlog and self.sock is not None:
                    _shut(self.sock, socket.SHUT_WR)

    # --- the watchdog thread ---

    def _watch(self) -> None:
        """Ping the worker; kill one that, ready, has sent nothing for `wedged_after` seconds,
        or that is not ready `start_within` seconds after it started. Its reader then fails
        its turns as for any death (one that started no custom action runs again on the
        replacement) and starts the replacement."""
        limits = [limit for limit in (self.wedged_after, self.start_within) if limit > 0]
        if not limits:
            return  # switched off
        pings = itertools.count(1)
        interval = watch_ticks.interval_for(min(limits))
        for paused_for in watch_ticks.ticks(interval):
            # This whole process was paused: the reader had no chance to read the pongs
            # either, so this tick judges nothing.
            paused = paused_for > 0
            with self.lock:
                if self.stopping:
                    return
                if self.sock is None:
                    continue
                if not self.ready.is_set():
                    self.paused_while_loading += paused_for
                    self._judge_loading_locked()
                    continue
                if not self.wedged_after > 0:
                    continue
                silent = time.monotonic() - self.last_heard
                if silent < self.wedged_after or paused or _unread(self.sock):
                    self._ping_locked(next(pings))
                    continue
                # Under the lock, so the one killed is this process, never its replacement.
                logger.error(
                    "Engine process %s (pid %s) answered nothing for %.1f s; killing it",
                    self.index,
                    self.process.pid,
                    silent,
                )
                with contextlib.suppress(OSError):  # it ended meanwhile
                    self.process.kill()
            time.sleep(self.wedged_after)  # its reader replaces it meanwhile

    def _judge_loading_locked(self) -> None:
        """Kill a process still loading `start_limit` seconds after it started, pauses of this
        whole process aside (a project whose actions module hangs on import, a model on a
        stalled disk): its replacement starts over, with twice the time, and the log says why
        each time."""
        loading = time.monotonic() - self.started_at - self.paused_while_loading
        if self.killed_loading or not self.start_limit > 0 or loading < self.start_limit:
            return
        logger.error(
            "Engine process %s (pid %s) not ready %.1f s after it started; killing it (the"
            " next one has %.0f s)",
            self.index,
            self.process.pid,
            loading,
            2 * self.start_limit,
        )
        self.start_limit *= 2
        self.killed_loading = True  # once: its reader replaces it meanwhile
        with contextlib.suppress(OSError):  # it ended meanwhile
            self.process.kill()

    # --- the reader thread ---

    def _read_replies(self, sock: socket.socket, process: subprocess.Popen) -> None:
        reason = "closed its socket"
        try:
            while True:
                reply = engine_wire.read_frame(sock)
                self.last_heard = time.monotonic()
                try:
                    self._on_reply(reply)
                except Exception:  # one turn's trouble; the process is fine
                    logger.exception("Could not handle a reply of engine process %s", self.index)
        except (engine_wire.WireClosed, OSError) as error:
            reason = str(error)
        except Exception:  # an unreadable frame: the stream is lost, so is the process
            logger.exception("Engine process %s sent an unreadable frame", self.index)
            reason = "unreadable frame"
        self._replace(sock, process, reason)

    def _on_reply(self, reply) -> None:
        if isinstance(reply, engine_wire.Pong):
            return  # heard: that is all a pong says
        if isinstance(reply, engine_wire.Ready):
            with self.lock:  # never killed for loading once it is ready (_judge_loading_locked)
                self.ready.set()
                self.start_limit = self.start_within
            return
        if isinstance(reply, engine_wire.ActionStarted):
            with self.lock:
                entry = self.pending.get(reply.request_id)
                if entry is not None:
                    self.pending[reply.request_id] = replace(entry, action_ran=reply.action)
            return
        with self.lock:  # a shutdown may fail what is left at the same time
            entry = self.pending.pop(reply.request_id, None)
        if entry is None:
            return
        if isinstance(reply, engine_wire.NeedState):  # it no longer holds that tracker
            whole = replace(entry.turn, tracker_state=dict(entry.turn.tracker_state or {}))
            with self.lock:
                self.pending[reply.request_id] = entry
                self._send_locked(engine_wire.TurnRequest(reply.request_id, whole))
            return
        if isinstance(reply, engine_wire.TurnFailed):
            if reply.deferred_step is not None:
                error = outside_effects.EffectsDeferred(reply.deferred_step)
            else:
                error = RemoteEngineError(reply.error)
            fail_turn(entry.loop, entry.future, error)
            return
        try:
            result = engine_replies.result_from(reply, entry.turn)
        except Exception as error:
            fail_turn(entry.loop, entry.future, error)
            raise
        result.action_ran = entry.action_ran  # as compute_encoded_turn says in-process
        if not entry.commit:
            hand_back(entry.loop, entry.future, result)
            return
        queue_commit(entry.turn, result, entry.loop, entry.future)  # settles it on failure

    def _replace(self, sock: socket.socket, process: subprocess.Popen, reason: str) -> None:
        if not self.stopping and time.monotonic() - self.started_at < _SHORT_LIFE_SECONDS:
            time.sleep(_RESTART_PAUSE_SECONDS)
        lost = {}
        try:
            with self.lock:
                if self.sock is not sock:
                    return
                lost, self.pending = self.pending, {}
                sock.close()
                self.sock = None
                self.backlog.clear()  # requests to the dead process: failed with `lost`
                if process.poll() is None:
                    process.kill()
                process.wait()
                if not self.stopping:
                    self._spawn()  # on failure the next turn tries again
        except Exception:
            logger.exception("Could not start a new engine process %s", self.index)
        finally:
            for entry in lost.values():
                fail_turn(entry.loop, entry.future, EngineProcessEnded(reason, entry.action_ran))
        if not self.stopping:
            if process.returncode == engine_wire.STUCK_EXIT_CODE:
                reason = "a thread stuck in a turn long past its deadline"
            logger.error(
                "Engine process %s ended (exit code %s, %s); %d turn(s) failed; replaced",
                self.index,
                process.returncode,
                reason,
                len(lost),
            )

    def _fail_all(self, error: Exception) -> None:
        with self.lock:
            lost, self.pending = self.pending, {}
        for entry in lost.values():
            fail_turn(entry.loop, entry.future, error)


def _send_without_blocking(sock: socket.socket, frame: bytes) -> int:
    try:
        return sock.send(frame, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return 0


def _unread(sock: socket.socket) -> bool:
    """Has the worker sent something the reader has not read yet (or closed its end)?"""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True  # the reader will see it too
    return True


def _shut(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _worker_environment() -> dict:
    """The hub's environment, plus what a worker must share with it though its settings would
    say otherwise: the database in use (a test run renames it) and the settings a turn's
    computation reads, as this process has them now (tests override them). Paths are made
    absolute: the worker may not resolve them from the same directory."""
    hub = settings.HUB
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            engine_wire.INHERITED_DATABASE: _database_name(),
            "HUB_ASSISTANT_PATH": os.path.abspath(hub["ASSISTANT_PATH"]),
            "HUB_MODEL_DIR": os.path.abspath(hub["MODEL_DIR"]),
            "HUB_ASSISTANT_STORE": os.path.abspath(hub["ASSISTANT_STORE"]),
            "HUB_ENGINE_THREADS": str(hub.get("ENGINE_THREADS", 16)),
            "HUB_ENGINE_WEDGED_SECONDS": str(hub["ENGINE_WEDGED_SECONDS"]),
            "HUB_ASSISTANT_REFRESH_SECONDS": str(hub.get("ASSISTANT_REFRESH_SECONDS", 1.0)),
            "HUB_ENGINE_PROCESSES": "0",  # a worker computes in its own threads
        }
    )
    return env


def _database_name() -> str:
    database = connections["default"]
    name = str(database.settings_dict["NAME"])
    return os.path.abspath(name) if database.vendor == "sqlite" else name
