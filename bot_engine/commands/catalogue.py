"""The command catalogue (§8.1): names, fields and defaults, as dicts on the wire."""

START_FLOW = "start flow"
SET_SLOT = "set slot"
CANCEL_FLOW = "cancel flow"
CORRECT_SLOT = "correct slot"
CLARIFY = "clarify"
CHITCHAT = "chitchat"
KNOWLEDGE = "knowledge"
HUMAN_HANDOFF = "human handoff"
SKIP_QUESTION = "skip question"
CANNOT_HANDLE = "cannot handle"
ERROR = "error"
RESTART = "restart"
SESSION_START = "session start"
SESSION_END = "session end"
REPEAT = "repeat"
USER_SILENCE = "user silence"
CODE_CHANGE = "handle code change"
NOOP = "noop"
CHANGE_FLOW = "change_flow"

# Reasons of `cannot handle` and types of `error` (the default patterns branch on them).
CANNOT_HANDLE_DEFAULT = "cannot_handle_default"
CANNOT_HANDLE_CHITCHAT = "cannot_handle_chitchat"
CANNOT_HANDLE_NOT_SUPPORTED = "cannot_handle_not_supported"
CANNOT_HANDLE_INVALID_INTENT = "cannot_handle_invalid_intent"
ERROR_DEFAULT = "rasa_internal_error_default"
ERROR_INPUT_TOO_LONG = "rasa_internal_error_user_input_too_long"
ERROR_INPUT_EMPTY = "rasa_internal_error_user_input_empty"

EXTRACTOR_LLM = "LLM"
EXTRACTOR_NLU = "NLU"
EXTRACTOR_PAYLOAD = "CommandPayloadReader"

# command -> (required fields, optional fields with defaults)
FIELDS: dict[str, tuple[tuple[str, ...], dict]] = {
    START_FLOW: (("flow",), {}),
    SET_SLOT: (("name",), {"value": None, "extractor": EXTRACTOR_LLM}),
    CANCEL_FLOW: ((), {}),
    CORRECT_SLOT: (("corrected_slots",), {}),
    CLARIFY: (("options",), {}),
    CHITCHAT: ((), {}),
    KNOWLEDGE: ((), {}),
    HUMAN_HANDOFF: ((), {}),
    SKIP_QUESTION: ((), {}),
    CANNOT_HANDLE: ((), {"reason": CANNOT_HANDLE_DEFAULT}),
    ERROR: ((), {"error_type": ERROR_DEFAULT, "info": {}}),
    RESTART: ((), {}),
    SESSION_START: ((), {}),
    SESSION_END: ((), {}),
    REPEAT: ((), {}),
    USER_SILENCE: ((), {}),
    CODE_CHANGE: ((), {}),
    NOOP: ((), {}),
    CHANGE_FLOW: ((), {}),
}
# Commands that answer the user without touching the running flow; the clean-up puts them
# first so they end up on top of the stack.
FREE_FORM = {CHITCHAT, KNOWLEDGE}


class CommandError(ValueError):
    """A command dict that is not in the catalogue or misses a field."""


def command(kind: str, **fields) -> dict:
    """A well-formed command dict with the catalogue's defaults filled in."""
    return parse_command({"command": kind, **fields})


def parse_command(raw) -> dict:
    if not isinstance(raw, dict) or raw.get("command") not in FIELDS:
        name = raw.get("command") if isinstance(raw, dict) else raw
        raise CommandError(f"unknown command {name!r}")
    required, defaults = FIELDS[raw["command"]]
    missing = [f for f in required if f not in raw]
    if missing:
        raise CommandError(f"command '{raw['command']}' needs {', '.join(missing)}")
    result = {**defaults, **raw}
    if result["command"] == CANNOT_HANDLE and result.get("reason") is None:
        result["reason"] = CANNOT_HANDLE_DEFAULT
    return result


def parse_commands(raw_list) -> tuple[list[dict], list[str]]:
    """Known commands (normalised) and a problem per dropped one."""
    commands, problems = [], []
    for raw in raw_list or []:
        try:
            commands.append(parse_command(raw))
        except CommandError as error:
            problems.append(str(error))
    return commands, problems
