"""A computed turn as an engine process sends it back, and as the hub rebuilds it.

The reply is the engine's TurnResult without its tracker: the hub already holds the turn's
input state, so the new state is that plus the turn's events (the engine's contract, which
the tracker's storage relies on too: handoff_hub.trackers). Only when a turn's state is not
its input plus its events does the whole state come back.
"""

import json
from dataclasses import dataclass, replace

from bot_engine import TurnResult
from handoff_hub.engine import LoadedAssistant
from handoff_hub.engine_wire import WorkerState
from handoff_hub.trackers import extends, written_as


@dataclass
class TurnReply:
    request_id: int
    token: str | None  # the worker's name for the new state (None: it keeps no copy)
    result: TurnResult  # without its tracker_state
    sender_id: str
    # The turn's events as JSON, when the new state is the input plus them (what the hub
    # stores of the turn's tracker); otherwise `state` is the new state.
    appended_json: str | None
    state: dict | None
    version_id: int | None
    fingerprint: str


def reply_for(request_id: int, token: str | None, turn_state: dict | None, result) -> TurnReply:
    """The worker's answer for a computed turn (`result` of bot_turns.compute_turn)."""
    new, appended = result.tracker_state, result.events
    plain = extends(turn_state, new, appended)
    loaded = result.assistant_version
    return TurnReply(
        request_id=request_id,
        token=token,
        # replace() keeps the dataclass fields only: not the engine's in-memory snapshot of
        # the state, nor the loaded assistant the result was tagged with.
        result=replace(result, tracker_state=None),
        sender_id=new["sender_id"],
        appended_json=json.dumps(appended) if plain else None,
        state=None if plain else dict(new),
        version_id=loaded.version_id,
        fingerprint=loaded.fingerprint,
    )


def result_from(reply: TurnReply, turn) -> TurnResult:
    """The TurnResult the hub commits, rebuilt from `reply` to `turn`."""
    result = reply.result
    if reply.state is not None:
        state = WorkerState(reply.state)
    else:
        old = turn.tracker_state or {}
        events = list(old.get("events") or []) + result.events
        state = WorkerState(sender_id=reply.sender_id, events=events)
    state.token = reply.token
    result.tracker_state = state
    written_as(result, reply.appended_json)  # the worker encoded the events already
    result.assistant_version = LoadedAssistant(None, reply.version_id, reply.fingerprint)
    return result
