"""Running a project's test stories (`tests/*.yml`) and NLU test data against an assistant."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot_engine.assistant import Assistant
from bot_engine.e2e_tests import load_test_cases, run_test_case
from bot_engine.loading.nlu_loader import read_nlu
from bot_engine.loading.stories_loader import Story, read_stories
from bot_engine.loading.yaml_lines import load_yaml_file
from bot_engine.nlu import NLUTrainingData


@dataclass
class TestReport:
    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def closing_line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def load_test_stories(paths: list[Path], root: Path, report: TestReport) -> list[Story]:
    stories: list[Story] = []
    messages: list = []
    for path in paths:
        document, problems = load_yaml_file(path, str(path.relative_to(root)))
        messages += problems
        if document is not None and isinstance(document.data, dict):
            read_stories(document, stories, messages)
    report.errors += [str(m) for m in messages if m.level == "error"]
    return stories


def run_story(assistant: Assistant, story: Story, report: TestReport) -> None:
    """Play the story's user turns; every intent and action it names must be what we predict."""
    state = None
    problems: list[str] = []
    steps = story.steps
    index = 0
    predicted_actions: list[str] = []
    while index < len(steps):
        step = steps[index]
        if "user" in step or "text" in step:
            text = step.get("text") or f"/{step['user']}"
            result = assistant.handle(state, text, sender_id=f"test-{story.name}")
            state = result.tracker_state
            user_event = next(e for e in result.events if e["event"] == "user")
            got_intent = user_event["parse_data"]["intent"]["name"]
            expected = step.get("user")
            ok = expected is None or got_intent == expected
            report.predictions.append(
                {"story": story.name, "text": text, "intent": expected, "predicted": got_intent}
            )
            if not ok:
                problems.append(
                    f"{story.file}:{step['line']}: story '{story.name}': "
                    f"expected intent '{expected}', got '{got_intent}' for {text!r}"
                )
            predicted_actions = [
                e["name"]
                for e in result.events
                if e["event"] == "action"
                and e["name"] not in {"action_listen", "action_session_start"}
            ]
        elif "action" in step:
            expected_action = step["action"]
            got = predicted_actions.pop(0) if predicted_actions else "action_listen"
            report.predictions.append(
                {"story": story.name, "action": expected_action, "predicted": got}
            )
            if got != expected_action:
                problems.append(
                    f"{story.file}:{step['line']}: story '{story.name}': "
                    f"expected action '{expected_action}', got '{got}'"
                )
        index += 1
    if problems:
        report.failed += 1
        report.failures += problems
    else:
        report.passed += 1


def run_nlu_tests(assistant: Assistant, path: Path, root: Path, report: TestReport) -> None:
    document, problems = load_yaml_file(path, str(path))
    data = NLUTrainingData()
    messages: list = list(problems)
    if document is not None and isinstance(document.data, dict):
        read_nlu(document, data, messages)
    report.errors += [str(m) for m in messages if m.level == "error"]
    for example in data.examples:
        parsed = assistant.parse(example.text)
        got = parsed["intent"]["name"]
        report.predictions.append(
            {
                "text": example.text,
                "intent": example.intent,
                "predicted": got,
                "confidence": parsed["intent"]["confidence"],
            }
        )
        if got == example.intent:
            report.passed += 1
        else:
            report.failed += 1
            report.failures.append(
                f"{path}: {example.text!r}: expected intent '{example.intent}', got '{got}'"
            )


def run_project_tests(
    assistant: Assistant,
    root: str | Path,
    nlu_file: str | Path | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> TestReport:
    """Run a project's test stories and e2e test cases (`tests/*.yml`) and, if given, NLU
    test data."""
    root = Path(root)
    report = TestReport()
    files = sorted((root / "tests").glob("*.yml")) + sorted((root / "tests").glob("*.yaml"))
    stories = load_test_stories(files, root, report)
    cases = load_test_cases(files, root, report.errors)
    total = len(stories) + len(cases)
    for index, test in enumerate([*stories, *cases], start=1):
        if isinstance(test, Story):
            run_story(assistant, test, report)
        else:
            run_test_case(assistant, test, report)
        if progress is not None:
            progress(f"test {index} of {total}", index / total)
    if nlu_file:
        run_nlu_tests(assistant, Path(nlu_file), root, report)
    return report
