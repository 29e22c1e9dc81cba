"""Advancing the dialogue stack until a flow needs an action run (Rasa's FlowPolicy, §7.5).

`FlowExecutor.advance(tracker)` walks the top frame's flow step by step, logging every stack
change, slot and flow event on the tracker as it goes, and returns the next action to run (or
None when the stack is empty: the bot listens). It never raises: a flow that goes nowhere or
loops is wound up and `pattern_internal_error` tells the user.
"""

from collections.abc import Callable
from dataclasses import dataclass

from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st
from bot_engine.flows.model import CONTINUE, END, START, Flow, FlowsList, Step
from bot_engine.flows.predicates import evaluate, render_jinja

MAX_STEPS_PER_ADVANCE = 250
HUMAN_HANDOFF = "pattern_human_handoff"
COMPLETED = "pattern_completed"
CONTINUE_INTERRUPTED = "pattern_continue_interrupted"
INTERNAL_ERROR = "pattern_internal_error"
CANCEL = "pattern_cancel_flow"
SEARCH = "pattern_search"


@dataclass(frozen=True)
class FlowAction:
    """The action a flow wants next, with the flow position Rasa logs beside it."""

    name: str
    active_flow: str | None
    step_id: str | None


def set_stack(tracker, new: list[dict]) -> None:
    """Log the `stack` event that makes the tracker's stack `new` (nothing if unchanged)."""
    event = st.stack_event(tracker.stack, new)
    if event is not None:
        tracker.update(event)


def readable_name(flows: FlowsList, flow_id: str | None) -> str:
    flow = flows.get(flow_id)
    return flow.readable_name if flow else str(flow_id or "")


def cancel_with_internal_error(tracker, flows: FlowsList) -> None:
    """§7.9: cancel the flows of the top user flow and say "Sorry, I am having trouble…"."""
    stack = [dict(f) for f in tracker.stack]
    canceled, name = [], ""
    for frame in reversed(stack):
        canceled.append(frame["frame_id"])
        if st.is_user_frame(frame) and frame.get("frame_type") != st.CALL:
            name = readable_name(flows, frame.get("flow_id"))
            break
    if stack and st.is_flow_frame(stack[-1]):
        stack.append(st.pattern_frame(CANCEL, canceled_name=name, canceled_frames=canceled))
    stack.append(
        st.pattern_frame(INTERNAL_ERROR, error_type="rasa_internal_error_default", info={})
    )
    set_stack(tracker, stack)


