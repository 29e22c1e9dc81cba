"""`flows:` sections of YAML files into `Flow` objects, with every problem located.

Step ids follow Rasa (§7.2): steps are numbered depth-first in document order, nested
`then`/`else` steps included; a step without `id:` is `<flow>_<index>_<kind suffix>`.
"""

import re

from bot_engine.errors import ValidationMessage
from bot_engine.flows.model import END, STEP_KINDS, Flow, FlowsList, NextLink, NluTrigger, Step
from bot_engine.loading.yaml_lines import YamlDocument

FLOW_ID = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_-]*$")
FLOW_KEYS = {
    "description",
    "if",
    "always_include_in_prompt",
    "name",
    "nlu_trigger",
    "file_path",
    "steps",
    "persisted_slots",
}
COMMON_STEP_KEYS = {"id", "next", "metadata"}
COLLECT_KEYS = {"description", "ask_before_filling", "reset_after_flow_ends", "utter", "rejections"}


def where(flow_id: str, step_id: str | None = None) -> str:
    return f"flow '{flow_id}'" + (f" step '{step_id}'" if step_id else "")


class _FlowReader:
    """Reads one flow; `messages` collects what is wrong with it."""

    def __init__(self, document: YamlDocument, flow_id: str, messages: list):
        self.document = document
        self.flow_id = flow_id
        self.messages = messages
        self.all_steps: list[Step] = []

    def error(self, path: tuple, text: str, step_id: str | None = None, level: str = "error"):
        self.messages.append(
            ValidationMessage(
                self.document.file,
                self.document.line(*path),
                where(self.flow_id, step_id),
                text,
                level,
            )
        )

    # ---- steps ----
    def steps(self, raw_list, path: tuple, nested: bool) -> list[Step]:
        level: list[Step] = []
        explicit_next: list[bool] = []
        for index, raw in enumerate(raw_list):
            step = self.step(raw, (*path, index))
            if step is not None:
                level.append(step)
                explicit_next.append(step.next is not None)
        for index, step in enumerate(level):
            if explicit_next[index]:
                continue
            if step.kind == "link":
                step.next = []
            elif index + 1 < len(level):
                step.next = [NextLink(level[index + 1].id)]
            elif not nested:
                step.next = [NextLink(END)]
            else:
                self.error(
                    (*path, index),
                    "the last step of a `then`/`else` list needs an explicit `next` "
                    "(a step id or END)",
                    step.id,
                )
                step.next = [NextLink(END)]
        return level

    def step(self, raw, path: tuple) -> Step | None:
        if not isinstance(raw, dict):
            self.error(path, f"a step must be a mapping, not {type(raw).__name__}")
            return None
        kinds = [k for k in STEP_KINDS if k in raw]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            self.error(path, f"a step needs exactly one of {', '.join(STEP_KINDS)} (found {found})")
            return None
        kind = kinds[0]
        value = raw[kind]
        index = len(self.all_steps)
        step = Step(id="", kind=kind, value=value, next=None, line=self.document.line(*path))
        self.all_steps.append(step)
        step.id, step.explicit_id = self.step_id(raw, kind, value, index, path)
        self.check_keys(raw, kind, path, step.id)
        self.read_value(step, raw, path)
        if kind == "noop" and isinstance(value, list) and "next" not in raw:
            # The patterns doc writes `noop:` followed by the branches; its meaning is clear.
            self.error(
                path,
                "`noop:` holds the branches; write `noop: true` and put them under `next:` "
                "(accepted as written)",
                step.id,
                "warning",
            )
            step.value = True
            step.next = self.next_links(value, (*path, "noop"), step.id)
        elif "next" in raw:
            step.next = self.next_links(raw["next"], (*path, "next"), step.id)
        elif kind == "noop":
            self.error(path, "a noop step needs `next`", step.id)
        return step

    def step_id(self, raw: dict, kind: str, value, index: int, path: tuple) -> tuple[str, bool]:
        if "id" in raw:
            if isinstance(raw["id"], str) and raw["id"]:
                return raw["id"], True
            self.error((*path, "id"), "a step id must be a non-empty string")
        suffix = {
            "action": str(value),
            "collect": f"collect_{value}",
            "link": f"link_{value}",
            "call": f"call_{value}",
            "set_slots": "set_slots",
            "noop": "noop",
        }[kind]
        return f"{self.flow_id}_{index}_{suffix}", False

    def check_keys(self, raw: dict, kind: str, path: tuple, step_id: str) -> None:
        allowed = {kind} | COMMON_STEP_KEYS
        if kind == "collect":
            allowed |= COLLECT_KEYS
        if kind == "noop":
            return  # the schema leaves noop steps open
        for key in raw:
            if key not in allowed:
                self.error((*path, key), f"unknown key '{key}' for a {kind} step", step_id)

    def read_value(self, step: Step, raw: dict, path: tuple) -> None:
        kind, value = step.kind, step.value
        named = kind in {"action", "collect", "link", "call"}
        if named and (not isinstance(value, str) or not value.strip()):
            self.error((*path, kind), f"`{kind}` needs a name", step.id)
            step.value = str(value)
        if kind == "collect":
            self.collect_options(step, raw, path)
        elif kind == "set_slots":
            if not isinstance(value, list) or not all(
                isinstance(i, dict) and len(i) == 1 and isinstance(next(iter(i)), str)
                for i in value
            ):
                self.error(
                    (*path, "set_slots"),
                    "set_slots is a list of single `slot: value` entries",
                    step.id,
                )
                step.value = []
        elif kind == "noop" and value is not True and not isinstance(value, list):
            self.error((*path, "noop"), "write `noop: true`", step.id, "warning")
        if "metadata" in raw and isinstance(raw["metadata"], dict):
            step.metadata = raw["metadata"]

    def collect_options(self, step: Step, raw: dict, path: tuple) -> None:
        for key in ("ask_before_filling", "reset_after_flow_ends"):
            if key in raw and not isinstance(raw[key], bool):
                self.error((*path, key), f"`{key}` must be true or false", step.id)
        step.ask_before_filling = raw.get("ask_before_filling") is True
        step.reset_after_flow_ends = raw.get("reset_after_flow_ends") is not False
        utter = raw.get("utter")
        if utter is not None and not isinstance(utter, str):
            self.error((*path, "utter"), "`utter` must be a response name", step.id)
            utter = None
        step.utter = utter or f"utter_ask_{step.value}"
        if isinstance(raw.get("description"), str):
            step.description = raw["description"]
        rejections = raw.get("rejections") or []
        if not isinstance(rejections, list):
            self.error((*path, "rejections"), "`rejections` must be a list", step.id)
            rejections = []
        for index, rejection in enumerate(rejections):
            if (
                not isinstance(rejection, dict)
                or "if" not in rejection
                or not isinstance(rejection.get("utter"), str)
            ):
                self.error(
                    (*path, "rejections", index), "a rejection needs `if` and `utter`", step.id
                )
                continue
            step.rejections.append({"if": rejection["if"], "utter": rejection["utter"]})

    # ---- next ----
    def next_links(self, raw, path: tuple, step_id: str) -> list[NextLink]:
        if isinstance(raw, str):
            return [NextLink(raw)]
        if not isinstance(raw, list):
            self.error(path, "`next` is a step id, END, or a list of if/then and else", step_id)
            return [NextLink(END)]
        links: list[NextLink] = []
        for index, item in enumerate(raw):
            link = self.next_item(item, (*path, index), step_id)
            if link is not None:
                links.append(link)
        if not links:
            self.error(path, "`next` must not be empty", step_id)
        return links

    def next_item(self, item, path: tuple, step_id: str) -> NextLink | None:
        if not isinstance(item, dict):
            self.error(path, "each `next` entry is `if:`+`then:` or `else:`", step_id)
            return None
        if "if" in item:
            if "then" not in item:
                self.error(path, "an `if` needs a `then`", step_id)
                return None
            target = self.target(item["then"], (*path, "then"), step_id)
            condition = item["if"]
            if not isinstance(condition, str | bool):
                self.error((*path, "if"), "a condition must be text", step_id)
                condition = "false"
            return NextLink(target, condition=condition) if target else None
        if "else" in item:
            target = self.target(item["else"], (*path, "else"), step_id)
            return NextLink(target, is_else=True) if target else None
        self.error(path, "each `next` entry is `if:`+`then:` or `else:`", step_id)
        return None

    def target(self, raw, path: tuple, step_id: str) -> str | None:
        if isinstance(raw, str):
            return raw
        if isinstance(raw, list):
            if not raw:
                self.error(path, "a `then`/`else` list must not be empty", step_id)
                return None
            nested = self.steps(raw, path, nested=True)
            return nested[0].id if nested else None
        self.error(path, "`then`/`else` is a step id or a list of steps", step_id)
        return None


