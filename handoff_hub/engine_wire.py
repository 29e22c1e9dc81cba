"""What the hub and its engine processes say to each other over their socket pair.

Frames are length-prefixed pickles (both ends are this code base, started by the hub: the
socket is never reachable from outside). A turn's request carries its TurnInput — without the
tracker when the worker computed that tracker itself and still holds it (`WorkerState.token`),
so a long chat does not cross the socket on every turn. The reply carries what the turn added,
not the whole tracker: the hub rebuilds the new state as its input plus those events.
"""

import json
import pickle
import socket
import struct
from dataclasses import dataclass, field

from bot_engine import TurnResult

_HEADER = struct.Struct("!I")
_MAX_FRAME = 256 << 20  # a tracker that large is a bug somewhere; refuse, do not allocate


class WireClosed(Exception):
    """The other end closed the socket (or died)."""


def send_frame(sock: socket.socket, message) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(body)) + body)


def read_frame(sock: socket.socket):
    (size,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
    if size > _MAX_FRAME:
        raise WireClosed(f"frame of {size} bytes")
    # Only ever a socket pair between a hub process and the child it started.
    return pickle.loads(_read_exactly(sock, size))  # noqa: S301


def _read_exactly(sock: socket.socket, size: int) -> bytes:
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


@dataclass(frozen=True)
class Ready:
    """The worker has loaded the default assistant and takes turns."""

    pid: int


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
class TurnFailed:
    request_id: int
    error: str  # the engine's traceback, formatted in the worker


@dataclass
class TurnReply:
    request_id: int
    token: str
    messages: list
    appended: list  # the turn's events
    appended_json: str | None  # their JSON without the brackets, when the new state is the
    # input plus them (the hub appends it to the input's JSON)
    state: dict | None  # the whole new state, when it is not the input plus `appended`
    handoff: object = None
    context: dict = field(default_factory=dict)
    error: str | None = None
    hangup: bool = False
    version_id: int | None = None
    fingerprint: str = ""


def reply_for(request_id: int, token: str, turn_state: dict | None, result) -> TurnReply:
    """The worker's answer for a computed turn (`result` of bot_turns.compute_turn)."""
    new, appended = result.tracker_state, result.events
    old_events = (turn_state or {}).get("events") or []
    plain = (
        turn_state is not None
        and set(new) == {"sender_id", "events"}
        and set(turn_state) <= {"sender_id", "events"}
        and len(new["events"]) == len(old_events) + len(appended)
    )
    loaded = result.assistant_version
    return TurnReply(
        request_id=request_id,
        token=token,
        messages=result.messages,
        appended=appended,
        appended_json=json.dumps(appended)[1:-1] if plain else None,
        state=None if plain else new,
        handoff=result.handoff,
        context=result.context,
        error=result.error,
        hangup=result.hangup,
        version_id=loaded.version_id,
        fingerprint=loaded.fingerprint,
    )


def result_from(reply: TurnReply, turn, previous: tuple[dict, str] | None):
    """The TurnResult the hub commits, rebuilt from `reply` to `turn` (its input state and
    `previous`, the consumer's (state, JSON) of that input when it has one)."""
    from handoff_hub.bot_turns import encode_tracker
    from handoff_hub.engine import LoadedAssistant

    if reply.state is not None:
        state = WorkerState(reply.state)
        encoded = json.dumps(state)
    else:
        old = turn.tracker_state or {}
        state = WorkerState(
            sender_id=old.get("sender_id", turn.sender_id),
            events=list(old.get("events") or []) + reply.appended,
        )
        encoded = encode_tracker(state, previous, reply.appended, reply.appended_json)
    state.token = reply.token
    result = TurnResult(
        tracker_state=state,
        events=reply.appended,
        messages=reply.messages,
        handoff=reply.handoff,
        context=reply.context,
        error=reply.error,
        hangup=reply.hangup,
    )
    result.tracker_json = encoded
    result.assistant_version = LoadedAssistant(None, reply.version_id, reply.fingerprint)
    return result
