"""NLU: entity markup, extraction (annotated, regex, lookup, synonyms), ranking, persistence."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot_engine.nlu import NLUPipeline, NLUTrainingData, TrainingExample, parse_annotated_example

CLINC = Path(__file__).resolve().parents[4] / "shared" / "data" / "clinc150" / "data_full.json"


def test_both_annotation_forms_give_spans_roles_and_values():
    text, entities = parse_annotated_example(
        'fly from [Berlin]{"entity": "city", "role": "from"} to [NYC](city:New York)'
    )
    assert text == "fly from Berlin to NYC"
    first, second = entities
    assert (first.start, first.end, first.entity, first.role) == (9, 15, "city", "from")
    assert text[second.start : second.end] == "NYC" and second.value == "New York"


@pytest.mark.parametrize("raw", ['[x]{"role": "r"}', "[x]{not json}", "[x]()", "[x](entity"])
def test_malformed_annotations_raise_a_clear_error(raw):
    with pytest.raises(ValueError):
        parse_annotated_example(raw)


@given(st.text(alphabet=st.sampled_from(list("ab[](){}:\"' entity,")), max_size=60))
def test_annotation_parser_never_crashes_otherwise(raw):
    try:
        text, entities = parse_annotated_example(raw)
    except ValueError:
        return
    for span in entities:
        assert 0 <= span.start <= span.end <= len(text)


def small_data() -> NLUTrainingData:
    examples = []
    for text in ["book a table", "reserve a table for two", "table for 4 please", "book dinner"]:
        examples.append(TrainingExample(text, "book"))
    for text in ["cancel my booking", "cancel the reservation", "drop my table", "cancel it"]:
        examples.append(TrainingExample(text, "cancel"))
    # Like Rasa, a regex extracts only entities that the training data annotates.
    text, entities = parse_annotated_example("cancel booking [BK0001](booking_id)")
    examples.append(TrainingExample(text, "cancel", tuple(entities)))
    text, entities = parse_annotated_example(
        'book a table in [Berlin]{"entity": "city", "role": "to"}'
    )
    examples.append(TrainingExample(text, "book", tuple(entities)))
    return NLUTrainingData(
        examples=examples,
        synonyms={"nyc": "New York"},
        regexes=[("booking_id", r"BK\d{4}")],
        lookups={"city": ["Paris", "Rome", "NYC"]},
    )


PIPELINE = [
    {"name": "WhitespaceTokenizer"},
    {"name": "DIETClassifier"},
    {"name": "RegexEntityExtractor"},
    {"name": "EntitySynonymMapper"},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.05},
]


@pytest.fixture(scope="module")
def pipeline():
    return NLUPipeline.train(small_data(), PIPELINE)


def test_parse_has_rasa_shape_with_ranked_probabilities(pipeline):
    result = pipeline.parse("could you book a table")
    assert result["intent"]["name"] == "book"
    ranking = result["intent_ranking"]
    assert [r["name"] for r in ranking] == ["book", "cancel"]
    assert ranking[0]["confidence"] >= ranking[1]["confidence"]
    assert abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-6


def test_lookup_tables_regexes_and_synonyms_extract_entities(pipeline):
    entities = pipeline.parse("book a table in nyc, id BK1234")["entities"]
    by_name = {e["entity"]: e for e in entities}
    assert by_name["city"]["value"] == "New York"
    assert by_name["city"]["processors"] == ["EntitySynonymMapper"]
    assert by_name["booking_id"]["value"] == "BK1234"
    assert by_name["booking_id"]["extractor"] == "RegexEntityExtractor"


def test_annotated_values_are_recognised_with_their_role(pipeline):
    entity = next(e for e in pipeline.parse("table in Berlin")["entities"] if e["entity"] == "city")
    assert entity["value"] == "Berlin" and entity["role"] == "to"


def test_saved_model_parses_identically_and_fingerprint_tracks_data(pipeline, tmp_path):
    pipeline.save(tmp_path)
    loaded = NLUPipeline.load(tmp_path)
    for text in ["cancel it now", "book for 3 in Rome", "gibberish zzz"]:
        assert loaded.parse(text) == pipeline.parse(text)
    data = small_data()
    assert NLUPipeline.fingerprint(data, PIPELINE) == pipeline.fingerprint_value
    data.examples.append(TrainingExample("cancel everything", "cancel"))
    assert NLUPipeline.fingerprint(data, PIPELINE) != pipeline.fingerprint_value


@pytest.mark.skipif(not CLINC.exists(), reason="CLINC150 lives in ../shared/data")
def test_clinc_slice_accuracy_is_far_above_chance_and_fallback_prefers_oos():
    data = json.loads(CLINC.read_text())
    intents = sorted({i for _, i in data["train"]})[:20]
    train = [TrainingExample(t, i) for t, i in data["train"] if i in intents]
    model = NLUPipeline.train(
        NLUTrainingData(examples=train), [{"name": "FallbackClassifier", "threshold": 0.5}]
    )
    test = [(t, i) for t, i in data["test"] if i in intents]
    accuracy = sum(model.parse(t)["intent"]["name"] == i for t, i in test) / len(test)
    assert accuracy > 0.85  # chance is 0.05
    in_scope_fallbacks = sum(model.parse(t)["intent"]["name"] == "nlu_fallback" for t, _ in test)
    oos = [t for t, _ in data["oos_test"][: len(test)]]
    oos_fallbacks = sum(model.parse(t)["intent"]["name"] == "nlu_fallback" for t in oos)
    assert oos_fallbacks / len(oos) > 2 * in_scope_fallbacks / len(test)


def test_dense_featuriser_understands_paraphrases_without_shared_words():
    from bot_engine.nlu.dense import SentenceEncoder, default_model_dir

    model_dir = default_model_dir()
    assert model_dir is not None, "make test installs requirements-embeddings.txt"
    encoder = SentenceEncoder(model_dir)
    vectors = encoder.encode(["I need a taxi", "book me a cab", "what's the weather like"])
    assert vectors.shape == (3, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2

    data = NLUTrainingData(
        examples=[
            TrainingExample(t, "ride")
            for t in ["I need a taxi", "order a taxi to the station", "get me a taxi now"]
        ]
        + [
            TrainingExample(t, "weather")
            for t in ["will it rain today", "what's the forecast", "is it sunny outside"]
        ]
    )
    plain = NLUPipeline.train(data, [])
    dense = NLUPipeline.train(data, [{"name": "LanguageModelFeaturizer"}])
    assert dense.encoder is not None and not dense.warnings
    paraphrase = "could you call me a cab"  # no word in common with the ride examples
    assert dense.parse(paraphrase)["intent"]["name"] == "ride"
    ride = next(r for r in dense.parse(paraphrase)["intent_ranking"] if r["name"] == "ride")
    plain_ride = next(r for r in plain.parse(paraphrase)["intent_ranking"] if r["name"] == "ride")
    assert ride["confidence"] > plain_ride["confidence"]


@pytest.mark.parametrize("intents", [2, 3])
def test_one_message_scores_equal_the_batch_scores(intents):
    from bot_engine.nlu.intent_classifier import IntentClassifier

    texts = ["book a table", "reserve a table for two", "cancel my booking", "drop my table"]
    texts += ["what's the weather", "will it rain", "is it sunny", "forecast please"]
    labels = ["book", "book", "cancel", "cancel", "weather", "weather", "weather", "weather"]
    if intents == 2:
        texts, labels = texts[:4], labels[:4]
    model = IntentClassifier.train(texts, labels)
    probes = ["book it", "cancel the table please", "rain tomorrow?", "zzz", ""]
    together = model.probabilities(probes)
    for row, text in enumerate(probes):
        assert np.allclose(model.probabilities([text])[0], together[row], atol=1e-9)


@pytest.mark.parametrize("intents", [2, 3])
def test_dense_log_probabilities_equal_sklearns(intents):
    from sklearn.linear_model import LogisticRegression

    from bot_engine.nlu.intent_classifier import _dense_log_probabilities

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, 8))
    targets = np.arange(30) % intents
    model = LogisticRegression(C=10, max_iter=1000).fit(vectors, targets)
    probes = rng.normal(size=(5, 8))
    assert np.allclose(_dense_log_probabilities(model, probes), model.predict_log_proba(probes))