def read_flow(document: YamlDocument, flow_id, spec, messages: list) -> Flow | None:
    """One `flows:` entry; None (with messages) if it cannot be read at all."""
    path = ("flows", flow_id)
    flow_id = str(flow_id)
    reader = _FlowReader(document, flow_id, messages)
    if not FLOW_ID.match(flow_id):
        reader.error(path, "a flow id may only use letters, digits, '_' and '-'")
    if not isinstance(spec, dict):
        reader.error(path, "a flow must be a mapping with `description` and `steps`")
        return None
    for key in spec:
        if key not in FLOW_KEYS:
            reader.error((*path, key), f"unknown flow key '{key}'")
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip():
        reader.error(path, "a flow needs a `description`")
    steps = spec.get("steps")
    if not isinstance(steps, list) or not steps:
        reader.error((*path, "steps"), "a flow needs a non-empty list of `steps`")
        steps = []
    reader.steps(steps, (*path, "steps"), nested=False)
    name = spec.get("name")
    guard = spec.get("if")
    if guard is not None and not isinstance(guard, str | bool):
        reader.error((*path, "if"), "a flow guard must be a condition or true/false")
        guard = None
    return Flow(
        id=flow_id,
        description=description if isinstance(description, str) else "",
        steps=reader.all_steps,
        name=name if isinstance(name, str) else None,
        guard=guard,
        nlu_triggers=_triggers(spec.get("nlu_trigger"), reader, (*path, "nlu_trigger")),
        persisted_slots=_names(spec.get("persisted_slots"), reader, (*path, "persisted_slots")),
        always_include_in_prompt=spec.get("always_include_in_prompt") is True,
        file=document.file,
        line=document.line(*path),
        raw=spec,
    )


