"""Rasa's inline entity markup: `[Berlin](city)` and `[Berlin]{"entity": "city", ...}`."""

import json
import re

from bot_engine.nlu.training_data import EntitySpan

# [text](entity) | [text](entity:value) | [text]{json} | [text][json] (legacy)
_ANNOTATION = re.compile(r"\[(?P<text>[^\]\[]+)\](?:\((?P<short>[^)]+)\)|(?P<json>\{[^}]*\}))")


def parse_annotated_example(raw: str) -> tuple[str, list[EntitySpan]]:
    """Strip the markup from an example; return its plain text and entity spans.

    Raises ValueError naming the problem for malformed annotations.
    """
    if not isinstance(raw, str):
        raise ValueError(f"an example must be text, not {type(raw).__name__}")
    plain: list[str] = []
    entities: list[EntitySpan] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(raw):
        before = raw[cursor : match.start()]
        plain.append(before)
        length += len(before)
        text = match.group("text")
        entity, role, group, value = _annotation_fields(match)
        entities.append(EntitySpan(length, length + len(text), value or text, entity, role, group))
        plain.append(text)
        length += len(text)
        cursor = match.end()
    plain.append(raw[cursor:])
    text = "".join(plain)
    if re.search(r"\]\(|\]\{", text):
        raise ValueError(f"unbalanced entity annotation in {raw!r}")
    return text, entities


def _annotation_fields(match) -> tuple[str, str | None, str | None, str | None]:
    if match.group("short") is not None:
        short = match.group("short").strip()
        entity, _, value = short.partition(":")
        if not entity:
            raise ValueError(f"empty entity name in {match.group(0)!r}")
        return entity, None, None, value or None
    try:
        spec = json.loads(match.group("json"))
    except ValueError:
        raise ValueError(f"entity annotation is not valid JSON: {match.group(0)!r}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str) or not spec["entity"]:
        raise ValueError(f"entity annotation needs an 'entity' name: {match.group(0)!r}")

    def text_or_none(key):
        value = spec.get(key)
        return None if value is None else str(value)

    return spec["entity"], text_or_none("role"), text_or_none("group"), text_or_none("value")
