"""The intent classifier: a linear SVM on word and character n-grams, calibrated; optionally
pooled with a logistic regression on dense sentence embeddings.

Calibration: an SVM gives scores, not probabilities, so the scores pass through a softmax with a
temperature fitted to held-out examples of the project's own data (the one that minimises their
log loss; a default when there are too few). With dense embeddings, the two models' log
probabilities are pooled log-linearly (`dense_weight` for the dense model) and renormalised — a
product of two calibrated experts. FallbackClassifier thresholds rely on these probabilities.
Defaults (C, temperature, dense weight) were chosen on CLINC150's validation split only.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

SVM_C = 1.0
DENSE_C = 10.0
DENSE_WEIGHT = 0.8
DEFAULT_TEMPERATURE = 0.3  # too few examples to fit one: err towards humble confidences
HELD_OUT_EVERY = 5  # every 5th example of an intent with at least 5 calibrates the temperature
MIN_HELD_OUT = 20
Progress = Callable[[str, float], None]


class IntentClassifier:
    def __init__(self, labels: list[str], options: dict | None = None):
        options = options or {}
        self.labels = list(labels)
        self.svm_c = _number(options.get("C"), SVM_C)
        self.dense_c = _number(options.get("dense_C"), DENSE_C)
        self.dense_weight = min(1.0, max(0.0, _number(options.get("dense_weight"), DENSE_WEIGHT)))
        self.temperature = _number(options.get("temperature"), 0.0)
        self.words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        self.chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True
        )
        self.svm: LinearSVC | None = None
        self.dense_model: LogisticRegression | None = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_fast"}

    @classmethod
    def train(
        cls,
        texts: list[str],
        intents: list[str],
        dense: np.ndarray | None = None,
        options: dict | None = None,
        progress: Progress | None = None,
    ) -> "IntentClassifier":
        """Fit on `texts` labelled `intents` (and their dense vectors, if any)."""
        report = progress or (lambda step, fraction: None)
        classifier = cls(sorted(set(intents)), options)
        index = {label: i for i, label in enumerate(classifier.labels)}
        targets = np.array([index[i] for i in intents])
        features = sp.hstack(
            [classifier.words.fit_transform(texts), classifier.chars.fit_transform(texts)]
        ).tocsr()
        # The fits are independent and liblinear releases the GIL: run them side by side.
        report("training intent classifier (and calibrating it on held-out examples)", 0.4)
        # One BLAS thread per fit: the fits already fill the cores, and BLAS threads waiting
        # for each other only slow a shared machine down.
        with ThreadPoolExecutor(max_workers=2) as pool, threadpool_limits(1, user_api="blas"):
            svm = pool.submit(LinearSVC(C=classifier.svm_c).fit, features, targets)
            temperature = None
            if not classifier.temperature:
                temperature = pool.submit(_fitted_temperature, features, targets, classifier.svm_c)
            dense_model = None
            if dense is not None:
                model = LogisticRegression(C=classifier.dense_c, max_iter=1000)
                dense_model = pool.submit(model.fit, dense, targets)
            classifier.svm = svm.result()
            if temperature is not None:
                classifier.temperature = temperature.result()
            if dense_model is not None:
                classifier.dense_model = dense_model.result()
        return classifier

    def probabilities(self, texts: list[str], dense: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probabilities, one row per text, one column per label."""
        if len(texts) == 1:
            scores = self._one_text_scores(texts[0])
        else:
            features = sp.hstack([self.words.transform(texts), self.chars.transform(texts)])
            scores = _scores(self.svm, features.tocsr())
        scaled = scores / self.temperature
        if self.dense_model is None or dense is None:
            return _softmax(scaled)
        dense_log_p = _dense_log_probabilities(self.dense_model, dense)
        sparse_log_p = _log_softmax(scaled)
        return _softmax(self.dense_weight * dense_log_p + (1 - self.dense_weight) * sparse_log_p)

    def _one_text_scores(self, text: str) -> np.ndarray:
        """SVM scores of one text without sklearn's per-call input checks (they cost more than
        the arithmetic when a chat parses one message): the same TF-IDF, computed directly."""
        if getattr(self, "_fast", None) is None:
            self._fast = [
                (v.build_analyzer(), v.vocabulary_, v.idf_) for v in (self.words, self.chars)
            ]
        coef = self.svm.coef_
        scores = self.svm.intercept_.astype(float).copy()
        offset = 0
        for analyze, vocabulary, idf in self._fast:
            counts: dict[int, int] = {}
            for term in analyze(text):
                index = vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if counts:
                columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
                tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=float, count=len(counts)))
                weights = tf * idf[columns]  # sublinear tf times idf, then unit length
                weights /= np.sqrt(weights @ weights)
                scores = scores + coef[:, offset + columns] @ weights
            offset += len(idf)
        scores = scores.reshape(1, -1)
        if scores.shape[1] == 1:  # two intents: one margin, split symmetrically
            scores = np.concatenate([-scores / 2, scores / 2], axis=1)
        return scores


# Row-wise softmax in plain numpy: scipy.special's versions cost more in per-call dispatch
# than the arithmetic on one message's row of a few dozen intents.
def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax(x: np.ndarray) -> np.ndarray:
    exp = np.exp(x - x.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _dense_log_probabilities(model: LogisticRegression, dense: np.ndarray) -> np.ndarray:
    """`predict_log_proba` of a (multinomial) logistic regression, without per-call checks."""
    logits = np.asarray(dense, dtype=float) @ model.coef_.T + model.intercept_
    if logits.shape[1] == 1:  # two intents: one logit for the second
        logits = np.concatenate([np.zeros_like(logits), logits], axis=1)
    return _log_softmax(logits)


def _number(value, default: float) -> float:
    """A positive number from config, else the default (Rasa's grid-search lists are ignored)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _scores(svm: LinearSVC, features) -> np.ndarray:
    scores = svm.decision_function(features)
    if scores.ndim == 1:  # two intents: one margin, split symmetrically
        scores = np.stack([-scores / 2, scores / 2], axis=1)
    return scores


def _fitted_temperature(features, targets: np.ndarray, c: float) -> float:
    """The softmax temperature with the lowest log loss on held-out training examples."""
    held_out = np.zeros(len(targets), dtype=bool)
    for label in np.unique(targets):
        rows = np.flatnonzero(targets == label)
        if len(rows) >= HELD_OUT_EVERY:
            held_out[rows[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY]] = True
    if held_out.sum() < MIN_HELD_OUT or len(np.unique(targets[~held_out])) < 2:
        return DEFAULT_TEMPERATURE
    svm = LinearSVC(C=c).fit(features[~held_out], targets[~held_out])
    scores = _scores(svm, features[held_out])
    known = np.isin(targets[held_out], svm.classes_)
    columns = np.searchsorted(svm.classes_, targets[held_out][known])
    best, best_loss = DEFAULT_TEMPERATURE, np.inf
    for temperature in np.geomspace(0.02, 2.0, 61):
        log_p = _log_softmax(scores[known] / temperature)
        loss = -log_p[np.arange(len(columns)), columns].mean()
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return best
