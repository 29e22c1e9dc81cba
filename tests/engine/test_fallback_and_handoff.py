"""Every behaviour of Rasa's "Fallback and Human Handoff" guide, as conversations."""

import time

import pytest

from bot_engine import Assistant, turn_deadline
from bot_engine.actions import outside_effects
from bot_engine.nlu.pipeline import apply_fallback
from tests.engine.conftest import Chat, copy_project
from tests.raw_http import misbehaving_server, unaccepting_server


def test_out_of_scope_intent_gets_its_response(chat):
    chat.say("what's the weather tomorrow?")
    assert chat.actions() == ["utter_out_of_scope"]


def test_specific_out_of_scope_intent_gets_its_own_response(chat):
    chat.say("I want to apply for a job at Northwind")
    assert chat.actions() == ["utter_job_application"]
    assert "job" in chat.texts()[0]


def test_nlu_fallback_starts_two_stage_fallback_with_did_you_mean_buttons(chat):
    chat.say("blorp snarf wibble")
    assert chat.actions() == ["action_two_stage_fallback"]
    message = chat.last.messages[0]
    assert message["text"].startswith("Did you mean")
    yes, no = message["buttons"]
    assert yes["title"] == "Yes" and yes["payload"].startswith("/")
    assert no == {"title": "No", "payload": "/out_of_scope"}


def test_affirming_continues_as_if_the_intent_was_certain(chat):
    chat.say("blorp snarf wibble")
    chat.say("/shipping_info")
    assert "utter_shipping" in chat.actions()
    applied = chat.tracker().applied_events()
    users = [e for e in applied if e["event"] == "user"]
    assert [u["parse_data"]["intent"]["name"] for u in users] == ["shipping_info"]
    assert users[-1]["parse_data"]["intent"]["confidence"] == 1.0
    assert chat.tracker().active_loop == {}


def test_denying_asks_to_rephrase_and_a_clear_rephrase_is_answered(chat):
    chat.say("blorp snarf wibble")
    chat.say("/out_of_scope")
    assert chat.texts() == ["Sorry, I didn't quite get that. Could you say it in other words?"]
    chat.say("how long does shipping take?")
    assert "utter_shipping" in chat.actions()
    users = [e for e in chat.tracker().applied_events() if e["event"] == "user"]
    assert [u["text"] for u in users] == ["how long does shipping take?"]


def test_unclear_rephrase_is_confirmed_again_and_a_second_no_triggers_the_handoff(chat):
    chat.say("blorp snarf wibble")
    chat.say("/out_of_scope")
    chat.say("zorg quux")
    assert chat.last.messages[0]["text"].startswith("Did you mean")
    assert chat.last.handoff is None
    chat.say("/out_of_scope")
    assert chat.last.handoff is not None
    assert chat.last.handoff.reason == "two_stage_fallback"
    # The ultimate fallback runs inside the loop's deactivation, as Rasa runs it.
    assert chat.texts()[-1] == "Let me connect you to one of our team. One moment please."
    assert chat.tracker().paused


def test_confirming_the_rephrased_intent_continues_with_it(chat):
    chat.say("blorp snarf wibble")
    chat.say("/out_of_scope")
    chat.say("zorg quux")
    chat.say("/opening_hours")
    assert "utter_opening_hours" in chat.actions()
    assert chat.last.handoff is None


def test_two_fallbacks_in_a_row_give_up_with_the_ultimate_fallback(chat):
    chat.say("blorp snarf wibble")
    chat.say("zorg quux")
    assert chat.last.handoff is not None and chat.last.handoff.reason == "two_stage_fallback"


def test_explicit_request_hands_off_and_the_bot_stays_quiet_until_resumed(chat, demo):
    chat.say("I want to talk to a human")
    assert chat.last.handoff.reason == "explicit_request"
    assert chat.texts() == ["Let me connect you to one of our team. One moment please."]
    assert chat.say("hello?").messages == []
    back = demo.return_from_human(chat.state, slots={"order_number": "NW-55555"}, sender_id="t")
    assert [m["text"] for m in back.messages][0].startswith("You're back")
    chat.state = back.tracker_state
    assert chat.tracker().slots["order_number"] == "NW-55555"
    chat.say("hello")
    assert chat.actions() == ["utter_greet"]


