"""A conditional random field that learns entities from annotated examples (python-crfsuite).

Like Rasa's `CRFEntityExtractor` (and the entity part of `DIETClassifier`, which maps here):
tokens are tagged with BILOU labels whose names carry the entity, role and group, from features
of each token and its neighbours — lower-cased word, prefixes and suffixes, word shape, case,
digits, and whether a regex, lookup table or annotated value covers the token. So a value never
seen in training is still found in a context that was ("fly to [Oslo](city)" teaches "fly to
Lima"). Synonyms are mapped afterwards by the caller.
"""

import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from bot_engine.nlu.training_data import NLUTrainingData, TrainingExample

_TOKEN = re.compile(r"\w+(?:[.'@\-/:+]\w+)*")
# crfsuite defaults as Rasa configures them: L1 and L2 of 0.1, 50 L-BFGS iterations.
DEFAULT_OPTIONS = {"c1": 0.1, "c2": 0.1, "max_iterations": 50}
# Examples without entities teach the CRF what is not an entity; a few suffice.
NEGATIVES_PER_POSITIVE = 3


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Words with their character offsets (punctuation between words is dropped, as Rasa does)."""
    return [Token(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


@dataclass
class CRFEntityExtractor:
    extractor_name: str = "CRFEntityExtractor"
    patterns: list[tuple[str, re.Pattern]] = field(default_factory=list)
    model: bytes = b""
    # crfsuite taggers keep per-call state: one per thread, as parses run in several threads.
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @classmethod
    def train(
        cls,
        data: NLUTrainingData,
        patterns: list[tuple[str, re.Pattern]],
        extractor_name: str = "CRFEntityExtractor",
        options: dict | None = None,
    ) -> "CRFEntityExtractor":
        """Train on the annotated examples; an extractor with no model if nothing is annotated."""
        import pycrfsuite

        extractor = cls(extractor_name, list(patterns))
        chosen = _training_examples(data.examples)
        if not chosen:
            return extractor
        trainer = pycrfsuite.Trainer(verbose=False)
        for example in chosen:
            tokens = tokenize(example.text)
            if tokens:
                trainer.append(extractor._features(example.text, tokens), _labels(example, tokens))
        trainer.set_params({**DEFAULT_OPTIONS, **(options or {})})
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "entities.crfsuite"
            trainer.train(str(path))
            extractor.model = path.read_bytes()
        return extractor

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def _tagger_for_model(self):
        tagger = getattr(self._local, "tagger", None)
        if tagger is None and self.model:
            import pycrfsuite

            tagger = pycrfsuite.Tagger()
            tagger.open_inmemory(self.model)
            self._local.tagger = tagger
        return tagger

    def extract(self, text: str) -> list[dict]:
        """Entities in Rasa's shape, with `confidence_entity` (the lowest token marginal)."""
        tagger = self._tagger_for_model()
        tokens = tokenize(text)
        if tagger is None or not tokens:
            return []
        labels = tagger.tag(self._features(text, tokens))
        confidences = [tagger.marginal(label, i) for i, label in enumerate(labels)]
        return [
            self._entity(text, tokens, first, last, labels[first], confidences)
            for first, last in _spans(labels)
        ]

    def _entity(self, text, tokens, first, last, label, confidences) -> dict:
        entity, role, group = _split_label(label[2:])
        start, end = tokens[first].start, tokens[last].end
        item = {
            "entity": entity,
            "start": start,
            "end": end,
            "value": text[start:end],
            "confidence_entity": round(float(min(confidences[first : last + 1])), 4),
            "extractor": self.extractor_name,
        }
        if role:
            item["role"] = role
        if group:
            item["group"] = group
        return item

    def _features(self, text: str, tokens: list[Token]) -> list[dict]:
        matches = _pattern_matches(text, tokens, self.patterns)
        own = [_token_features(t.text, matches[i]) for i, t in enumerate(tokens)]
        result = []
        for i, features in enumerate(own):
            item = {"bias": 1.0, **features}
            for offset, tag in ((-1, "-1"), (1, "+1"), (-2, "-2"), (2, "+2")):
                j = i + offset
                if 0 <= j < len(tokens):
                    neighbour = own[j]
                    item[f"{tag}:low={neighbour['low']}"] = 1.0
                    if abs(offset) == 1:
                        item[f"{tag}:shape={neighbour['shape']}"] = 1.0
                        for name in matches[j]:
                            item[f"{tag}:pattern={name}"] = 1.0
                else:
                    item[f"{tag}:edge"] = 1.0
            result.append({k: v for k, v in item.items() if k not in {"low", "shape"}})
        return result


