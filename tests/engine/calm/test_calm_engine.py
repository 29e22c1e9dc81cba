"""Engine behaviour around flows: code changes, session metadata, the rephraser and command
generator seams, payloads, channels, and coexistence with rules."""

import shutil

import pytest

from bot_engine import Assistant
from bot_engine.commands.generators import register_generator
from bot_engine.commands.payloads import set_slots_commands
from tests.engine.conftest import FIXTURES, ROOT, Chat


@pytest.fixture(scope="module")
def transfer(model_dir):
    return Assistant.load(FIXTURES / "calm_transfer", model_dir=model_dir)


@pytest.fixture(scope="module")
def voice(model_dir):
    return Assistant.load(FIXTURES / "calm_voice", model_dir=model_dir)


def test_an_update_of_a_running_flow_is_announced_and_the_stack_cleaned(tmp_path, model_dir):
    project = tmp_path / "bank"
    shutil.copytree(FIXTURES / "calm_transfer", project)
    old = Assistant.load(project, model_dir=model_dir)
    chat = Chat(old)
    chat.say("/transfer_money")
    chat.say('/inform{"person": "Joe"}')
    assert chat.tracker().slots["flow_hashes"]["transfer_money"]
    flows = (project / "flows.yml").read_text()
    (project / "flows.yml").write_text(
        flows.replace("      - action: action_transfer\n", "      - action: utter_balance\n", 1)
    )
    chat.assistant = Assistant.load(project, model_dir=model_dir)  # the hub swaps assistants
    chat.say('/inform{"number": 50}')
    assert chat.texts() == [
        "There has been an update to my code. I need to wrap up our running dialogue and "
        "start from scratch.",
        "What else can I help you with?",
    ]
    assert chat.tracker().stack == []
    assert not any("continue" in (t or "") for t in chat.texts())
    chat.say("/transfer_money")  # the new version runs normally
    assert chat.texts() == ["Who would you like to send money to?"]


def test_an_unchanged_assistant_reloaded_does_not_interrupt(tmp_path, model_dir, transfer):
    chat = Chat(transfer)
    chat.say("/transfer_money")
    chat.assistant = Assistant.load(FIXTURES / "calm_transfer", model_dir=model_dir)
    chat.say('/inform{"person": "Joe"}')
    assert chat.texts() == ["How much do you want to send?"]


def test_session_metadata_is_stored_and_read_by_an_overriding_session_start(tmp_path, model_dir):
    project = tmp_path / "calls"
    shutil.copytree(FIXTURES / "calm_voice", project)
    (project / "endpoints.yml").write_text("action_endpoint:\n  actions_module: actions\n")
    (project / "actions.py").write_text(
        "class ActionSessionStart:\n"
        "    def name(self):\n        return 'action_session_start'\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        metadata = tracker.get_slot('session_started_metadata') or {}\n"
        "        phone = metadata.get('user_phone')\n"
        "        return [{'event': 'slot', 'name': 'caller', 'value': phone}]\n"
    )
    domain = (project / "domain.yml").read_text()
    (project / "domain.yml").write_text(
        domain.replace(
            "slots:\n",
            "slots:\n  caller:\n    type: text\n    mappings:\n      - type: custom\n",
            1,
        ).replace("responses:\n", "actions:\n  - action_session_start\nresponses:\n", 1)
    )
    chat = Chat(Assistant.load(project, model_dir=model_dir))
    chat.say("how do I set up my router", metadata={"user_phone": "+15550100"})
    tracker = chat.tracker()
    assert tracker.slots["session_started_metadata"] == {"user_phone": "+15550100"}
    assert tracker.slots["caller"] == "+15550100"


def test_a_registered_generator_is_built_from_its_pipeline_entry(tmp_path, model_dir):
    class Echo:
        def __init__(self, config):
            self.flow = config["flow"]

        def predict_commands(self, parse, tracker, flows):
            return [{"command": "start flow", "flow": self.flow}]

    register_generator("EchoCommandGenerator", Echo)
    project = tmp_path / "echo"
    shutil.copytree(FIXTURES / "calm_transfer", project)
    (project / "config.yml").write_text(
        "pipeline:\n  - name: WhitespaceTokenizer\n  - name: EchoCommandGenerator\n"
        "    flow: check_balance\n"
    )
    chat = Chat(Assistant.load(project, model_dir=model_dir))
    chat.say("anything at all")
    assert chat.texts()[0] == "Your balance is 1000.0 dollars."


def test_set_slots_payloads():
    slots = {"a", "b"}
    assert set_slots_commands("/SetSlots(a=1, b=null)", slots) == [
        {"command": "set slot", "name": "a", "value": "1", "extractor": "CommandPayloadReader"},
        {"command": "set slot", "name": "b", "value": None, "extractor": "CommandPayloadReader"},
    ]
    assert set_slots_commands("/SetSlots(a=1, c=2)", slots) == []  # unknown slot: nothing
    assert set_slots_commands("/SetSlots(" + ",".join(["a=1"] * 11) + ")", slots) == []


def test_channel_specific_responses_in_flows(voice):
    web = Chat(voice)
    web.say("how do I set up my router")
    assert web.texts()[0].startswith("Click the 👉 button")
    phone = Chat(voice, "caller")
    phone.say("how do I set up my router", channel="twilio_media_streams")
    assert phone.texts()[0] == "To continue setup, open our website and go to the setup guide"


def test_hang_up_ends_the_session_and_flags_the_turn(voice):
    chat = Chat(voice)
    chat.say("how do I set up my router")
    for _ in range(3):
        chat.say("/silence_timeout")
    assert chat.last.hangup is True
    ended = [e for e in chat.last.events if e["event"] == "session_ended"]
    assert ended[0]["metadata"] == {"_reason": "hangup"}


def test_rules_and_flows_coexist_in_the_demo(model_dir):
    demo = Assistant.load(ROOT / "demo_assistant", model_dir=model_dir)
    chat = Chat(demo)
    chat.say("what are your opening hours?")
    assert chat.actions() == ["utter_opening_hours"]  # a rule
    chat.say("I want to change my delivery address")
    assert chat.texts() == ["Sure — what's your order number? It looks like NW-12345."]
    chat.say("thanks")  # a rule answers the digression, then the flow asks again
    assert chat.actions() == [
        "utter_youre_welcome",
        "action_run_slot_rejections",
        "utter_ask_order_number",
    ]
    chat.say("NW-20930")
    assert chat.texts() == ["What's the new delivery address?"]


def test_flow_started_by_a_rule_through_its_trigger_action(tmp_path, model_dir):
    project = tmp_path / "mixed"
    shutil.copytree(FIXTURES / "calm_transfer", project)
    (project / "data" / "rules.yml").write_text(
        "rules:\n  - rule: balance by rule\n    steps:\n      - intent: knowledge\n"
        "      - action: flow_check_balance\n"
    )
    (project / "config.yml").write_text(
        "pipeline:\n  - name: NLUCommandAdapter\n    pattern_intents:\n      knowledge: []\n"
        "policies:\n  - name: RulePolicy\n"
    )
    chat = Chat(Assistant.load(project, model_dir=model_dir))
    chat.say("/knowledge")
    assert chat.actions()[0] == "flow_check_balance"
    assert "Your balance is 1000.0 dollars." in chat.texts()
