from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntitySpan:
    start: int
    end: int
    value: str
    entity: str
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class TrainingExample:
    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()


@dataclass
class NLUTrainingData:
    examples: list[TrainingExample] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # lower-cased variant -> value
    regexes: list[tuple[str, str]] = field(default_factory=list)  # (name, pattern)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})
