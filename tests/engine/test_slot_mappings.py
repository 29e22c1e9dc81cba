"""Slot filling inside forms: unique entity mappings and the form's ignored intents."""

import textwrap

from bot_engine import Assistant
from tests.engine.conftest import Chat

DOMAIN = """
version: "3.1"
intents: [plan_trip, inform, chitchat]
entities: [city]
slots:
  origin:
    type: text
    mappings:
      - type: from_entity
        entity: city
  destination:
    type: text
    mappings:
      - type: from_entity
        entity: city
  note:
    type: text
    mappings:
      - type: from_text
        conditions:
          - active_loop: trip_form
            requested_slot: note
forms:
  trip_form:
    ignored_intents: [chitchat]
    required_slots: [origin, destination, note]
responses:
  utter_ask_origin:
    - text: "From where?"
  utter_ask_destination:
    - text: "To where?"
  utter_ask_note:
    - text: "Any note?"
  utter_chitchat:
    - text: "Nice chat."
  utter_done:
    - text: "Trip from {origin} to {destination} ({note})."
"""
NLU = """
version: "3.1"
nlu:
  - intent: plan_trip
    examples: |
      - plan a trip
      - I want to travel
  - intent: inform
    examples: |
      - from [Rome](city)
      - to [Oslo](city)
      - an aisle seat please
      - a window seat
      - vegetarian meal please
  - intent: chitchat
    examples: |
      - how are you
      - nice weather
"""
RULES = """
version: "3.1"
rules:
  - rule: start
    steps:
      - intent: plan_trip
      - action: trip_form
      - active_loop: trip_form
  - rule: done
    condition:
      - active_loop: trip_form
    steps:
      - action: trip_form
      - active_loop: null
      - slot_was_set:
          - requested_slot: null
      - action: utter_done
  - rule: chitchat in the form
    condition:
      - active_loop: trip_form
    steps:
      - intent: chitchat
      - action: utter_chitchat
      - action: trip_form
      - active_loop: trip_form
"""


def trip(tmp_path) -> Chat:
    for name, text in {"domain.yml": DOMAIN, "data/nlu.yml": NLU, "data/rules.yml": RULES}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return Chat(Assistant.load(tmp_path, model_dir=tmp_path / "models"))


def test_a_shared_entity_fills_only_the_requested_slot(tmp_path):
    chat = trip(tmp_path)
    chat.say("/plan_trip")
    chat.say('/inform{"city": "Rome"}')
    assert chat.texts() == ["To where?"]
    slots = chat.tracker().slots
    assert slots["origin"] == "Rome" and slots["destination"] is None


def test_ignored_intents_do_not_fill_the_form(tmp_path):
    chat = trip(tmp_path)
    chat.say("/plan_trip")
    chat.say('/inform{"city": "Rome"}')
    chat.say('/inform{"city": "Oslo"}')
    assert chat.texts() == ["Any note?"]
    chat.say("/chitchat")  # from_text would take it, but the form ignores chitchat
    assert chat.texts() == ["Nice chat.", "Any note?"]
    assert chat.tracker().slots["note"] is None
    chat.say("a window seat please")
    assert chat.texts() == ["Trip from Rome to Oslo (a window seat please)."]
