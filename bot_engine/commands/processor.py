"""The command processor (§8.4): clean up a turn's commands, detect changed flows, order the
commands and execute them against the tracker. Runs once per turn, before any action."""

from bot_engine.commands import catalogue as c
from bot_engine.commands.context import CommandContext
from bot_engine.commands.flow_commands import cancel_flow, start_flow
from bot_engine.commands.pattern_commands import PATTERN_OF, end_session, push_pattern
from bot_engine.commands.slot_commands import correct_slot, set_slot
from bot_engine.commands.slot_mappings import PREDEFINED, first_mapping_type
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st
from bot_engine.flows.model import FlowsList
from bot_engine.loading.flows_setup import FLOW_HASHES

UNKNOWN_SLOT = "The slot predicted by the LLM is not defined in the domain."
INCOMPATIBLE_EXTRACTOR = (
    "A command generator attempted to set a slot with a value extracted by an extractor "
    "that is incompatible with the slot mapping type."
)
EXECUTORS = {
    c.START_FLOW: start_flow,
    c.CANCEL_FLOW: cancel_flow,
    c.SET_SLOT: set_slot,
    c.CORRECT_SLOT: correct_slot,
    c.SESSION_END: end_session,
    **dict.fromkeys(PATTERN_OF, push_pattern),
}


def process_commands(commands: list[dict], tracker, flows: FlowsList) -> list[dict]:
    """Apply the commands of the latest user message; returns the commands that ran."""
    commands = clean_up(commands, tracker, flows)
    if _flows_changed(tracker, flows):
        commands = [c.command(c.CODE_CHANGE)]
    _store_fingerprints(tracker, flows)
    ordered = order(commands, tracker.stack)
    context = CommandContext(
        tracker,
        flows,
        [dict(f) for f in tracker.stack],
        started_flows=[x["flow"] for x in ordered if x["command"] == c.START_FLOW],
    )
    for command in ordered:
        executor = EXECUTORS.get(command["command"])
        if executor is not None:
            executor(command, context)
    return ordered


# ---- clean-up (§8.4.1) ----
def clean_up(commands: list[dict], tracker, flows: FlowsList) -> list[dict]:
    result: list[dict] = []
    active = st.top_user_frame(tracker.stack)
    for command in _last_value_per_slot(commands):
        kind = command["command"]
        if kind == c.SET_SLOT:
            _clean_set_slot(command, result, tracker)
        elif kind in {c.CANCEL_FLOW, c.CANNOT_HANDLE}:
            if not any(x["command"] == kind for x in result):
                result.append(command)
        elif kind == c.START_FLOW:
            if active is None or active["flow_id"] != command["flow"]:
                result.append(command)
        elif kind == c.CHITCHAT:
            if _chitchat_unsupported(flows):
                command = c.command(c.CANNOT_HANDLE, reason=c.CANNOT_HANDLE_CHITCHAT)
            result.insert(0, command)
        elif kind == c.KNOWLEDGE:
            result.insert(0, command)
        elif kind == c.CLARIFY and len(commands) > 1:
            if all(x["command"] == c.CLARIFY for x in commands) and not result:
                result.append(command)
        else:
            result.append(command)
    if len(result) > 1:
        result = [x for x in result if x["command"] != c.CANNOT_HANDLE]
    repeats = [x for x in result if x["command"] == c.REPEAT]
    return [x for x in result if x["command"] != c.REPEAT or x is repeats[0]]


def _last_value_per_slot(commands: list[dict]) -> list[dict]:
    last = {x["name"]: i for i, x in enumerate(commands) if x["command"] == c.SET_SLOT}
    return [x for i, x in enumerate(commands) if x["command"] != c.SET_SLOT or last[x["name"]] == i]


def _chitchat_unsupported(flows: FlowsList) -> bool:
    # Free chitchat needs an LLM policy behind action_trigger_chitchat; without one the
    # default pattern cannot answer, so the user hears that the bot cannot help with that.
    pattern = flows.get("pattern_chitchat")
    return pattern is None or any(
        s.kind == "action" and s.value == "action_trigger_chitchat" for s in pattern.steps
    )


def _add_cannot_handle(result: list[dict], reason: str) -> None:
    if not any(x["command"] == c.CANNOT_HANDLE for x in result):
        result.append(c.command(c.CANNOT_HANDLE, reason=reason))


def _asking_for(tracker, name: str) -> bool:
    top = tracker.stack[-1] if tracker.stack else {}
    return top.get("type") == st.COLLECT and top.get("collect") == name


def _extractor_fits(command: dict, slot, tracker) -> bool:
    extractor = command.get("extractor")
    if extractor == c.EXTRACTOR_PAYLOAD:
        return True
    mapping = first_mapping_type(slot)
    if extractor == c.EXTRACTOR_NLU:
        # Without an LLM the NLU adapter answers the question being asked on its behalf.
        return mapping in PREDEFINED or _asking_for(tracker, slot.name)
    return mapping == "from_llm"


def _clean_set_slot(command: dict, result: list[dict], tracker) -> None:
    slot = tracker.domain.slots.get(command["name"])
    if slot is None:
        _add_cannot_handle(result, UNKNOWN_SLOT)
        return
    if not _extractor_fits(command, slot, tracker):
        _add_cannot_handle(result, INCOMPATIBLE_EXTRACTOR)
        return
    current = tracker.slots.get(slot.name)
    if current is None or not tracker.slot_was_ever_set(slot.name) or slot.name == FLOW_HASHES:
        result.append(command)
        return
    if _asking_for(tracker, slot.name):
        result.append(command)
        return
    if str(current) == str(command.get("value")):
        return
    correction = st.top_flow_frame(tracker.stack)
    if correction is not None and correction.get("flow_id") == "pattern_correction":
        pending = correction.get("corrected_slots") or {}
        if slot.name in pending and str(pending[slot.name]) == str(command.get("value")):
            return
    existing = next((x for x in result if x["command"] == c.CORRECT_SLOT), None)
    item = {"name": slot.name, "value": command.get("value")}
    if existing is None:
        result.append(c.command(c.CORRECT_SLOT, corrected_slots=[item]))
    else:
        existing["corrected_slots"].append(item)


# ---- changed flows (§8.4.2) ----
def _flows_changed(tracker, flows: FlowsList) -> bool:
    stored = tracker.slots.get(FLOW_HASHES)
    if not isinstance(stored, dict):
        return False
    current = flows.fingerprints()
    for frame in tracker.stack:
        if not st.is_flow_frame(frame):
            continue
        flow_id = frame.get("flow_id")
        if flow_id not in current:
            return True
        if flow_id in stored and stored[flow_id] != current[flow_id]:
            return True
    return False


def _store_fingerprints(tracker, flows: FlowsList) -> None:
    current = flows.fingerprints()
    if tracker.slots.get(FLOW_HASHES) != current:
        tracker.update(ev.slot(FLOW_HASHES, current))


# ---- ordering (§8.4.3) ----
def order(commands: list[dict], stack: list[dict]) -> list[dict]:
    """Execution order: reversed, so the first-mentioned flow ends up on top."""
    commands = list(commands)
    if st.top_user_frame(stack) is None:
        starts = [x for x in commands if x["command"] == c.START_FLOW]
        if starts:
            commands.remove(starts[-1])
            commands.append(starts[-1])
    return list(reversed(commands))
