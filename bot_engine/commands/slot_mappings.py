"""NLU slot mappings evaluated for flows (§10.3): which value, if any, a message gives a slot."""

PREDEFINED = {"from_entity", "from_intent", "from_trigger_intent", "from_text"}


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _conditions_hold(mapping: dict, active_flow: str | None, active_loop: str | None) -> bool:
    conditions = [c for c in mapping.get("conditions") or [] if isinstance(c, dict)]
    if not conditions:
        return True
    if active_flow is not None:
        return any(c.get("active_flow") == active_flow for c in conditions)
    return any("active_loop" in c and c.get("active_loop") == active_loop for c in conditions)


def mapping_value(mapping: dict, parse: dict, active_flow: str | None, active_loop=None):
    """(True, value) if the mapping fills the slot from this message, else (False, None)."""
    kind = mapping.get("type")
    if kind not in PREDEFINED or kind == "from_trigger_intent":
        return False, None  # trigger-intent mappings belong to DM1 forms
    intent = (parse.get("intent") or {}).get("name")
    wanted = _as_list(mapping.get("intent"))
    if wanted and intent not in wanted:
        return False, None
    if intent in _as_list(mapping.get("not_intent")):
        return False, None
    if not _conditions_hold(mapping, active_flow, active_loop):
        return False, None
    if kind == "from_intent":
        return True, mapping.get("value")
    if kind == "from_text":
        text = parse.get("text")
        return (True, text) if text else (False, None)
    values = [
        e.get("value")
        for e in parse.get("entities") or []
        if e.get("entity") == mapping.get("entity")
        and e.get("role") == mapping.get("role")
        and e.get("group") == mapping.get("group")
    ]
    return (True, values[-1]) if values else (False, None)


def first_mapping_type(slot) -> str:
    return (slot.mappings[0].get("type") if slot.mappings else None) or "from_llm"
