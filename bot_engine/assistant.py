"""The engine's public API: load a Rasa project, then handle one user message at a time.

    assistant = Assistant.load("demo_assistant")
    result = assistant.handle(None, "hello", sender_id="c1")
    result.messages          # what the bot says
    result.handoff           # Handoff(reason, detail) when the bot wants a human
    result.tracker_state     # store it; pass it to the next handle() call

An Assistant is immutable after loading, so `handle` may run in several threads at once for
different conversations (the hub runs the turns of one conversation one at a time).
"""

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot_engine.actions import flow_actions, forms, remote, utter
from bot_engine.actions.base import ActionContext, ActionFailed, ActionRejected
from bot_engine.actions.python_actions import PythonAction, load_action_classes, registered_action
from bot_engine.actions.registry import DEFAULT_ACTIONS as _DEFAULT_ACTIONS
from bot_engine.actions.slots import extract_slot_events, run_extract_slots
from bot_engine.agent_context import agent_context
from bot_engine.commands.llm_bridge import rephraser_for
from bot_engine.dialogue import events as ev
from bot_engine.dialogue.flow_turns import FlowTurns
from bot_engine.dialogue.tracker import Tracker
from bot_engine.flows.stack import current_context, is_flow_frame
from bot_engine.handoff import Handoff, handoff_request, is_marker_only
from bot_engine.loading.project import Project, load_project
from bot_engine.nlu import NLUPipeline
from bot_engine.policies import PolicyEnsemble
from bot_engine.responses import (
    DEFAULT_RESPONSES,
    choose_variation,
    message_from_variation,
    render_variation,
)

MAX_ACTIONS_PER_TURN = 10
INTERNAL_ERROR_RESPONSE = "utter_internal_error_rasa"
INTERNAL_ERROR_TEXT = "Sorry, I am having trouble with that. Please try again in a few minutes."
_PAYLOAD = re.compile(r"^/(?P<intent>[\w\-.]+)(?P<entities>\{.*\})?\s*$", re.DOTALL)


@dataclass
class TurnResult:
    tracker_state: dict
    events: list[dict]
    messages: list[dict]
    handoff: Handoff | None = None
    # The agent's summary (`bot_context`), on turns that hand off or failed.
    context: dict = field(default_factory=dict)
    error: str | None = None
    # The bot ended the conversation (`action_hangup`): the channel should close the chat.
    hangup: bool = False


