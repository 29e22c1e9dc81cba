"""Validation messages that name the file, line and key, and the error that carries them."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ValidationMessage:
    file: str
    line: int | None
    key: str
    message: str
    level: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


@dataclass
class ProjectError(Exception):
    """A project that cannot be loaded; `errors` says every reason, not just the first."""

    errors: list[ValidationMessage]
    warnings: list[ValidationMessage] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
