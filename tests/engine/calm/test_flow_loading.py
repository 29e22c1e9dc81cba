"""Loading flows.yml: step ids, every validation rule of rasa-spec §7.3 (each message names
file, line and flow/step id), the document's known defects, and fuzzing."""

import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot_engine.domain import Domain, Slot
from bot_engine.errors import ProjectError, ValidationMessage
from bot_engine.flows.loader import read_flows
from bot_engine.flows.model import FlowsList
from bot_engine.loading.flows_setup import prepare_flows
from bot_engine.loading.project import load_project
from bot_engine.loading.yaml_lines import parse_yaml

DOMAIN = """
version: "3.1"
slots:
  recipient: {type: text}
  amount: {type: float}
  count: {type: float}
actions: [action_transfer]
responses:
  utter_ask_recipient: [{text: "Who?"}]
  utter_ask_amount: [{text: "How much?"}]
  utter_done: [{text: "Done."}]
"""


def project(tmp_path, flows: str):
    (tmp_path / "domain.yml").write_text(DOMAIN)
    (tmp_path / "flows.yml").write_text(textwrap.dedent(flows))
    return tmp_path


def problems(tmp_path, flows: str, level: str = "error") -> list[str]:
    try:
        loaded = load_project(project(tmp_path, flows))
    except ProjectError as error:
        messages = error.errors if level == "error" else error.warnings
    else:
        messages = [] if level == "error" else loaded.warnings
    return [str(m) for m in messages if "flows.yml" in m.file]


def one_problem(tmp_path, flows: str) -> str:
    found = problems(tmp_path, flows)
    assert len(found) == 1, found
    return found[0]


def test_step_ids_are_numbered_depth_first_with_their_kind(tmp_path):
    loaded = load_project(
        project(
            tmp_path,
            """
            flows:
              transfer_money:
                description: send money
                steps:
                  - collect: recipient
                    next:
                      - if: slots.recipient = "me"
                        then:
                          - action: utter_done
                            next: END
                      - else: ask_amount
                  - id: ask_amount
                    collect: amount
                  - set_slots:
                      - count: 1
                  - noop: true
                    next: END
            """,
        )
    )
    steps = loaded.flows.get("transfer_money").steps
    assert [s.id for s in steps] == [
        "transfer_money_0_collect_recipient",
        "transfer_money_1_utter_done",
        "ask_amount",
        "transfer_money_3_set_slots",
        "transfer_money_4_noop",
    ]
    # implicit next: top-level steps go on to the next one, the last to END
    assert steps[2].next[0].target == "transfer_money_3_set_slots"
    assert steps[0].next[0].target == "transfer_money_1_utter_done"