class Assistant:
    def __init__(self, project: Project, nlu: NLUPipeline):
        self.project = project
        self.domain = project.domain
        self.nlu = nlu
        self.policies = PolicyEnsemble(project)
        self.fingerprint = nlu.fingerprint_value
        self.warnings = project.warnings
        handoff_config = project.config.get("handoff") or {}
        # Where the two-stage fallback ends up when the user could not be understood.
        self.ultimate_fallback_action = handoff_config.get(
            "ultimate_fallback_action", "action_default_fallback"
        )
        self.action_endpoint = (project.endpoints or {}).get("action_endpoint")
        self.action_stubs: dict = {}  # e2e tests' `stub_custom_actions`, by action name
        self.has_rules_or_stories = bool(project.stories)
        module = (self.action_endpoint or {}).get("actions_module")
        self.module_actions = load_action_classes(project.path, module) if module else {}
        # `nlg: {type: rephrase}` in endpoints.yml: responses marked `metadata.rephrase: True`
        # are reworded (`rephraser(message, response_name, tracker) -> message`).
        self.rephraser = rephraser_for(project.endpoints, project.path)
        self.flow_turns = FlowTurns(self) if project.uses_flows else None

    # ---- loading ----
    @classmethod
    def load(
        cls,
        path: str | Path,
        model_dir: str | Path | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> "Assistant":
        """Load and validate a project; train its NLU unless a saved model has its fingerprint."""
        project = load_project(path)
        pipeline_config = project.config.get("pipeline") or []
        fingerprint = NLUPipeline.fingerprint(project.nlu, pipeline_config)
        root = Path(model_dir) if model_dir else Path(path) / ".models"
        directory = root / fingerprint[:24]
        nlu = None
        if (directory / "nlu.pkl").exists():
            try:
                nlu = NLUPipeline.load(directory)
            except Exception:  # noqa: BLE001 - a broken cache is retrained, not fatal
                nlu = None
        if nlu is None or nlu.fingerprint_value != fingerprint:
            nlu = NLUPipeline.train(project.nlu, pipeline_config, progress, cache_dir=root)
            nlu.save(directory)
        elif progress:
            progress("loaded saved model", 1.0)
        return cls(project, nlu)

    @property
    def greets_at_session_start(self) -> bool:
        """The project has its own `pattern_session_start`: a channel opening a new chat should
        send `/session_start` (with the session metadata) so the assistant can speak first."""
        flow = self.project.flows.get("pattern_session_start") if self.flow_turns else None
        return flow is not None and not flow.is_default_pattern

    # ---- understanding ----
    def parse(self, text: str) -> dict:
        """Rasa parse output; `/intent{"entity": "value"}` payloads bypass the classifier."""
        match = _PAYLOAD.match(text.strip())
        if match and match.group("intent") in self.domain.intent_names:
            entities = []
            if match.group("entities"):
                try:
                    values = json.loads(match.group("entities"))
                except ValueError:
                    values = {}
                if isinstance(values, dict):
                    entities = [
                        {"entity": k, "value": v, "start": 0, "end": 0, "extractor": "payload"}
                        for k, v in values.items()
                    ]
            intent = {"name": match.group("intent"), "confidence": 1.0}
            return {
                "text": text,
                "intent": intent,
                "entities": entities,
                "intent_ranking": [intent],
            }
        return self.nlu.parse(text)

    def intent_label(self, intent: str | None) -> str:
        return (intent or "").replace("_", " ")

    # ---- one turn ----
    def new_tracker(self, sender_id: str, state: dict | None = None) -> Tracker:
        """The tracker of `state`: resumed from the snapshot a previous turn's state carries,
        or replayed from its events (a state read back from storage)."""
        return Tracker.from_state(sender_id, self.domain, state)

    def handle(
        self,
        tracker_state: dict | None,
        text: str,
        sender_id: str,
        channel: str = "web",
        metadata: dict | None = None,
        message_id: str | None = None,
    ) -> TurnResult:
        tracker = self.new_tracker(sender_id, tracker_state)
        start = len(tracker.events)
        context = ActionContext(tracker, self, channel)
        context.extra["session_metadata"] = metadata or None
        if self._session_expired(tracker):
            custom = self.action_for("action_session_start") is not _DEFAULT_ACTIONS.get(
                "action_session_start"
            )
            if metadata and custom:  # an overriding action_session_start reads the slot
                tracker.update(ev.slot("session_started_metadata", metadata))
            self._run(ev.action("action_session_start"), "action_session_start", context)
        flows = self.flow_turns
        parse = flows.understand(text, tracker) if flows else self.parse(text)
        tracker.update(ev.user(text, parse, channel, message_id, metadata))
        if flows:
            flows.reset_voice_slots(tracker)
        # Slot mappings of slots no flow collects (flows fill theirs through commands).
        exclude = flows.collected_slots if flows else frozenset()
        for event in run_extract_slots(context, exclude):
            tracker.update(event)
        if flows is None or not flows.take_turn(context, lambda: self._dm1_wants_turn(tracker)):
            if flows:  # a turn for rules and forms: forms fill their slots by mappings too
                for event in extract_slot_events(tracker, self.domain, flows.flow_only_slots):
                    tracker.update(event)
            self._predict_and_run(context)
        return self._result(tracker, start, context)

    def _dm1_wants_turn(self, tracker: Tracker) -> bool:
        """Rules, stories or an active loop have an answer (not just the core fallback)."""
        if not self.has_rules_or_stories:
            return False
        if tracker.active_loop:
            return True
        if tracker.stack and tracker.latest_intent == "nlu_fallback":
            return False  # a running flow handles not being understood itself
        prediction = self.policies.predict(tracker)
        return prediction.action != "action_listen" and not prediction.is_core_fallback

    def return_from_human(
        self,
        tracker_state: dict | None,
        slots: dict | None = None,
        sender_id: str = "",
        response: str = "utter_back_with_bot",
    ) -> TurnResult:
        """The human part ended (or never started): apply slots, resume, and say `response`."""
        tracker = self.new_tracker(sender_id, tracker_state)
        start = len(tracker.events)
        context = ActionContext(tracker, self, "web")
        tracker.update(ev.resume())
        for name, value in (slots or {}).items():
            if name in self.domain.slots:
                tracker.update(ev.slot(name, value))
        for event in context.utter(response):
            tracker.update(event)
        tracker.update(ev.action("action_listen"))
        return self._result(tracker, start, context)

    def _session_expired(self, tracker: Tracker) -> bool:
        if not tracker.has_applied_events():
            return True
        minutes = self.domain.session_expiration_minutes
        if minutes <= 0:
            return False
        last = tracker.latest_applied("user") or tracker.latest_applied()
        return time.time() - (last.get("timestamp") or time.time()) > minutes * 60

    def _predict_and_run(self, context: ActionContext) -> None:
        tracker = context.tracker
        excluded: set[str] = set()
        for _ in range(MAX_ACTIONS_PER_TURN):
            if tracker.paused and tracker.latest_intent != "restart":
                return
            if tracker.followup_action:
                name, policy, confidence, core = tracker.followup_action, None, 1.0, False
            else:
                prediction = self.policies.predict(tracker, frozenset(excluded))
                name, policy, confidence = (
                    prediction.action,
                    prediction.policy,
                    prediction.confidence,
                )
                core = prediction.is_core_fallback
            if name == "action_listen":
                tracker.update(ev.action("action_listen", policy, confidence))
                return
            if core:
                context.extra["handoff_reason"] = "core_fallback"
            outcome = self._run(ev.action(name, policy, confidence), name, context)
            if outcome == "rejected":
                excluded.add(name)
                continue
            excluded.clear()
            if name == "action_session_start":
                return  # a new session waits for the user (its events end with a listen)
            if self.flow_turns and tracker.stack and is_flow_frame(tracker.stack[-1]):
                self.flow_turns.run_flows(context)  # a rule started a flow (`flow_<id>`)
                return
        tracker.update(ev.action("action_listen"))

    def run_action(self, action_event: dict, name: str, context: ActionContext) -> str:
        """Run one action and log it with its events: 'ran', 'rejected' or 'failed'."""
        return self._run(action_event, name, context)

    def is_known_action(self, name: str) -> bool:
        known = name in self.domain.action_names or name in self.module_actions
        return known or registered_action(name) is not None

    def _run(self, action_event: dict, name: str, context: ActionContext) -> str:
        tracker = context.tracker
        action = self.action_for(name)
        try:
            produced = action.run(context) if action else []
        except ActionRejected:
            tracker.update(ev.rejected(name, action_event.get("policy")))
            return "rejected"
        except ActionFailed as error:
            tracker.update(action_event)
            context.extra.setdefault("errors", []).append(str(error))
            for event in self.internal_error_events(context):
                tracker.update(event)
            return "failed"
        tracker.update(action_event)
        user_seen = False
        for event in produced:
            tracker.update(event)
            if event.get("event") == "bot":
                self._notice_handoff(event, name, context)
            user_seen = user_seen or event.get("event") == "user"
        if user_seen:  # a clarified two-stage fallback replays the user message
            for event in run_extract_slots(context):
                tracker.update(event)
        return "ran"

    def _notice_handoff(self, bot_event: dict, action_name: str, context: ActionContext) -> None:
        request = handoff_request(bot_event)
        if request is None or context.handoff is not None:
            return
        reason = context.extra.get("handoff_reason")
        if reason is None:
            is_builtin = action_name in _DEFAULT_ACTIONS or action_name.startswith("utter_")
            reason = "explicit_request" if is_builtin else "custom_action"
        context.handoff = {"reason": reason, **request}

    def internal_error_events(self, context: ActionContext) -> list[dict]:
        said = context.utter(INTERNAL_ERROR_RESPONSE) or context.utter("utter_internal_error")
        return said or [ev.bot(INTERNAL_ERROR_TEXT, {}, {"utter_action": INTERNAL_ERROR_RESPONSE})]

    # ---- actions and responses ----
    def action_for(self, name: str):
        """Rasa's resolution order: custom overrides, defaults, forms, responses, action server."""
        if name in self.action_stubs:
            return self.action_stubs[name]
        if name in self.module_actions:
            return PythonAction(name, self.module_actions[name])
        custom = registered_action(name)
        if custom is not None:
            return custom
        overridden = name in self.domain.actions and not name.startswith("utter_")
        if name in _DEFAULT_ACTIONS and not (overridden and self.action_endpoint):
            return _DEFAULT_ACTIONS[name]
        if name in self.domain.forms:
            return forms.FormAction(name, self.domain.forms[name]["required_slots"])
        if name.startswith("utter_"):
            return utter.UtterAction(name)
        if name.startswith("flow_") and name[5:] in self.project.flows:
            return flow_actions.ActionTriggerFlow(name[5:])
        if self.action_endpoint and self.action_endpoint.get("url") and not self.module_actions:
            return remote.RemoteAction(name, self.action_endpoint)
        return _MissingAction(name)

    def run_named(self, name: str, context: ActionContext) -> list[dict]:
        """Run another action from inside an action (its events become the caller's)."""
        action = self.action_for(name)
        return action.run(context) if action else []

    def render_response(self, name: str, tracker: Tracker, channel: str, variables: dict):
        variations = self.domain.responses.get(name) or DEFAULT_RESPONSES.get(name)
        if not variations:
            return None
        variation = choose_variation(variations, tracker.slots, channel)
        if variation is None:
            return None
        values = {**tracker.slots, "context": current_context(tracker.stack), **variables}
        message = message_from_variation(render_variation(variation, values), name)
        if values["context"].get("flow_id"):  # where in a flow it was said (Rasa's metadata)
            message["metadata"]["active_flow"] = values["context"]["flow_id"]
            message["metadata"]["step_id"] = values["context"].get("step_id")
        if self.rephraser is not None:  # it decides which messages it rewords
            message = self.rephraser(message, name, tracker)
        return message

    # ---- results ----
    def _result(self, tracker: Tracker, start: int, context: ActionContext) -> TurnResult:
        new_events = tracker.events[start:]
        messages = []
        for event in new_events:
            if event.get("event") == "bot" and not is_marker_only(event):
                messages.append(_bot_message(event, tracker.sender_id))
        handoff = None
        if context.handoff is not None:
            detail = dict(context.handoff)
            handoff = Handoff(detail.pop("reason"), detail)
        errors = context.extra.get("errors")
        return TurnResult(
            tracker_state=tracker.to_state(),
            events=new_events,
            messages=messages,
            handoff=handoff,
            # What an agent needs when taking over; only worked out when someone may take over.
            context=self.bot_context(tracker) if handoff or errors else {},
            error="; ".join(errors) if errors else None,
            hangup=bool(context.extra.get("hangup")),
        )

    def bot_context(self, tracker: Tracker) -> dict:
        """What an agent should know when taking over: intents, slots, flows, a summary."""
        return agent_context(tracker, self.project.flows)


def _bot_message(event: dict, recipient: str) -> dict:
    message = {"recipient_id": recipient, "text": event.get("text")}
    for key, value in (event.get("data") or {}).items():
        if value:
            message[key] = value
    if event.get("metadata"):
        message["metadata"] = event["metadata"]
    return message


class _MissingAction:
    def __init__(self, name: str):
        self.name = name

    def run(self, context: ActionContext) -> list[dict]:
        raise ActionFailed(f"no action server configured for custom action '{self.name}'")
