"""rasa-spec Appendix A, the worked CALM traces, as golden tests: after each turn, the events
(stack patches aside) and the dialogue stack."""

import json

import pytest

from bot_engine import Assistant
from bot_engine.flows.stack import apply_stack_update
from tests.engine.conftest import FIXTURES, Chat

TM_0 = "transfer_money_0_collect_recipient"
TM_1 = "transfer_money_1_collect_amount"
CI_LISTEN = "pattern_collect_information_4_action_listen"
CI = "pattern_collect_information"
ASKING_RECIPIENT = [("flow", TM_0, "regular"), (CI, CI_LISTEN, None)]
ASKING_AMOUNT = [("flow", TM_1, "regular"), (CI, CI_LISTEN, None)]


@pytest.fixture(scope="module")
def assistant(model_dir):
    return Assistant.load(FIXTURES / "calm_transfer", model_dir=model_dir)


def short(event: dict) -> str:
    kind = event["event"]
    if kind == "action":
        return f"action:{event['name']}"
    if kind == "bot":
        return f"bot:{event['metadata'].get('utter_action')}"
    if kind == "slot":
        return (
            "slot:flow_hashes"
            if event["name"] == "flow_hashes"
            else (f"slot:{event['name']}={event['value']!r}")
        )
    if kind.startswith("flow_"):
        step = f"@{event['step_id']}" if "step_id" in event else ""
        return f"{kind}:{event['flow_id']}{step}"
    return kind


def turn(chat: Chat, text: str) -> list[str]:
    chat.say(text)
    return [short(e) for e in chat.last.events if e["event"] != "stack"]


def stack(chat: Chat) -> list[tuple]:
    return [(f["type"], f["step_id"], f.get("frame_type")) for f in chat.tracker().stack]


def test_a1_starting_a_flow_asks_its_first_question(assistant):
    chat = Chat(assistant)
    assert turn(chat, "/transfer_money") == [
        "action:action_session_start",
        "session_started",
        "action:action_listen",
        "user",
        "slot:flow_hashes",
        "flow_started:transfer_money",
        f"flow_started:{CI}",
        "action:action_run_slot_rejections",
        "action:utter_ask_recipient",
        "bot:utter_ask_recipient",
        "action:action_listen",
    ]
    assert stack(chat) == ASKING_RECIPIENT
    listen = chat.last.events[-1]
    assert listen["policy"] == "FlowPolicy"
    assert listen["metadata"] == {"active_flow": "transfer_money", "step_id": TM_0}


def test_a2_digression_then_continue_interrupted(assistant):
    chat = Chat(assistant)
    chat.say("/transfer_money")
    assert turn(chat, "/check_balance") == [
        "user",
        f"flow_interrupted:transfer_money@{TM_0}",
        "flow_started:check_balance",
        "action:action_check_balance",
        "slot:balance=1000.0",
        "action:utter_balance",
        "bot:utter_balance",
        "flow_completed:check_balance@check_balance_1_utter_balance",
        f"flow_resumed:transfer_money@{TM_0}",
        "flow_started:pattern_continue_interrupted",
        "action:utter_flow_continue_interrupted",
        "bot:utter_flow_continue_interrupted",
        "flow_completed:pattern_continue_interrupted@"
        "pattern_continue_interrupted_0_utter_flow_continue_interrupted",
        f"flow_started:{CI}",
        "action:action_run_slot_rejections",
        "action:utter_ask_recipient",
        "bot:utter_ask_recipient",
        "action:action_listen",
    ]
    assert chat.texts()[1] == "Let's continue with transfer money."
    assert stack(chat) == ASKING_RECIPIENT


def test_a3_cancellation_winds_up_and_completes(assistant):
    chat = Chat(assistant)
    chat.say("/transfer_money")
    chat.say('/inform{"person": "Joe"}')
    assert stack(chat) == ASKING_AMOUNT
    assert turn(chat, "/stop") == [
        "user",
        f"flow_cancelled:transfer_money@{TM_1}",
        "flow_started:pattern_cancel_flow",
        "action:action_cancel_flow",
        "action:utter_flow_cancelled_rasa",
        "bot:utter_flow_cancelled_rasa",
        "flow_completed:pattern_cancel_flow@pattern_cancel_flow_1_utter_flow_cancelled_rasa",
        f"flow_completed:{CI}@NEXT:END",
        "slot:recipient=None",
        "flow_completed:transfer_money@NEXT:END",
        "flow_started:pattern_completed",
        "action:utter_can_do_something_else",
        "bot:utter_can_do_something_else",
        "flow_completed:pattern_completed@pattern_completed_0_utter_can_do_something_else",
        "action:action_listen",
    ]
    assert chat.texts() == ["Okay, stopping transfer money.", "What else can I help you with?"]
    assert stack(chat) == []