RULES = [
    (
        "flows:\n  f:\n    description: d\n    steps: []\n",
        "flows.yml:4: flow 'f': a flow needs a non-empty list of `steps`",
    ),
    (
        "flows:\n  f:\n    steps:\n      - action: utter_done\n",
        "flows.yml:2: flow 'f': a flow needs a `description`",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - action: utter_done\n"
        "        next: nowhere\n",
        "flows.yml:5: flow 'f' step 'f_0_utter_done': `next` goes to 'nowhere', which is no step",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - action: utter_done\n"
        "        next: END\n      - action: action_transfer\n",
        "flows.yml:7: flow 'f' step 'f_1_action_transfer': this step can never be reached",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - action: utter_done\n"
        "        next:\n          - if: slots.count > 1\n            then: END\n",
        "flows.yml:5: flow 'f' step 'f_0_utter_done': a `next` with `if` branches needs an `else`",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - id: same\n"
        "        action: utter_done\n      - id: same\n        action: action_transfer\n",
        "flows.yml:7: flow 'f' step 'same': step id 'same' is used twice",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - id: END\n"
        "        action: utter_done\n",
        "flows.yml:5: flow 'f' step 'END': 'END' is a reserved step id",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - action: utter_done\n"
        "        next:\n          - if: slots.count > 1\n            then:\n"
        "              - action: utter_done\n          - else: END\n",
        "flows.yml:9: flow 'f' step 'f_1_utter_done': the last step of a `then`/`else` list "
        "needs an explicit `next`",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - link: g\n        next: END\n"
        "  g:\n    description: d\n    steps:\n      - action: utter_done\n",
        "flows.yml:5: flow 'f' step 'f_0_link_g': a link step ends its flow and cannot have `next`",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - collect: bad.name\n",
        "flows.yml:5: flow 'f' step 'f_0_collect_bad.name': 'bad.name' is not a valid slot name",
    ),
    (
        "flows:\n  bad id:\n    description: d\n    steps:\n      - action: utter_done\n",
        "flows.yml:2: flow 'bad id': a flow id may only use letters",
    ),
    (
        "flows:\n  f:\n    description: d\n    nlu_trigger: [{intent: go}]\n    steps:\n"
        "      - action: utter_done\n  g:\n    description: d\n    nlu_trigger: [{intent: go}]\n"
        "    steps:\n      - action: utter_done\n",
        "flows.yml:7: flow 'g': intent 'go' already triggers flow 'f'",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - call: missing\n",
        "flows.yml:5: flow 'f' step 'f_0_call_missing': 'missing' is not a flow",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - call: g\n  g:\n    description: d\n"
        "    steps:\n      - link: h\n  h:\n    description: d\n    steps:\n"
        "      - action: utter_done\n",
        "flows.yml:5: flow 'f' step 'f_0_call_g': 'g' contains a link step, so it cannot be called",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - call: pattern_completed\n",
        "flows.yml:5: flow 'f' step 'f_0_call_pattern_completed': patterns cannot be called",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - link: pattern_completed\n",
        "flows.yml:5: flow 'f' step 'f_0_link_pattern_completed': flows may link only to user "
        "flows or pattern_human_handoff",
    ),
    (
        "flows:\n  pattern_completed:\n    description: d\n    steps:\n      - call: f\n"
        "  f:\n    description: d\n    steps:\n      - action: utter_done\n",
        "flows.yml:5: flow 'pattern_completed' step 'pattern_completed_0_call_f': a pattern "
        "cannot `call` other flows",
    ),
    (
        "flows:\n  pattern_internal_error:\n    description: d\n    steps:\n"
        "      - link: pattern_human_handoff\n",
        "flows.yml:5: flow 'pattern_internal_error' step 'pattern_internal_error_0_link_pattern_"
        "human_handoff': pattern_internal_error may not link to other flows",
    ),
    (
        "flows:\n  f:\n    description: d\n    persisted_slots: [amount]\n    steps:\n"
        "      - collect: recipient\n",
        "flows.yml:2: flow 'f': persisted slot 'amount' is not collected or set by this flow",
    ),
    (
        "flows:\n  f:\n    description: d\n    persisted_slots: [recipient]\n    steps:\n"
        "      - collect: recipient\n        reset_after_flow_ends: false\n",
        "flows.yml:2: flow 'f': use either `persisted_slots` or `reset_after_flow_ends: false`",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - collect: count\n",
        "flows.yml:5: flow 'f' step 'f_0_collect_count': nothing asks for 'count'",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - collect: unknown\n",
        "flows.yml:5: flow 'f' step 'f_0_collect_unknown': collects unknown slot 'unknown'",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - action: action_missing\n",
        "flows.yml:5: flow 'f' step 'f_0_action_missing': uses action 'action_missing'",
    ),
    (
        "flows:\n  f:\n    description: d\n    steps:\n      - action: utter_done\n"
        "        next:\n          - if: slots.count >\n            then: END\n"
        "          - else: END\n",
        "flows.yml:5: flow 'f' step 'f_0_utter_done': condition 'slots.count >' cannot be parsed",
    ),
    (
        "flows:\n  f:\n    description: d\n    if: slots.nothing\n    steps:\n"
        "      - action: utter_done\n",
        "flows.yml:2: flow 'f': condition 'slots.nothing' uses unknown slot 'nothing'",
    ),
]


@pytest.mark.parametrize(("flows", "expected"), RULES)
def test_each_validation_rule_names_file_line_and_flow(tmp_path, flows, expected):
    assert one_problem(tmp_path, flows).startswith(expected)


