"""The LLM command generator: the conversation and the flows in, commands out.

    generator = LLMCommandGenerator.from_config(pipeline_entry, project.endpoints, project.path)
    commands = generator.predict_commands(CommandPromptInputs(latest_user_message="hi", ...))

Everything it needs comes in as plain data, so it knows nothing of the dialogue stack. It never
raises while predicting: an LLM that fails gives `[error]`, an answer with nothing usable
`[cannot handle]` (the command processor decides what runs).
"""

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Template

from bot_engine.llm.answer_parser import internal_error, parse_llm_answer
from bot_engine.llm.client import LLMClient, LLMError
from bot_engine.llm.config import LLMConfigError
from bot_engine.llm.prompts import default_template, render, template_from_file, transcript

logger = logging.getLogger(__name__)

__all__ = [
    "COMMAND_GENERATOR_COMPONENTS",
    "CommandPromptInputs",
    "LLMCommandGenerator",
    "command_generator_from_pipeline",
    "parse_llm_answer",
]

DEFAULT_MAX_CHARACTERS = 420
DEFAULT_MAX_HISTORICAL_TURNS = 20
# Deterministic and short: the answer is a few lines of actions.
DEFAULT_LLM_SETTINGS = {"temperature": 0.0, "max_tokens": 256}
USER_INPUT_EMPTY = "rasa_internal_error_user_input_empty"
USER_INPUT_TOO_LONG = "rasa_internal_error_user_input_too_long"


@dataclass
class CommandPromptInputs:
    """What the generator sees of a conversation, as plain data.

    conversation: earlier messages, `{"sender": "user" | "bot", "text": ...}`, oldest first
        (the latest user message may be its last entry or not; it is shown once).
    flows: the flows the user may start now, `{"id", "name", "description", "slots": [{"name",
        "description", "type", "allowed_values", "value"}]}`; `pattern_*` flows are left out.
    current_flow / current_step / current_slot: the active user flow, its step, and the slot
        its collect step is asking for (None when nothing is running or asked).
    slot_values: current slot values by name. slot_names: every slot of the assistant, if known.
    """

    latest_user_message: str
    conversation: list[dict] = field(default_factory=list)
    flows: list[dict] = field(default_factory=list)
    current_flow: str | None = None
    current_step: str | None = None
    current_slot: str | None = None
    slot_values: dict = field(default_factory=dict)
    slot_names: Collection[str] | None = None


class LLMCommandGenerator:
    """Prompts an OpenAI-compatible LLM and reads its answer as commands (rasa-spec §8.3.2)."""

    def __init__(
        self,
        client: LLMClient,
        template: Template | None = None,
        *,
        max_characters: int = DEFAULT_MAX_CHARACTERS,
        max_historical_turns: int | None = DEFAULT_MAX_HISTORICAL_TURNS,
    ):
        self.client = client
        self.template = template or default_template("command_generator")
        self.max_characters = max_characters
        self.max_historical_turns = max_historical_turns

    @classmethod
    def from_config(
        cls, component_config: dict, endpoints: dict | None, project_root: Path | None = None
    ) -> "LLMCommandGenerator":
        """Build from a config.yml pipeline entry; raises LLMConfigError for unusable settings.

        Keys: `llm` (inline model or `{model_group: id}`), `prompt_template` (or the older
        `prompt`), `user_input: {max_characters}`, `max_historical_turns`. Others are ignored.
        """
        config = component_config or {}
        name = str(config.get("name") or "LLMCommandGenerator")
        client = LLMClient.from_config(
            config.get("llm"), endpoints, DEFAULT_LLM_SETTINGS, where=f"{name}.llm"
        )
        prompt_path = config.get("prompt_template") or config.get("prompt")
        template = template_from_file(prompt_path, project_root) if prompt_path else None
        user_input = config.get("user_input") or {}
        return cls(
            client,
            template,
            max_characters=_integer(user_input, "max_characters", DEFAULT_MAX_CHARACTERS, name),
            max_historical_turns=_integer(
                config, "max_historical_turns", DEFAULT_MAX_HISTORICAL_TURNS, name
            ),
        )

    def render_prompt(self, inputs: CommandPromptInputs) -> str:
        """The prompt that would be sent for these inputs (raises LLMConfigError if it fails)."""
        return render(self.template, self.prompt_variables(inputs))

    def prompt_variables(self, inputs: CommandPromptInputs) -> dict:
        """Template variables; their names match Rasa's so existing prompt templates work."""
        flows = [_prompt_flow(f) for f in inputs.flows if not _is_pattern(f)]
        current = next((f for f in flows if f["id"] == inputs.current_flow), None)
        flow_slots = [
            {**slot, "value": inputs.slot_values.get(slot["name"], slot.get("value"))}
            for slot in (current or {}).get("slots", [])
        ]
        asked = _find_slot(inputs.current_slot, current, flows)
        return {
            "available_flows": flows,
            "current_conversation": self._conversation(inputs),
            "current_flow": inputs.current_flow,
            "current_step": inputs.current_step,
            "current_slot": inputs.current_slot,
            "current_slot_description": asked.get("description"),
            "current_slot_type": asked.get("type"),
            "current_slot_allowed_values": asked.get("allowed_values"),
            "flow_slots": flow_slots,
            "slot_values": dict(inputs.slot_values),
            "user_message": inputs.latest_user_message,
        }

    def predict_commands(self, inputs: CommandPromptInputs) -> list[dict]:
        """Commands for the latest user message; never raises.

        Empty or too long input → the input-guard `error` commands; LLM or API failure →
        `[error]`; an answer without usable actions → `[cannot handle]`.
        """
        text = inputs.latest_user_message or ""
        if not text.strip():
            return [internal_error(USER_INPUT_EMPTY)]
        if 0 <= self.max_characters < len(text):
            return [internal_error(USER_INPUT_TOO_LONG, {"max_characters": self.max_characters})]
        try:
            prompt = self.render_prompt(inputs)
            answer = self.client.complete([{"role": "user", "content": prompt}])
        except (LLMError, LLMConfigError) as error:
            logger.warning("LLM command generator failed: %s", error)
            return [internal_error()]
        logger.debug("LLM command generator answered: %r", answer)
        flow_ids = [f["id"] for f in inputs.flows if f.get("id") and not _is_pattern(f)]
        return parse_llm_answer(answer, flow_ids, _slot_names(inputs))

    def _conversation(self, inputs: CommandPromptInputs) -> str:
        history = list(inputs.conversation)
        last = history[-1] if history else {}
        if not (last.get("sender") == "user" and last.get("text") == inputs.latest_user_message):
            history.append({"sender": "user", "text": inputs.latest_user_message})
        return transcript(history, self.max_historical_turns)


