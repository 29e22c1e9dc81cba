"""Constructors for Rasa events in their JSON form (the form stored and sent everywhere)."""

import time


def _event(kind: str, **fields) -> dict:
    return {"event": kind, "timestamp": time.time(), **fields}


def user(text: str, parse_data: dict, input_channel: str = "web", message_id=None, metadata=None):
    return _event(
        "user",
        text=text,
        parse_data=parse_data,
        input_channel=input_channel,
        message_id=message_id,
        metadata=metadata or {},
    )


def bot(text: str | None, data: dict | None = None, metadata: dict | None = None) -> dict:
    return _event("bot", text=text, data=data or {}, metadata=metadata or {})


def action(
    name: str, policy: str | None = None, confidence: float | None = None, metadata=None
) -> dict:
    event = _event("action", name=name, policy=policy, confidence=confidence)
    if metadata:
        event["metadata"] = metadata
    return event


def slot(name: str, value) -> dict:
    return _event("slot", name=name, value=value)


def active_loop(name: str | None) -> dict:
    return _event("active_loop", name=name)


def rewind() -> dict:
    return _event("rewind")


def undo() -> dict:
    return _event("undo")


def restart() -> dict:
    return _event("restart")


def session_started() -> dict:
    return _event("session_started")


def followup(name: str) -> dict:
    return _event("followup", name=name)


def pause() -> dict:
    return _event("pause")


def resume() -> dict:
    return _event("resume")


def rejected(name: str, policy: str | None = None, confidence: float | None = None) -> dict:
    return _event("action_execution_rejected", name=name, policy=policy, confidence=confidence)


def session_ended(metadata: dict | None = None) -> dict:
    return _event("session_ended", metadata=metadata or {})


def flow_started(flow_id: str, metadata: dict | None = None) -> dict:
    return _event("flow_started", flow_id=flow_id, metadata=metadata or {})


def flow_step_event(kind: str, flow_id: str, step_id: str | None) -> dict:
    """`flow_interrupted`, `flow_resumed`, `flow_completed` or `flow_cancelled`."""
    return _event(kind, flow_id=flow_id, step_id=step_id)


KNOWN_EVENTS = {
    "user",
    "bot",
    "action",
    "slot",
    "active_loop",
    "form",
    "rewind",
    "undo",
    "restart",
    "session_started",
    "session_ended",
    "followup",
    "pause",
    "resume",
    "reset_slots",
    "action_execution_rejected",
    "loop_interrupted",
    "form_validation",
    "agent",
    "user_featurization",
    "entities",
    "reminder",
    "cancel_reminder",
    "export",
    "stack",
    "flow_started",
    "flow_interrupted",
    "flow_resumed",
    "flow_completed",
    "flow_cancelled",
    "routing_session_ended",
    "error",
}
