"""Rendering domain responses: variations, channels, conditions, `{slot}` and Jinja templates."""

import random
import re

from jinja2 import Undefined
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment

RICH_KEYS = ("buttons", "quick_replies", "image", "attachment", "custom", "elements")
_PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}\n]+)\}(?!\})")
_jinja = SandboxedEnvironment(undefined=Undefined, autoescape=False)

# The guide's default texts for responses an assistant may leave out.
DEFAULT_RESPONSES = {
    "utter_ask_rephrase": [
        {"text": "I'm sorry, I didn't quite understand that. Could you rephrase?"}
    ],
    "utter_default": [
        {"text": "Sorry, I couldn't understand that. Could you try saying it differently?"}
    ],
    "utter_human_handoff": [{"text": "Let me connect you to a member of our team."}],
    "utter_human_handoff_not_available": [
        {
            "text": "I understand you'd like to talk to a person, but nobody from our team is "
            "available right now. Is there anything else I can help you with?"
        }
    ],
}


# What a response's `channel:` names, per input channel (rasa-spec §14): Rasa's REST channel
# answers through its `collector` output channel (`rest` is accepted too); the hub's web widget
# takes responses written for Rasa's web chat (`socketio`) when it has none of its own.
OUTPUT_CHANNELS = {"rest": ("collector", "rest"), "web": ("web", "socketio")}


def output_channel_names(input_channel: str | None) -> tuple[str, ...]:
    """The `channel:` values of responses meant for messages that came in on `input_channel`."""
    if not input_channel:
        return ()
    return OUTPUT_CHANNELS.get(input_channel, (input_channel,))


def choose_variation(variations: list[dict], slots: dict, channel: str | None, rng=random):
    """Rasa's selection: conditional before unconditional, channel-specific before generic."""
    names = output_channel_names(channel)

    def holds(variation: dict) -> bool:
        for condition in variation.get("condition") or []:
            if not isinstance(condition, dict) or condition.get("type", "slot") != "slot":
                continue
            actual, expected = slots.get(condition.get("name")), condition.get("value")
            if isinstance(actual, str) and isinstance(expected, str):
                if actual.casefold() != expected.casefold():
                    return False
            elif actual != expected:
                return False
        return True

    conditional = [v for v in variations if v.get("condition") and holds(v)]
    plain = [v for v in variations if not v.get("condition")]
    for candidates in (
        *([v for v in conditional if v.get("channel") == name] for name in names),
        *([v for v in plain if v.get("channel") == name] for name in names),
        [v for v in conditional if not v.get("channel")],
        [v for v in plain if not v.get("channel")],
    ):
        if candidates:
            return rng.choice(candidates)
    return None


def render_variation(variation: dict, variables: dict) -> dict:
    """Fill templates in text and rich parts (never partially: unknown names leave it as is)."""
    use_jinja = (variation.get("metadata") or {}).get("template") == "jinja"
    rendered = dict(variation)
    for key in ("text", *RICH_KEYS):
        if key in rendered:
            rendered[key] = _fill(rendered[key], variables, use_jinja)
    return rendered


def _fill(value, variables: dict, use_jinja: bool):
    if isinstance(value, str):
        return _jinja_text(value, variables) if use_jinja else _format_text(value, variables)
    if isinstance(value, list):
        return [_fill(v, variables, use_jinja) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, variables, use_jinja) for k, v in value.items()}
    return value


def _format_text(text: str, variables: dict) -> str:
    names = _PLACEHOLDER.findall(text)
    if any(name not in variables for name in names):
        return text.replace("{{", "{").replace("}}", "}") if not names else text
    filled = _PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]), text)
    return filled.replace("{{", "{").replace("}}", "}")


def _jinja_text(text: str, variables: dict) -> str:
    try:
        return _jinja.from_string(text).render(**variables)
    except TemplateError:
        return text


def message_from_variation(rendered: dict, response_name: str) -> dict:
    """The bot message (Rasa's bot event payload) for a rendered variation."""
    message = {"text": rendered.get("text")}
    for key in RICH_KEYS:
        if rendered.get(key):
            message[key] = rendered[key]
    metadata = {k: v for k, v in rendered.items() if k not in {"text", *RICH_KEYS}}
    metadata["utter_action"] = response_name
    message["metadata"] = metadata
    return message
