"""The default conversation-repair patterns, shipped as data (`default_patterns.yml`).

A project with at least one flow gets every default pattern it does not define itself, and the
patterns' responses and slots under its own domain (its own definitions win).
"""

from functools import lru_cache
from pathlib import Path

from bot_engine.domain import Domain
from bot_engine.flows.loader import read_flows
from bot_engine.flows.model import FlowsList
from bot_engine.loading.domain_loader import merge_domain_documents
from bot_engine.loading.yaml_lines import load_yaml_file

DEFAULTS_FILE = Path(__file__).with_name("default_patterns.yml")
# Intents every flow-based assistant understands (voice channels and the hub send them).
CALM_INTENTS = ("session_start", "session_end", "silence_timeout", "restart")


@lru_cache(maxsize=1)
def _defaults() -> tuple[FlowsList, Domain]:
    document, problems = load_yaml_file(DEFAULTS_FILE, "bot_engine/patterns/default_patterns.yml")
    messages: list = list(problems)
    flows = FlowsList()
    read_flows(document, flows, messages)
    domain, domain_messages = merge_domain_documents([document])
    errors = [m for m in messages + domain_messages if m.level == "error"]
    if errors:  # our own file: a broken one is a bug, not a user error
        raise RuntimeError("invalid default patterns: " + "; ".join(map(str, errors)))
    for flow in flows:
        flow.is_default_pattern = True
    return flows, domain


def default_pattern_ids() -> list[str]:
    return list(_defaults()[0].flows)


def default_pattern_responses() -> set[str]:
    return set(_defaults()[1].responses)


def merge_default_patterns(flows: FlowsList, domain: Domain) -> None:
    """Add the defaults the project does not override (flows, responses, slots)."""
    default_flows, default_domain = _defaults()
    for flow_id, flow in default_flows.flows.items():
        flows.flows.setdefault(flow_id, flow)
    for name, variations in default_domain.responses.items():
        domain.responses.setdefault(name, variations)
    for name, slot in default_domain.slots.items():
        domain.slots.setdefault(name, slot)
