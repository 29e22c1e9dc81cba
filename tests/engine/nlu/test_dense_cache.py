"""The dense featuriser: both encoder backends agree; encodings are cached by model and text."""

import numpy as np
import pytest

from bot_engine.nlu import NLUPipeline, NLUTrainingData, TrainingExample
from bot_engine.nlu.dense import SentenceEncoder, default_model_dir, onnxruntime_available
from bot_engine.nlu.embedding_cache import EncodingCache

TEXTS = ["I need a taxi", "book me a cab to the airport tomorrow morning", "weather?"]
DENSE = [{"name": "LanguageModelFeaturizer"}, {"name": "DIETClassifier"}]


@pytest.fixture(scope="module")
def model_dir():
    directory = default_model_dir()
    assert directory is not None, "make test installs requirements-embeddings.txt"
    return directory


def ride_and_weather(extra: str | None = None) -> NLUTrainingData:
    rides = ["I need a taxi", "order a taxi to the station", "get me a taxi now"]
    weather = ["will it rain today", "what's the forecast", "is it sunny outside"]
    examples = [TrainingExample(t, "ride") for t in rides]
    examples += [TrainingExample(t, "weather") for t in weather]
    if extra:
        examples.append(TrainingExample(extra, "weather"))
    return NLUTrainingData(examples=examples)


def test_onnxruntime_and_numpy_encoders_give_the_same_vectors(model_dir):
    assert onnxruntime_available(), "requirements-embeddings.txt installs onnxruntime"
    fast = SentenceEncoder(model_dir, backend="onnxruntime").encode(TEXTS)
    plain = SentenceEncoder(model_dir, backend="numpy").encode(TEXTS)
    assert fast.shape == plain.shape == (3, 384)
    assert np.abs(fast - plain).max() < 1e-4


def test_int8_encoder_is_the_default_and_stays_close_to_float(model_dir):
    default = SentenceEncoder(model_dir)
    assert default.backend == "onnxruntime-int8"
    int8 = default.encode(TEXTS)
    exact = SentenceEncoder(model_dir, backend="numpy").encode(TEXTS)
    cosines = (int8 * exact).sum(axis=1)
    assert cosines.min() > 0.9 and not np.allclose(int8, exact, atol=1e-4)
    assert default.model_id != SentenceEncoder(model_dir, backend="numpy").model_id


@pytest.mark.parametrize("backend", ["onnxruntime-int8", "onnxruntime", "numpy"])
def test_a_texts_vector_does_not_depend_on_the_texts_encoded_with_it(model_dir, backend):
    encoder = SentenceEncoder(model_dir, backend=backend)
    together = encoder.encode(TEXTS * 30)  # several batches, padded to each batch's length
    alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert np.abs(together[:3] - alone).max() < 1e-4
    assert np.abs(together[90 - 3 :] - alone).max() < 1e-4


def test_cache_returns_stored_vectors_and_encodes_only_new_texts(model_dir, tmp_path):
    encoder = SentenceEncoder(model_dir)
    cache = EncodingCache(tmp_path, encoder.model_id)
    first, encoded = cache.encode(TEXTS, encoder)
    assert encoded == 3
    cache.save()
    reopened = EncodingCache(tmp_path, encoder.model_id)
    again, encoded = reopened.encode([*TEXTS, "a new sentence"], encoder)
    assert encoded == 1
    assert np.array_equal(again[:3], first)
    other_model = EncodingCache(tmp_path, "another-model")
    assert other_model.encode(TEXTS, encoder)[1] == 3  # keyed by model as well as text


def test_a_damaged_cache_file_is_rebuilt(model_dir, tmp_path):
    encoder = SentenceEncoder(model_dir)
    (tmp_path / f"encodings-{encoder.model_id}.npz").write_bytes(b"not a numpy file")
    cache = EncodingCache(tmp_path, encoder.model_id)
    assert cache.encode(TEXTS[:1], encoder)[1] == 1


def test_retraining_changed_data_encodes_only_the_changed_examples(tmp_path):
    first = NLUPipeline.train(ride_and_weather(), DENSE, cache_dir=tmp_path)
    assert first.training_report["encoded"] == 6 and first.training_report["from_cache"] == 0
    second = NLUPipeline.train(ride_and_weather("any clouds tonight"), DENSE, cache_dir=tmp_path)
    assert (second.training_report["encoded"], second.training_report["from_cache"]) == (1, 6)
    assert second.fingerprint_value != first.fingerprint_value
    assert second.parse("could you call me a cab")["intent"]["name"] == "ride"


def test_saved_dense_model_parses_identically(tmp_path):
    model = NLUPipeline.train(ride_and_weather(), DENSE, cache_dir=tmp_path)
    model.save(tmp_path / "model")
    loaded = NLUPipeline.load(tmp_path / "model")
    for text in ["could you call me a cab", "is it going to snow"]:
        fresh, saved = model.parse(text)["intent_ranking"], loaded.parse(text)["intent_ranking"]
        assert [r["name"] for r in saved] == [r["name"] for r in fresh]
        assert [r["confidence"] for r in saved] == pytest.approx([r["confidence"] for r in fresh])


def test_assistant_reuses_its_model_and_its_cached_encodings(tmp_path):
    from bot_engine import Assistant
    from tests.engine.conftest import copy_project

    project = copy_project("custom_fallback", tmp_path)
    config = project / "config.yml"
    config.write_text(
        config.read_text().replace(
            "  - name: DIETClassifier",
            "  - name: LanguageModelFeaturizer\n  - name: DIETClassifier",
        )
    )
    models = tmp_path / "models"
    first = Assistant.load(project, model_dir=models)
    examples = len(first.project.nlu.examples)
    assert first.nlu.training_report["encoded"] == examples
    steps = []
    Assistant.load(project, model_dir=models, progress=lambda step, _: steps.append(step))
    assert steps == ["loaded saved model"]  # same data: no training at all
    nlu = project / "data" / "nlu.yml"
    nlu.write_text(nlu.read_text().replace("      - hi\n", "      - hi\n      - hiya friend\n"))
    changed = Assistant.load(project, model_dir=models)
    assert changed.nlu.training_report["encoded"] == 1
    assert changed.nlu.training_report["from_cache"] == examples