def _token_features(word: str, patterns: set[str]) -> dict:
    low = word.lower()
    shape = _shape(word)
    features = {
        "low": low,
        "shape": shape,
        f"word={low}": 1.0,
        f"shape={shape}": 1.0,
        f"prefix2={low[:2]}": 1.0,
        f"prefix5={low[:5]}": 1.0,
        f"suffix2={low[-2:]}": 1.0,
        f"suffix3={low[-3:]}": 1.0,
        f"suffix5={low[-5:]}": 1.0,
    }
    if word.isupper():
        features["upper"] = 1.0
    if word.istitle():
        features["title"] = 1.0
    if any(c.isdigit() for c in word):
        features["digit"] = 1.0
    for name in patterns:
        features[f"pattern={name}"] = 1.0
    return features


def _shape(word: str) -> str:
    """Xxxx / dd.dd / xx@xx: letters, digits and punctuation, runs collapsed."""
    shape = re.sub(r"[A-Z]", "X", word)
    shape = re.sub(r"[a-z]", "x", shape)
    shape = re.sub(r"\d", "d", shape)
    return re.sub(r"(.)\1{2,}", r"\1\1", shape)


def _pattern_matches(text: str, tokens: list[Token], patterns) -> list[set[str]]:
    covered: list[set[str]] = [set() for _ in tokens]
    for name, pattern in patterns:
        for match in pattern.finditer(text):
            for i, token in enumerate(tokens):
                if token.start < match.end() and match.start() < token.end:
                    covered[i].add(name)
    return covered


def _training_examples(examples: list[TrainingExample]) -> list[TrainingExample]:
    positives = [e for e in examples if e.entities]
    if not positives:
        return []
    negatives = [e for e in examples if not e.entities]
    # Spread evenly over the data (deterministic), so every intent contributes negatives.
    limit = NEGATIVES_PER_POSITIVE * len(positives)
    if len(negatives) > limit:
        step = len(negatives) / limit
        negatives = [negatives[int(i * step)] for i in range(limit)]
    return positives + negatives


def _labels(example: TrainingExample, tokens: list[Token]) -> list[str]:
    labels = ["O"] * len(tokens)
    for span in example.entities:
        inside = [i for i, t in enumerate(tokens) if t.start < span.end and span.start < t.end]
        if not inside:
            continue
        name = _join_label(span.entity, span.role, span.group)
        if len(inside) == 1:
            labels[inside[0]] = f"U-{name}"
            continue
        labels[inside[0]] = f"B-{name}"
        for i in inside[1:-1]:
            labels[i] = f"I-{name}"
        labels[inside[-1]] = f"L-{name}"
    return labels


def _join_label(entity: str, role: str | None, group: str | None) -> str:
    return f"{entity}\x1f{role or ''}\x1f{group or ''}"


def _split_label(name: str) -> tuple[str, str | None, str | None]:
    entity, role, group = (name.split("\x1f") + ["", ""])[:3]
    return entity, role or None, group or None


def _spans(labels: list[str]) -> list[tuple[int, int]]:
    """Token spans of entities; a B/I run without its L still ends where the label changes."""
    spans = []
    i = 0
    while i < len(labels):
        label = labels[i]
        if label == "O":
            i += 1
            continue
        name = label[2:]
        first = i
        if label.startswith(("B-", "I-")):
            while i + 1 < len(labels) and labels[i + 1][2:] == name and labels[i + 1][0] in "IL":
                i += 1
                if labels[i][0] == "L":
                    break
        spans.append((first, i))
        i += 1
    return spans
