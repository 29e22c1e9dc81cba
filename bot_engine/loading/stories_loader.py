"""`rules:` and `stories:` sections into `Story` objects (steps as small dicts)."""

from dataclasses import dataclass, field

from bot_engine.loading.yaml_lines import YamlDocument
from bot_engine.nlu import parse_annotated_example


@dataclass
class Story:
    name: str
    steps: list[dict]
    is_rule: bool
    file: str
    line: int | None
    conversation_start: bool = False
    condition: list[dict] = field(default_factory=list)
    wait_for_user_input: bool = True


def _step(raw, path, document: YamlDocument, where: str, messages: list) -> dict | None:
    """One step normalised to {'user': intent, 'entities': {...}} / {'action': name} / ..."""
    if not isinstance(raw, dict):
        messages.append(document.message(path, where, f"invalid step {raw!r}"))
        return None
    if "user" in raw:  # end-to-end text; keep the text so intent can be predicted at test time
        try:
            text, _ = parse_annotated_example(str(raw["user"]))
        except ValueError:
            text = str(raw["user"])
        return {
            "user": raw.get("intent"),
            "text": text,
            "entities": {},
            "line": document.line(*path),
        }
    if "intent" in raw:
        entities = {}
        for item in raw.get("entities") or []:
            if isinstance(item, dict):
                for key, value in item.items():
                    if key not in {"role", "group", "value", "entity"}:
                        entities[str(key)] = value
                if "entity" in item:
                    entities[str(item["entity"])] = item.get("value")
            elif isinstance(item, str):
                entities[item] = None
        return {"user": str(raw["intent"]), "entities": entities, "line": document.line(*path)}
    if "action" in raw:
        return {"action": str(raw["action"]), "line": document.line(*path)}
    if "bot" in raw:
        return {"action": str(raw["bot"]), "line": document.line(*path), "bot_text": True}
    if "active_loop" in raw:
        return {"active_loop": raw["active_loop"], "line": document.line(*path)}
    if "slot_was_set" in raw:
        slots = {}
        for item in raw["slot_was_set"] or []:
            if isinstance(item, dict):
                slots.update({str(k): v for k, v in item.items()})
            elif isinstance(item, str):
                slots[item] = True  # "slot is set" shorthand
        return {"slot_was_set": slots, "line": document.line(*path)}
    if "checkpoint" in raw:
        return {"checkpoint": str(raw["checkpoint"]), "line": document.line(*path)}
    if "or" in raw:
        options = []
        for index, option in enumerate(raw["or"] or []):
            parsed = _step(option, (*path, "or", index), document, where, messages)
            if parsed:
                options.append(parsed)
        return {"or": options, "line": document.line(*path)}
    messages.append(document.message(path, where, f"unknown step {sorted(raw)}"))
    return None


def read_stories(document: YamlDocument, stories: list[Story], messages: list) -> None:
    for section, is_rule in (("rules", True), ("stories", False)):
        items = document.data.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            messages.append(document.message((section,), section, "must be a list"))
            continue
        for index, item in enumerate(items):
            path = (section, index)
            kind = "rule" if is_rule else "story"
            if not isinstance(item, dict) or not isinstance(item.get(kind), str):
                messages.append(document.message(path, section, f"each item needs a '{kind}' name"))
                continue
            name = item[kind]
            where = f"{kind} '{name}'"
            raw_steps = item.get("steps")
            if not isinstance(raw_steps, list):
                messages.append(document.message(path, where, "needs a list of 'steps'"))
                continue
            steps = []
            for step_index, raw in enumerate(raw_steps):
                step = _step(raw, (*path, "steps", step_index), document, where, messages)
                if step:
                    steps.append(step)
            condition = []
            for raw in item.get("condition") or []:
                parsed = _step(raw, (*path, "condition"), document, where, messages)
                if parsed:
                    condition.append(parsed)
            stories.append(
                Story(
                    name=name,
                    steps=steps,
                    is_rule=is_rule,
                    file=document.file,
                    line=document.line(*path),
                    conversation_start=bool(item.get("conversation_start", False)),
                    condition=condition,
                    wait_for_user_input=bool(item.get("wait_for_user_input", True)),
                )
            )
