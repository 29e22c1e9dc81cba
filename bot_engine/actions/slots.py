"""`action_extract_slots`: fill slots from the latest message by the domain's slot mappings.

Rasa's order (rasa-spec §10.3–10.4): predefined mappings (from_entity, from_text, from_intent,
from_trigger_intent) give candidate `slot` events; `custom` mappings with an `action:` run that
action once per turn (its `slot` and `bot` events are kept, its failures ignored); then, if the
domain lists `action_validate_slot_mappings`, it sees the candidates and its `slot` events
replace those of the same name.
"""

import logging

from bot_engine.actions.base import ActionContext, ActionFailed, ActionRejected, with_events
from bot_engine.dialogue import events

logger = logging.getLogger(__name__)
VALIDATE_SLOT_MAPPINGS = "action_validate_slot_mappings"
BUILTIN_SLOTS = {"requested_slot", "session_started_metadata"}


def run_extract_slots(context: ActionContext, exclude: frozenset = frozenset()) -> list[dict]:
    """The events of `action_extract_slots` for the tracker's latest user message."""
    tracker, domain = context.tracker, context.assistant.domain
    found = extract_slot_events(tracker, domain, exclude)
    ran: set[str] = set()
    for slot in domain.slots.values():
        for mapping in slot.mappings:
            action = mapping.get("action") if mapping.get("type") == "custom" else None
            if action and action not in ran:
                ran.add(action)
                found += _custom_mapping_events(context, action, found)
    if VALIDATE_SLOT_MAPPINGS not in domain.actions:
        return found
    try:
        returned = context.assistant.run_named(VALIDATE_SLOT_MAPPINGS, with_events(context, found))
    except (ActionFailed, ActionRejected) as error:
        logger.warning("%s failed, keeping the extracted slots: %s", VALIDATE_SLOT_MAPPINGS, error)
        return found
    replaced = {e.get("name") for e in returned if e.get("event") == "slot"}
    kept = [e for e in found if not (e.get("event") == "slot" and e.get("name") in replaced)]
    return kept + [e for e in returned if e.get("event") in {"slot", "bot"}]


def _custom_mapping_events(context: ActionContext, action: str, so_far: list[dict]) -> list[dict]:
    try:
        returned = context.assistant.run_named(action, with_events(context, so_far))
    except (ActionFailed, ActionRejected) as error:
        logger.warning("custom slot mapping action %s failed: %s", action, error)
        return []
    return [e for e in returned if e.get("event") in {"slot", "bot"}]


def extract_slot_events(tracker, domain, exclude: frozenset = frozenset()) -> list[dict]:
    """Candidate `slot` events from the predefined mappings (no actions are run).

    `exclude`: slots the caller fills otherwise (flows fill theirs through commands)."""
    parse = tracker.latest_message.get("parse_data") or {}
    message = {
        "intent": (parse.get("intent") or {}).get("name"),
        "entities": parse.get("entities") or [],
        "text": tracker.latest_message.get("text") or "",
        "loop": tracker.active_loop.get("name"),
        "rejected": bool(tracker.active_loop.get("rejected")),
        "requested": tracker.slots.get("requested_slot"),
    }
    found: list[dict] = []
    for slot in domain.slots.values():
        if slot.name in BUILTIN_SLOTS or slot.name in exclude:
            continue
        for mapping in slot.mappings:
            if not _applies(mapping, slot.name, message, domain):
                continue
            values = _values(mapping, message)
            if not values:
                continue
            value = values if slot.type == "list" else values[-1]
            if value is None and tracker.slots.get(slot.name) is None:
                continue
            if tracker.slots.get(slot.name) != value:
                found.append(events.slot(slot.name, value))
            break
    return found


def _applies(mapping: dict, slot_name: str, message: dict, domain) -> bool:
    kind = mapping.get("type")
    if kind not in {"from_entity", "from_text", "from_intent", "from_trigger_intent"}:
        return False
    intent = message["intent"]
    wanted = mapping.get("intent")
    if wanted is not None:
        if intent not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    else:
        excluded = mapping.get("not_intent") or []
        excluded = set(excluded if isinstance(excluded, list) else [excluded])
        excluded |= _ignored_intents(mapping, message["loop"], domain)
        if intent in excluded:
            return False
    if kind == "from_trigger_intent":
        return True
    if not _conditions_hold(mapping, slot_name, message):
        return False
    loop = message["loop"]
    if kind == "from_entity" and loop in domain.forms and message["requested"] != slot_name:
        # Inside a form, an entity fills a slot it was not asked for only if no other slot of
        # the form maps the same entity (Rasa's "unique entity mapping").
        return _entity_mapping_is_unique(mapping, slot_name, loop, domain)
    return True


def _ignored_intents(mapping: dict, loop: str | None, domain) -> set[str]:
    conditions = mapping.get("conditions") or []
    forms = {c.get("active_loop") for c in conditions if isinstance(c, dict)}
    if loop and loop in forms:
        ignored = (domain.forms.get(loop) or {}).get("ignored_intents") or []
        return set(ignored if isinstance(ignored, list) else [ignored])
    return set()


def _entity_mapping_is_unique(mapping: dict, slot_name: str, form: str, domain) -> bool:
    key = (mapping.get("entity"), mapping.get("role"), mapping.get("group"))
    for other in (domain.forms.get(form) or {}).get("required_slots") or []:
        if other == slot_name or other not in domain.slots:
            continue
        for candidate in domain.slots[other].mappings:
            if candidate.get("type") == "from_entity" and key == (
                candidate.get("entity"),
                candidate.get("role"),
                candidate.get("group"),
            ):
                return False
    return True


def _values(mapping: dict, message: dict) -> list:
    kind = mapping.get("type")
    if kind == "from_entity":
        return [
            e.get("value")
            for e in message["entities"]
            if e.get("entity") == mapping.get("entity")
            and e.get("role") == mapping.get("role")
            and e.get("group") == mapping.get("group")
        ]
    if kind == "from_text":
        return [message["text"]] if message["text"] else []
    if kind == "from_intent":
        return [mapping.get("value")]
    if kind == "from_trigger_intent":
        conditions = mapping.get("conditions") or []
        loops = [c.get("active_loop") for c in conditions if isinstance(c, dict)]
        loop = message["loop"]
        if loop and (not loops or loop in loops) and message["requested"] is None:
            return [mapping.get("value")]
    return []


def _conditions_hold(mapping: dict, slot_name: str, message: dict) -> bool:
    conditions = mapping.get("conditions")
    if not conditions:
        return True
    for condition in conditions:
        if not isinstance(condition, dict):
            continue
        if condition.get("active_loop") != message["loop"]:
            continue
        if "requested_slot" in condition and condition["requested_slot"] != message["requested"]:
            continue
        if message["rejected"] and message["requested"] == slot_name:
            continue  # the form was rejected for this very slot (rasa-spec §10.3)
        return True
    return False
