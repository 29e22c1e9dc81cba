"""Rasa's condition language: the rasa-spec §9.3 table verbatim, and pypred's quirks."""

import pytest

from bot_engine.flows.predicates import check_condition, evaluate

DOCUMENT = {
    "slots": {"amount": None, "confirm": True, "num": 1.0, "name": "Joe"},
    "context": {
        "reason": "cannot_handle_chitchat",
        "names": ["transfer money", "check balance"],
        "is_reset_only": False,
        "collect": "amount",
    },
}
JINJA = {"context": DOCUMENT["context"]}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("'{{context.reason}}' = 'cannot_handle_chitchat'", True),
        ('context.reason is "cannot_handle_chitchat"', True),
        ("context.reason = cannot_handle_chitchat", False),
        ("not context.is_reset_only", True),
        ("slots.amount is null", True),
        ("slots.amount is not null", False),
        ("slots.nonexistent is null", False),
        ("slots.nonexistent is not null", True),
        ("slots.confirm", True),
        ("slots.confirm = true", True),
        ("slots.confirm is true", True),
        ("slots.num = 1", True),
        ("slots.num > 0.5", True),
        ('slots.name matches "^j"', False),
        ('context.names contains "check balance"', True),
        ("{'Joe' 'Bob'} contains slots.name", True),
        ("slots.amount > 5", False),
        ("slots.{{context.collect}} is not null", False),
    ],
)
def test_worked_examples_of_the_spec(condition, expected):
    assert evaluate(condition, DOCUMENT, JINJA) is expected


def test_and_or_have_the_same_precedence_and_group_to_the_right():
    assert evaluate("false and true or true", {}) is False  # false and (true or true)
    assert evaluate("true or true and false", {}) is True  # true or (true and false)
    assert evaluate("(false and true) or true", {}) is True


def test_not_binds_tighter_than_and_or():
    assert evaluate("not false and false", {}) is False  # (not false) and false
    assert evaluate("not slots.num = 2", DOCUMENT) is True


def test_an_error_anywhere_makes_the_whole_condition_false():
    assert evaluate("not (slots.amount > 5)", DOCUMENT) is False
    assert evaluate("slots.name > 5", DOCUMENT) is False


def test_keywords_are_case_insensitive_and_yaml_booleans_are_conditions():
    assert evaluate("slots.confirm IS True", DOCUMENT) is True
    assert evaluate(True, {}) is True and evaluate(False, {}) is False
    assert evaluate("slots.nonexistent = undefined", DOCUMENT) is True
    assert evaluate("slots.amount = undefined", DOCUMENT) is False


def test_comparisons_and_comments():
    document = {"slots": {"count": 3.0}}
    assert evaluate("slots.count >= 3 # three or more", document)
    assert evaluate("slots.count != 2 and slots.count < 4", document)
    assert not evaluate("slots.count <= 2", document)


@pytest.mark.parametrize(
    "condition",
    ["slots.amount >", "(slots.a = 1", "slots.a = = 1", "and slots.a", "slots.a = 1)", ""],
)
def test_unparsable_conditions_are_reported(condition):
    tree, problem = check_condition(condition)
    assert tree is None and problem
    assert evaluate(condition, DOCUMENT) is False


def test_broken_jinja_is_reported():
    tree, problem = check_condition("'{{ context.reason ' = 'x'")
    assert tree is None and "Jinja" in problem
