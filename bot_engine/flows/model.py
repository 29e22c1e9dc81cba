"""Flows as the executor sees them: steps with ids, each with its list of `next` links.

Steps nested in `then:`/`else:` lists are flattened into the flow's one step list (depth-first,
document order), so a `then:` with inline steps is just a link to the first of them.
"""

import hashlib
import json
from dataclasses import dataclass, field

START = "START"
END = "END"
CONTINUE = "NEXT:"  # "NEXT:<step id>" means: when advanced, (re-)enter that step
STEP_KINDS = ("action", "collect", "link", "call", "set_slots", "noop")


@dataclass(frozen=True)
class NextLink:
    """One way out of a step: an unconditional target, an `if` with a target, or the `else`."""

    target: str
    condition: object = None  # str | bool for `if`, None otherwise
    is_else: bool = False

    @property
    def is_conditional(self) -> bool:
        return self.condition is not None


@dataclass
class Step:
    id: str
    kind: str  # one of STEP_KINDS
    value: object  # action name, slot, link/call target, [{slot: value}], True for noop
    next: list[NextLink] = field(default_factory=list)
    line: int | None = None
    explicit_id: bool = False
    # collect-only options
    utter: str | None = None
    ask_before_filling: bool = False
    reset_after_flow_ends: bool = True
    rejections: list[dict] = field(default_factory=list)
    description: str | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def collect_action(self) -> str:
        return f"action_ask_{self.value}"


@dataclass
class NluTrigger:
    intent: str
    confidence_threshold: float = 0.0


@dataclass
class Flow:
    id: str
    description: str
    steps: list[Step]
    name: str | None = None
    guard: object = None  # the flow-level `if:`
    nlu_triggers: list[NluTrigger] = field(default_factory=list)
    persisted_slots: list[str] = field(default_factory=list)
    always_include_in_prompt: bool = False
    file: str = "flows.yml"
    line: int | None = None
    raw: dict = field(default_factory=dict)
    is_default_pattern: bool = False

    @property
    def is_pattern(self) -> bool:
        return self.id.startswith("pattern_")

    @property
    def readable_name(self) -> str:
        """What users and responses see: `name:`, else the id with spaces."""
        return self.name or self.id.replace("_", " ").replace("-", " ")

    @property
    def first_step(self) -> Step | None:
        return self.steps[0] if self.steps else None

    def step(self, step_id: str) -> Step | None:
        for step in self.steps:
            if step.id == step_id:
                return step
        # Rasa before 3.11.4 stored ids without the flow prefix.
        prefixed = f"{self.id}_{step_id}"
        return next((s for s in self.steps if s.id == prefixed), None)

    def collect_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "collect"]

    def set_slot_names(self) -> list[str]:
        return [
            name for s in self.steps if s.kind == "set_slots" for item in s.value for name in item
        ]

    def fingerprint(self) -> str:
        """A stable hash of the definition: a change means running conversations must be told."""
        encoded = json.dumps(self.raw, sort_keys=True, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]


@dataclass
class FlowsList:
    flows: dict[str, Flow] = field(default_factory=dict)

    def get(self, flow_id: str | None) -> Flow | None:
        return self.flows.get(flow_id) if flow_id else None

    def __contains__(self, flow_id: str) -> bool:
        return flow_id in self.flows

    def __iter__(self):
        return iter(self.flows.values())

    def __len__(self) -> int:
        return len(self.flows)

    @property
    def user_flows(self) -> list[Flow]:
        return [f for f in self.flows.values() if not f.is_pattern]

    @property
    def user_flow_ids(self) -> list[str]:
        return [f.id for f in self.user_flows]

    def fingerprints(self) -> dict[str, str]:
        return {f.id: f.fingerprint() for f in self.flows.values()}

    def called_flows(self, flow: Flow, seen: set | None = None) -> list[Flow]:
        """The flow and every flow it calls, transitively."""
        seen = seen if seen is not None else set()
        if flow.id in seen:
            return []
        seen.add(flow.id)
        result = [flow]
        for step in flow.steps:
            if step.kind == "call" and step.value in self.flows:
                result += self.called_flows(self.flows[step.value], seen)
        return result
