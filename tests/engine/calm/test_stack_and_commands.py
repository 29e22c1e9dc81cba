"""Frames, stack patches and command dicts in Rasa's wire formats
(../shared/research/formats/wire-examples/)."""

import json
from pathlib import Path

import pytest

from bot_engine.commands.catalogue import CommandError, parse_command, parse_commands
from bot_engine.flows import stack as st

WIRE = Path(__file__).resolve().parents[4] / "shared" / "research" / "formats" / "wire-examples"
ALT_WIRE = Path("/work/shared/research/formats/wire-examples")


def wire(name: str):
    folder = WIRE if WIRE.exists() else ALT_WIRE
    if not folder.exists():
        pytest.skip("the shared wire examples are not on this machine")
    return json.loads((folder / name).read_text())


def test_frames_have_the_fields_of_rasas_frames():
    examples = wire("dialogue_stack_examples.json")
    assert set(st.user_flow_frame("transfer_money")) == set(examples["user_flow_frame"])
    collect = st.pattern_frame(
        st.COLLECT, collect="amount", utter="utter_ask_amount", collect_action="a", rejections=[]
    )
    assert set(collect) == set(examples["collect_information_frame"])
    assert set(st.policy_frame("chitchat")) == set(examples["chitchat_policy_frame"])
    frame = st.user_flow_frame("transfer_money")
    assert len(frame["frame_id"]) == 8 and frame["frame_id"].isalnum()


def test_stack_events_are_json_patches_like_rasas():
    examples = wire("dialogue_stack_examples.json")
    frame = dict(examples["user_flow_frame"], step_id="START")
    pushed = st.stack_event([], [frame])
    assert json.loads(pushed["update"]) == [{"op": "add", "path": "/0", "value": frame}]
    moved = dict(frame, step_id="transfer_money_0_collect_amount")
    replaced = st.stack_event([frame], [moved])
    assert json.loads(replaced["update"]) == json.loads(
        examples["stack_updated_event_step_change"]["update"]
    )
    assert st.apply_stack_update([frame], replaced["update"]) == [moved]
    assert st.stack_event([frame], [frame]) is None
    assert st.apply_stack_update([frame], "not json") == [frame]  # a bad patch changes nothing


def test_the_context_of_a_collect_step_speaks_for_its_flow():
    examples = wire("dialogue_stack_examples.json")
    stack = [examples["user_flow_frame"], examples["collect_information_frame"]]
    context = st.current_context(stack)
    assert context["flow_id"] == "transfer_money"
    assert context["step_id"] == "transfer_money_0_collect_amount"
    assert context["collect"] == "amount" and context["utter"] == "utter_ask_amount"
    assert st.current_context([]) == {}
    assert st.top_flow_frame(stack)["type"] == "flow"
    assert st.top_user_frame(stack)["frame_id"] == "K3ZP9Q1A"


def test_every_command_of_the_catalogue_parses():
    commands, problems = parse_commands(wire("commands_examples.json"))
    assert problems == []
    assert len(commands) == len(wire("commands_examples.json"))
    assert parse_command({"command": "cannot handle"})["reason"] == "cannot_handle_default"
    assert parse_command({"command": "error"})["error_type"] == "rasa_internal_error_default"


@pytest.mark.parametrize(
    "raw", [{"command": "teleport"}, {"command": "start flow"}, "start flow", {"flow": "x"}]
)
def test_malformed_commands_are_rejected(raw):
    with pytest.raises(CommandError):
        parse_command(raw)
