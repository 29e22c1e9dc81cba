"""What the hub and its engine processes say to each other over their socket pair.

Frames are length-prefixed pickles (both ends are this code base, started by the hub: the
socket is never reachable from outside). A turn's request carries its TurnInput — without the
tracker when the worker computed that tracker itself and still holds it (`WorkerState.token`),
so a long chat does not cross the socket on every turn. The reply carries what the turn added
(`engine_replies.py`), not the whole tracker.
"""

import pickle
import struct
from dataclasses import dataclass

_HEADER = struct.Struct("!I")
_MAX_FRAME = 256 << 20  # a tracker that large is a bug somewhere; refuse, do not allocate
# The database the hub uses (a test run's renamed one, say), for its engine processes.
INHERITED_DATABASE = "HUB_ENGINE_WORKER_DATABASE"


class WireClosed(Exception):
    """The other end closed the socket (or died)."""


def encode(message) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def send_frame(sock, message) -> None:
    sock.sendall(encode(message))


def read_frame(sock):
    (size,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
    if size > _MAX_FRAME:
        raise WireClosed(f"frame of {size} bytes")
    # Only ever a socket pair between a hub process and the child it started.
    return pickle.loads(_read_exactly(sock, size))  # noqa: S301


def _read_exactly(sock, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = sock.recv(min(missing, 1 << 20))
        if not chunk:
            raise WireClosed("end of stream")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class WorkerState(dict):
    """A tracker state the hub got back from an engine process, tagged with the worker's token
    for it: a later turn starting from exactly this state may leave it off the wire."""

    __slots__ = ("token",)


# A worker's exit status when a thread of it stayed stuck in a turn long past the turn's
# deadline (engine_worker.OverdueTurns).
STUCK_EXIT_CODE = 75


@dataclass(frozen=True)
class Ready:
    """The worker has loaded the default assistant and takes turns."""

    pid: int


@dataclass(frozen=True)
class Ping:
    """Still there? The worker's reading thread answers at once, whatever its turns do."""

    number: int


@dataclass(frozen=True)
class Pong:
    number: int


@dataclass(frozen=True)
class TurnRequest:
    request_id: int
    turn: object  # bot_turns.TurnInput; tracker_state None when `token` names it
    token: str | None = None


@dataclass(frozen=True)
class NeedState:
    """The worker does not hold the tracker a request left off: send it again with it."""

    request_id: int


@dataclass(frozen=True)
class ActionStarted:
    """The turn is about to run a custom action (sent before the action starts): if the
    process dies now, the action may have done something, so the turn is not computed again."""

    request_id: int
    action: str


@dataclass(frozen=True)
class TurnFailed:
    request_id: int
    error: str  # the engine's traceback, formatted in the worker
    # An early turn that stopped before acting outside the conversation: where (not a failure).
    deferred_step: str | None = None