def _triggers(raw, reader: _FlowReader, path: tuple) -> list[NluTrigger]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        reader.error(path, "`nlu_trigger` is a non-empty list of `- intent: ...`")
        return []
    triggers = []
    for index, item in enumerate(raw):
        intent = item.get("intent") if isinstance(item, dict) else None
        threshold = 0.0
        if isinstance(intent, dict):
            threshold = intent.get("confidence_threshold", 0.0)
            intent = intent.get("name")
        if not isinstance(intent, str) or not isinstance(threshold, int | float):
            reader.error(
                (*path, index),
                "a trigger is `intent: name` or `intent: {name, confidence_threshold}`",
            )
            continue
        triggers.append(NluTrigger(intent, float(threshold)))
    return triggers


def _names(raw, reader: _FlowReader, path: tuple) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        reader.error(path, "`persisted_slots` is a list of slot names")
        return []
    return list(raw)


def read_flows(document: YamlDocument, flows: FlowsList, messages: list) -> None:
    """Add the flows of one file; a flow id defined twice is an error naming both files."""
    section = document.data.get("flows") if isinstance(document.data, dict) else None
    if section is None:
        return
    if not isinstance(section, dict):
        messages.append(document.message(("flows",), "flows", "must be a mapping of flow ids"))
        return
    for flow_id, spec in section.items():
        flow = read_flow(document, flow_id, spec, messages)
        if flow is None:
            continue
        if flow.id in flows.flows and not flows.flows[flow.id].is_default_pattern:
            other = flows.flows[flow.id]
            messages.append(
                document.message(
                    ("flows", flow_id),
                    where(flow.id),
                    f"is defined twice (also in {other.file}:{other.line})",
                )
            )
            continue
        flows.flows[flow.id] = flow
