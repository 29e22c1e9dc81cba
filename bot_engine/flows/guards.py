"""Which flows may start now (flow guards, §7.6) and which are running (§8.3.1)."""

from bot_engine.flows import stack as st
from bot_engine.flows.model import FlowsList
from bot_engine.flows.predicates import evaluate


def startable_flow_ids(flows: FlowsList, tracker) -> list[str]:
    """Flows whose `if:` holds (no Jinja), plus the flow on top, which is always startable."""
    context = st.current_context(tracker.stack)
    document = {"context": context, "slots": dict(tracker.slots)}
    result = []
    for flow in flows:
        on_top = flow.id == context.get("flow_id")
        if flow.guard is None or on_top or evaluate(flow.guard, document):
            result.append(flow.id)
    return result


def active_user_flow_ids(stack: list[dict]) -> list[str]:
    """From the top down: user flows up to and including the first that was not called."""
    result = []
    for frame in reversed(stack):
        if not st.is_user_frame(frame):
            continue
        result.append(frame["flow_id"])
        if frame.get("frame_type") != st.CALL:
            break
    return result


def available_flow_ids(flows: FlowsList, tracker) -> list[str]:
    ids = startable_flow_ids(flows, tracker)
    return ids + [f for f in active_user_flow_ids(tracker.stack) if f not in ids]
