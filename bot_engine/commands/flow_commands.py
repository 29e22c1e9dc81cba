"""`start flow` and `cancel flow` (§8.5)."""

from bot_engine.commands.context import CommandContext
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st
from bot_engine.flows.executor import CANCEL, readable_name


def start_flow(command: dict, context: CommandContext) -> None:
    flow = context.flows.get(command["flow"])
    if flow is None or flow.is_pattern:
        return
    if any(st.is_user_frame(f) and f["flow_id"] == flow.id for f in context.tracker.stack):
        return
    running = st.top_user_frame(context.original_stack)
    frame_type = st.REGULAR
    if running is not None:
        frame_type = st.INTERRUPT
        context.tracker.update(
            ev.flow_step_event("flow_interrupted", running["flow_id"], running["step_id"])
        )
    context.push(st.user_flow_frame(flow.id, frame_type))


def cancel_flow(command: dict, context: CommandContext) -> None:
    original = context.original_stack
    target = st.top_user_frame(original, skip_call_and_link=False)
    if target is None:
        return
    canceled = []
    for frame in reversed(original):
        canceled.append(frame["frame_id"])
        if st.is_user_frame(frame) and frame.get("frame_type") != st.CALL:
            break
    name = readable_name(context.flows, target["flow_id"])
    context.push(st.pattern_frame(CANCEL, canceled_name=name, canceled_frames=canceled))
    context.tracker.update(
        ev.flow_step_event("flow_cancelled", target["flow_id"], target["step_id"])
    )