def test_a4_correction_goes_back_to_the_recipient_and_on_to_the_amount(assistant):
    chat = Chat(assistant)
    chat.say("/transfer_money")
    chat.say('/inform{"person": "Joe"}')
    events = turn(chat, '/inform{"person": "John"}')
    assert events[:7] == [
        "user",
        "flow_started:pattern_correction",
        "action:action_correct_flow_slot",
        "slot:recipient='John'",
        "action:utter_corrected_previous_input",
        "bot:utter_corrected_previous_input",
        "flow_completed:pattern_correction@pattern_correction_1_utter_corrected_previous_input",
    ]
    # the recipient step is entered again (its flow_started again), then the amount asked
    assert "flow_started:transfer_money" in events
    assert events[-3:] == [
        "action:utter_ask_amount",
        "bot:utter_ask_amount",
        "action:action_listen",
    ]
    assert chat.texts() == [
        "Ok, I am updating recipient to John respectively.",
        "How much do you want to send?",
    ]
    correction = next(
        json.loads(e["update"])[0]["value"]
        for e in chat.last.events
        if e["event"] == "stack" and '"pattern_correction"' in e["update"]
    )
    assert correction["corrected_slots"] == {"recipient": "John"}
    assert correction["reset_flow_id"] == "transfer_money"
    assert correction["reset_step_id"] == TM_0
    assert correction["is_reset_only"] is False
    assert stack(chat) == ASKING_AMOUNT


def test_a5_rejection_resets_the_slot_and_asks_again(assistant):
    chat = Chat(assistant)
    chat.say("/transfer_money")
    chat.say('/inform{"person": "Joe"}')
    assert turn(chat, '/inform{"number": -5}') == [
        "user",
        "slot:amount=-5.0",
        f"flow_started:{CI}",
        "action:action_run_slot_rejections",
        "slot:amount=None",
        "bot:utter_invalid_amount",
        "action:utter_ask_amount",
        "bot:utter_ask_amount",
        "action:action_listen",
    ]
    assert chat.texts()[0] == "The amount must be more than zero, not -5.0."
    assert stack(chat) == ASKING_AMOUNT


def test_a6_input_guard_then_the_question_again(assistant):
    chat = Chat(assistant)
    chat.say("/transfer_money")
    events = turn(chat, "x" * 500)
    assert events[:4] == [
        "user",
        "flow_started:pattern_internal_error",
        "action:utter_user_input_too_long_error_rasa",
        "bot:utter_user_input_too_long_error_rasa",
    ]
    command = chat.last.events[0]["parse_data"]["commands"]
    assert command == [
        {
            "command": "error",
            "error_type": "rasa_internal_error_user_input_too_long",
            "info": {"max_characters": 420},
        }
    ]
    assert chat.texts()[0].endswith("within 420 characters.")
    assert chat.texts()[-1] == "Who would you like to send money to?"
    assert stack(chat) == ASKING_RECIPIENT


class ScriptedCommandGenerator:
    """Stands where an LLM command generator plugs in: returns §8.1 command dicts."""

    def __init__(self, commands):
        self.commands = commands

    def predict_commands(self, parse, tracker, flows):
        return self.commands


def test_a7_clarification_from_a_command_generator(model_dir):
    assistant = Assistant.load(FIXTURES / "calm_transfer", model_dir=model_dir)
    assistant.flow_turns.generators = [
        ScriptedCommandGenerator(
            [{"command": "clarify", "options": ["transfer_money", "check_balance"]}]
        )
    ]
    chat = Chat(assistant)
    chat.say("I need help with money")
    assert chat.texts() == [
        "I can help, but I need more information. Which of these would you like to do: "
        "transfer money or check balance?"
    ]
    assert stack(chat) == []  # a pattern ended: no pattern_completed


def test_a8_handoff_via_link_runs_the_pattern_after_the_flow(assistant):
    chat = Chat(assistant)
    assert turn(chat, "/talk_to_human")[4:] == [
        "slot:flow_hashes",
        "flow_started:talk_to_human",
        "action:utter_connecting",
        "bot:utter_connecting",
        "flow_completed:talk_to_human@talk_to_human_1_link_pattern_human_handoff",
        "flow_started:pattern_human_handoff",
        "action:utter_human_handoff_not_available",
        "bot:utter_human_handoff_not_available",
        "flow_completed:pattern_human_handoff@"
        "pattern_human_handoff_0_utter_human_handoff_not_available",
        "action:action_listen",
    ]
    assert chat.texts()[0] == "Let me see whether someone is there."
    assert chat.last.handoff is None  # the default pattern only says nobody is available
    assert stack(chat) == []


def test_stack_events_replay_to_the_same_stack(assistant):
    chat = Chat(assistant)
    for text in ("/transfer_money", "/check_balance", '/inform{"person": "Joe"}'):
        chat.say(text)
    replayed: list = []
    for event in chat.state["events"]:
        if event["event"] == "stack":
            operations = json.loads(event["update"])
            assert all(
                op["op"] in {"add", "remove", "replace", "move", "copy"} for op in operations
            )
            replayed = apply_stack_update(replayed, event["update"])
    assert replayed == chat.tracker().stack
    assert json.loads(json.dumps(replayed)) == replayed
