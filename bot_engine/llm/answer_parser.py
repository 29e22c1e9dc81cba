"""Reading an LLM's answer ("StartFlow(transfer_money)", one action per line) as commands.

The commands are plain dicts in the format the command processor stores in a user message's
`parse_data["commands"]`, e.g. `{"command": "start flow", "flow": "transfer_money"}`.
Parsing never raises: an answer with nothing usable in it is a `cannot handle` command.
"""

import re
from collections.abc import Collection

CANNOT_HANDLE_DEFAULT = "cannot_handle_default"
INTERNAL_ERROR_DEFAULT = "rasa_internal_error_default"
# Values an LLM writes when it has no value for a slot.
NULL_VALUES = {"[missing information]", "[missing]", "None", "undefined", "null"}
# The slot name LLMs sometimes use to start a flow: SetSlot(flow_name, transfer_money).
FLOW_NAME_SLOT = "flow_name"
_CALL = re.compile(
    r"\b(SetSlot|StartFlow|CancelFlow|ChitChat|SkipQuestion|SearchAndReply|HumanHandoff|"
    r"Clarify|RepeatLastBotMessages)\s*\(",
    re.IGNORECASE,
)
# Commands without arguments: the name the LLM writes → the command dict.
_SIMPLE = {
    "cancelflow": "cancel flow",
    "chitchat": "chitchat",
    "skipquestion": "skip question",
    "searchandreply": "knowledge",
    "humanhandoff": "human handoff",
    "repeatlastbotmessages": "repeat",
}
_QUOTES_AND_SPACE = " \t\"'`"


def parse_llm_answer(
    text: str, user_flow_ids: Collection[str], slot_names: Collection[str] | None = None
) -> list[dict]:
    """The commands in an LLM answer, in order; `[cannot handle]` when there are none.

    `user_flow_ids`: flows the LLM may start (patterns never are). `slot_names`: the assistant's
    slots, when known; a real slot called `flow_name` is then set rather than read as StartFlow.
    """
    flows = {f for f in user_flow_ids if not str(f).startswith("pattern_")}
    flow_name_is_a_slot = slot_names is not None and FLOW_NAME_SLOT in slot_names
    commands: list[dict] = []
    for line in str(text or "").splitlines():
        for name, argument in _calls(line):
            for command in _commands(name.lower(), argument, flows, flow_name_is_a_slot):
                if command not in commands:
                    commands.append(command)
    return commands or [cannot_handle()]


def cannot_handle(reason: str = CANNOT_HANDLE_DEFAULT) -> dict:
    """The command that pushes `pattern_cannot_handle`."""
    return {"command": "cannot handle", "reason": reason}


def internal_error(error_type: str = INTERNAL_ERROR_DEFAULT, info: dict | None = None) -> dict:
    """The command that pushes `pattern_internal_error`."""
    return {"command": "error", "error_type": error_type, "info": dict(info or {})}


def _calls(line: str):
    """(command name, argument text) for every call on a line, brackets matched."""
    position = 0
    while match := _CALL.search(line, position):
        start = match.end()
        end = _closing_bracket(line, start)
        if end is None:
            return
        yield match.group(1), line[start:end]
        position = end + 1


def _closing_bracket(line: str, start: int) -> int | None:
    depth = 1
    for index in range(start, len(line)):
        if line[index] == "(":
            depth += 1
        elif line[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    # Unbalanced brackets inside a value, e.g. "SetSlot(mood, :( sad)": use the last one.
    last = line.rfind(")", start)
    return last if last >= 0 else None


def _commands(name: str, argument: str, flows: set, flow_name_is_a_slot: bool) -> list[dict]:
    if name in _SIMPLE:
        return [{"command": _SIMPLE[name]}]
    if name == "startflow":
        return _start_flow(_clean(argument), flows)
    if name == "clarify":
        options = sorted({_clean(o) for o in argument.split(",")} & flows)
        if len(options) == 1:
            return _start_flow(options[0], flows)
        return [{"command": "clarify", "options": options}] if options else []
    slot, comma, value = argument.partition(",")
    slot = _clean(slot)
    if not slot or not comma:
        return []
    value = _clean(value)
    if slot == FLOW_NAME_SLOT and not flow_name_is_a_slot:
        return _start_flow(value, flows)
    return [
        {
            "command": "set slot",
            "name": slot,
            "value": None if value in NULL_VALUES else value,
            "extractor": "LLM",
        }
    ]


def _start_flow(flow_id: str, flows: set) -> list[dict]:
    return [{"command": "start flow", "flow": flow_id}] if flow_id in flows else []


def _clean(value: str) -> str:
    return value.strip(_QUOTES_AND_SPACE)
