"""The LLM command generator and the rephraser inside real CALM conversations.

The "LLM" is a real local HTTP server speaking the chat-completions API with scripted answers
(tests/engine/llm/conftest.py); nothing here reaches an external service.
"""

import shutil

import pytest
import yaml

from bot_engine import Assistant, ProjectError
from bot_engine.actions import outside_effects
from tests.engine.conftest import FIXTURES, Chat
from tests.engine.llm.conftest import API_KEY, API_KEY_VARIABLE, FakeChatCompletions, local_model

CONFIRM_QUESTION = "Move the money to your savings account?"


@pytest.fixture
def llm_server(monkeypatch):
    monkeypatch.setenv(API_KEY_VARIABLE, API_KEY)
    with FakeChatCompletions() as server:
        yield server


def bank_project(tmp_path, server, *, generator: bool = True, nlg: dict | None = None):
    """The Appendix A bank, with an LLM generator after the NLU adapter and/or a rephraser."""
    project = tmp_path / "bank"
    shutil.copytree(FIXTURES / "calm_transfer", project)
    config = yaml.safe_load((project / "config.yml").read_text())
    if generator:
        config["pipeline"].append(
            {"name": "SingleStepLLMCommandGenerator", "llm": local_model(server)}
        )
    (project / "config.yml").write_text(yaml.safe_dump(config))
    endpoints = yaml.safe_load((project / "endpoints.yml").read_text())
    if nlg is not None:
        endpoints["nlg"] = nlg
    (project / "endpoints.yml").write_text(yaml.safe_dump(endpoints))
    return project


def test_free_text_the_nlu_cannot_place_is_understood_by_the_llm(tmp_path, model_dir, llm_server):
    assistant = Assistant.load(bank_project(tmp_path, llm_server), model_dir=model_dir)
    llm_server.answer("StartFlow(open_savings)\nSetSlot(account_type, savings)")
    chat = Chat(assistant)
    chat.say("xyzzy frobnicate qux")
    assert chat.tracker().slots["account_type"] == "savings"
    assert chat.texts() == [CONFIRM_QUESTION]
    prompt = llm_server.prompts()[-1]
    assert "xyzzy frobnicate qux" in prompt
    assert "open_savings" in prompt and "move money between the user's own accounts" in prompt
    assert "pattern_" not in prompt  # patterns are never offered to the LLM
    request = llm_server.requests[-1]
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert request["body"]["model"] == "test-model"


def test_the_llm_sees_where_the_conversation_stands(tmp_path, model_dir, llm_server):
    assistant = Assistant.load(bank_project(tmp_path, llm_server), model_dir=model_dir)
    chat = Chat(assistant)
    chat.say("/move_money")
    llm_server.answer("SetSlot(account_type, checking)")
    chat.say("xyzzy quux")
    assert chat.tracker().slots["account_type"] == "checking"
    prompt = llm_server.prompts()[-1]
    assert "From which account?" in prompt  # the transcript
    assert "account_type" in prompt and "savings" in prompt  # the slot asked for, its values


def test_the_llm_may_not_fill_a_slot_mapped_from_an_entity(tmp_path, model_dir, llm_server):
    assistant = Assistant.load(bank_project(tmp_path, llm_server), model_dir=model_dir)
    chat = Chat(assistant)
    chat.say("/transfer_money")
    llm_server.answer("SetSlot(recipient, Mallory)")
    chat.say("xyzzy quux")
    assert len(llm_server.requests) == 1
    assert chat.tracker().slots["recipient"] is None


def test_intent_triggers_win_over_the_llm(tmp_path, model_dir, llm_server):
    assistant = Assistant.load(bank_project(tmp_path, llm_server), model_dir=model_dir)
    chat = Chat(assistant)
    chat.say("/check_balance")
    assert chat.texts()[0] == "Your balance is 1000.0 dollars."
    assert llm_server.requests == []


def test_an_llm_that_fails_gives_the_internal_error_pattern(tmp_path, model_dir, llm_server):
    assistant = Assistant.load(bank_project(tmp_path, llm_server), model_dir=model_dir)
    llm_server.fail(500)
    chat = Chat(assistant)
    chat.say("purple elephants dance at midnight")
    assert chat.texts() == [
        "Sorry, I am having trouble with that. Please try again in a few minutes."
    ]


