"""Recognising the handoff conventions Rasa bots already use in what they say.

A bot message asks for a human if its text or payload is `handoff_to_human`, or its custom
JSON names a handoff (`{"handoff": ...}`, `{"handoff_host": ...}`, `{"handoff_to_human": ...}`).
"""

from dataclasses import dataclass, field

MARKER = "handoff_to_human"
_CUSTOM_KEYS = ("handoff", "handoff_host", "handoff_to_human")
REASONS = ("explicit_request", "two_stage_fallback", "core_fallback", "pattern", "custom_action")


@dataclass(frozen=True)
class Handoff:
    """The engine's one answer to "the bot wants a human": why, and any detail the bot gave."""

    reason: str
    detail: dict = field(default_factory=dict)


def handoff_request(bot_event: dict) -> dict | None:
    """The handoff detail a bot event asks for, or None if it is an ordinary message."""
    text = (bot_event.get("text") or "").strip()
    data = bot_event.get("data") or {}
    custom = data.get("custom")
    if text == MARKER or custom == MARKER:
        return {"marker": MARKER}
    if isinstance(custom, dict):
        for key in _CUSTOM_KEYS:
            if key in custom:
                return {"marker": key, "value": custom[key]}
        if custom.get("payload") == MARKER:
            return {"marker": MARKER}
    for button in data.get("buttons") or []:
        if isinstance(button, dict) and button.get("payload") == MARKER and button.get("auto"):
            return {"marker": MARKER}
    return None


def is_marker_only(bot_event: dict) -> bool:
    """A bare `handoff_to_human` text is a signal for the channel, not words for the customer."""
    return (bot_event.get("text") or "").strip() == MARKER and not bot_event.get("data")