class FlowExecutor:
    def __init__(self, flows: FlowsList, is_known_action: Callable[[str], bool]):
        self.flows = flows
        self.is_known_action = is_known_action

    def advance(self, tracker) -> FlowAction | None:
        """Run steps until one needs an action; None means nothing to do (listen)."""
        recoveries = 0
        steps = 0
        while tracker.stack:
            steps += 1
            if steps > MAX_STEPS_PER_ADVANCE:  # the circuit breaker: a flow loops
                recoveries, steps = recoveries + 1, 0
                if recoveries > 2:
                    set_stack(tracker, [])
                    return None
                self._recover(tracker)
                continue
            top = tracker.stack[-1]
            flow = self.flows.get(top.get("flow_id")) if st.is_flow_frame(top) else None
            if flow is None:
                # chitchat/search frames need LLM policies we do not run; unknown flows are
                # gone after an update: wind the frame up either way.
                self._pop(tracker, None)
                continue
            target = self._next_step_id(flow, top.get("step_id"), tracker)
            if target is None:
                recoveries += 1
                if recoveries > 2:
                    set_stack(tracker, [])
                    return None
                self._recover(tracker)
                continue
            if target == END:
                self._pop(tracker, flow)
                continue
            action = self._run_step(flow, flow.step(target), tracker)
            if action is not None:
                context = st.current_context(tracker.stack)
                return FlowAction(action, context.get("flow_id"), context.get("step_id"))
        return None

    # ---- choosing the next step ----
    def _next_step_id(self, flow: Flow, step_id: str | None, tracker) -> str | None:
        if step_id in (None, START):
            return flow.first_step.id if flow.first_step else END
        if step_id == END:
            return END
        if step_id.startswith(CONTINUE):
            target = step_id[len(CONTINUE) :]
            return target if target == END or flow.step(target) else END
        step = flow.step(step_id)
        if step is None:
            return END  # the flow changed under a running conversation
        return self.select_next(step, tracker)

    def select_next(self, step: Step, tracker) -> str | None:
        links = step.next or []
        if not links:
            return END if step.kind == "link" else None
        if len(links) == 1 and not links[0].is_conditional and not links[0].is_else:
            return links[0].target
        context = st.current_context(tracker.stack)
        document = {"context": context, "slots": dict(tracker.slots)}
        for link in links:
            holds = link.is_conditional and link.condition != ""
            if holds and evaluate(link.condition, document, {"context": context}):
                return link.target
        return next((link.target for link in links if link.is_else), None)

    # ---- running one step ----
    def _run_step(self, flow: Flow, step: Step, tracker) -> str | None:
        stack = [dict(f) for f in tracker.stack]
        stack[-1]["step_id"] = step.id
        set_stack(tracker, stack)
        if flow.first_step is step:
            tracker.update(ev.flow_started(flow.id, st.current_context(tracker.stack)))
        if step.kind == "action":
            name = render_jinja(str(step.value), {"context": st.current_context(tracker.stack)})
            return name if self.is_known_action(name) else None
        if step.kind == "collect":
            self._collect(step, tracker)
        elif step.kind == "link":
            self._link(step, tracker)
        elif step.kind == "call":
            set_stack(tracker, [*tracker.stack, st.user_flow_frame(step.value, st.CALL)])
        elif step.kind == "set_slots":
            for item in step.value:
                for name, value in item.items():
                    tracker.update(ev.slot(name, value))
        return None

    def _collect(self, step: Step, tracker) -> None:
        slot = tracker.domain.slots.get(step.value)
        asks = self.is_known_action(step.utter) or self.is_known_action(step.collect_action)
        if slot is None or (not asks and slot.initial_value is None):
            cancel_with_internal_error(tracker, self.flows)
            return
        frame = st.pattern_frame(
            st.COLLECT,
            collect=step.value,
            utter=step.utter,
            collect_action=step.collect_action,
            rejections=list(step.rejections),
        )
        set_stack(tracker, [*tracker.stack, frame])
        if step.ask_before_filling:
            tracker.update(ev.slot(step.value, None))

    def _link(self, step: Step, tracker) -> None:
        if step.value == HUMAN_HANDOFF:
            linked = st.pattern_frame(HUMAN_HANDOFF)
        else:
            linked = st.user_flow_frame(step.value, st.LINK)
        stack = list(tracker.stack)
        set_stack(tracker, [*stack[:-1], linked, stack[-1]])

    # ---- finishing a flow ----
    def _pop(self, tracker, flow: Flow | None) -> None:
        popped = tracker.stack[-1]
        remaining = [dict(f) for f in tracker.stack[:-1]]
        resumed = None
        if flow is not None:
            name = flow.readable_name
            if not remaining and (st.is_user_frame(popped) or flow.id == SEARCH):
                remaining.append(st.pattern_frame(COMPLETED, previous_flow_name=name))
            elif st.is_user_frame(popped) and popped.get("frame_type") == st.INTERRUPT:
                below = st.top_user_frame(remaining)
                if below is not None and below.get("step_id") not in {END, CONTINUE + END}:
                    below_name = readable_name(self.flows, below.get("flow_id"))
                    remaining.append(
                        st.pattern_frame(CONTINUE_INTERRUPTED, previous_flow_name=below_name)
                    )
                    resumed = below
        set_stack(tracker, remaining)
        if flow is None:
            return
        if not (st.is_user_frame(popped) and popped.get("frame_type") == st.CALL):
            for event in self._slot_resets(flow, tracker):
                tracker.update(event)
        tracker.update(ev.flow_step_event("flow_completed", flow.id, popped.get("step_id")))
        if resumed is not None:
            tracker.update(
                ev.flow_step_event("flow_resumed", resumed["flow_id"], resumed["step_id"])
            )

    def _slot_resets(self, flow: Flow, tracker) -> list[dict]:
        kept = set(flow.persisted_slots)
        to_reset: list[str] = []
        for part in self.flows.called_flows(flow):
            for step in part.collect_steps():
                if not step.reset_after_flow_ends:
                    kept.add(step.value)
                elif step.value not in to_reset:
                    to_reset.append(step.value)
            to_reset += [n for n in part.set_slot_names() if n not in to_reset]
        resets = []
        for name in to_reset:
            slot = tracker.domain.slots.get(name)
            if name in kept or slot is None:
                continue
            if tracker.slots.get(name) != slot.initial_value:
                resets.append(ev.slot(name, slot.initial_value))
        return resets

    def _recover(self, tracker) -> None:
        """§7.8: end the frames of the top flow and push pattern_internal_error."""
        stack = [dict(f) for f in tracker.stack]
        for frame in reversed(stack):
            if st.is_flow_frame(frame):
                frame["step_id"] = CONTINUE + END
                if st.is_user_frame(frame):
                    break
        stack.append(
            st.pattern_frame(INTERNAL_ERROR, error_type="rasa_internal_error_default", info={})
        )
        set_stack(tracker, stack)
