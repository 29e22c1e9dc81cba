"""Dialogue management: default actions, sessions, stories, in-process custom actions."""

import textwrap
import time
from pathlib import Path

import pytest

from bot_engine import Assistant
from bot_engine.actions.python_actions import register_action
from tests.engine.conftest import Chat

PROJECT = {
    "domain.yml": """
        version: "3.1"
        intents: [greet, ask_price, affirm, deny, restart, back, goodbye]
        entities: [product]
        slots:
          product:
            type: text
            mappings:
              - type: from_entity
                entity: product
          vip:
            type: bool
            initial_value: false
            mappings:
              - type: custom
        responses:
          utter_greet:
            - text: "Hello!"
          utter_price:
            - text: "The {product} costs 10."
          utter_ask_more:
            - text: "Anything else?"
          utter_glad:
            - text: "Glad to help."
          utter_sorry:
            - text: "Sorry about that."
          utter_restart:
            - text: "Starting over."
          utter_bye:
            - text: "Bye {product}"
        actions:
          - action_lookup_vip
        session_config:
          session_expiration_time: 1
          carry_over_slots_to_new_session: true
    """,
    "data/nlu.yml": """
        version: "3.1"
        nlu:
          - intent: greet
            examples: |
              - hello
              - hi there
              - good morning
          - intent: ask_price
            examples: |
              - how much is the [tent](product)?
              - price of the [boots](product)
              - what does the [backpack](product) cost
          - intent: affirm
            examples: |
              - yes
              - yes please
              - sure
          - intent: deny
            examples: |
              - no
              - no thanks
              - nope
          - intent: goodbye
            examples: |
              - bye
              - goodbye
              - see you
    """,
    "data/rules.yml": """
        version: "3.1"
        rules:
          - rule: greet
            steps:
              - intent: greet
              - action: utter_greet
          - rule: bye
            steps:
              - intent: goodbye
              - action: action_lookup_vip
              - action: utter_bye
    """,
    "data/stories.yml": """
        version: "3.1"
        stories:
          - story: price then yes
            steps:
              - intent: ask_price
              - action: utter_price
              - action: utter_ask_more
              - intent: affirm
              - action: utter_glad
          - story: price then no
            steps:
              - intent: ask_price
              - action: utter_price
              - action: utter_ask_more
              - intent: deny
              - action: utter_sorry
    """,
    "config.yml": """
        pipeline: []
        policies:
          - name: MemoizationPolicy
            max_history: 5
          - name: RulePolicy
    """,
}


@register_action
class ActionLookupVip:
    """An in-process custom action with rasa_sdk's signature."""

    def name(self):
        return "action_lookup_vip"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=f"Checking {tracker.get_slot('product')}")
        return [{"event": "slot", "name": "vip", "value": True}]


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Assistant:
    root = tmp_path_factory.mktemp("shop")
    for name, text in PROJECT.items():
        path = Path(root, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return Assistant.load(root, model_dir=root / ".models")


def test_stories_are_memorised_with_their_history(shop):
    chat = Chat(shop)
    chat.say("how much is the tent?")
    assert chat.texts() == ["The tent costs 10.", "Anything else?"]
    chat.say("yes")
    assert chat.actions() == ["utter_glad"]
    other = Chat(shop, "o")
    other.say("price of the boots")
    other.say("no")
    assert other.actions() == ["utter_sorry"]


def test_in_process_custom_action_reads_tracker_and_sets_slots(shop):
    chat = Chat(shop)
    chat.say("what does the backpack cost")
    chat.say("bye")
    assert chat.texts() == ["Checking backpack", "Bye backpack"]
    assert chat.tracker().slots["vip"] is True


def test_a_turn_announces_its_custom_action_before_running_it(shop):
    from bot_engine.actions import outside_effects

    announced = []
    chat = Chat(shop)
    with outside_effects.watched(announced.append):
        chat.say("what does the backpack cost")
        assert announced == []  # responses only: nothing outside the chat was touched
        chat.say("bye")
    assert announced == ["action_lookup_vip"]
    assert chat.texts() == ["Checking backpack", "Bye backpack"]
    unwatched = Chat(shop, "unwatched")
    unwatched.say("what does the backpack cost")
    unwatched.say("bye")
    assert unwatched.texts()[0] == "Checking backpack"
    assert announced == ["action_lookup_vip"]  # the notice ended with the `with`


def test_restart_intent_utters_and_resets_slots(shop):
    chat = Chat(shop)
    chat.say("how much is the tent?")
    chat.say("/restart")
    assert chat.texts() == ["Starting over."]
    assert chat.tracker().slots["product"] is None


def test_back_intent_reverts_the_last_user_turn(shop):
    chat = Chat(shop)
    chat.say("hello")
    chat.say("how much is the tent?")
    chat.say("/back")
    users = [e for e in chat.tracker().applied_events() if e["event"] == "user"]
    assert [u["text"] for u in users] == ["hello"]


def test_expired_session_starts_again_carrying_slots_and_metadata(shop):
    chat = Chat(shop)
    chat.say("how much is the tent?")
    for event in chat.state["events"]:
        event["timestamp"] = time.time() - 3600  # an hour ago: past the 1 minute expiry
    chat.say("hello", metadata={"page_url": "https://shop.example/tents"})
    kinds = [e["event"] for e in chat.last.events]
    assert kinds[:2] == ["action", "session_started"]
    tracker = chat.tracker()
    assert tracker.slots["product"] == "tent"
    assert tracker.slots["session_started_metadata"] == {"page_url": "https://shop.example/tents"}


def test_payload_shortcut_sets_intent_and_entities(shop):
    parsed = shop.parse('/ask_price{"product": "stove"}')
    assert parsed["intent"] == {"name": "ask_price", "confidence": 1.0}
    assert parsed["entities"][0]["value"] == "stove"
    chat = Chat(shop)
    chat.say('/ask_price{"product": "stove"}')
    assert chat.texts()[0] == "The stove costs 10."


def test_tracker_state_round_trips_as_rasa_json(shop):
    import json

    chat = Chat(shop)
    chat.say("hello")
    restored = json.loads(json.dumps(chat.state))
    current = shop.new_tracker("x", restored).current_state()
    assert current["latest_message"]["intent"]["name"] == "greet"
    assert current["latest_action_name"] == "action_listen"
    assert {e["event"] for e in current["events"]} >= {"user", "bot", "action", "session_started"}
