"""Loading Rasa projects: split domains, every error located by file, line and key."""

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot_engine import ProjectError
from bot_engine.loading.project import load_project

DOMAIN = """
version: "3.1"
intents:
  - greet
  - bye:
      use_entities: []
entities:
  - city:
      roles: [departure, destination]
slots:
  city:
    type: text
    mappings:
      - type: from_entity
        entity: city
  seats:
    type: float
    min_value: 1
    max_value: 9
    mappings:
      - type: custom
  cabin:
    type: categorical
    values: [economy, business]
    mappings:
      - type: from_intent
        intent: greet
        value: economy
responses:
  utter_greet:
    - text: "Hello {city}!"
  utter_bye:
    - text: "Bye"
session_config:
  session_expiration_time: 30
  carry_over_slots_to_new_session: false
"""
NLU = """
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - hi
      - hello from [Berlin]{"entity": "city", "role": "departure"}
  - intent: bye
    examples: |
      - bye
  - synonym: Berlin
    examples: |
      - berlin city
"""
RULES = """
version: "3.1"
rules:
  - rule: greet
    steps:
      - intent: greet
      - action: utter_greet
"""


def write_project(root: Path, **files: str) -> Path:
    defaults = {"domain.yml": DOMAIN, "data/nlu.yml": NLU, "data/rules.yml": RULES}
    for name, text in {**defaults, **files}.items():
        if text is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def errors_of(root: Path) -> list[str]:
    with pytest.raises(ProjectError) as raised:
        load_project(root)
    return [str(e) for e in raised.value.errors]


def test_a_valid_project_loads_its_whole_domain(tmp_path):
    project = load_project(write_project(tmp_path))
    domain = project.domain
    assert domain.intents["bye"].use_entities == []
    assert domain.entity_roles["city"] == ["departure", "destination"]
    assert domain.slots["seats"].max_value == 9.0
    assert domain.slots["cabin"].values == ["economy", "business"]
    assert domain.session_expiration_minutes == 30 and domain.carry_over_slots is False
    example = next(e for e in project.nlu.examples if "Berlin" in e.text)
    assert example.entities[0].role == "departure"
    assert project.nlu.synonyms == {"berlin city": "Berlin"}


def test_rule_using_an_unknown_action_names_file_line_and_rule(tmp_path):
    rules = RULES.replace("utter_greet", "utter_hi")
    errors = errors_of(write_project(tmp_path, **{"data/rules.yml": rules}))
    assert errors == [
        "data/rules.yml:7: rule 'greet': uses action 'utter_hi', which is not in the domain"
    ]


def test_invalid_yaml_is_reported_with_its_line(tmp_path):
    errors = errors_of(write_project(tmp_path, **{"data/nlu.yml": "nlu:\n  - intent: [oops\n"}))
    assert len(errors) == 1 and errors[0].startswith("data/nlu.yml:")
    assert "invalid YAML" in errors[0]


def test_several_problems_are_all_reported_at_once(tmp_path):
    domain = DOMAIN.replace("type: float", "type: decimal")
    nlu = NLU.replace("- hi", '- hi [broken]{"role": "x"}')
    errors = errors_of(write_project(tmp_path, **{"domain.yml": domain, "data/nlu.yml": nlu}))
    assert any(e.startswith("domain.yml:") and "unknown slot type 'decimal'" in e for e in errors)
    assert any(e.startswith("data/nlu.yml:") and "needs an 'entity' name" in e for e in errors)


def test_domain_folder_of_split_files_is_merged(tmp_path):
    head, responses = DOMAIN.split("responses:")
    write_project(tmp_path, **{"domain.yml": None})
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "core.yml").write_text(textwrap.dedent(head))
    (tmp_path / "domain" / "responses.yml").write_text("responses:" + responses)
    project = load_project(tmp_path)
    assert set(project.domain.responses) == {"utter_greet", "utter_bye"}


def test_warnings_for_intents_without_examples_and_unused_responses(tmp_path):
    domain = DOMAIN.replace("  - greet\n", "  - greet\n  - lonely\n")
    project = load_project(write_project(tmp_path, **{"domain.yml": domain}))
    warnings = [str(w) for w in project.warnings]
    assert "domain.yml: intents.lonely: has no training examples" in warnings
    assert "domain.yml: responses.utter_bye: is not used in any rule or story" in warnings


def test_rasa_2_style_forms_and_stories_with_or_and_checkpoints(tmp_path):
    stories = """
    version: "2.0"
    stories:
      - story: start
        steps:
          - intent: greet
          - action: utter_greet
          - checkpoint: greeted
      - story: then
        steps:
          - checkpoint: greeted
          - or:
              - intent: bye
              - intent: greet
          - action: utter_bye
    """
    domain = (
        DOMAIN
        + "forms:\n  trip_form:\n    required_slots:\n      city:\n        - type: from_text\n"
    )
    project = load_project(
        write_project(tmp_path, **{"domain.yml": domain, "data/stories.yml": stories})
    )
    assert project.domain.forms["trip_form"]["required_slots"] == ["city"]
    assert len([s for s in project.stories if not s.is_rule]) == 2


yaml_text = st.text(
    alphabet=st.sampled_from(list("abc:-[]{}\"' \n#|>!&*0123456789_")), max_size=200
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(domain=yaml_text, nlu=yaml_text, rules=yaml_text)
def test_loader_never_crashes_on_arbitrary_files(tmp_path_factory, domain, nlu, rules):
    root = write_project(
        tmp_path_factory.mktemp("fuzz"),
        **{"domain.yml": domain, "data/nlu.yml": nlu, "data/rules.yml": rules},
    )
    try:
        load_project(root)
    except ProjectError as error:
        assert error.errors
        assert all(e.file and e.message for e in error.errors)


LONG_RULE = """
version: "3.1"
rules:
  - rule: greet twice
    steps:
      - intent: greet
      - action: utter_greet
      - intent: bye
      - action: utter_bye
"""


def test_rule_with_two_user_messages_is_refused_as_rasa_does(tmp_path):
    errors = errors_of(write_project(tmp_path, **{"data/rules.yml": LONG_RULE}))
    assert errors == [
        "data/rules.yml:8: rule 'greet twice': contains 2 user messages; a rule may hold one "
        "(use a story, or set restrict_rules: false on RulePolicy)"
    ]


def test_restrict_rules_false_allows_longer_rules(tmp_path):
    config = "policies:\n  - name: RulePolicy\n    restrict_rules: false\n"
    project = load_project(
        write_project(tmp_path, **{"data/rules.yml": LONG_RULE, "config.yml": config})
    )
    assert [r.name for r in project.rules] == ["greet twice"]
