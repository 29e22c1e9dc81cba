"""The contextual response rephraser against a local chat-completions server."""

import logging

import pytest

from bot_engine.llm import LLMConfigError, ResponseRephraser
from bot_engine.responses import message_from_variation, render_variation
from tests.engine.llm.conftest import model_group_endpoints
from tests.services import free_port

HISTORY = [
    {"sender": "user", "text": "I want to send money"},
    {"sender": "bot", "text": "Who should receive it?"},
    {"sender": "user", "text": "forget it"},
]
CANCELLED = {"text": "Okay, stopping transfer money.", "metadata": {"rephrase": True}}


def rephraser_for(server, model: dict | None = None, root=None, **nlg) -> ResponseRephraser:
    endpoints = model_group_endpoints(server, **(model or {}))
    endpoints["nlg"] = {"type": "rephrase", "llm": {"model_group": "local"}, **nlg}
    return ResponseRephraser.from_endpoints(endpoints, project_root=root)


def message_for(variation: dict, name: str = "utter_x") -> dict:
    """The bot message the engine makes of a domain response variation."""
    return message_from_variation(render_variation(variation, {}), name)


@pytest.mark.parametrize(
    "endpoints",
    [{}, {"nlg": {"url": "http://nlg.example/"}}, {"nlg": {"type": "callback"}}, {"nlg": None}],
)
def test_without_nlg_type_rephrase_there_is_no_rephraser(endpoints):
    assert ResponseRephraser.from_endpoints(endpoints) is None


def test_a_marked_response_is_reworded_in_context(llm_server, api_key):
    llm_server.answer("No problem, I've stopped the transfer.")

    sent = rephraser_for(llm_server).rephrase(CANCELLED, HISTORY, "forget it")

    assert sent["text"] == "No problem, I've stopped the transfer."
    assert sent["metadata"] == {"rephrase": True, "rephrased": True}
    (request,) = llm_server.requests
    assert request["body"]["model"] == "test-model"
    assert request["body"]["temperature"] == 0.3
    prompt = request["body"]["messages"][0]["content"]
    assert "USER: I want to send money\nAI: Who should receive it?\nUSER: forget it" in prompt
    assert '"""Okay, stopping transfer money."""' in prompt


def test_rich_parts_and_other_metadata_go_out_unchanged(llm_server, api_key):
    llm_server.answer("Shall we go ahead with the transfer?")
    variation = {
        "text": "Do you want to continue?",
        "buttons": [{"title": "Yes", "payload": "/SetSlots(confirm=true)"}],
        "image": "https://example.com/x.png",
        "metadata": {"rephrase": True},
    }
    message = message_for(variation, "utter_ask_confirm")

    sent = rephraser_for(llm_server).rephrase(message, HISTORY, "forget it")

    assert sent["text"] == "Shall we go ahead with the transfer?"
    assert sent["buttons"] == variation["buttons"]
    assert sent["image"] == variation["image"]
    assert sent["metadata"]["utter_action"] == "utter_ask_confirm"
    assert message["text"] == "Do you want to continue?"  # the input is not modified


def test_unmarked_responses_are_sent_as_written(llm_server, api_key):
    message = message_for({"text": "Your balance is 20 EUR."})
    assert rephraser_for(llm_server).rephrase(message, HISTORY) is message
    assert llm_server.requests == []


def test_rephrase_all_rewords_everything_except_what_opts_out(llm_server, api_key):
    llm_server.answer("Right now you have 20 EUR.")
    rephraser = rephraser_for(llm_server, rephrase_all=True)
    plain = message_for({"text": "Your balance is 20 EUR."})
    opted_out = message_for({"text": "Legal notice.", "metadata": {"rephrase": False}})

    assert rephraser.rephrase(plain, HISTORY)["text"] == "Right now you have 20 EUR."
    assert rephraser.rephrase(opted_out, HISTORY) is opted_out
    assert len(llm_server.requests) == 1


def test_a_response_prompt_overrides_the_default_with_current_input(llm_server, api_key):
    llm_server.answer("Ha, I love cats too!")
    chitchat = message_for(
        {
            "text": "Sorry, I'm not able to answer that right now.",
            "metadata": {
                "rephrase": True,
                "rephrase_prompt": "Reply briefly.\nUser: {{current_input}}\nResponse:",
            },
        },
        "utter_free_chitchat_response",
    )

    sent = rephraser_for(llm_server).rephrase(chitchat, HISTORY, "do you like cats?")

    assert sent["text"] == "Ha, I love cats too!"
    assert llm_server.prompts() == ["Reply briefly.\nUser: do you like cats?\nResponse:"]


