"""The LLM parts of `bot_engine.llm`, seen from a running conversation.

`bot_engine.llm` takes plain data and knows nothing of trackers or the dialogue stack. This
module turns a conversation into that data: the command generator gets the transcript, the flows
the user may start with the slots they collect, and where the conversation stands; the
rephraser gets the transcript and the latest user message.
"""

from pathlib import Path

from bot_engine.errors import ValidationMessage
from bot_engine.flows import stack as st
from bot_engine.flows.guards import available_flow_ids
from bot_engine.flows.model import FlowsList
from bot_engine.llm import (
    COMMAND_GENERATOR_COMPONENTS,
    CommandPromptInputs,
    LLMCommandGenerator,
    LLMConfigError,
    ResponseRephraser,
)

# Rasa's multi-step generator asks in several rounds; ours answers in one, the same way.
LLM_GENERATOR_COMPONENTS = {**COMMAND_GENERATOR_COMPONENTS, "MultiStepLLMCommandGenerator": None}
MAX_TRANSCRIPT_EVENTS = 40


class LLMGenerator:
    """A pipeline command generator backed by an LLM (`predict_commands(parse, tracker, flows)`)."""

    def __init__(self, generator: LLMCommandGenerator):
        self.generator = generator

    @classmethod
    def from_config(
        cls, component: dict, endpoints: dict | None, project_root: Path | None
    ) -> "LLMGenerator":
        """Raises LLMConfigError when the component's `llm:` settings are unusable."""
        return cls(LLMCommandGenerator.from_config(component, endpoints, project_root))

    def predict_commands(self, parse: dict, tracker, flows: FlowsList) -> list[dict]:
        return self.generator.predict_commands(prompt_inputs(parse, tracker, flows))


def prompt_inputs(parse: dict, tracker, flows: FlowsList) -> CommandPromptInputs:
    """Where the conversation stands, as the LLM command generator's plain data."""
    domain = tracker.domain
    slot_values = {k: v for k, v in tracker.slots.items() if k in domain.slots}
    top = st.top_user_frame(tracker.stack)
    top_flow = flows.get(top["flow_id"]) if top else None
    step = top_flow.step(top.get("step_id")) if top_flow and top else None
    asked = step.value if step is not None and step.kind == "collect" else None
    available = available_flow_ids(flows, tracker)
    return CommandPromptInputs(
        latest_user_message=parse.get("text") or "",
        conversation=transcript(tracker),
        flows=[_flow_data(flows.get(i), domain, slot_values) for i in available if i in flows],
        current_flow=top_flow.id if top_flow else None,
        current_step=step.id if step is not None else None,
        current_slot=asked,
        slot_values=slot_values,
        slot_names=list(domain.slots),
    )


def transcript(tracker) -> list[dict]:
    """The conversation so far, oldest first, as `{"sender": "user" | "bot", "text"}`."""
    lines = []
    for event in tracker.applied_events()[-MAX_TRANSCRIPT_EVENTS:]:
        kind, text = event.get("event"), event.get("text")
        if kind in {"user", "bot"} and text:
            lines.append({"sender": kind, "text": text})
    return lines


def _flow_data(flow, domain, slot_values: dict) -> dict:
    slots = []
    for step in flow.collect_steps():
        slot = domain.slots.get(step.value)
        slots.append(
            {
                "name": step.value,
                "description": step.description,
                "type": slot.type if slot else "text",
                "allowed_values": list(slot.values) if slot and slot.values else None,
                "value": slot_values.get(step.value),
            }
        )
    return {
        "id": flow.id,
        "name": flow.readable_name,
        "description": flow.description,
        "slots": slots,
    }


class EngineRephraser:
    """The assistant's rephraser hook: `(message, response_name, tracker) -> message`."""

    def __init__(self, rephraser: ResponseRephraser):
        self.rephraser = rephraser

    def __call__(self, message: dict, response_name: str, tracker) -> dict:
        if not self.rephraser.should_rephrase(message):
            return message
        history = transcript(tracker)
        current_input = (tracker.latest_message or {}).get("text")
        return self.rephraser.rephrase(message, history, current_input, dict(tracker.slots))


def rephraser_for(endpoints: dict | None, project_root: Path | None) -> EngineRephraser | None:
    """The hook for `nlg: {type: rephrase}` in endpoints.yml, or None without it."""
    rephraser = ResponseRephraser.from_endpoints(endpoints, project_root)
    return EngineRephraser(rephraser) if rephraser is not None else None


def llm_config_problems(config: dict, endpoints: dict, root: Path) -> list[ValidationMessage]:
    """Load-time errors for LLM settings, so `validate_assistant` reports them with the key."""
    problems = []
    for index, component in enumerate(config.get("pipeline") or []):
        if isinstance(component, dict) and component.get("name") in LLM_GENERATOR_COMPONENTS:
            try:
                LLMGenerator.from_config(component, endpoints, root)
            except LLMConfigError as error:
                key = f"pipeline[{index}] {component['name']}"
                problems.append(ValidationMessage("config.yml", None, key, str(error)))
    try:
        rephraser_for(endpoints, root)
    except LLMConfigError as error:
        problems.append(ValidationMessage("endpoints.yml", None, "nlg", str(error)))
    return problems
