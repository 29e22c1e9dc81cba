"""Load-time checks of flows (Rasa's §7.3 rules plus the domain checks of its validator).

Every message names the file, the line and the flow/step id, and says how to fix it.
"""

import re

from bot_engine.domain import Domain
from bot_engine.errors import ValidationMessage
from bot_engine.flows.loader import where
from bot_engine.flows.model import CONTINUE, END, START, Flow, FlowsList, Step
from bot_engine.flows.predicates import check_condition, names_in

SLOT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]*$")
HUMAN_HANDOFF = "pattern_human_handoff"
INTERNAL_ERROR = "pattern_internal_error"
DOCUMENT_ROOTS = ("slots.", "context.")


def _message(flow: Flow, step: Step | None, text: str, level: str = "error"):
    line = step.line if step is not None else flow.line
    return ValidationMessage(
        flow.file, line, where(flow.id, step.id if step else None), text, level
    )


def validate_flows(flows: FlowsList, domain: Domain, known_actions: set[str]) -> list:
    """Every problem of every flow; defaults shipped with the engine are checked too."""
    messages: list[ValidationMessage] = []
    for flow in flows:
        messages += _structure(flow)
        messages += _links_and_calls(flow, flows)
        messages += _conditions(flow, domain)
        messages += _slots_and_actions(flow, domain, known_actions)
    messages += _triggers(flows)
    return messages


def _structure(flow: Flow) -> list:
    messages = []
    ids: dict[str, Step] = {}
    for step in flow.steps:
        if step.id in {START, END} or step.id.startswith(CONTINUE):
            messages.append(_message(flow, step, f"'{step.id}' is a reserved step id"))
        if step.id in ids:
            messages.append(_message(flow, step, f"step id '{step.id}' is used twice"))
        ids[step.id] = step
    for step in flow.steps:
        if step.kind == "link" and step.next:
            messages.append(
                _message(flow, step, "a link step ends its flow and cannot have `next`")
            )
        targets = [link.target for link in step.next or []]
        for target in targets:
            if target not in ids and target not in {START, END}:
                messages.append(
                    _message(
                        flow, step, f"`next` goes to '{target}', which is no step of this flow"
                    )
                )
        links = step.next or []
        if any(link.is_conditional for link in links) and not any(link.is_else for link in links):
            messages.append(_message(flow, step, "a `next` with `if` branches needs an `else`"))
    messages += _unreachable(flow, ids)
    return messages


def _unreachable(flow: Flow, ids: dict[str, Step]) -> list:
    if not flow.steps:
        return []
    seen = {flow.steps[0].id}
    pending = [flow.steps[0]]
    while pending:
        step = pending.pop()
        for link in step.next or []:
            target = ids.get(link.target)
            if target is not None and target.id not in seen:
                seen.add(target.id)
                pending.append(target)
    return [
        _message(flow, s, "this step can never be reached from the first step")
        for s in flow.steps
        if s.id not in seen
    ]


def _links_and_calls(flow: Flow, flows: FlowsList) -> list:
    messages = []
    for step in flow.steps:
        if step.kind == "link":
            messages += _check_link(flow, step, flows)
        elif step.kind == "call":
            target = flows.get(step.value)
            if flow.is_pattern:
                messages.append(_message(flow, step, "a pattern cannot `call` other flows"))
            elif target is None:
                messages.append(_message(flow, step, _unknown_flow(step.value, flows)))
            elif target.is_pattern:
                messages.append(_message(flow, step, f"patterns cannot be called ('{target.id}')"))
            elif any(s.kind == "link" for s in target.steps):
                messages.append(
                    _message(
                        flow, step, f"'{target.id}' contains a link step, so it cannot be called"
                    )
                )
    return messages


def _check_link(flow: Flow, step: Step, flows: FlowsList) -> list:
    target = step.value
    if flow.id == INTERNAL_ERROR:
        return [_message(flow, step, "pattern_internal_error may not link to other flows")]
    if target == HUMAN_HANDOFF:
        return []
    if target not in flows:
        return [_message(flow, step, _unknown_flow(target, flows))]
    if target.startswith("pattern_"):
        return [
            _message(
                flow, step, f"flows may link only to user flows or {HUMAN_HANDOFF}, not '{target}'"
            )
        ]
    return []


def _unknown_flow(name: str, flows: FlowsList) -> str:
    text = f"'{name}' is not a flow"
    by_name = [f.id for f in flows if f.readable_name == name]
    if by_name:
        text += f" — `link`/`call` need the flow id: did you mean '{by_name[0]}'?"
    return text


