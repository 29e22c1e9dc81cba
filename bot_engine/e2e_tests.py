"""End-to-end test cases in Rasa Pro's format (`test_cases:` in tests/*.yml, §19).

Each test case is one fresh conversation. After every `user:` step, the steps that follow it
(`bot:`, `utter:`, `slot_was_set:`, `slot_was_not_set:`) are checked against what that turn
produced: a step passes if some event of the turn matches it (other messages may be said too).
A `user:` step may instead carry `assertions:` (flow_started, flow_completed, flow_cancelled,
pattern_clarification_contains, action_executed, slot_was_set, slot_was_not_set, bot_uttered,
bot_did_not_utter).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot_engine.loading.yaml_lines import YamlDocument, load_yaml_file

CHECK_KEYS = ("bot", "utter", "slot_was_set", "slot_was_not_set")


@dataclass
class TestCase:
    name: str
    file: str
    line: int | None
    steps: list[tuple[dict, int | None]]
    slots: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    stubs: dict = field(default_factory=dict)  # action name -> {events, responses}


class StubAction:
    """A custom action replaced by the test file's `stub_custom_actions` entry."""

    def __init__(self, name: str, spec: dict):
        self.name = name
        self.spec = spec if isinstance(spec, dict) else {}

    def run(self, context) -> list[dict]:
        from bot_engine.dialogue import events as ev

        result: list[dict] = []
        for response in self.spec.get("responses") or []:
            if isinstance(response, dict) and response.get("response"):
                result += context.utter(response["response"])
            elif isinstance(response, dict):
                data = {k: v for k, v in response.items() if k != "text"}
                result.append(ev.bot(response.get("text"), data, {"utter_source": self.name}))
        for event in self.spec.get("events") or []:
            if isinstance(event, dict) and "event" in event:
                result.append({"timestamp": None, **event})
        return result


def _stubs_for(stubs: dict, case_name: str) -> dict:
    """`action` stubs for every test case, `test_case_name::action` for one only."""
    chosen = {k: v for k, v in stubs.items() if "::" not in k}
    for key, spec in stubs.items():
        if "::" in key and key.split("::", 1)[0] == case_name:
            chosen[key.split("::", 1)[1]] = spec
    return {name: StubAction(name, spec) for name, spec in chosen.items()}


def _named_blocks(document: YamlDocument, key: str) -> dict:
    blocks = {}
    for item in document.data.get(key) or []:
        if isinstance(item, dict):
            blocks.update(item)
    return blocks


def _fixture_slots(fixtures: dict, names) -> dict:
    slots = {}
    for name in names or []:
        for item in fixtures.get(name) or []:
            if isinstance(item, dict):
                slots.update(item)
    return slots


def read_test_cases(document: YamlDocument, errors: list[str]) -> list[TestCase]:
    data = document.data
    if not isinstance(data, dict) or "test_cases" not in data:
        return []
    fixtures = _named_blocks(document, "fixtures")
    metadata = _named_blocks(document, "metadata")
    stubs = (
        data.get("stub_custom_actions") if isinstance(data.get("stub_custom_actions"), dict) else {}
    )
    cases = []
    for index, raw in enumerate(data.get("test_cases") or []):
        path = ("test_cases", index)
        if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
            errors.append(f"{document.file}:{document.line(*path)}: a test case needs `steps`")
            continue
        steps = [(s, document.line(*path, "steps", i)) for i, s in enumerate(raw["steps"])]
        bad = [line for step, line in steps if not isinstance(step, dict)]
        if bad:
            errors.append(f"{document.file}:{bad[0]}: a step must be a mapping")
            continue
        case_metadata = metadata.get(raw.get("metadata"), {}) if raw.get("metadata") else {}
        name = str(raw.get("test_case", f"test case {index + 1}"))
        cases.append(
            TestCase(
                name=name,
                file=document.file,
                line=document.line(*path),
                steps=steps,
                slots=_fixture_slots(fixtures, raw.get("fixtures")),
                metadata={"__named__": metadata, **(case_metadata or {})},
                stubs=_stubs_for(stubs, name),
            )
        )
    return cases


def load_test_cases(paths: list[Path], root: Path, errors: list[str]) -> list[TestCase]:
    cases = []
    for path in paths:
        document, problems = load_yaml_file(path, str(path.relative_to(root)))
        errors += [str(m) for m in problems if m.level == "error"]
        if document is not None:
            cases += read_test_cases(document, errors)
    return cases


# ---- matching one turn ----
def _bots(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("event") == "bot"]


def _slot_set(events: list[dict], name: str, value=...) -> bool:
    """Some `slot` event of the turn set `name` (to `value`, unless it is `...`)."""
    return any(
        e.get("event") == "slot"
        and e.get("name") == name
        and (value is ... or e.get("value") == value)
        for e in events
    )


def _slot_items(raw) -> list[tuple[str, object]]:
    """`[name, {name: value}, {name: x, value: y}]` → [(name, value or ...)]."""
    items = []
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, str):
            items.append((item, ...))
        elif isinstance(item, dict) and "name" in item:
            items.append((item["name"], item.get("value", ...)))
        elif isinstance(item, dict):
            items += list(item.items())
    return items


