"""Entity extraction: regexes and lookup tables, a CRF learnt from annotations, then synonyms.

Component names in `config.yml` choose the extractors, as in Rasa: `RegexEntityExtractor`
(regexes named after an entity, lookup tables), `CRFEntityExtractor` or `DIETClassifier`
(learnt; `entity_recognition: false` on DIET turns it off), `EntitySynonymMapper`. A pipeline
that names no component gets all of them.
"""

import re
from dataclasses import dataclass, field

from bot_engine.nlu.crf_entities import CRFEntityExtractor
from bot_engine.nlu.training_data import NLUTrainingData

LEARNT_EXTRACTORS = ("CRFEntityExtractor", "DIETClassifier")


@dataclass
class EntityExtractor:
    regexes: list[tuple[str, re.Pattern]] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    crf: CRFEntityExtractor | None = None
    use_regexes: bool = True
    use_synonyms: bool = True

    @classmethod
    def train(cls, data: NLUTrainingData, config: list[dict]) -> "EntityExtractor":
        """Train the extractors that `config` (the pipeline's components) asks for."""
        components = {c.get("name"): c for c in config or [] if isinstance(c, dict)}
        default = not components
        extractor = cls(
            use_regexes=default or "RegexEntityExtractor" in components,
            use_synonyms=default or "EntitySynonymMapper" in components,
        )
        extractor.regexes = _regexes(data)
        for example in data.examples:
            for span in example.entities:
                surface = example.text[span.start : span.end].strip().lower()
                if surface and span.value.lower() != surface:
                    extractor.synonyms.setdefault(surface, span.value)
        extractor.synonyms.update({k.lower(): v for k, v in data.synonyms.items()})
        learnt = _learnt_component(components, default)
        if learnt is not None:
            extractor.crf = CRFEntityExtractor.train(
                data,
                extractor.regexes + _annotated_values(data),
                extractor_name=learnt.get("name", "CRFEntityExtractor"),
                options=_crf_options(learnt),
            )
        return extractor

    def extract(self, text: str) -> list[dict]:
        """Entities of `text` in Rasa's shape, synonyms mapped to their value."""
        found: list[dict] = []
        taken: list[tuple[int, int]] = []

        def free(start: int, end: int) -> bool:
            return all(end <= s or start >= e for s, e in taken)

        if self.use_regexes:
            for name, pattern in self.regexes:
                for match in pattern.finditer(text):
                    if match.end() > match.start() and free(match.start(), match.end()):
                        taken.append((match.start(), match.end()))
                        found.append(_regex_entity(name, match))
        if self.crf is not None:
            for item in self.crf.extract(text):
                if free(item["start"], item["end"]):
                    taken.append((item["start"], item["end"]))
                    found.append(item)
        if self.use_synonyms:
            for item in found:
                canonical = self.synonyms.get(str(item["value"]).lower())
                if canonical is not None and canonical != item["value"]:
                    item["value"] = canonical
                    item.setdefault("processors", []).append("EntitySynonymMapper")
        return sorted(found, key=lambda e: e["start"])


def _regexes(data: NLUTrainingData) -> list[tuple[str, re.Pattern]]:
    entity_names = {span.entity for ex in data.examples for span in ex.entities}
    result = []
    for name, pattern in data.regexes:
        # Like Rasa's RegexEntityExtractor, only regexes named after an entity extract.
        if name in entity_names or name in data.lookups:
            result.append((name, re.compile(pattern, re.IGNORECASE)))
    for name, values in data.lookups.items():
        if values:
            result.append((name, _alternation(values)))
    return result


def _annotated_values(data: NLUTrainingData) -> list[tuple[str, re.Pattern]]:
    """The annotated strings as lookup features of the CRF (a hint, never an extraction)."""
    values: dict[str, set[str]] = {}
    for example in data.examples:
        for span in example.entities:
            surface = example.text[span.start : span.end].strip()
            if surface:
                values.setdefault(span.entity, set()).add(surface)
    return [(f"annotated:{name}", _alternation(v)) for name, v in sorted(values.items())]


def _alternation(values) -> re.Pattern:
    choices = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{choices})(?!\w)", re.IGNORECASE)


def _learnt_component(components: dict, default: bool) -> dict | None:
    if default:
        return {"name": "DIETClassifier"}
    for name in LEARNT_EXTRACTORS:
        component = components.get(name)
        if component is not None and component.get("entity_recognition", True) is not False:
            return component
    return None


def _crf_options(component: dict) -> dict:
    options = {}
    for ours, theirs in (("c1", "L1_c"), ("c2", "L2_c"), ("max_iterations", "max_iterations")):
        if component.get(theirs) is not None:
            options[ours] = component[theirs]
    return options


def _regex_entity(name: str, match: re.Match) -> dict:
    return {
        "entity": name,
        "start": match.start(),
        "end": match.end(),
        "value": match.group(0),
        "extractor": "RegexEntityExtractor",
    }
