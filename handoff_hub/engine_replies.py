"""A computed turn as an engine process sends it back, and as the hub rebuilds it.

The reply is the engine's TurnResult without its tracker: the hub already holds the turn's
input state, so the new state is that plus the turn's events (the engine's contract, which
`bot_turns.encode_tracker` relies on too). Only when a turn's state is not its input plus its
events does the whole state come back.
"""

import json
from dataclasses import dataclass, replace

from bot_engine import TurnResult
from handoff_hub.bot_turns import encode_tracker, extends
from handoff_hub.engine import LoadedAssistant
from handoff_hub.engine_wire import WorkerState


@dataclass
class TurnReply:
    request_id: int
    token: str | None  # the worker's name for the new state (None: it keeps no copy)
    result: TurnResult  # without its tracker_state
    sender_id: str
    # The turn's events as JSON without the brackets, when the new state is the input plus
    # them (the hub appends this to the input's JSON); otherwise `state` is the new state.
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
        appended_json=json.dumps(appended)[1:-1] if plain else None,
        state=None if plain else dict(new),
        version_id=loaded.version_id,
        fingerprint=loaded.fingerprint,
    )


def result_from(reply: TurnReply, turn, previous: tuple[dict, str] | None) -> TurnResult:
    """The TurnResult the hub commits, rebuilt from `reply` to `turn`, whose input state is
    `previous[0]` when the consumer passed its (state, JSON) for it."""
    result = reply.result
    if reply.state is not None:
        state = WorkerState(reply.state)
        encoded = json.dumps(state)
    else:
        old = turn.tracker_state or {}
        events = list(old.get("events") or []) + result.events
        state = WorkerState(sender_id=reply.sender_id, events=events)
        if previous is not None and previous[0] is not turn.tracker_state:
            previous = None
        encoded = encode_tracker(state, previous, result.events, reply.appended_json)
    state.token = reply.token
    result.tracker_state = state
    result.tracker_json = encoded
    result.assistant_version = LoadedAssistant(None, reply.version_id, reply.fingerprint)
    return result
