"""domain.yml (or a domain/ folder of split files) into a `Domain`, with located messages."""

from bot_engine.domain import SLOT_TYPES, Domain, Intent, Slot
from bot_engine.loading.yaml_lines import YamlDocument

MAPPING_TYPES = {
    "from_entity",
    "from_text",
    "from_intent",
    "from_trigger_intent",
    "custom",
    "from_llm",
    "controlled",
}
KNOWN_KEYS = {
    "version",
    "intents",
    "entities",
    "slots",
    "responses",
    "actions",
    "forms",
    "session_config",
    "e2e_actions",
    "config",
}


def merge_domain_documents(documents: list[YamlDocument]) -> tuple[Domain, list]:
    domain = Domain()
    messages: list = []
    for document in documents:
        if document.data is None:
            continue
        if not isinstance(document.data, dict):
            messages.append(document.message((), "", "a domain file must be a mapping"))
            continue
        for key in document.data:
            if key not in KNOWN_KEYS:
                messages.append(
                    document.message((key,), key, "unknown domain key (ignored)", "warning")
                )
        _intents(document, domain, messages)
        _entities(document, domain, messages)
        _slots(document, domain, messages)
        _responses(document, domain, messages)
        _actions(document, domain, messages)
        _forms(document, domain, messages)
        _session(document, domain, messages)
    add_builtin_slots(domain)
    return domain, messages


def add_builtin_slots(domain: Domain) -> None:
    """Slots Rasa creates by itself: the form's requested slot and the session's metadata."""
    if domain.forms and "requested_slot" not in domain.slots:
        domain.slots["requested_slot"] = Slot("requested_slot", "any")
    if "session_started_metadata" not in domain.slots:
        domain.slots["session_started_metadata"] = Slot(
            "session_started_metadata", "any", influence_conversation=False
        )


def _list(document: YamlDocument, key: str, messages: list) -> list:
    value = document.data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        messages.append(document.message((key,), key, "must be a list"))
        return []
    return value


def _mapping(document: YamlDocument, key: str, messages: list) -> dict:
    value = document.data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        messages.append(document.message((key,), key, "must be a mapping"))
        return {}
    return value


def _intents(document, domain: Domain, messages: list) -> None:
    for index, item in enumerate(_list(document, "intents", messages)):
        path = ("intents", index)
        if isinstance(item, str):
            domain.intents[item] = Intent(item)
        elif isinstance(item, dict) and len(item) == 1:
            name, options = next(iter(item.items()))
            options = options or {}
            if not isinstance(options, dict):
                messages.append(document.message(path, f"intents.{name}", "options must be a map"))
                continue
            use = options.get("use_entities", True)
            ignore = options.get("ignore_entities", []) or []
            if not isinstance(use, bool | list) or not isinstance(ignore, list):
                messages.append(
                    document.message(
                        path, f"intents.{name}", "use_entities/ignore_entities must be lists"
                    )
                )
                continue
            domain.intents[str(name)] = Intent(str(name), use, [str(e) for e in ignore])
        else:
            messages.append(document.message(path, "intents", f"invalid intent entry {item!r}"))


def _entities(document, domain: Domain, messages: list) -> None:
    for index, item in enumerate(_list(document, "entities", messages)):
        if isinstance(item, str):
            name, options = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, options = next(iter(item.items()))
            options = options if isinstance(options, dict) else {}
        else:
            messages.append(
                document.message(("entities", index), "entities", f"invalid entity {item!r}")
            )
            continue
        if name not in domain.entities:
            domain.entities.append(str(name))
        domain.entity_roles[str(name)] = [str(r) for r in options.get("roles") or []]
        domain.entity_groups[str(name)] = [str(g) for g in options.get("groups") or []]


