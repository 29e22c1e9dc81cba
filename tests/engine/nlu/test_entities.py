"""Entities learnt from annotated examples (CRF), beside regexes, lookups and synonyms."""

import pytest

from bot_engine.nlu import NLUPipeline, NLUTrainingData, TrainingExample, parse_annotated_example
from bot_engine.nlu.crf_entities import tokenize

FLIGHTS = [
    'fly from [Berlin]{"entity": "city", "role": "departure"} to '
    '[Paris]{"entity": "city", "role": "destination"}',
    'a flight from [London]{"entity": "city", "role": "departure"} to '
    '[Rome]{"entity": "city", "role": "destination"} please',
    'I want to go from [Madrid]{"entity": "city", "role": "departure"} to '
    '[Vienna]{"entity": "city", "role": "destination"}',
    'book a flight to [Oslo]{"entity": "city", "role": "destination"}',
    'flights from [Dublin]{"entity": "city", "role": "departure"}',
    'get me to [Prague]{"entity": "city", "role": "destination"} from '
    '[Warsaw]{"entity": "city", "role": "departure"}',
    'I need to get from [Bern]{"entity": "city", "role": "departure"} to '
    '[NYC]{"entity": "city", "role": "destination", "value": "New York"}',
]
ORDERS = [
    '[two]{"entity": "amount", "group": "1"} [pizzas]{"entity": "food", "group": "1"} and '
    '[a]{"entity": "amount", "group": "2"} [salad]{"entity": "food", "group": "2"}',
    '[one]{"entity": "amount", "group": "1"} [soup]{"entity": "food", "group": "1"} and '
    '[three]{"entity": "amount", "group": "2"} [burgers]{"entity": "food", "group": "2"}',
    '[four]{"entity": "amount", "group": "1"} [tacos]{"entity": "food", "group": "1"} and '
    '[two]{"entity": "amount", "group": "2"} [wraps]{"entity": "food", "group": "2"}',
    'I would like [a]{"entity": "amount", "group": "1"} [pie]{"entity": "food", "group": "1"}',
    'I want [five]{"entity": "amount", "group": "1"} [bagels]{"entity": "food", "group": "1"}',
]


def data() -> NLUTrainingData:
    examples = []
    for intent, raws in (("book_flight", FLIGHTS), ("order", ORDERS)):
        for raw in raws:
            text, spans = parse_annotated_example(raw)
            examples.append(TrainingExample(text, intent, tuple(spans)))
    for text in ["hello", "hi there", "good morning", "thanks a lot", "bye for now"]:
        examples.append(TrainingExample(text, "chitchat"))
    return NLUTrainingData(examples=examples, synonyms={"big apple": "New York"})


CONFIG = [
    {"name": "WhitespaceTokenizer"},
    {"name": "CRFEntityExtractor"},
    {"name": "EntitySynonymMapper"},
]


@pytest.fixture(scope="module")
def pipeline():
    return NLUPipeline.train(data(), CONFIG)


def entities(pipeline, text):
    return [
        (e["entity"], e.get("role"), e.get("group"), e["value"])
        for e in pipeline.parse(text)["entities"]
    ]


def test_unseen_cities_in_known_contexts_get_entity_and_role(pipeline):
    assert entities(pipeline, "fly from Lisbon to Athens") == [
        ("city", "departure", None, "Lisbon"),
        ("city", "destination", None, "Athens"),
    ]
    assert entities(pipeline, "book a flight to Tokyo") == [("city", "destination", None, "Tokyo")]


def test_groups_keep_amounts_with_their_food(pipeline):
    found = entities(pipeline, "two bagels and one soup")
    assert ("amount", None, "1", "two") in found and ("food", None, "1", "bagels") in found
    assert ("amount", None, "2", "one") in found and ("food", None, "2", "soup") in found


def test_extractor_reports_offsets_confidence_and_its_name(pipeline):
    text = "a flight from Zagreb to Sofia please"
    first = pipeline.parse(text)["entities"][0]
    assert text[first["start"] : first["end"]] == first["value"] == "Zagreb"
    assert first["extractor"] == "CRFEntityExtractor"
    assert 0.5 < first["confidence_entity"] <= 1.0


def test_synonyms_are_mapped_after_extraction(pipeline):
    destination = pipeline.parse("I need to get from Bern to NYC")["entities"][-1]
    assert destination["value"] == "New York"  # annotated value of "NYC"
    assert destination["processors"] == ["EntitySynonymMapper"]


def test_sentences_without_entities_give_none(pipeline):
    assert entities(pipeline, "good morning") == []


def test_diet_with_entity_recognition_off_extracts_nothing():
    quiet = NLUPipeline.train(data(), [{"name": "DIETClassifier", "entity_recognition": False}])
    assert quiet.parse("fly from Berlin to Paris")["entities"] == []


def test_diet_name_maps_to_the_crf_and_regexes_still_extract():
    training = data()
    training.regexes.append(("flight_number", r"[A-Z]{2}\d{3,4}"))
    text, spans = parse_annotated_example("book flight [LH1234](flight_number)")
    training.examples.append(TrainingExample(text, "book_flight", tuple(spans)))
    model = NLUPipeline.train(
        training, [{"name": "DIETClassifier"}, {"name": "RegexEntityExtractor"}]
    )
    found = {e["entity"]: e for e in model.parse("fly from Lisbon to Athens on BA999")["entities"]}
    assert found["flight_number"]["extractor"] == "RegexEntityExtractor"
    assert found["city"]["extractor"] == "DIETClassifier"


def test_saved_model_keeps_the_crf(pipeline, tmp_path):
    pipeline.save(tmp_path)
    loaded = NLUPipeline.load(tmp_path)
    for text in ["fly from Lisbon to Athens", "two bagels and one soup", "hello"]:
        assert loaded.parse(text) == pipeline.parse(text)


def test_fingerprint_changes_with_an_annotation():
    before = data()
    after = data()
    text, _ = parse_annotated_example(FLIGHTS[3])
    index = next(i for i, e in enumerate(after.examples) if e.text == text)
    after.examples[index] = TrainingExample(text, "book_flight")  # annotation removed
    assert NLUPipeline.fingerprint(before, CONFIG) != NLUPipeline.fingerprint(after, CONFIG)


def test_tokens_keep_emails_and_drop_punctuation():
    assert [t.text for t in tokenize("mail ada@example.com, now!")] == [
        "mail",
        "ada@example.com",
        "now",
    ]


def test_parses_in_several_threads_at_once_agree_with_one_thread(pipeline):
    from concurrent.futures import ThreadPoolExecutor

    texts = ["fly from Lisbon to Athens", "two bagels and one soup", "book a flight to Tokyo"] * 40
    alone = [pipeline.parse(t)["entities"] for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda t: pipeline.parse(t)["entities"], texts))
    assert together == alone