# The pipeline component names a config.yml may use; all behave the same here.
COMMAND_GENERATOR_COMPONENTS = {
    "LLMCommandGenerator": LLMCommandGenerator,
    "SingleStepLLMCommandGenerator": LLMCommandGenerator,
    "CompactLLMCommandGenerator": LLMCommandGenerator,
}


def command_generator_from_pipeline(
    config: dict, endpoints: dict | None, project_root: Path | None = None
) -> LLMCommandGenerator | None:
    """The LLM command generator config.yml's pipeline names, or None if it names none.

    Raises LLMConfigError if the pipeline names more than one or the one it names is unusable.
    """
    entries = [
        entry
        for entry in (config or {}).get("pipeline") or []
        if isinstance(entry, dict) and entry.get("name") in COMMAND_GENERATOR_COMPONENTS
    ]
    if len(entries) > 1:
        names = ", ".join(str(e["name"]) for e in entries)
        raise LLMConfigError(
            f"config.yml pipeline: only one LLM command generator allowed ({names})"
        )
    if not entries:
        return None
    generator_class = COMMAND_GENERATOR_COMPONENTS[entries[0]["name"]]
    return generator_class.from_config(entries[0], endpoints, project_root)


def _prompt_flow(flow: dict) -> dict:
    slots = [
        {
            "name": slot.get("name"),
            "description": slot.get("description"),
            "type": slot.get("type"),
            "allowed_values": slot.get("allowed_values"),
            "value": slot.get("value"),
        }
        for slot in flow.get("slots") or []
        if isinstance(slot, dict) and slot.get("name")
    ]
    # In Rasa's templates `flow.name` is the id the LLM must write in StartFlow(...).
    return {
        "id": flow.get("id"),
        "name": flow.get("id"),
        "readable_name": flow.get("name") or flow.get("id"),
        "description": flow.get("description") or "",
        "slots": slots,
    }


def _find_slot(name: str | None, current: dict | None, flows: list[dict]) -> dict:
    if not name:
        return {}
    for flow in ([current] if current else []) + flows:
        for slot in flow["slots"]:
            if slot["name"] == name:
                return slot
    return {}


def _slot_names(inputs: CommandPromptInputs) -> set[str]:
    names = set(inputs.slot_names or ()) | set(inputs.slot_values)
    for flow in inputs.flows:
        names |= {s.get("name") for s in flow.get("slots") or [] if isinstance(s, dict)}
    return names


def _is_pattern(flow: dict) -> bool:
    return str(flow.get("id") or "").startswith("pattern_")


def _integer(config: dict, key: str, default: int, where: str) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LLMConfigError(f"{where}.{key}: expected a whole number, got {value!r}")
    return value