def _conditions(flow: Flow, domain: Domain) -> list:
    messages = []
    checks = [(None, flow.guard, "flow guard")] if flow.guard is not None else []
    for step in flow.steps:
        checks += [
            (step, link.condition, "condition") for link in step.next or [] if link.is_conditional
        ]
        checks += [(step, r["if"], "rejection") for r in step.rejections]
    for step, condition, kind in checks:
        tree, problem = check_condition(condition)
        if problem:
            messages.append(
                _message(flow, step, f"{kind} {condition!r} cannot be parsed: {problem}")
            )
            continue
        if isinstance(condition, str) and ("{{" in condition or "{%" in condition):
            continue  # names are only known once Jinja ran
        for name in names_in(tree):
            messages += _check_name(flow, step, condition, name, domain)
    return messages


def _check_name(flow: Flow, step, condition, name: str, domain: Domain) -> list:
    if name.startswith("slots."):
        slot = name.split(".")[1]
        if slot not in domain.slots:
            return [_message(flow, step, f"condition {condition!r} uses unknown slot '{slot}'")]
        return []
    if name.startswith("context.") or name in {"slots", "context"}:
        return []
    return [
        _message(
            flow,
            step,
            f"condition {condition!r} compares with the bare word '{name}', which is neither "
            f"a slot (`slots.x`) nor a context value (`context.x`): write a number, or quote "
            f'text ("{name}")',
        )
    ]


def _slots_and_actions(flow: Flow, domain: Domain, known_actions: set[str]) -> list:
    messages = []
    used_slots = set()
    resets_off = False
    for step in flow.steps:
        if step.kind == "collect":
            messages += _check_collect(flow, step, domain, known_actions)
            used_slots.add(step.value)
            resets_off = resets_off or not step.reset_after_flow_ends
        elif step.kind == "set_slots":
            for item in step.value:
                for name in item:
                    used_slots.add(name)
                    if name not in domain.slots:
                        messages.append(_message(flow, step, f"sets unknown slot '{name}'"))
        elif step.kind == "action":
            name = str(step.value)
            if "{{" not in name and "{%" not in name and name not in known_actions:
                messages.append(
                    _message(
                        flow,
                        step,
                        f"uses action '{name}', which is neither a response nor an action "
                        "of the domain",
                    )
                )
    for name in flow.persisted_slots:
        if name not in used_slots:
            messages.append(
                _message(
                    flow, None, f"persisted slot '{name}' is not collected or set by this flow"
                )
            )
    if flow.persisted_slots and resets_off:
        messages.append(
            _message(flow, None, "use either `persisted_slots` or `reset_after_flow_ends: false`")
        )
    return messages


def _check_collect(flow: Flow, step: Step, domain: Domain, known_actions: set[str]) -> list:
    slot_name = step.value
    if not SLOT_NAME.match(slot_name):
        return [_message(flow, step, f"'{slot_name}' is not a valid slot name")]
    slot = domain.slots.get(slot_name)
    if slot is None:
        return [_message(flow, step, f"collects unknown slot '{slot_name}' (add it to the domain)")]
    messages = []
    asks = step.utter in known_actions or step.collect_action in known_actions
    if not asks and slot.initial_value is None:
        messages.append(
            _message(
                flow,
                step,
                f"nothing asks for '{slot_name}': add a response '{step.utter}' or an action "
                f"'{step.collect_action}'",
            )
        )
    custom = slot.mappings[:1] and slot.mappings[0].get("type") == "custom"
    if custom and not slot.mappings[0].get("action") and step.collect_action not in known_actions:
        messages.append(
            _message(
                flow,
                step,
                f"slot '{slot_name}' has a custom mapping without an action; Rasa 3.11 would "
                f"need '{step.collect_action}'. Here a direct answer (yes/no, one of the "
                "values, or a /SetSlots button) fills it",
                "warning",
            )
        )
    return messages


def _triggers(flows: FlowsList) -> list:
    messages = []
    owner: dict[str, Flow] = {}
    for flow in flows:
        for trigger in flow.nlu_triggers:
            if trigger.intent in owner and owner[trigger.intent].id != flow.id:
                messages.append(
                    _message(
                        flow,
                        None,
                        f"intent '{trigger.intent}' already triggers flow "
                        f"'{owner[trigger.intent].id}'; an intent may trigger one flow only",
                    )
                )
            owner.setdefault(trigger.intent, flow)
    return messages
