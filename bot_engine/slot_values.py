"""Slot value coercion and validity as commands and rejections use them (Rasa §10.2).

`coerce` turns what a user or a command gave ("50", "Yes") into the slot's type where it can;
`is_valid` says whether the value fits the slot type at all ("maybe" for a bool does not).
"""

from bot_engine.domain import Slot

OTHER = "__other__"  # the hidden extra value of every categorical slot


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1.0
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return float(text) == 1.0
        if text in {"true", "yes"}:
            return True
        if text in {"false", "no"}:
            return False
    return value


def coerce(slot: Slot, value):
    """The value in the slot's type, or unchanged if it does not convert."""
    if value is None:
        return None
    if slot.type == "float":
        if isinstance(value, bool):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    if slot.type == "bool":
        return _bool(value)
    if slot.type == "categorical" and isinstance(value, str):
        for allowed in [*slot.values, OTHER]:
            if str(allowed) == value:
                return allowed
        for allowed in [*slot.values, OTHER]:
            if str(allowed).casefold() == value.casefold():
                return allowed
        return value
    if slot.type == "list" and not isinstance(value, list) and value:
        return [value]
    return value


def is_valid(slot: Slot, value) -> bool:
    if value is None:
        return True
    if slot.type == "float":
        if isinstance(value, bool):
            return False
        try:
            float(value)
        except (TypeError, ValueError):
            return False
        return True
    if slot.type == "bool":
        return isinstance(_bool(value), bool)
    if slot.type == "categorical":
        allowed = {str(v).casefold() for v in [*slot.values, OTHER]}
        return str(value).casefold() in allowed
    return True


def typed_value(slot: Slot, value):
    """The coerced value if valid, else None (how rejections see a value)."""
    return coerce(slot, value) if is_valid(slot, value) else None
