"""The assistant tools users expect: validate, train, test stories, chat shell."""

import io
import json

from bot_engine import cli
from tests.engine.conftest import ROOT


def test_validate_reports_errors_and_exit_code(tmp_path):
    (tmp_path / "domain.yml").write_text("intents: [greet]\nresponses: {}\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rules.yml").write_text(
        "rules:\n  - rule: hi\n    steps:\n      - intent: greet\n      - action: utter_hi\n"
    )
    out = io.StringIO()
    assert cli.validate(str(tmp_path), out) == 1
    assert "data/rules.yml:5: rule 'hi': uses action 'utter_hi'" in out.getvalue()
    assert cli.validate(str(ROOT / "demo_assistant"), io.StringIO()) == 0


def test_demo_test_stories_all_pass_and_report_is_written(tmp_path, model_dir):
    out = io.StringIO()
    report = tmp_path / "report.json"
    code = cli.test(str(ROOT / "demo_assistant"), None, str(report), str(model_dir), out)
    lines = out.getvalue().strip().splitlines()
    assert code == 0, out.getvalue()
    assert lines[-1] == "25 passed, 0 failed"  # 8 test stories and 17 e2e test cases
    predictions = json.loads(report.read_text())
    assert any(p.get("action") == "action_human_handoff" for p in predictions)


def test_failing_story_is_reported_with_file_and_line(tmp_path, model_dir):
    project = tmp_path / "demo"
    import shutil

    shutil.copytree(ROOT / "demo_assistant", project, ignore=shutil.ignore_patterns(".models"))
    (project / "tests" / "test_flows.yml").unlink()
    (project / "tests" / "test_stories.yml").write_text(
        "stories:\n  - story: wrong\n    steps:\n      - user: hello\n        intent: greet\n"
        "      - action: utter_goodbye\n"
    )
    nlu = tmp_path / "nlu_test.yml"
    nlu.write_text("nlu:\n  - intent: goodbye\n    examples: |\n      - bye bye\n")
    out = io.StringIO()
    assert cli.test(str(project), str(nlu), None, str(model_dir), out) == 1
    text = out.getvalue()
    assert "FAILED tests/test_stories.yml:6: story 'wrong': expected action 'utter_goodbye'" in text
    assert text.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_train_shows_progress_and_reuses_the_model(tmp_path):
    out = io.StringIO()
    assert cli.train(str(ROOT / "demo_assistant"), str(tmp_path), out) == 0
    assert "training intent classifier" in out.getvalue()
    again = io.StringIO()
    assert cli.train(str(ROOT / "demo_assistant"), str(tmp_path), again) == 0
    assert "loaded saved model" in again.getvalue()


def test_chat_shell_answers_and_announces_handoff(model_dir):
    out = io.StringIO()
    stdin = io.StringIO("hello\nI want to talk to a human\n/stop\nnever read\n")
    assert cli.chat(str(ROOT / "demo_assistant"), str(model_dir), stdin, out) == 0
    text = out.getvalue()
    assert "bot: Hi! I'm the Northwind assistant." in text
    assert "-- handoff requested (explicit_request) --" in text