def _slots(document, domain: Domain, messages: list) -> None:
    for name, spec in _mapping(document, "slots", messages).items():
        path = ("slots", name)
        key = f"slots.{name}"
        if not isinstance(spec, dict):
            messages.append(document.message(path, key, "a slot must be a mapping"))
            continue
        slot_type = spec.get("type")
        if slot_type not in SLOT_TYPES and not str(slot_type or "").count("."):
            messages.append(
                document.message(
                    (*path, "type"), key, f"unknown slot type {slot_type!r} (use {SLOT_TYPES})"
                )
            )
            continue
        mappings = spec.get("mappings") or []
        if not isinstance(mappings, list):
            messages.append(document.message((*path, "mappings"), key, "mappings must be a list"))
            mappings = []
        for index, mapping in enumerate(mappings):
            if not isinstance(mapping, dict) or mapping.get("type") not in MAPPING_TYPES:
                kind = mapping.get("type") if isinstance(mapping, dict) else mapping
                messages.append(
                    document.message(
                        (*path, "mappings", index), key, f"unknown slot mapping type {kind!r}"
                    )
                )
        slot = Slot(
            name=str(name),
            type=str(slot_type),
            initial_value=spec.get("initial_value"),
            influence_conversation=bool(spec.get("influence_conversation", True)),
            values=list(spec.get("values") or []),
            min_value=float(spec.get("min_value", 0.0) or 0.0),
            max_value=float(spec.get("max_value", 1.0) or 1.0),
            mappings=[m for m in mappings if isinstance(m, dict)],
        )
        if slot.type == "categorical" and not slot.values:
            messages.append(document.message(path, key, "a categorical slot needs 'values'"))
        domain.slots[slot.name] = slot


def _responses(document, domain: Domain, messages: list) -> None:
    for name, variations in _mapping(document, "responses", messages).items():
        path = ("responses", name)
        if not isinstance(variations, list) or not variations:
            messages.append(document.message(path, name, "a response is a list of variations"))
            continue
        good = []
        for index, variation in enumerate(variations):
            keys = {"text", "image", "custom", "buttons", "attachment", "quick_replies", "elements"}
            if not isinstance(variation, dict) or not keys & set(variation):
                messages.append(
                    document.message(
                        (*path, index), name, "a variation needs text, image, buttons or custom"
                    )
                )
                continue
            good.append(variation)
        if good:
            domain.responses[str(name)] = good


def _actions(document, domain: Domain, messages: list) -> None:
    for item in _list(document, "actions", messages):
        name = next(iter(item)) if isinstance(item, dict) and item else item
        if isinstance(name, str) and name not in domain.actions:
            domain.actions.append(name)
        options = item.get(name) if isinstance(item, dict) and isinstance(name, str) else None
        if isinstance(options, dict) and options.get("send_domain") is True:
            domain.actions_sending_domain.add(name)


def _forms(document, domain: Domain, messages: list) -> None:
    for name, spec in _mapping(document, "forms", messages).items():
        spec = spec or {}
        required = spec.get("required_slots", []) if isinstance(spec, dict) else None
        if isinstance(required, dict):  # Rasa 2.x: slot -> mappings
            required = list(required)
        if not isinstance(required, list):
            messages.append(
                document.message(("forms", name), name, "required_slots must be a list")
            )
            continue
        form = {"required_slots": [str(s) for s in required]}
        ignored = spec.get("ignored_intents") if isinstance(spec, dict) else None
        if ignored:
            form["ignored_intents"] = [
                str(i) for i in (ignored if isinstance(ignored, list) else [ignored])
            ]
        domain.forms[str(name)] = form


def _session(document, domain: Domain, messages: list) -> None:
    config = _mapping(document, "session_config", messages)
    if "session_expiration_time" in config:
        try:
            domain.session_expiration_minutes = float(config["session_expiration_time"])
        except (TypeError, ValueError):
            messages.append(
                document.message(
                    ("session_config",), "session_expiration_time", "must be a number of minutes"
                )
            )
    if "carry_over_slots_to_new_session" in config:
        domain.carry_over_slots = bool(config["carry_over_slots_to_new_session"])
