"""The NLU command adapter: intents and entities into commands, no LLM needed (§8.2).

What it understands, in order:
1. `nlu_trigger` intents start flows (confidence thresholds and flow guards respected);
   triggers on patterns become that pattern's command (cancel, chitchat, handoff, …).
2. Conventional intent names map to repair commands (configurable `pattern_intents`):
   `cancel`/`stop` → cancel flow, `skip` → skip question, `chitchat`, `human_handoff`,
   `repeat`, `knowledge` … (only intents the assistant has).
3. Two flow-triggering intents within `clarification_margin` of each other (or an intent the
   FallbackClassifier found ambiguous) → clarify between those flows.
4. Entities and slot mappings of slots collected by available flows → `set slot` (NLU);
   a `from_text` mapping fills only the slot being asked for, and only when the message
   gives nothing else (so "sorry, the order is NW-2" corrects the order, not the address).
5. A direct answer to the question being asked: "yes"/"no" (or the affirm/deny intents) for a
   bool slot, one of the values of a categorical slot.
"""

from bot_engine.commands import catalogue as c
from bot_engine.commands.slot_mappings import mapping_value
from bot_engine.flows import stack as st
from bot_engine.flows.guards import active_user_flow_ids, available_flow_ids
from bot_engine.flows.model import FlowsList
from bot_engine.slot_values import coerce, is_valid

PATTERN_COMMANDS = {
    "pattern_session_start": c.SESSION_START,
    "pattern_user_silence": c.USER_SILENCE,
    "pattern_cancel_flow": c.CANCEL_FLOW,
    "pattern_chitchat": c.CHITCHAT,
    "pattern_human_handoff": c.HUMAN_HANDOFF,
    "pattern_search": c.KNOWLEDGE,
    "pattern_skip_question": c.SKIP_QUESTION,
    "pattern_cannot_handle": c.CANNOT_HANDLE,
    "pattern_restart": c.RESTART,
}
DEFAULT_PATTERN_INTENTS = {
    c.CANCEL_FLOW: ["cancel", "stop", "cancel_flow"],
    c.SKIP_QUESTION: ["skip", "skip_question"],
    c.CHITCHAT: ["chitchat", "chit_chat", "smalltalk"],
    c.HUMAN_HANDOFF: ["human_handoff", "talk_to_human"],
    c.REPEAT: ["repeat", "repeat_bot_messages"],
    c.KNOWLEDGE: ["knowledge", "knowledge_question", "faq"],
    c.SESSION_END: ["session_end"],
}
AFFIRM, DENY = "affirm", "deny"
FALLBACK_INTENT = "nlu_fallback"


