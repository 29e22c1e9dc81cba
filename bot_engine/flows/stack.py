"""The dialogue stack: a list of small JSON frames (bottom → top), persisted as `stack` events.

A frame is the dict Rasa stores: `frame_id`, `type` (`flow`, `pattern_<name>`, `chitchat`,
`search`) and, for flow and pattern frames, `flow_id` and `step_id`; user flow frames also have
`frame_type` (`regular` | `interrupt` | `link` | `call`). Pattern frames carry their context
fields (`canceled_name`, `corrected_slots`, …). Every change is one `stack` event whose
`update` is an RFC 6902 JSON Patch from the previous stack to the new one.
"""

import copy
import json
import secrets
import string
import time

import jsonpatch

from bot_engine.flows.model import START

USER_FLOW = "flow"
COLLECT = "pattern_collect_information"
REGULAR, INTERRUPT, LINK, CALL = "regular", "interrupt", "link", "call"
_ID_ALPHABET = string.ascii_uppercase + string.digits


def frame_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def user_flow_frame(flow_id: str, frame_type: str = REGULAR) -> dict:
    return {
        "frame_id": frame_id(),
        "flow_id": flow_id,
        "step_id": START,
        "frame_type": frame_type,
        "type": USER_FLOW,
    }


def pattern_frame(pattern_id: str, **fields) -> dict:
    return {
        "frame_id": frame_id(),
        "flow_id": pattern_id,
        "step_id": START,
        **fields,
        "type": pattern_id,
    }


def policy_frame(kind: str) -> dict:
    """A frame for a policy rather than a flow (`chitchat`, `search`)."""
    return {"frame_id": frame_id(), "type": kind}


def is_flow_frame(frame: dict) -> bool:
    """User flow and pattern frames: the ones the flow executor advances."""
    kind = frame.get("type", "")
    return kind == USER_FLOW or kind.startswith("pattern_")


def is_user_frame(frame: dict) -> bool:
    return frame.get("type") == USER_FLOW


def top_flow_frame(stack: list[dict], skip_collect: bool = True, skip_call: bool = True):
    """The topmost flow/pattern frame, skipping collect frames and called flows by default."""
    for frame in reversed(stack):
        if not is_flow_frame(frame):
            continue
        if skip_collect and frame.get("type") == COLLECT:
            continue
        if skip_call and frame.get("frame_type") == CALL:
            continue
        return frame
    return None


def top_user_frame(stack: list[dict], skip_call_and_link: bool = True):
    """The topmost user flow frame (by default the one a `call`/`link` frame belongs to)."""
    for frame in reversed(stack):
        if not is_user_frame(frame):
            continue
        if skip_call_and_link and frame.get("frame_type") in {CALL, LINK}:
            continue
        return frame
    return None


def frame_context(stack: list[dict], index: int) -> dict:
    frame = stack[index]
    context = copy.deepcopy(frame)
    if frame.get("type") == COLLECT and index > 0:
        # A collect step speaks for the flow that owns it: flow_id/step_id come from below.
        context.update(frame_context(stack, index - 1))
        for key in ("collect", "utter", "collect_action", "rejections"):
            context[key] = frame.get(key)
    return context


def current_context(stack: list[dict]) -> dict:
    """What `context.*` means in conditions, action names and responses right now."""
    return frame_context(stack, len(stack) - 1) if stack else {}


def stack_event(old: list[dict], new: list[dict]) -> dict | None:
    """The `stack` event that turns `old` into `new` (None if they are equal)."""
    patch = jsonpatch.make_patch(old, new)
    if not patch.patch:
        return None
    return {"event": "stack", "timestamp": time.time(), "update": json.dumps(patch.patch)}


def apply_stack_update(stack: list[dict], update) -> list[dict]:
    """Apply a `stack` event's patch; a patch that does not fit leaves the stack unchanged."""
    try:
        operations = json.loads(update) if isinstance(update, str) else update
        result = jsonpatch.apply_patch(stack, operations)
    except (ValueError, TypeError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
        return stack
    return result if isinstance(result, list) else stack
