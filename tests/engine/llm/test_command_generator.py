"""The LLM command generator, end to end against a local chat-completions server."""

import logging

import pytest

from bot_engine.llm import (
    COMMAND_GENERATOR_COMPONENTS,
    CommandPromptInputs,
    LLMCommandGenerator,
    LLMConfigError,
    command_generator_from_pipeline,
)
from tests.engine.llm.conftest import local_model, model_group_endpoints
from tests.services import free_port

FLOWS = [
    {
        "id": "transfer_money",
        "name": "transfer money",
        "description": "send money to a friend or family member",
        "slots": [
            {"name": "recipient", "description": "who receives the money", "type": "text"},
            {"name": "amount", "description": "how much to send", "type": "float"},
            {"name": "confirm_transfer", "type": "bool"},
        ],
    },
    {
        "id": "check_balance",
        "name": "check balance",
        "description": "tell the user how much money is on their account",
        "slots": [
            {
                "name": "account_type",
                "type": "categorical",
                "allowed_values": ["checking", "savings"],
            }
        ],
    },
    {"id": "pattern_chitchat", "name": "pattern chitchat", "description": "small talk"},
]
ERROR = {"command": "error", "error_type": "rasa_internal_error_default", "info": {}}


def generator_for(server, **config) -> LLMCommandGenerator:
    component = {"name": "SingleStepLLMCommandGenerator", "llm": {"model_group": "local"}}
    return LLMCommandGenerator.from_config({**component, **config}, model_group_endpoints(server))


def inputs(text: str, **state) -> CommandPromptInputs:
    return CommandPromptInputs(latest_user_message=text, flows=FLOWS, **state)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("StartFlow(transfer_money)", [{"command": "start flow", "flow": "transfer_money"}]),
        (
            'SetSlot(recipient, "Jane")',
            [{"command": "set slot", "name": "recipient", "value": "Jane", "extractor": "LLM"}],
        ),
        ("SetSlot(flow_name, check_balance)", [{"command": "start flow", "flow": "check_balance"}]),
        ("CancelFlow()", [{"command": "cancel flow"}]),
        ("ChitChat()", [{"command": "chitchat"}]),
        ("SkipQuestion()", [{"command": "skip question"}]),
        ("SearchAndReply()", [{"command": "knowledge"}]),
        ("HumanHandoff()", [{"command": "human handoff"}]),
        ("RepeatLastBotMessages()", [{"command": "repeat"}]),
        (
            "Clarify(transfer_money, check_balance)",
            [{"command": "clarify", "options": ["check_balance", "transfer_money"]}],
        ),
        (
            "Clarify(check_balance, order_pizza)",
            [{"command": "start flow", "flow": "check_balance"}],
        ),
        (
            "StartFlow(pattern_chitchat)",
            [{"command": "cannot handle", "reason": "cannot_handle_default"}],
        ),
        ("Sure! Happy to help.", [{"command": "cannot handle", "reason": "cannot_handle_default"}]),
    ],
)
def test_every_answer_form_comes_back_as_commands(llm_server, api_key, answer, expected):
    llm_server.answer(answer)
    assert generator_for(llm_server).predict_commands(inputs("whatever")) == expected


def test_the_request_shows_flows_state_and_the_message(llm_server, api_key):
    llm_server.answer("SetSlot(amount, 50)")
    state = {
        "conversation": [
            {"sender": "user", "text": "I want to send money to Jane"},
            {"sender": "bot", "text": "How much should I send?"},
        ],
        "current_flow": "transfer_money",
        "current_step": "ask_amount",
        "current_slot": "amount",
        "slot_values": {"recipient": "Jane", "amount": None},
    }

    generator_for(llm_server).predict_commands(inputs("fifty dollars please", **state))

    (request,) = llm_server.requests
    body = request["body"]
    assert body["model"] == "test-model"
    assert body["temperature"] == 0.0
    assert request["headers"]["authorization"] == f"Bearer {api_key}"
    (message,) = body["messages"]
    prompt = message["content"]
    assert message["role"] == "user"
    assert "transfer_money: send money to a friend or family member" in prompt
    assert "allowed values: checking, savings" in prompt
    assert "pattern_chitchat" not in prompt
    assert "Running now: transfer_money (step ask_amount)" in prompt
    assert "recipient = Jane\n" in prompt and "amount = not set yet\n" in prompt
    assert "just asked for amount (how much to send)" in prompt
    assert "USER: I want to send money to Jane\nAI: How much should I send?" in prompt
    assert prompt.count("fifty dollars please") == 2  # last transcript line + latest message


def test_history_is_cut_to_the_configured_number_of_turns(llm_server, api_key):
    llm_server.answer("ChitChat()")
    conversation = [{"sender": "user", "text": f"message {i}"} for i in range(10)]

    generator = generator_for(llm_server, max_historical_turns=3)
    generator.predict_commands(inputs("latest", conversation=conversation))

    prompt = llm_server.prompts()[0]
    assert "message 8" in prompt and "message 9" in prompt
    assert "message 7" not in prompt