def check_step(step: dict, events: list[dict]) -> str | None:
    """None if the step holds for the turn's events, else what went wrong."""
    if "bot" in step:
        texts = [b.get("text") for b in _bots(events)]
        return None if step["bot"] in texts else f"bot did not say {step['bot']!r} (said {texts})"
    if "utter" in step:
        names = [(b.get("metadata") or {}).get("utter_action") for b in _bots(events)]
        return None if step["utter"] in names else f"no {step['utter']} (uttered {names})"
    if "slot_was_set" in step:
        for name, value in _slot_items(step["slot_was_set"]):
            if not _slot_set(events, name, value):
                shown = "" if value is ... else f" to {value!r}"
                return f"slot '{name}' was not set{shown}"
        return None
    if "slot_was_not_set" in step:
        for name, value in _slot_items(step["slot_was_not_set"]):
            if _slot_set(events, name, value):
                return f"slot '{name}' was set"
        return None
    return f"unknown step {sorted(step)}"


def _bot_matches(bot: dict, spec: dict) -> bool:
    if not isinstance(spec, dict):
        return False
    if (
        "utter_name" in spec
        and (bot.get("metadata") or {}).get("utter_action") != spec["utter_name"]
    ):
        return False
    if "text_matches" in spec and not re.search(str(spec["text_matches"]), bot.get("text") or ""):
        return False
    if "buttons" in spec:
        buttons = [
            {"title": b.get("title"), "payload": b.get("payload")}
            for b in (bot.get("data") or {}).get("buttons") or []
        ]
        wanted = [{"title": b.get("title"), "payload": b.get("payload")} for b in spec["buttons"]]
        if buttons != wanted:
            return False
    return True


def _flow_event(events, kind, spec) -> bool:
    spec = spec if isinstance(spec, dict) else {"flow_id": spec}
    return any(
        e.get("event") == kind
        and e.get("flow_id") == spec.get("flow_id")
        and ("flow_step_id" not in spec or e.get("step_id") == spec["flow_step_id"])
        for e in events
    )


def check_assertion(assertion: dict, events: list[dict]) -> str | None:
    if not isinstance(assertion, dict) or len(assertion) != 1:
        return f"invalid assertion {assertion!r}"
    kind, spec = next(iter(assertion.items()))
    if kind in {"flow_started", "flow_completed", "flow_cancelled"}:
        return None if _flow_event(events, kind, spec) else f"no {kind} {spec!r}"
    if kind == "pattern_clarification_contains":
        for event in events:
            if event.get("event") == "flow_started" and event.get("flow_id") == (
                "pattern_clarification"
            ):
                names = (event.get("metadata") or {}).get("names") or []
                if all(n in names for n in spec or []):
                    return None
        return f"no clarification between {spec!r}"
    if kind == "action_executed":
        ran = [e.get("name") for e in events if e.get("event") == "action"]
        return None if spec in ran else f"action {spec!r} did not run (ran {ran})"
    if kind in {"slot_was_set", "slot_was_not_set"}:
        return check_step({kind: spec}, events)
    if kind in {"bot_uttered", "bot_did_not_utter"}:
        said = any(_bot_matches(b, spec) for b in _bots(events))
        if said == (kind == "bot_uttered"):
            return None
        return f"{kind} {spec!r} failed (said {[b.get('text') for b in _bots(events)]})"
    return f"unknown assertion '{kind}'"


# ---- running a test case ----
def _initial_state(case: TestCase, sender_id: str) -> dict | None:
    if not case.slots:
        return None
    from bot_engine.dialogue import events as ev

    return {"sender_id": sender_id, "events": [ev.slot(k, v) for k, v in case.slots.items()]}


def _message_metadata(case: TestCase, step: dict) -> dict | None:
    named = case.metadata.get("__named__", {})
    metadata = {k: v for k, v in case.metadata.items() if k != "__named__"}
    extra = step.get("metadata")
    if isinstance(extra, str):
        metadata.update(named.get(extra) or {})
    elif isinstance(extra, dict):
        metadata.update(extra)
    return metadata or None


def run_test_case(assistant, case: TestCase, report) -> None:
    """Play the test case as one conversation; record it as passed or failed on `report`."""
    sender_id = f"e2e-{case.name}"
    state = _initial_state(case, sender_id)
    assistant.action_stubs = case.stubs
    try:
        problems = _play(assistant, case, sender_id, state, report)
    finally:
        assistant.action_stubs = {}
    if problems:
        report.failed += 1
        report.failures += problems
    else:
        report.passed += 1


def _play(assistant, case: TestCase, sender_id: str, state, report) -> list[str]:
    turn: list[dict] | None = None
    problems: list[str] = []
    for step, line in case.steps:
        where = f"{case.file}:{line}: test case '{case.name}'"
        if "user" in step:
            result = assistant.handle(
                state,
                str(step["user"]),
                sender_id=sender_id,
                metadata=_message_metadata(case, step),
            )
            state, turn = result.tracker_state, result.events
            for assertion in step.get("assertions") or []:
                problem = check_assertion(assertion, turn)
                if problem:
                    problems.append(f"{where}: after {step['user']!r}: {problem}")
            continue
        if turn is None:
            problems.append(f"{where}: a `{next(iter(step))}` step needs a `user` step before it")
            continue
        problem = check_step(step, turn)
        report.predictions.append({"test_case": case.name, "step": step, "passed": problem is None})
        if problem:
            problems.append(f"{where}: {problem}")
    return problems