def test_a_response_prompt_sees_history_suggestion_and_slots(llm_server, api_key):
    llm_server.answer("ok")
    message = {
        "text": "Sending {amount}.",
        "metadata": {
            "rephrase": True,
            "rephrase_prompt": "{{history}}|{{suggested_response}}|{{slots.amount}}",
        },
    }
    rephraser_for(llm_server, max_historical_turns=1).rephrase(
        message, HISTORY, slots={"amount": 50}
    )
    assert llm_server.prompts() == ["USER: forget it|Sending {amount}.|50"]


def test_current_input_defaults_to_the_last_user_message(llm_server, api_key):
    llm_server.answer("ok")
    message = {"text": "x", "metadata": {"rephrase": True, "rephrase_prompt": "{{current_input}}"}}
    rephraser_for(llm_server).rephrase(message, HISTORY)
    assert llm_server.prompts() == ["forget it"]


def test_history_is_cut_to_max_historical_turns(llm_server, api_key):
    llm_server.answer("ok")
    history = [{"sender": "user" if i % 2 else "bot", "text": f"line {i}"} for i in range(12)]

    rephraser_for(llm_server, max_historical_turns=2).rephrase(CANCELLED, history, "line 11")

    prompt = llm_server.prompts()[0]
    assert "AI: line 10\nUSER: line 11" in prompt
    assert "line 9" not in prompt


def test_the_default_history_window_is_five_turns(llm_server, api_key):
    llm_server.answer("ok")
    history = [{"sender": "user", "text": f"turn {i}"} for i in range(8)]
    rephraser_for(llm_server).rephrase(CANCELLED, history)
    prompt = llm_server.prompts()[0]
    assert "turn 3" in prompt and "turn 2" not in prompt


def test_summarize_history_asks_for_a_summary_first(llm_server, api_key):
    llm_server.answer("The customer gave up on a transfer.", "Fine, transfer stopped.")

    sent = rephraser_for(llm_server, summarize_history=True).rephrase(CANCELLED, HISTORY)

    assert sent["text"] == "Fine, transfer stopped."
    summary_prompt, rephrase_prompt = llm_server.prompts()
    assert "USER: forget it" in summary_prompt
    assert "The customer gave up on a transfer." in rephrase_prompt
    assert "USER: forget it" not in rephrase_prompt


@pytest.mark.parametrize(
    "script",
    [
        lambda s: s.fail(500),
        lambda s: s.hang(1.0),
        lambda s: s.raw(b"<html>bad gateway</html>"),
        lambda s: s.raw(b'{"choices": [{"message": {"content": null}}]}'),
        lambda s: s.answer("   "),
    ],
    ids=["http 500", "timeout", "invalid json", "null content", "blank answer"],
)
def test_any_failure_keeps_the_original_text(llm_server, api_key, script):
    script(llm_server)
    rephraser = rephraser_for(llm_server, model={"timeout": 0.3})

    assert rephraser.rephrase(CANCELLED, HISTORY) is CANCELLED


def test_an_unreachable_llm_keeps_the_original_text(api_key, caplog):
    endpoints = {
        "nlg": {
            "type": "rephrase",
            "llm": {
                "provider": "self-hosted",
                "model": "m",
                "api_base": f"http://127.0.0.1:{free_port()}/v1",
                "max_retries": 0,
            },
        }
    }
    with caplog.at_level(logging.WARNING):
        assert ResponseRephraser.from_endpoints(endpoints).rephrase(CANCELLED, []) is CANCELLED
    assert "rephrasing kept the original text" in caplog.text


def test_a_broken_response_prompt_keeps_the_original_text(llm_server, api_key):
    message = {"text": "Hello", "metadata": {"rephrase": True, "rephrase_prompt": "{% if %}"}}
    assert rephraser_for(llm_server).rephrase(message, HISTORY) is message
    assert llm_server.requests == []


def test_quotes_around_the_answer_are_removed(llm_server, api_key):
    llm_server.answer('"Alright, the transfer is cancelled."')
    sent = rephraser_for(llm_server).rephrase(CANCELLED, HISTORY)
    assert sent["text"] == "Alright, the transfer is cancelled."


def test_a_prompt_file_from_endpoints_replaces_the_default(llm_server, api_key, tmp_path):
    (tmp_path / "rephrase.jinja2").write_text("Say it nicer: {{suggested_response}}")
    llm_server.answer("ok")

    rephraser_for(llm_server, root=tmp_path, prompt="rephrase.jinja2").rephrase(CANCELLED, [])

    assert llm_server.prompts() == ["Say it nicer: Okay, stopping transfer money."]


def test_an_invalid_history_window_is_a_load_time_error(llm_server, api_key):
    with pytest.raises(LLMConfigError, match="max_historical_turns"):
        rephraser_for(llm_server, max_historical_turns="five")
