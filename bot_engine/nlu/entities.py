"""Entity extraction from regexes, lookup tables and annotated example values, plus synonyms."""

import re
from dataclasses import dataclass, field

from bot_engine.nlu.training_data import NLUTrainingData


@dataclass
class EntityExtractor:
    regexes: list[tuple[str, re.Pattern]] = field(default_factory=list)
    # Lower-cased annotated value -> (entity, role, group), longest values tried first.
    gazetteer: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)
    use_regexes: bool = True
    use_gazetteer: bool = True
    use_synonyms: bool = True
    _gazetteer_pattern: re.Pattern | None = None

    @classmethod
    def train(cls, data: NLUTrainingData, component_names: set[str]) -> "EntityExtractor":
        default = not component_names
        extractor = cls(
            use_regexes=default or "RegexEntityExtractor" in component_names,
            use_gazetteer=default
            or bool({"DIETClassifier", "CRFEntityExtractor"} & component_names),
            use_synonyms=default or "EntitySynonymMapper" in component_names,
        )
        entity_names = {span.entity for ex in data.examples for span in ex.entities}
        for name, pattern in data.regexes:
            # Like Rasa's RegexEntityExtractor, only regexes named after an entity extract.
            if name in entity_names or name in data.lookups:
                extractor.regexes.append((name, re.compile(pattern, re.IGNORECASE)))
        for name, values in data.lookups.items():
            if values:
                alternation = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
                extractor.regexes.append(
                    (name, re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE))
                )
        for example in data.examples:
            for span in example.entities:
                surface = example.text[span.start : span.end].strip().lower()
                if surface:
                    extractor.gazetteer[surface] = (span.entity, span.role, span.group)
                    if span.value.lower() != surface:
                        extractor.synonyms.setdefault(surface, span.value)
        extractor.synonyms.update(data.synonyms)
        extractor.compile()
        return extractor

    def compile(self) -> None:
        if self.gazetteer:
            alternation = "|".join(
                re.escape(v) for v in sorted(self.gazetteer, key=len, reverse=True)
            )
            self._gazetteer_pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_gazetteer_pattern"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.compile()

    def extract(self, text: str) -> list[dict]:
        found: list[dict] = []
        taken: list[tuple[int, int]] = []

        def free(start: int, end: int) -> bool:
            return all(end <= s or start >= e for s, e in taken)

        if self.use_regexes:
            for name, pattern in self.regexes:
                for match in pattern.finditer(text):
                    if match.end() > match.start() and free(match.start(), match.end()):
                        taken.append((match.start(), match.end()))
                        found.append(_entity(name, match, "RegexEntityExtractor"))
        if self.use_gazetteer and self._gazetteer_pattern is not None:
            for match in self._gazetteer_pattern.finditer(text):
                if free(match.start(), match.end()):
                    entity, role, group = self.gazetteer[match.group(0).lower()]
                    taken.append((match.start(), match.end()))
                    item = _entity(entity, match, "DIETClassifier")
                    item["confidence_entity"] = 1.0
                    if role:
                        item["role"] = role
                    if group:
                        item["group"] = group
                    found.append(item)
        if self.use_synonyms:
            for item in found:
                canonical = self.synonyms.get(str(item["value"]).lower())
                if canonical is not None and canonical != item["value"]:
                    item["value"] = canonical
                    item.setdefault("processors", []).append("EntitySynonymMapper")
        return sorted(found, key=lambda e: e["start"])


def _entity(name: str, match: re.Match, extractor: str) -> dict:
    return {
        "entity": name,
        "start": match.start(),
        "end": match.end(),
        "value": match.group(0),
        "extractor": extractor,
    }