def test_a_prompt_template_of_the_project_replaces_the_default(llm_server, api_key, tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "commands.jinja2").write_text(
        "{% for flow in available_flows %}{{ flow.name }}|{% endfor %}"
        "{{ current_slot }}|{{ current_slot_description }}|{{ user_message }}\n"
        "{{ current_conversation }}"
    )
    llm_server.answer("StartFlow(check_balance)")
    component = {
        "name": "CompactLLMCommandGenerator",
        "llm": {"model_group": "local"},
        "prompt_template": "prompts/commands.jinja2",
    }
    generator = LLMCommandGenerator.from_config(
        component, model_group_endpoints(llm_server), project_root=tmp_path
    )

    commands = generator.predict_commands(
        inputs("balance?", current_flow="transfer_money", current_slot="amount")
    )

    assert commands == [{"command": "start flow", "flow": "check_balance"}]
    assert llm_server.prompts() == [
        "transfer_money|check_balance|amount|how much to send|balance?\nUSER: balance?"
    ]


def test_an_inline_llm_block_works_without_model_groups(llm_server, api_key):
    llm_server.answer("HumanHandoff()")
    generator = LLMCommandGenerator.from_config({"llm": local_model(llm_server)}, {})
    assert generator.predict_commands(inputs("a person please")) == [{"command": "human handoff"}]


@pytest.mark.parametrize(
    "script",
    [
        lambda s: s.fail(500),
        lambda s: s.fail(401, "invalid key"),
        lambda s: s.hang(1.0),
        lambda s: s.raw(b"{not json"),
        lambda s: s.raw(b'{"choices": []}'),
    ],
    ids=["http 500", "http 401", "timeout", "invalid json", "no choices"],
)
def test_an_llm_that_fails_gives_the_error_command(llm_server, api_key, script, caplog):
    script(llm_server)
    generator = LLMCommandGenerator.from_config({"llm": local_model(llm_server, timeout=0.3)}, {})
    with caplog.at_level(logging.WARNING):
        assert generator.predict_commands(inputs("hello")) == [ERROR]
    assert "LLM command generator failed" in caplog.text
    assert api_key not in caplog.text


def test_an_unreachable_llm_gives_the_error_command(api_key):
    config = {"provider": "self-hosted", "model": "m", "max_retries": 0}
    config["api_base"] = f"http://127.0.0.1:{free_port()}/v1"
    generator = LLMCommandGenerator.from_config({"llm": config}, {})
    assert generator.predict_commands(inputs("hello")) == [ERROR]


def test_empty_and_too_long_messages_never_reach_the_llm(llm_server, api_key):
    generator = generator_for(llm_server, user_input={"max_characters": 20})

    assert generator.predict_commands(inputs("  ")) == [
        {"command": "error", "error_type": "rasa_internal_error_user_input_empty", "info": {}}
    ]
    assert generator.predict_commands(inputs("x" * 21)) == [
        {
            "command": "error",
            "error_type": "rasa_internal_error_user_input_too_long",
            "info": {"max_characters": 20},
        }
    ]
    assert llm_server.requests == []


def test_a_negative_maximum_turns_the_length_check_off(llm_server, api_key):
    llm_server.answer("ChitChat()")
    generator = generator_for(llm_server, user_input={"max_characters": -1})
    assert generator.predict_commands(inputs("y" * 1000)) == [{"command": "chitchat"}]


def test_a_broken_prompt_template_is_a_load_time_error(llm_server, api_key, tmp_path):
    (tmp_path / "bad.jinja2").write_text("line one\n{% for flow in %}")
    with pytest.raises(LLMConfigError, match=r"bad.jinja2:2: invalid Jinja template"):
        generator_for(llm_server, prompt_template=str(tmp_path / "bad.jinja2"))
    with pytest.raises(LLMConfigError, match="cannot be read"):
        generator_for(llm_server, prompt_template=str(tmp_path / "missing.jinja2"))


def test_all_rasa_component_names_map_to_the_generator():
    assert set(COMMAND_GENERATOR_COMPONENTS) == {
        "LLMCommandGenerator",
        "SingleStepLLMCommandGenerator",
        "CompactLLMCommandGenerator",
    }
    assert set(COMMAND_GENERATOR_COMPONENTS.values()) == {LLMCommandGenerator}


def test_the_pipeline_names_the_generator_to_use(llm_server, api_key):
    llm_server.answer("CancelFlow()")
    pipeline = [
        {"name": "WhitespaceTokenizer"},
        {"name": "NLUCommandAdapter"},
        {"name": "CompactLLMCommandGenerator", "llm": {"model_group": "local"}},
    ]
    endpoints = model_group_endpoints(llm_server)

    generator = command_generator_from_pipeline({"pipeline": pipeline}, endpoints)

    assert generator.predict_commands(inputs("stop")) == [{"command": "cancel flow"}]
    assert command_generator_from_pipeline({"pipeline": pipeline[:2]}, endpoints) is None
    with pytest.raises(LLMConfigError, match="only one LLM command generator"):
        command_generator_from_pipeline({"pipeline": pipeline + pipeline[2:]}, endpoints)
