"""The CALM half of a turn: understand a message as commands, apply them, run the flows.

Coexistence with rules and stories (DM1): a message whose commands change the dialogue stack
is a flow turn. A message without commands (or whose commands leave the stack empty) goes to
the rules and stories if they have something to say; otherwise a running flow hears
`pattern_cannot_handle` and re-asks its question.
"""

import re

from bot_engine.commands import catalogue as c
from bot_engine.commands.generators import (
    generate_commands,
    generators_from_config,
    input_guard,
    max_characters,
)
from bot_engine.commands.nlu_adapter import NLUCommandAdapter
from bot_engine.commands.payloads import is_set_slots_payload, set_slots_commands
from bot_engine.commands.processor import process_commands
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st
from bot_engine.flows.executor import FlowExecutor

MAX_FLOW_ACTIONS_PER_TURN = 100
SILENCE_INTENT = "silence_timeout"
_INTENT_PAYLOAD = re.compile(r"^/(?P<intent>[^{@(\s]+)")
VOICE_SLOTS = ("consecutive_silence_timeouts", "silence_timeout")


class FlowTurns:
    """Everything flow-specific an Assistant does in a turn (built only if it has flows)."""

    def __init__(self, assistant):
        self.assistant = assistant
        self.flows = assistant.project.flows
        project = assistant.project
        pipeline = project.config.get("pipeline") or []
        self.generators = generators_from_config(pipeline, project.endpoints, project.path)
        adapters = [g for g in self.generators if isinstance(g, NLUCommandAdapter)]
        if not adapters:
            # A flow assistant without a configured generator still understands intents.
            adapters = [NLUCommandAdapter()]
            self.generators.insert(0, adapters[0])
        self.adapter = adapters[0]
        self.max_characters = max_characters(pipeline)
        self.executor = FlowExecutor(self.flows, assistant.is_known_action)
        self.collected_slots = frozenset(s.value for f in self.flows for s in f.collect_steps())
        form_slots = {s for f in assistant.domain.forms.values() for s in f["required_slots"]}
        self.flow_only_slots = self.collected_slots - form_slots

    # ---- understanding ----
    def understand(self, text: str, tracker) -> dict:
        """The parse result with its `commands` (payloads, input guards, generators)."""
        stripped = text.strip()
        if is_set_slots_payload(stripped):
            return {
                "text": text,
                "intent": {"name": None, "confidence": 0.0},
                "entities": [],
                "intent_ranking": [],
                "commands": set_slots_commands(stripped, self.assistant.domain.slots),
            }
        parse = self.assistant.parse(text)
        payload = _INTENT_PAYLOAD.match(stripped)
        if payload and payload.group("intent") in self.assistant.domain.intent_names:
            commands = self.adapter.predict_commands(parse, tracker, self.flows, all_flows=True)
        elif payload and not stripped.startswith("//"):
            commands = [c.command(c.CANNOT_HANDLE, reason=c.CANNOT_HANDLE_INVALID_INTENT)]
        else:
            commands = input_guard(text, self.max_characters) or generate_commands(
                parse, tracker, self.flows, self.generators
            )
        parse["commands"] = commands
        return parse

    def reset_voice_slots(self, tracker) -> None:
        """Any message but a silence timeout means the user is there again."""
        if tracker.latest_intent == SILENCE_INTENT:
            return
        for name in VOICE_SLOTS:
            slot = tracker.domain.slots.get(name)
            if slot is not None and tracker.slots.get(name) != slot.initial_value:
                tracker.update(ev.slot(name, slot.initial_value))

    # ---- the turn ----
    def take_turn(self, context, dm1_wants_turn) -> bool:
        """Run the turn if it is a flow turn; False hands it to rules and stories."""
        tracker = context.tracker
        if tracker.active_loop and self.assistant.has_rules_or_stories:
            return False  # a form or the two-stage fallback owns the conversation
        commands = (tracker.latest_message.get("parse_data") or {}).get("commands") or []
        commands = [x for x in commands if x.get("command") != c.NOOP]
        stack_before = [dict(f) for f in tracker.stack]
        if commands:
            process_commands(commands, tracker, self.flows)
        if not commands or (not tracker.stack and tracker.stack == stack_before):
            if dm1_wants_turn():
                return False
            if not tracker.stack and not commands and self.assistant.has_rules_or_stories:
                return False
            if tracker.latest_intent != SILENCE_INTENT:
                process_commands([c.command(c.CANNOT_HANDLE)], tracker, self.flows)
        self.run_flows(context)
        return True

    def run_flows(self, context) -> None:
        tracker = context.tracker
        for _ in range(MAX_FLOW_ACTIONS_PER_TURN):
            if tracker.paused and tracker.latest_intent != "restart":
                return
            if tracker.followup_action:
                name, metadata = tracker.followup_action, None
            else:
                prediction = self.executor.advance(tracker)
                if prediction is None:
                    break
                name = prediction.name
                metadata = {"active_flow": prediction.active_flow, "step_id": prediction.step_id}
            if name == "action_listen":
                tracker.update(ev.action(name, "FlowPolicy", 1.0, metadata))
                return
            self.note_handoff_pattern(name, context)
            event = ev.action(name, "FlowPolicy", 1.0, metadata)
            outcome = self.assistant.run_action(event, name, context)
            self.finish_handoff_pattern(name, context)
            if name == "action_session_start" and outcome == "ran":
                return
        tracker.update(ev.action("action_listen"))

    # ---- human handoff inside pattern_human_handoff ----
    @staticmethod
    def _in_handoff_pattern(context) -> bool:
        top = st.top_flow_frame(context.tracker.stack)
        return top is not None and top.get("flow_id") == "pattern_human_handoff"

    def note_handoff_pattern(self, name: str, context) -> None:
        if name == "action_human_handoff" and self._in_handoff_pattern(context):
            context.extra["handoff_reason"] = "pattern"
            context.extra["handoff_in_pattern"] = True

    def finish_handoff_pattern(self, name: str, context) -> None:
        if context.extra.pop("handoff_in_pattern", False) and context.handoff is None:
            context.handoff = {"reason": "pattern"}
