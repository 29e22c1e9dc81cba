"""Every default pattern and every sample configuration of the patterns document, played as
Rasa Pro e2e test cases through the real `test_assistant` runner."""

import io

import pytest

from bot_engine import Assistant, cli
from tests.engine.conftest import FIXTURES, Chat, copy_project


def run_e2e(path, model_dir) -> list[str]:
    out = io.StringIO()
    code = cli.test(str(path), None, None, str(model_dir), out)
    lines = out.getvalue().strip().splitlines()
    assert code == 0, out.getvalue()
    return lines


@pytest.mark.parametrize(
    ("fixture", "cases"),
    [("calm_transfer", 19), ("calm_repairs", 6), ("calm_voice", 5), ("calm_steps", 6)],
)
def test_fixture_e2e_cases_all_pass(fixture, cases, model_dir):
    assert run_e2e(FIXTURES / fixture, model_dir)[-1] == f"{cases} passed, 0 failed"


@pytest.fixture
def handoff_project(tmp_path, action_server):
    return copy_project(
        "calm_handoff", tmp_path, endpoints=f"action_endpoint:\n  url: {action_server}/webhook\n"
    )


def test_samples_with_custom_actions_pass_against_a_real_action_server(handoff_project, model_dir):
    assert run_e2e(handoff_project, model_dir)[-1] == "5 passed, 0 failed"


def test_confirmed_handoff_in_the_pattern_is_a_pattern_handoff(handoff_project, model_dir):
    chat = Chat(Assistant.load(handoff_project, model_dir=model_dir))
    chat.say("I want to talk to a human")
    assert chat.last.handoff is None
    chat.say("yes")
    assert chat.last.handoff is not None and chat.last.handoff.reason == "pattern"
    assert chat.tracker().paused


def test_declined_handoff_is_no_handoff(handoff_project, model_dir):
    chat = Chat(Assistant.load(handoff_project, model_dir=model_dir))
    chat.say("I want to talk to a human")
    chat.say("no")
    assert chat.last.handoff is None
    assert not chat.tracker().paused
