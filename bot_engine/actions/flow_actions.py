"""Default actions that rearrange the dialogue stack for the repair patterns (§11.2)."""

from bot_engine.actions.base import ActionContext
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st
from bot_engine.flows.model import CONTINUE, END, START


def _update(context: ActionContext, new: list[dict]) -> list[dict]:
    event = st.stack_event(context.tracker.stack, new)
    return [event] if event else []


def _top(context: ActionContext, pattern: str) -> dict | None:
    top = st.top_flow_frame(context.tracker.stack)
    return top if top is not None and top.get("flow_id") == pattern else None


class ActionCancelFlow:
    """Mark the cancelled frames to end; they wind up after the cancel pattern finished."""

    name = "action_cancel_flow"

    def run(self, context: ActionContext) -> list[dict]:
        top = _top(context, "pattern_cancel_flow")
        if top is None:
            return []
        canceled = set(top.get("canceled_frames") or [])
        stack = [dict(f) for f in context.tracker.stack]
        for frame in stack:
            if frame["frame_id"] in canceled:
                frame["step_id"] = CONTINUE + END
        return _update(context, stack)


class ActionClarifyFlows:
    name = "action_clarify_flows"

    def run(self, context: ActionContext) -> list[dict]:
        top = _top(context, "pattern_clarification")
        if top is None:
            return []
        names = list(top.get("names") or [])
        options = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        stack = [dict(f) for f in context.tracker.stack]
        for frame in stack:
            if frame["frame_id"] == top["frame_id"]:
                frame["clarification_options"] = options if names else ""
        return _update(context, stack)


class ActionCleanStack:
    """End every running flow (after a code change) without "let's continue" messages."""

    name = "action_clean_stack"

    def run(self, context: ActionContext) -> list[dict]:
        stack = []
        for frame in context.tracker.stack:
            if not st.is_flow_frame(frame):
                continue
            frame = dict(frame, step_id=CONTINUE + END)
            if st.is_user_frame(frame):
                frame["frame_type"] = st.REGULAR
            stack.append(frame)
        return _update(context, stack)


class ActionTriggerChitchat:
    name = "action_trigger_chitchat"

    def run(self, context: ActionContext) -> list[dict]:
        return _update(context, [*context.tracker.stack, st.policy_frame("chitchat")])


class ActionTriggerSearch:
    name = "action_trigger_search"

    def run(self, context: ActionContext) -> list[dict]:
        return _update(context, [*context.tracker.stack, st.policy_frame("search")])


class ActionCorrectFlowSlot:
    """Go back to where a corrected slot was asked (§11.4), then set the corrected values."""

    name = "action_correct_flow_slot"

    def run(self, context: ActionContext) -> list[dict]:
        top = _top(context, "pattern_correction")
        if top is None:
            return []
        result = []
        if top.get("reset_flow_id"):
            rebuilt = rebuild_stack(context.tracker, top["reset_flow_id"], top["reset_step_id"])
            result += _update(context, rebuilt)
        for name, value in (top.get("corrected_slots") or {}).items():
            result.append(ev.slot(name, value))
        return result


def rebuild_stack(tracker, flow_id: str, step_id: str) -> list[dict]:
    current = tracker.stack
    past = None
    for state in tracker.stack_history():
        frame = st.top_flow_frame(state, skip_call=False)
        if (
            frame is not None
            and frame.get("flow_id") == flow_id
            and frame.get("step_id") == step_id
        ):
            past = state  # the most recent one wins
    target = st.top_user_frame(past) if past else None
    if target is None:
        return current
    ids = [f["frame_id"] for f in current]
    below = current[: ids.index(target["frame_id"])] if target["frame_id"] in ids else []
    start = next(i for i, f in enumerate(past) if f["frame_id"] == target["frame_id"])
    new = [dict(f) for f in below] + [dict(f) for f in past[start:]]
    for frame in reversed(new):
        if st.is_flow_frame(frame) and frame.get("step_id") != START:
            frame["step_id"] = CONTINUE + frame["step_id"]
            break
    kept = {f["frame_id"] for f in new}
    for frame in current:
        if frame["frame_id"] in kept:
            continue
        frame = dict(frame)
        if frame.get("frame_type") == st.CALL or frame.get("type") == st.COLLECT:
            frame["step_id"] = CONTINUE + END
        new.append(frame)
    return new


class ActionTriggerFlow:
    """`flow_<id>`: start a flow from a rule, a story or a button."""

    def __init__(self, flow_id: str):
        self.flow_id = flow_id
        self.name = f"flow_{flow_id}"

    def run(self, context: ActionContext) -> list[dict]:
        tracker = context.tracker
        result = []
        frame_type = st.INTERRUPT if tracker.stack else st.REGULAR
        running = st.top_user_frame(tracker.stack)
        if running is not None:
            result.append(
                ev.flow_step_event("flow_interrupted", running["flow_id"], running["step_id"])
            )
        result += _update(context, [*tracker.stack, st.user_flow_frame(self.flow_id, frame_type)])
        if tracker.active_loop:
            result.append(ev.active_loop(None))
        return result
