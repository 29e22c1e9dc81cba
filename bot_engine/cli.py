"""Command-line tools over the engine, used by `manage.py *_assistant` (no Django here)."""

import json
import sys
from pathlib import Path
from typing import TextIO

from bot_engine.assistant import Assistant
from bot_engine.conversation_tests import run_project_tests
from bot_engine.errors import ProjectError
from bot_engine.loading.project import load_project


def validate(path: str, out: TextIO = sys.stdout) -> int:
    """Print every error and warning of a project; 1 if it has errors."""
    try:
        project = load_project(path)
    except ProjectError as error:
        for message in error.errors + error.warnings:
            print(f"{message.level}: {message}", file=out)
        print(f"{len(error.errors)} errors, {len(error.warnings)} warnings", file=out)
        return 1
    for message in project.warnings:
        print(f"warning: {message}", file=out)
    print(f"0 errors, {len(project.warnings)} warnings: {path} is valid", file=out)
    return 0


def progress_bar(out: TextIO):
    def show(step: str, fraction: float) -> None:
        filled = int(fraction * 30)
        print(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} {step:<30}",
            end="",
            file=out,
            flush=True,
        )
        if fraction >= 1:
            print(file=out)

    return show


def train(path: str, model_dir: str | None = None, out: TextIO = sys.stdout) -> int:
    try:
        assistant = Assistant.load(path, model_dir=model_dir, progress=progress_bar(out))
    except ProjectError as error:
        print(error, file=out)
        return 1
    print(f"Model {assistant.fingerprint[:12]} ready.", file=out)
    return 0


def test(
    path: str,
    nlu_file: str | None = None,
    report_file: str | None = None,
    model_dir: str | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run test stories and e2e test cases (tests/*.yml) and NLU test data.

    Ends with 'N passed, M failed'.
    """
    try:
        assistant = Assistant.load(path, model_dir=model_dir)
    except ProjectError as error:
        print(error, file=out)
        return 1
    report = run_project_tests(assistant, path, nlu_file)
    for error in report.errors:
        print(f"error: {error}", file=out)
    for failure in report.failures:
        print(f"FAILED {failure}", file=out)
    if report_file:
        Path(report_file).write_text(json.dumps(report.predictions, indent=2))
    print(report.closing_line(), file=out)
    return 1 if report.failed or report.errors else 0


def chat(
    path: str, model_dir: str | None = None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> int:
    """An interactive shell like `rasa shell`: type messages, see replies; /stop ends it."""
    assistant = Assistant.load(path, model_dir=model_dir)
    state = None
    print("Chat with the assistant (/stop to quit).", file=out)
    for line in stdin:
        text = line.strip()
        if text in {"/stop", "/quit", "/exit"}:
            break
        if not text:
            continue
        result = assistant.handle(state, text, sender_id="shell")
        state = result.tracker_state
        for message in result.messages:
            print(f"bot: {message.get('text') or ''}", file=out)
            for button in message.get("buttons") or []:
                print(f"  [{button.get('title')}] -> {button.get('payload')}", file=out)
        if result.handoff:
            print(f"-- handoff requested ({result.handoff.reason}) --", file=out)
    return 0