def test_an_answer_with_no_command_is_cannot_handle(tmp_path, model_dir, llm_server):
    assistant = Assistant.load(bank_project(tmp_path, llm_server), model_dir=model_dir)
    llm_server.answer("I would love to help!")
    chat = Chat(assistant)
    chat.say("xyzzy frobnicate qux")
    assert "pattern_cannot_handle" in [
        e.get("flow_id") for e in chat.last.events if e["event"] == "flow_started"
    ]


def test_responses_marked_rephrase_are_reworded_others_are_not(tmp_path, model_dir, llm_server):
    nlg = {"type": "rephrase", "llm": local_model(llm_server)}
    project = bank_project(tmp_path, llm_server, generator=False, nlg=nlg)
    assistant = Assistant.load(project, model_dir=model_dir)
    llm_server.answer("Anything else I can do for you today?")
    chat = Chat(assistant)
    chat.say("/check_balance")
    # utter_balance has no `rephrase`; the completed pattern's response has `rephrase: True`
    assert chat.texts() == [
        "Your balance is 1000.0 dollars.",
        "Anything else I can do for you today?",
    ]
    assert len(llm_server.requests) == 1
    assert "What else can I help you with?" in llm_server.prompts()[0]


def test_a_failing_rephraser_sends_the_response_as_written(tmp_path, model_dir, llm_server):
    nlg = {"type": "rephrase", "llm": local_model(llm_server)}
    project = bank_project(tmp_path, llm_server, generator=False, nlg=nlg)
    assistant = Assistant.load(project, model_dir=model_dir)
    llm_server.fail(503)
    chat = Chat(assistant)
    chat.say("/check_balance")
    assert chat.texts()[-1] == "What else can I help you with?"


def test_without_nlg_rephrase_nothing_calls_an_llm(tmp_path, model_dir, llm_server):
    project = bank_project(tmp_path, llm_server, generator=False)
    assistant = Assistant.load(project, model_dir=model_dir)
    assert assistant.rephraser is None
    Chat(assistant).say("/check_balance")
    assert llm_server.requests == []


def test_a_literal_api_key_in_config_is_a_validation_error(tmp_path, model_dir, llm_server):
    project = bank_project(tmp_path, llm_server)
    config = yaml.safe_load((project / "config.yml").read_text())
    config["pipeline"][-1]["llm"]["api_key"] = "sk-literal-secret-in-yaml"
    (project / "config.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(ProjectError) as raised:
        Assistant.load(project, model_dir=model_dir)
    text = str(raised.value)
    assert "config.yml" in text and "SingleStepLLMCommandGenerator" in text
    assert "sk-literal-secret-in-yaml" not in text


def test_a_turn_computed_ahead_stops_before_the_llm_command_generator(
    tmp_path, model_dir, llm_server
):
    """An early turn (its message not stored yet) must not call an LLM: that costs, and may be
    logged by the provider, for a message that could still fail to be stored."""
    assistant = Assistant.load(bank_project(tmp_path, llm_server), model_dir=model_dir)
    llm_server.answer("StartFlow(open_savings)\nSetSlot(account_type, savings)")
    chat = Chat(assistant)
    with outside_effects.local_only(), pytest.raises(outside_effects.EffectsDeferred) as stop:
        chat.say("xyzzy frobnicate qux")
    assert stop.value.step == "an LLM call"
    assert llm_server.requests == []
    chat.say("xyzzy frobnicate qux")  # computed again once stored: now it asks the LLM
    assert chat.tracker().slots["account_type"] == "savings"
    assert len(llm_server.requests) == 1


def test_a_turn_computed_ahead_stops_before_the_rephraser(tmp_path, model_dir, llm_server):
    nlg = {"type": "rephrase", "llm": local_model(llm_server)}
    project = bank_project(tmp_path, llm_server, generator=False, nlg=nlg)
    domain = yaml.safe_load((project / "domain.yml").read_text())
    domain["responses"]["utter_ask_account_type"][0]["metadata"] = {"rephrase": True}
    (project / "domain.yml").write_text(yaml.safe_dump(domain))
    assistant = Assistant.load(project, model_dir=model_dir)
    llm_server.answer("Which account shall it come from?")
    chat = Chat(assistant)
    with outside_effects.local_only(), pytest.raises(outside_effects.EffectsDeferred):
        chat.say("/move_money")  # no custom action: only the rephrase acts outside
    assert llm_server.requests == []
    chat.say("/move_money")
    assert chat.texts() == ["Which account shall it come from?"]
    assert len(llm_server.requests) == 1
