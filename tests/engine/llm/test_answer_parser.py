"""Reading LLM answers as commands (rasa-spec §8.3.2): every action form and every rule."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot_engine.llm import parse_llm_answer

FLOWS = ["transfer_money", "check_balance", "add_contact"]
SLOTS = ["amount", "recipient", "confirm"]
CANNOT_HANDLE = [{"command": "cannot handle", "reason": "cannot_handle_default"}]


def parse(text: str, slots=SLOTS) -> list[dict]:
    return parse_llm_answer(text, FLOWS, slots)


def test_an_answer_with_several_actions_gives_commands_in_order():
    answer = "SetSlot(amount, 50)\nStartFlow(transfer_money)\nSetSlot(recipient, John)"
    assert parse(answer) == [
        {"command": "set slot", "name": "amount", "value": "50", "extractor": "LLM"},
        {"command": "start flow", "flow": "transfer_money"},
        {"command": "set slot", "name": "recipient", "value": "John", "extractor": "LLM"},
    ]


@pytest.mark.parametrize(
    ("action", "command"),
    [
        ("CancelFlow()", {"command": "cancel flow"}),
        ("ChitChat()", {"command": "chitchat"}),
        ("SkipQuestion()", {"command": "skip question"}),
        ("SearchAndReply()", {"command": "knowledge"}),
        ("HumanHandoff()", {"command": "human handoff"}),
        ("RepeatLastBotMessages()", {"command": "repeat"}),
    ],
)
def test_actions_without_arguments(action, command):
    assert parse(action) == [command]


@pytest.mark.parametrize(
    "written",
    ['SetSlot(recipient, "John")', "SetSlot('recipient', 'John')", "SetSlot( recipient ,  John )"],
)
def test_quotes_and_spaces_around_values_are_stripped(written):
    assert parse(written)[0]["name"] == "recipient"
    assert parse(written)[0]["value"] == "John"


@pytest.mark.parametrize(
    "null", ["[missing information]", "[missing]", "None", "undefined", "null"]
)
def test_values_meaning_no_value_are_null(null):
    assert parse(f"SetSlot(amount, {null})")[0]["value"] is None


def test_values_keep_commas_and_brackets():
    assert parse("SetSlot(recipient, Smith, John (Jr.))")[0]["value"] == "Smith, John (Jr.)"


def test_setting_the_flow_name_slot_starts_that_flow():
    assert parse("SetSlot(flow_name, check_balance)") == [
        {"command": "start flow", "flow": "check_balance"}
    ]


def test_a_real_flow_name_slot_is_set_not_started():
    commands = parse("SetSlot(flow_name, check_balance)", SLOTS + ["flow_name"])
    assert commands[0]["command"] == "set slot"


def test_only_existing_user_flows_are_started():
    answer = "StartFlow(order_pizza)\nStartFlow(pattern_human_handoff)\nStartFlow(add_contact)"
    assert parse_llm_answer(answer, FLOWS + ["pattern_human_handoff"]) == [
        {"command": "start flow", "flow": "add_contact"}
    ]


def test_clarify_keeps_existing_user_flows_sorted():
    assert parse("Clarify(transfer_money, add_contact, order_pizza)") == [
        {"command": "clarify", "options": ["add_contact", "transfer_money"]}
    ]


def test_clarify_with_one_valid_option_starts_it():
    assert parse('Clarify("check_balance", "pattern_cancel_flow", unknown)') == [
        {"command": "start flow", "flow": "check_balance"}
    ]


def test_clarify_without_valid_options_gives_nothing():
    assert parse("Clarify(a, b)") == CANNOT_HANDLE


def test_several_actions_on_one_line_and_decoration_around_them():
    answer = "Actions:\n1. StartFlow(transfer_money), SetSlot(amount, 20)\n- `CancelFlow()`"
    assert [c["command"] for c in parse(answer)] == ["start flow", "set slot", "cancel flow"]


def test_repeated_identical_actions_give_one_command():
    assert parse("ChitChat()\nChitChat()") == [{"command": "chitchat"}]


@pytest.mark.parametrize(
    "answer",
    ["", "   \n ", "I think the user wants money.", "StartFlow(", "SetSlot(amount)", "DoIt(now)"],
    ids=["empty", "blank", "prose", "unclosed", "no value", "unknown action"],
)
def test_nothing_usable_means_cannot_handle(answer):
    assert parse(answer) == CANNOT_HANDLE


def _well_formed(command: dict) -> bool:
    kind = command.get("command")
    fields = set(command) - {"command"}
    if kind == "start flow":
        return fields == {"flow"} and command["flow"] in FLOWS
    if kind == "set slot":
        return (
            fields == {"name", "value", "extractor"}
            and isinstance(command["name"], str)
            and command["name"] != ""
            and (command["value"] is None or isinstance(command["value"], str))
            and command["extractor"] == "LLM"
        )
    if kind == "clarify":
        options = command["options"]
        return fields == {"options"} and len(options) > 1 and options == sorted(set(options))
    if kind == "cannot handle":
        return command == CANNOT_HANDLE[0]
    simple = {"cancel flow", "chitchat", "skip question", "knowledge", "human handoff", "repeat"}
    return kind in simple and not fields


ANSWER_PIECES = st.sampled_from(
    [
        "SetSlot(",
        "StartFlow(",
        "Clarify(",
        "CancelFlow()",
        "HumanHandoff()",
        "RepeatLastBotMessages(",
        "flow_name",
        *FLOWS,
        *SLOTS,
        "pattern_chitchat",
        ", ",
        ")",
        "(",
        '"',
        "'",
        "\n",
        " ",
        "None",
        "[missing]",
    ]
)


@settings(max_examples=400)
@given(st.lists(ANSWER_PIECES | st.text(max_size=8), max_size=25).map("".join))
def test_any_answer_gives_only_well_formed_commands(answer):
    commands = parse(answer)
    assert commands
    assert all(_well_formed(c) for c in commands), commands
    assert commands == CANNOT_HANDLE or CANNOT_HANDLE[0] not in commands


@given(st.text(), st.lists(st.text(max_size=10)), st.none() | st.lists(st.text(max_size=10)))
def test_parsing_never_raises_whatever_the_flows_and_slots(answer, flows, slots):
    assert isinstance(parse_llm_answer(answer, flows, slots), list)
