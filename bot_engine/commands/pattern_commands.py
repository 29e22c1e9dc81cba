"""Commands that push a repair pattern (§8.5): clarify, chitchat, handoff, errors, …"""

from bot_engine.commands import catalogue as c
from bot_engine.commands.context import CommandContext
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st

PATTERN_OF = {
    c.CHITCHAT: "pattern_chitchat",
    c.KNOWLEDGE: "pattern_search",
    c.HUMAN_HANDOFF: "pattern_human_handoff",
    c.RESTART: "pattern_restart",
    c.SESSION_START: "pattern_session_start",
    c.REPEAT: "pattern_repeat_bot_messages",
    c.USER_SILENCE: "pattern_user_silence",
    c.SKIP_QUESTION: "pattern_skip_question",
    c.CODE_CHANGE: "pattern_code_change",
    c.CANNOT_HANDLE: "pattern_cannot_handle",
    c.ERROR: "pattern_internal_error",
    c.CLARIFY: "pattern_clarification",
}
NEEDS_RUNNING_FLOW = {c.SKIP_QUESTION, c.CODE_CHANGE}


def push_pattern(command: dict, context: CommandContext) -> None:
    kind = command["command"]
    pattern = PATTERN_OF[kind]
    if pattern not in context.flows:
        return
    if kind in NEEDS_RUNNING_FLOW and st.top_user_frame(context.original_stack) is None:
        return
    fields: dict = {}
    if kind == c.CANNOT_HANDLE:
        fields = {"reason": command.get("reason") or c.CANNOT_HANDLE_DEFAULT}
    elif kind == c.ERROR:
        fields = {
            "error_type": command.get("error_type") or c.ERROR_DEFAULT,
            "info": dict(command.get("info") or {}),
        }
    elif kind == c.CLARIFY:
        options = [o for o in command.get("options") or [] if o in context.flows]
        if not options:
            return
        names = [context.flows.get(o).readable_name for o in options]
        fields = {"names": names, "clarification_options": ""}
    context.push(st.pattern_frame(pattern, **fields))


def end_session(command: dict, context: CommandContext) -> None:
    latest = context.tracker.latest_message.get("metadata") or {}
    context.tracker.update(ev.session_ended({"_reason": "user disconnected", **latest}))