def test_a_flow_defined_twice_names_both_places(tmp_path):
    project(tmp_path, "flows:\n  f:\n    description: d\n    steps:\n      - action: utter_done\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "more.yml").write_text(
        "flows:\n  f:\n    description: d\n    steps:\n      - action: utter_done\n"
    )
    with pytest.raises(ProjectError) as raised:
        load_project(tmp_path)
    assert "data/more.yml:2: flow 'f': is defined twice (also in flows.yml:2)" in str(raised.value)


def test_clarification_limit_placeholder_fails_with_how_to_fix(tmp_path):
    message = one_problem(
        tmp_path,
        """
        flows:
          pattern_clarification:
            description: count clarifications
            steps:
              - action: action_clarify_flows
                next:
                  - if: slots.count > CLARIFICATION_LIMIT
                    then:
                      - link: pattern_human_handoff
                  - else: clarify_options
              - id: clarify_options
                action: utter_clarification_options_rasa
        """,
    )
    assert "bare word 'CLARIFICATION_LIMIT'" in message
    assert "write a number" in message


def test_link_by_readable_name_suggests_the_flow_id(tmp_path):
    message = one_problem(
        tmp_path,
        """
        flows:
          transfer_money:
            description: d
            steps:
              - action: utter_done
          pattern_clarification:
            description: d
            steps:
              - link: transfer money
        """,
    )
    assert "did you mean 'transfer_money'?" in message


def test_noop_holding_the_branches_is_accepted_with_a_warning(tmp_path):
    flows = """
    flows:
      pattern_cancel_flow:
        description: react to the cancelled flow
        steps:
          - noop:
              - if: context.canceled_name = "transfer money"
                then: inform_user
              - else: cancel_flow
          - id: inform_user
            action: utter_flow_cancelled_rasa
            next: cancel_flow
          - id: cancel_flow
            action: action_cancel_flow
    """
    assert problems(tmp_path, flows) == []
    warnings = problems(tmp_path, flows, "warning")
    assert any("write `noop: true` and put them under `next:`" in w for w in warnings)


def test_patterns_may_link_to_user_flows_and_to_human_handoff(tmp_path):
    flows = """
    flows:
      transfer_money:
        description: d
        steps:
          - action: utter_done
      pattern_cannot_handle:
        description: d
        steps:
          - link: transfer_money
      pattern_completed:
        description: d
        steps:
          - link: pattern_human_handoff
    """
    assert problems(tmp_path, flows) == []


def test_default_patterns_are_merged_and_user_patterns_win(tmp_path):
    loaded = load_project(
        project(
            tmp_path,
            """
            flows:
              pattern_completed:
                description: mine
                steps:
                  - action: utter_done
            """,
        )
    )
    assert loaded.flows.get("pattern_completed").description == "mine"
    assert "pattern_correction" in loaded.flows
    assert loaded.domain.responses["utter_can_do_something_else"]
    assert "flow_pattern_completed" in loaded.domain.action_names


DEFAULTS = "bot_engine/patterns/default_patterns.yml"
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "steps",
                    "action",
                    "collect",
                    "next",
                    "if",
                    "then",
                    "else",
                    "id",
                    "link",
                    "call",
                    "noop",
                    "set_slots",
                    "description",
                    "nlu_trigger",
                    "intent",
                    "rejections",
                    "utter",
                    "persisted_slots",
                    "name",
                    "END",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["f", "g", "pattern_completed", "pattern_internal_error"]),
        YAML_VALUES,
        max_size=3,
    )
)
def test_no_flows_file_crashes_the_loader(flows):
    text = yaml.safe_dump({"flows": flows})
    document, _ = parse_yaml(text, "flows.yml")
    messages: list = []
    result = FlowsList()
    read_flows(document, result, messages)
    domain = Domain(slots={"s": Slot("s", "text")}, responses={"utter_ask_s": [{"text": "?"}]})
    prepare_flows(result, domain, messages)  # default patterns, built-ins, validation
    assert all(isinstance(m, ValidationMessage) for m in messages)
    assert all(m.file in {"flows.yml", DEFAULTS} for m in messages)
    assert not [m for m in messages if m.file == DEFAULTS]  # our own patterns stay valid