def test_handoff_context_tells_the_agent_what_the_bot_understood(chat):
    chat.say("where is my order NW-48213?")
    chat.say("I want to talk to a human")
    context = chat.last.context
    assert context["latest_intents"][0]["name"] == "human_handoff"
    assert context["slots"]["order_number"] == "NW-48213"
    assert "I want to talk to a human" in context["summary"]


def test_form_asks_for_a_missing_slot_and_uses_an_entity_given_upfront(chat, demo):
    chat.say("where is my order?")
    assert chat.texts() == ["Sure — what's your order number? It looks like NW-12345."]
    chat.say("it's NW-20931")
    assert chat.texts()[0].startswith("Order NW-20931 left our warehouse")
    other = Chat(demo, "other")
    other.say("can you check order NW-77120")
    assert other.texts()[0].startswith("Order NW-77120")


@pytest.mark.parametrize(
    ("ranking", "expected"),
    [
        ([("a", 0.29), ("b", 0.2)], "nlu_fallback"),  # below threshold
        ([("a", 0.30), ("b", 0.1)], "a"),  # exactly at threshold is fine (strict <)
        ([("a", 0.50), ("b", 0.45)], "nlu_fallback"),  # ambiguous: gap 0.05 < 0.1
        ([("a", 0.55), ("b", 0.45)], "a"),  # gap exactly 0.1 is not ambiguous
    ],
)
def test_fallback_classifier_threshold_and_ambiguity(ranking, expected):
    intents = [{"name": n, "confidence": c} for n, c in ranking]
    result = {"text": "x", "intent": dict(intents[0]), "intent_ranking": intents}
    apply_fallback(result, threshold=0.3, ambiguity_threshold=0.1)
    assert result["intent"]["name"] == expected
    if expected == "nlu_fallback":
        assert result["intent"]["confidence"] == 0.3
        assert result["intent_ranking"][1:] == intents  # the original ranking is kept


def test_low_action_confidence_runs_default_fallback_and_reverts(tmp_path, model_dir):
    project = copy_project("custom_fallback", tmp_path)
    assistant = Assistant.load(project, model_dir=model_dir)
    chat = Chat(assistant)
    chat.say("will it rain today?")  # an intent no rule answers
    assert chat.actions() == ["action_default_fallback"]
    assert chat.texts() == ["Sorry, I didn't get that."]
    assert not [e for e in chat.tracker().applied_events() if e["event"] == "user"]


def test_custom_fallback_action_on_a_real_action_server(tmp_path, model_dir, action_server):
    endpoints = f"action_endpoint:\n  url: {action_server}/webhook\n"
    project = copy_project("custom_fallback", tmp_path, endpoints)
    chat = Chat(Assistant.load(project, model_dir=model_dir))
    chat.say("will it rain today?")
    assert chat.texts() == ["Sorry, my custom fallback did not understand."]
    assert not [e for e in chat.tracker().applied_events() if e["event"] == "user"]


def test_custom_action_handoff_payload_is_detected(tmp_path, model_dir, action_server):
    endpoints = f"action_endpoint:\n  url: {action_server}/webhook\n"
    project = copy_project("custom_fallback", tmp_path, endpoints)
    chat = Chat(Assistant.load(project, model_dir=model_dir))
    chat.say("put me through to staff")
    assert chat.last.handoff is not None
    assert chat.last.handoff.reason == "custom_action"
    assert chat.last.handoff.detail["marker"] == "handoff_host"
    assert "Transferring you to our team." in chat.texts()


def _chat_on(url: str, tmp_path, model_dir, timeout: float = 0.5) -> Chat:
    endpoints = f"action_endpoint:\n  url: {url}\n  timeout: {timeout}\n"
    project = copy_project("custom_fallback", tmp_path, endpoints)
    return Chat(Assistant.load(project, model_dir=model_dir))


REPLY_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
INTERNAL_ERROR = "Sorry, I am having trouble with that. Please try again in a few minutes."


