"""Filling slots from the latest message by the domain's slot mappings (`action_extract_slots`)."""

from bot_engine.dialogue import events


def extract_slot_events(tracker, domain, exclude: frozenset = frozenset()) -> list[dict]:
    """Slot events from the latest message's slot mappings (`exclude`: slots flows collect)."""
    parse = tracker.latest_message.get("parse_data") or {}
    intent = (parse.get("intent") or {}).get("name")
    entities = parse.get("entities") or []
    text = tracker.latest_message.get("text") or ""
    loop = tracker.active_loop.get("name")
    requested = tracker.slots.get("requested_slot")
    found: list[dict] = []
    for slot in domain.slots.values():
        if slot.name in exclude:
            continue
        for mapping in slot.mappings:
            values = _values(mapping, intent, entities, text, loop, requested, slot.name)
            if not values:
                continue
            value = values if slot.type == "list" else values[-1]
            if value is None and tracker.slots.get(slot.name) is None:
                continue
            if tracker.slots.get(slot.name) != value:
                found.append(events.slot(slot.name, value))
            break
    return found


def _values(mapping, intent, entities, text, loop, requested, slot_name) -> list:
    kind = mapping.get("type")
    wanted = mapping.get("intent")
    if wanted is not None:
        wanted = wanted if isinstance(wanted, list) else [wanted]
        if intent not in wanted:
            return []
    excluded = mapping.get("not_intent") or []
    excluded = excluded if isinstance(excluded, list) else [excluded]
    if intent in excluded:
        return []
    if kind != "from_trigger_intent" and not _conditions_hold(mapping, loop, requested):
        return []
    if kind == "from_entity":
        return [
            e.get("value")
            for e in entities
            if e.get("entity") == mapping.get("entity")
            and e.get("role") == mapping.get("role")
            and e.get("group") == mapping.get("group")
        ]
    if kind == "from_text":
        return [text] if text else []
    if kind == "from_intent":
        return [mapping.get("value")]
    if kind == "from_trigger_intent":
        conditions = mapping.get("conditions") or []
        loops = [c.get("active_loop") for c in conditions if isinstance(c, dict)]
        if loop and (not loops or loop in loops) and requested is None:
            return [mapping.get("value")]
    return []


def _conditions_hold(mapping, loop, requested) -> bool:
    conditions = mapping.get("conditions")
    if not conditions:
        return True
    for condition in conditions:
        if not isinstance(condition, dict):
            continue
        if condition.get("active_loop") != loop:
            continue
        if "requested_slot" in condition and condition["requested_slot"] != requested:
            continue
        return True
    return False
