"""Responses: variations, channels, conditions, `{slot}` and Jinja templates, rich parts."""

import random

from bot_engine.responses import choose_variation, message_from_variation, render_variation

VARIATIONS = [
    {"text": "generic"},
    {"text": "web only", "channel": "web"},
    {
        "text": "gold web",
        "channel": "web",
        "condition": [{"type": "slot", "name": "tier", "value": "Gold"}],
    },
    {"text": "gold", "condition": [{"type": "slot", "name": "tier", "value": "gold"}]},
]


def test_conditional_channel_variation_wins_and_strings_compare_casefolded():
    chosen = choose_variation(VARIATIONS, {"tier": "GOLD"}, "web")
    assert chosen["text"] == "gold web"


def test_channel_variation_beats_generic_and_others_never_leak():
    assert choose_variation(VARIATIONS, {"tier": None}, "web")["text"] == "web only"
    assert choose_variation(VARIATIONS, {"tier": "gold"}, "rest")["text"] == "gold"
    assert choose_variation(VARIATIONS, {}, "rest")["text"] == "generic"


def test_several_plain_variations_are_picked_at_random():
    options = [{"text": "a"}, {"text": "b"}]
    seen = {choose_variation(options, {}, None, random.Random(seed))["text"] for seed in range(20)}
    assert seen == {"a", "b"}


def test_slot_interpolation_fills_known_names_and_leaves_unknown_templates_alone():
    assert render_variation({"text": "Hi {name}!"}, {"name": "Ada"})["text"] == "Hi Ada!"
    assert render_variation({"text": "Hi {name} {nope}"}, {"name": "Ada"})["text"] == (
        "Hi {name} {nope}"
    )
    buttons = render_variation(
        {"text": "x", "buttons": [{"title": "Track {order}", "payload": "/track"}]}, {"order": 7}
    )["buttons"]
    assert buttons[0]["title"] == "Track 7"


def test_jinja_templates_render_with_slots_and_context():
    variation = {
        "text": "{{ name|upper }} has {{ context.count }} item"
        "{% if context.count > 1 %}s{% endif %}",
        "metadata": {"template": "jinja"},
    }
    rendered = render_variation(variation, {"name": "ada", "context": {"count": 2}})
    assert rendered["text"] == "ADA has 2 items"


def test_jinja_sandbox_blocks_attribute_escapes():
    variation = {"text": "{{ ''.__class__.__mro__ }}", "metadata": {"template": "jinja"}}
    rendered = render_variation(variation, {})
    assert "object" not in rendered["text"]


def test_rich_parts_become_message_data_and_the_rest_metadata():
    rendered = {"text": "Look", "image": "https://x/y.png", "custom": {"a": 1}, "id": "v1"}
    message = message_from_variation(rendered, "utter_look")
    assert message["image"] == "https://x/y.png" and message["custom"] == {"a": 1}
    assert message["metadata"] == {"id": "v1", "utter_action": "utter_look"}


def test_rest_messages_get_responses_for_rasas_collector_channel():
    variations = [
        {"text": "generic"},
        {"text": "for Rasa's REST channel", "channel": "collector"},
        {"text": "for web chat", "channel": "socketio"},
    ]
    assert choose_variation(variations, {}, "rest")["text"] == "for Rasa's REST channel"
    alias = [{"text": "generic"}, {"text": "rest alias", "channel": "rest"}]
    assert choose_variation(alias, {}, "rest")["text"] == "rest alias"
    assert choose_variation(variations, {}, "web")["text"] == "for web chat"
    assert choose_variation(variations, {}, "telegram")["text"] == "generic"
