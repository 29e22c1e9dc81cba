"""`set slot` and `correct slot` (§8.5)."""

from bot_engine.commands import catalogue as c
from bot_engine.commands.context import CommandContext
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st
from bot_engine.flows.model import CONTINUE, END
from bot_engine.slot_values import coerce

CORRECTION = "pattern_correction"


def owned_slots(context: CommandContext) -> set[str]:
    """Slots the running flows collect (without ask_before_filling) plus the one being asked."""
    stack, flows = context.tracker.stack, context.flows
    owned: set[str] = set()
    for frame in {
        id(f): f for f in (st.top_user_frame(stack), st.top_user_frame(stack, False))
    }.values():
        flow = flows.get(frame["flow_id"]) if frame else None
        for part in flows.called_flows(flow) if flow else []:
            owned |= {s.value for s in part.collect_steps() if not s.ask_before_filling}
    if stack and stack[-1].get("type") == st.COLLECT:
        owned.add(stack[-1].get("collect"))
    return owned


def _collected_by_started_or_patterns(name: str, context: CommandContext) -> bool:
    flows = context.flows
    candidates = (
        [flows.get(f) for f in context.started_flows]
        if context.started_flows
        else [f for f in flows if f.is_pattern]
    )
    return any(
        s.value == name and not s.ask_before_filling
        for flow in candidates
        if flow
        for s in flow.collect_steps()
    )


def set_slot(command: dict, context: CommandContext) -> None:
    tracker = context.tracker
    slot = tracker.domain.slots.get(command["name"])
    if slot is None:
        return
    value = coerce(slot, command.get("value"))
    if value == tracker.slots.get(slot.name) and tracker.slot_was_ever_set(slot.name):
        return
    if (
        command.get("extractor") != c.EXTRACTOR_NLU
        and slot.name not in owned_slots(context)
        and not _collected_by_started_or_patterns(slot.name, context)
    ):
        return
    tracker.update(ev.slot(slot.name, value))


def _collecting_flows(context: CommandContext) -> list:
    ids = [f["flow_id"] for f in context.tracker.stack if st.is_user_frame(f)]
    result = []
    for flow_id in ids:
        flow = context.flows.get(flow_id)
        result += context.flows.called_flows(flow) if flow else []
    return result


def _reset_point(proposed: dict, context: CommandContext) -> tuple[str | None, str | None]:
    """The earliest collect step of the running user flow that asked for a corrected slot."""
    current = st.top_user_frame(context.tracker.stack)
    if current is None:
        return None, None
    for state in context.tracker.stack_history():
        owner = st.top_user_frame(state)
        if owner is None or owner["frame_id"] != current["frame_id"]:
            continue
        frame = st.top_flow_frame(state, skip_call=False)
        flow = context.flows.get(frame["flow_id"]) if frame else None
        step = flow.step(frame["step_id"]) if flow else None
        if step is not None and step.kind == "collect" and step.value in proposed:
            return frame["flow_id"], frame["step_id"]
    return None, None


def correct_slot(command: dict, context: CommandContext) -> None:
    tracker = context.tracker
    if st.top_flow_frame(tracker.stack) is None:
        return
    corrected = {i["name"]: i.get("value") for i in command["corrected_slots"] if "name" in i}
    flows = _collecting_flows(context)
    collected = {s.value for f in flows for s in f.collect_steps()}
    if not corrected or any(name not in collected for name in corrected):
        return
    proposed = {
        name: value
        for name, value in corrected.items()
        if coerce(tracker.domain.slots[name], value) != tracker.slots.get(name)
    }
    reset_only = not any(
        s.value in proposed and not s.ask_before_filling
        for f in context.flows
        for s in f.collect_steps()
    )
    reset_flow, reset_step = _reset_point(proposed, context)
    frame = st.pattern_frame(
        CORRECTION,
        is_reset_only=reset_only,
        corrected_slots=corrected,
        reset_flow_id=reset_flow,
        reset_step_id=reset_step,
    )
    stack = [dict(f) for f in tracker.stack]
    running = st.top_flow_frame(stack)
    if running is not None and running.get("flow_id") == CORRECTION:
        index = next(i for i, f in enumerate(stack) if f["frame_id"] == running["frame_id"])
        for above in stack[index:]:
            if st.is_flow_frame(above):
                above["step_id"] = CONTINUE + END
        stack.insert(index, frame)  # the running correction finishes first
        context.set_stack(stack)
    else:
        context.push(frame)
