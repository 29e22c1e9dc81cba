"""Prompt templates (Jinja2, sandboxed) and the conversation transcript they show the LLM.

The default prompts are data files next to this module; an assistant replaces them with its
own template file (`prompt_template:` of a command generator, `prompt:` of the rephraser) or,
for one response, a `rephrase_prompt` in its metadata.
"""

from pathlib import Path

from jinja2 import Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from bot_engine.llm.config import LLMConfigError

DEFAULT_PROMPTS = Path(__file__).parent / "default_prompts"
# User text only ever fills variables; it is never compiled as a template.
_jinja = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_SPEAKERS = {"user": "USER", "bot": "AI"}


def default_template(name: str) -> Template:
    """One of the prompts shipped with the engine (`default_prompts/<name>.jinja2`)."""
    return template_from_file(DEFAULT_PROMPTS / f"{name}.jinja2")


def template_from_file(path: str | Path, project_root: Path | None = None) -> Template:
    """A user's prompt template; relative paths are read from the project directory."""
    file = Path(path)
    if not file.is_absolute() and project_root is not None:
        file = Path(project_root) / file
    try:
        source = file.read_text(encoding="utf-8")
    except OSError as error:
        raise LLMConfigError(f"prompt template {path}: cannot be read ({error.strerror})") from None
    return template_from_text(source, str(path))


def template_from_text(source: str, name: str = "prompt") -> Template:
    """Compile a prompt; a syntax error names the template and the line."""
    try:
        return _jinja.from_string(source)
    except TemplateSyntaxError as error:
        raise LLMConfigError(f"{name}:{error.lineno}: invalid Jinja template: {error}") from None


def render(template: Template, variables: dict) -> str:
    """Render a prompt; raises LLMConfigError if the template fails at run time."""
    try:
        return template.render(**variables)
    except TemplateError as error:
        raise LLMConfigError(f"prompt template failed: {error}") from None


def transcript(history: list[dict], max_turns: int | None) -> str:
    """The last `max_turns` messages as "USER: ..." / "AI: ..." lines (all when None)."""
    lines = []
    for message in history:
        if not isinstance(message, dict) or not str(message.get("text") or "").strip():
            continue
        sender = str(message.get("sender") or "user")
        speaker = _SPEAKERS.get(sender, sender.upper())
        lines.append(f"{speaker}: {' '.join(str(message['text']).split())}")
    if max_turns is not None:
        lines = lines[-max_turns:] if max_turns > 0 else []
    return "\n".join(lines)
