"""`/SetSlots(name=value, ...)` message payloads (§1.10): buttons that fill slots directly."""

import re

from bot_engine.commands.catalogue import EXTRACTOR_PAYLOAD, SET_SLOT

_PAIR = re.compile(r"(?P<slot_name>[^(),=]+)=(?P<slot_value>[^(),]+)")
_NULLS = {"none", "null", "undefined"}
MAX_ASSIGNMENTS = 10


def is_set_slots_payload(text: str) -> bool:
    return text.strip().startswith("/SetSlots")


def set_slots_commands(text: str, slot_names) -> list[dict]:
    """The `set slot` commands of a payload; none if it names an unknown slot or is too long."""
    body = text.strip()[len("/SetSlots") :]
    if body.count("=") > MAX_ASSIGNMENTS:
        return []
    commands = []
    for match in _PAIR.finditer(body):
        name = match.group("slot_name").strip()
        value = match.group("slot_value").strip()
        if name not in slot_names:
            return []
        commands.append(
            {
                "command": SET_SLOT,
                "name": name,
                "value": None if value.lower() in _NULLS else value,
                "extractor": EXTRACTOR_PAYLOAD,
            }
        )
    return commands