TRICKLED = b"Content-Length: 1000\r\n\r\n{"  # the rest of the body comes a byte at a time


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (REPLY_HEAD + TRICKLED, "timed out"),
        (b"HTTP/1.1 500 Internal Server Error\r\n" + TRICKLED, "answered 500"),
        # Before the body there is no length to wait for: a header line that never ends.
        (b"HTTP/1.1 200 OK\r\nX-Slow: ", "timed out"),
    ],
    ids=["body", "error body", "headers"],
)
def test_an_action_server_trickling_its_reply_is_cut_off_at_the_timeout(
    tmp_path, model_dir, reply, error
):
    # Each read is quick; the whole reply would take 20 s.
    url, stop = misbehaving_server(reply, 20)
    chat = _chat_on(url, tmp_path, model_dir)
    started = time.monotonic()
    try:
        chat.say("put me through to staff")
    finally:
        stop.set()
    assert time.monotonic() - started < 10  # the timeout is the call's, not each read's
    assert chat.texts() == [INTERNAL_ERROR]
    assert chat.last.error and error in chat.last.error


def test_an_action_server_call_ends_at_the_turn_deadline_before_its_own_timeout(
    tmp_path, model_dir
):
    url, stop = misbehaving_server(REPLY_HEAD + TRICKLED, 20)
    chat = _chat_on(url, tmp_path, model_dir, timeout=20)
    started = time.monotonic()
    try:
        with turn_deadline.until(started + 0.5):
            chat.say("put me through to staff")
    finally:
        stop.set()
    assert time.monotonic() - started < 3
    assert chat.texts() == [INTERNAL_ERROR]
    assert chat.last.error and "timed out" in chat.last.error
    assert "(at the turn's deadline)" in chat.last.error


def test_a_turn_out_of_time_neither_calls_nor_announces_its_custom_action(tmp_path, model_dir):
    """The hub's engine processes report an announced action as started (such a turn is never
    computed again): a turn with no time left must not announce one it never called."""
    url, stop = misbehaving_server(REPLY_HEAD + TRICKLED, 20)
    chat = _chat_on(url, tmp_path, model_dir, timeout=20)
    announced = []
    try:
        with outside_effects.watched(announced.append), turn_deadline.until(time.monotonic()):
            chat.say("put me through to staff")
    finally:
        stop.set()
    assert chat.texts() == [INTERNAL_ERROR]
    assert chat.last.error and "no time left of the turn" in chat.last.error
    assert announced == []


def test_an_action_server_never_accepting_the_connection_times_out(tmp_path, model_dir):
    with unaccepting_server() as url:
        chat = _chat_on(url, tmp_path, model_dir)
        chat.say("put me through to staff")
    assert chat.texts() == [INTERNAL_ERROR]
    # Not "unreachable": a server that is slow to accept may well be up.
    assert chat.last.error and chat.last.error.startswith("action server timed out")


def test_an_action_servers_reply_cut_off_is_an_error_not_an_empty_answer(tmp_path, model_dir):
    url, _stop = misbehaving_server(REPLY_HEAD + b'Content-Length: 100\r\n\r\n{"events": []')
    chat = _chat_on(url, tmp_path, model_dir)
    chat.say("put me through to staff")
    assert chat.texts() == [INTERNAL_ERROR]
    assert chat.last.error and "broken reply" in chat.last.error


def test_an_action_servers_redirect_is_an_error_not_followed(tmp_path, model_dir):
    url, _stop = misbehaving_server(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n")
    chat = _chat_on(url, tmp_path, model_dir)
    chat.say("put me through to staff")
    assert chat.texts() == [INTERNAL_ERROR]
    assert chat.last.error and "answered 302" in chat.last.error


def test_action_server_down_gives_internal_error_not_a_crash(tmp_path, model_dir):
    endpoints = "action_endpoint:\n  url: http://127.0.0.1:9/webhook\n"
    project = copy_project("custom_fallback", tmp_path, endpoints)
    chat = Chat(Assistant.load(project, model_dir=model_dir))
    chat.say("put me through to staff")
    assert chat.texts() == [
        "Sorry, I am having trouble with that. Please try again in a few minutes."
    ]
    assert chat.last.error and "unreachable" in chat.last.error
