"""Small Rasa (DM1) projects and zips of them, for the assistant lifecycle tests."""

import io
import zipfile
from pathlib import Path

DOMAIN = """\
version: "3.1"
intents:
  - greet
  - goodbye
responses:
  utter_greet:
    - text: "{greeting}"
  utter_goodbye:
    - text: "Bye for now."
"""

NLU = """\
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - hello
      - hi
      - hey there
      - good morning
      - hello bot
  - intent: goodbye
    examples: |
      - bye
      - goodbye
      - see you later
      - bye bye
      - good night
"""

RULES = """\
version: "3.1"
rules:
  - rule: greet
    steps:
      - intent: greet
      - action: utter_greet
  - rule: goodbye
    steps:
      - intent: goodbye
      - action: {goodbye_action}
"""

TESTS = """\
version: "3.1"
stories:
  - story: greets back
    steps:
      - user: hello
        intent: greet
      - action: utter_greet
  - story: says goodbye
    steps:
      - user: bye
        intent: goodbye
      - action: {expected_goodbye}
"""

CONFIG = """\
recipe: default.v1
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: DIETClassifier
policies:
  - name: RulePolicy
"""


def project_files(
    greeting: str = "Hello from version one!",
    goodbye_action: str = "utter_goodbye",
    expected_goodbye: str = "utter_goodbye",
) -> dict[str, str]:
    return {
        "domain.yml": DOMAIN.format(greeting=greeting),
        "config.yml": CONFIG,
        "data/nlu.yml": NLU,
        "data/rules.yml": RULES.format(goodbye_action=goodbye_action),
        "tests/test_stories.yml": TESTS.format(expected_goodbye=expected_goodbye),
    }


def write_project(folder: Path, **options) -> Path:
    for name, text in project_files(**options).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def zip_bytes(entries: dict[str, str | bytes], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(prefix + name, content)
    return buffer.getvalue()


def project_zip(prefix: str = "", **options) -> bytes:
    return zip_bytes(project_files(**options), prefix)


def zip_with_symlink(target: str = "/etc/passwd") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in project_files().items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("data/linked.yml")
        link.external_attr = (0o120777 << 16) | 0x20  # a symlink, as `zip --symlinks` stores it
        archive.writestr(link, target)
    return buffer.getvalue()