class NLUCommandAdapter:
    name = "NLUCommandAdapter"

    def __init__(self, config: dict | None = None):
        config = config or {}
        self.clarification_margin = float(config.get("clarification_margin", 0.1))
        mapping = {**DEFAULT_PATTERN_INTENTS, **(config.get("pattern_intents") or {})}
        self.intent_commands = {
            intent: name for name, intents in mapping.items() for intent in intents or []
        }

    def predict_commands(self, parse: dict, tracker, flows: FlowsList, all_flows=False):
        """Commands for one parsed message (`all_flows`: `/intent` payloads skip flow guards)."""
        intent = (parse.get("intent") or {}).get("name")
        if not intent and not parse.get("entities"):
            return []
        available = set(flows.flows) if all_flows else set(available_flow_ids(flows, tracker))
        exact = _exact_answer(tracker, parse)
        if exact:
            return [exact]  # "no" to a yes/no question is an answer, whatever else it resembles
        commands = self._intent_commands(parse, tracker, flows, available)
        starting = next((x["flow"] for x in commands if x["command"] == c.START_FLOW), None)
        running = active_user_flow_ids(tracker.stack)
        # "Savings" may also look like the running flow's trigger: that is no new request.
        intended = any(x["command"] != c.START_FLOW or x["flow"] not in running for x in commands)
        commands += self._slot_commands(parse, tracker, flows, available, starting, intended)
        return commands

    # ---- intents ----
    def _intent_commands(self, parse, tracker, flows, available) -> list[dict]:
        clarify = self._clarification(parse, flows, available)
        if clarify:
            return [clarify]
        intent = parse.get("intent") or {}
        name, confidence = intent.get("name"), float(intent.get("confidence") or 0.0)
        for flow_id in sorted(available, key=lambda f: list(flows.flows).index(f)):
            flow = flows.get(flow_id)
            for trigger in flow.nlu_triggers:
                if trigger.intent == name and confidence >= trigger.confidence_threshold:
                    if flow.is_pattern:
                        command = PATTERN_COMMANDS.get(flow.id)
                        return [c.command(command)] if command else []
                    return [c.command(c.START_FLOW, flow=flow.id)]
        command = self.intent_commands.get(name)
        return [c.command(command)] if command else []

    def _clarification(self, parse, flows, available) -> dict | None:
        ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
        top = parse.get("intent") or {}
        if not ranking:
            return None
        best = float(ranking[0].get("confidence") or 0)
        options, together = [], 0.0
        for entry in ranking:
            confidence = float(entry.get("confidence") or 0)
            if best - confidence > self.clarification_margin:
                break
            flow = self._user_flow_for(entry.get("name"), confidence, flows, available)
            if flow and flow not in options:
                options.append(flow)
                together += confidence
        if len(options) < 2:
            return None
        # After the FallbackClassifier: clarify if it was torn between flows, not if it was
        # unsure of everything (together the options must reach its threshold).
        if top.get("name") == FALLBACK_INTENT and together < float(top.get("confidence") or 0):
            return None
        return c.command(c.CLARIFY, options=options)

    @staticmethod
    def _user_flow_for(intent, confidence, flows, available) -> str | None:
        for flow in flows.user_flows:
            if flow.id not in available:
                continue
            for trigger in flow.nlu_triggers:
                if trigger.intent == intent and confidence >= trigger.confidence_threshold:
                    return flow.id
        return None

    # ---- slots ----
    def _slot_commands(self, parse, tracker, flows, available, starting, intended) -> list[dict]:
        top = tracker.stack[-1] if tracker.stack else {}
        asking = top.get("collect") if top.get("type") == st.COLLECT else None
        flow_id = st.current_context(tracker.stack).get("flow_id") or starting
        commands = []
        for name in _candidate_slots(flows, available, asking):
            value = _mapped_value(tracker.domain.slots.get(name), parse, flow_id, free_text=False)
            if value is not _NOTHING:
                commands.append(_set_slot(name, value))
        if asking and not commands and not intended:
            # Free text answers the question asked, and only when nothing else was said.
            slot = tracker.domain.slots.get(asking)
            value = _mapped_value(slot, parse, flow_id, free_text=True)
            if value is _NOTHING:
                value = _direct_answer(slot, parse)
            if value is not None and value is not _NOTHING:
                commands.append(_set_slot(asking, value))
        return commands


_NOTHING = object()


def _candidate_slots(flows, available, asking) -> list[str]:
    """Slots the available flows collect without asking first, plus the one being asked."""
    names: list[str] = []
    for flow_id in available:
        for step in flows.get(flow_id).collect_steps():
            if not step.ask_before_filling and step.value not in names:
                names.append(step.value)
    if asking and asking not in names:
        names.append(asking)
    return names


def _mapped_value(slot, parse: dict, flow_id, free_text: bool):
    """The first value a mapping of the slot takes from the message (`_NOTHING` if none)."""
    for mapping in slot.mappings if slot else []:
        if (mapping.get("type") == "from_text") != free_text:
            continue
        found, value = mapping_value(mapping, parse, flow_id)
        if found:
            return value
    return _NOTHING


def _set_slot(name: str, value) -> dict:
    return c.command(c.SET_SLOT, name=name, value=value, extractor=c.EXTRACTOR_NLU)


def _exact_answer(tracker, parse: dict) -> dict | None:
    top = tracker.stack[-1] if tracker.stack else {}
    if top.get("type") != st.COLLECT:
        return None
    slot = tracker.domain.slots.get(top.get("collect"))
    text = (parse.get("text") or "").strip().strip(".!").strip()
    if slot is None or slot.type not in {"bool", "categorical"} or text.startswith("/"):
        return None
    return _set_slot(slot.name, coerce(slot, text)) if text and is_valid(slot, text) else None


def _direct_answer(slot, parse: dict):
    """'yes' to a yes/no question, 'Blue' to a question with options: the answer itself."""
    if slot is None or slot.type not in {"bool", "categorical"}:
        return None
    text = (parse.get("text") or "").strip().strip(".!").strip()
    if text and not text.startswith("/") and is_valid(slot, text):
        return coerce(slot, text)
    intent = (parse.get("intent") or {}).get("name")
    if slot.type == "bool" and intent in {AFFIRM, DENY}:
        return intent == AFFIRM
    return None
