"""Forms, slot validation and custom slot mappings against a real rasa_sdk action server.

The `restaurant` fixture books a table with a form whose `validate_restaurant_form`
(a rasa_sdk FormValidationAction) rejects unknown cuisines and extracts the custom `seating`
slot; `action_validate_slot_mappings` lower-cases e-mails; `action_detect_tier` fills the
`tier` slot through a `type: custom` mapping. The domain reaches the server by digest + 449.
"""

import uuid

import pytest

from bot_engine import Assistant
from tests.engine.conftest import Chat, copy_project


def restaurant(tmp_path, url: str, extra_response: str = "") -> Assistant:
    project = copy_project("restaurant", tmp_path, f"action_endpoint:\n  url: {url}/webhook\n")
    if extra_response:
        domain = project / "domain.yml"
        text = domain.read_text().replace(
            "responses:\n", f"responses:\n  {extra_response}:\n    - text: unused\n", 1
        )
        domain.write_text(text)
    return Assistant.load(project, model_dir=tmp_path / "models")


@pytest.fixture
def chat(tmp_path, action_server) -> Chat:
    return Chat(restaurant(tmp_path, action_server))


def test_form_asks_validates_on_the_server_and_submits(chat):
    chat.say("book a table")
    assert chat.texts() == ["What cuisine would you like?"]
    chat.say('/inform{"cuisine": "burgers"}')
    assert chat.texts() == ["Sorry, we don't serve burgers.", "What cuisine would you like?"]
    assert chat.tracker().slots["cuisine"] is None
    chat.say('/inform{"cuisine": "Sushi"}')
    assert chat.texts() == ["For how many people?"]
    assert chat.tracker().slots["cuisine"] == "sushi"  # normalised by validate_cuisine
    chat.say('/inform{"number": "4"}')
    assert chat.texts() == ["Inside or outside?"]
    chat.say("outside please")  # no entity: extract_seating on the server fills it
    assert chat.texts() == ["Booked sushi for 4.0 people, seated outside."]
    tracker = chat.tracker()
    assert tracker.active_loop == {} and tracker.slots["requested_slot"] is None


def test_form_answer_that_fills_nothing_is_rejected_to_the_rules(chat):
    chat.say("book a table")
    chat.say("hello")  # fills no slot: the form rejects, the greet rule answers, form resumes
    assert chat.texts() == ["Hello! I can book a table.", "What cuisine would you like?"]
    events = [e["event"] for e in chat.last.events]
    assert "action_execution_rejected" in events
    assert chat.tracker().active_loop["name"] == "restaurant_form"


def test_slots_filled_before_the_form_are_validated_on_activation(chat):
    chat.say('/request_table{"cuisine": "tacos"}')
    assert chat.texts() == ["Sorry, we don't serve tacos.", "What cuisine would you like?"]


def test_validate_slot_mappings_action_rewrites_extracted_slots(chat):
    chat.say("my email is Ada.Lovelace@Example.COM")
    assert chat.tracker().slots["email"] == "ada.lovelace@example.com"


def test_custom_slot_mapping_runs_its_action_every_turn(chat):
    chat.say("hi, I am a gold member")
    assert chat.tracker().slots["tier"] == "gold"
    chat.say("hello, I am a silver member")
    assert chat.tracker().slots["tier"] == "silver"


def test_domain_is_sent_only_when_the_server_asks(tmp_path, recording_proxy):
    # A domain the server has never seen (a unique response), so its digest is unknown there.
    chat = Chat(restaurant(tmp_path, recording_proxy.url, f"utter_unique_{uuid.uuid4().hex}"))
    chat.say("what can you do", channel="rest")
    assert chat.texts() == ["I know 4 intents and restaurant_form (rest)."]
    calls = [(e["action"], e["sent_domain"], e["status"]) for e in recording_proxy.exchanges]
    # The first request of the turn (the custom slot mapping's action) is asked for the domain.
    assert calls[:2] == [("action_detect_tier", False, 449), ("action_detect_tier", True, 200)]
    assert calls[2:] == [
        ("action_validate_slot_mappings", False, 200),
        ("action_describe_domain", False, 200),
    ]
    assert len({e["digest"] for e in recording_proxy.exchanges}) == 1
    recording_proxy.exchanges.clear()
    chat.say("what do you know")
    assert chat.texts() == ["I know 4 intents and restaurant_form (web)."]
    calls = [(e["sent_domain"], e["status"]) for e in recording_proxy.exchanges]
    assert calls and all(call == (False, 200) for call in calls)  # the server kept the domain
