"""What a command sees when it runs: the live tracker and the stack before any command ran."""

from dataclasses import dataclass, field

from bot_engine.flows.executor import set_stack
from bot_engine.flows.model import FlowsList


@dataclass
class CommandContext:
    tracker: object
    flows: FlowsList
    original_stack: list[dict]
    started_flows: list[str] = field(default_factory=list)

    @property
    def domain(self):
        return self.tracker.domain

    def push(self, frame: dict) -> None:
        set_stack(self.tracker, [*self.tracker.stack, frame])

    def set_stack(self, new: list[dict]) -> None:
        set_stack(self.tracker, new)
