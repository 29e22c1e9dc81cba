"""Flows of a project (`flows.yml`, a `flows/` folder, or `flows:` in data files) and what a
flow-based assistant adds to its domain: default patterns, intents, actions and slots."""

from bot_engine.domain import CALM_DEFAULT_ACTIONS, Domain, Slot
from bot_engine.flows.loader import read_flows
from bot_engine.flows.model import FlowsList
from bot_engine.flows.validation import validate_flows
from bot_engine.loading.yaml_lines import YamlDocument
from bot_engine.patterns import CALM_INTENTS, merge_default_patterns

FLOW_HASHES = "flow_hashes"


def read_project_flows(documents: list[YamlDocument], messages: list) -> FlowsList:
    flows = FlowsList()
    for document in documents:
        if isinstance(document.data, dict) and "flows" in document.data:
            read_flows(document, flows, messages)
    return flows


def prepare_flows(flows: FlowsList, domain: Domain, messages: list) -> None:
    """Give a project with flows its patterns and built-ins, then validate every flow."""
    if not len(flows):
        return
    merge_default_patterns(flows, domain)
    domain.builtin_intents |= set(CALM_INTENTS)
    domain.builtin_actions |= set(CALM_DEFAULT_ACTIONS) | {f"flow_{f.id}" for f in flows}
    domain.slots.setdefault(FLOW_HASHES, Slot(FLOW_HASHES, "any", influence_conversation=False))
    messages.extend(validate_flows(flows, domain, domain.action_names))
