"""Loading a whole Rasa project directory and checking that its parts fit together."""

from dataclasses import dataclass, field
from pathlib import Path

from bot_engine.commands.llm_bridge import llm_config_problems
from bot_engine.domain import Domain
from bot_engine.errors import ProjectError, ValidationMessage
from bot_engine.flows.model import FlowsList
from bot_engine.loading.domain_loader import merge_domain_documents
from bot_engine.loading.flows_setup import prepare_flows, read_project_flows
from bot_engine.loading.nlu_loader import read_nlu
from bot_engine.loading.stories_loader import Story, read_stories
from bot_engine.loading.yaml_lines import YamlDocument, load_yaml_file
from bot_engine.nlu import NLUTrainingData
from bot_engine.patterns import default_pattern_responses
from bot_engine.policies import rule_restriction_errors

DEFAULT_POLICIES = [{"name": "MemoizationPolicy"}, {"name": "RulePolicy"}]


@dataclass
class Project:
    path: Path
    domain: Domain
    nlu: NLUTrainingData
    stories: list[Story]
    config: dict
    endpoints: dict
    warnings: list[ValidationMessage] = field(default_factory=list)
    flows: FlowsList = field(default_factory=FlowsList)

    @property
    def uses_flows(self) -> bool:
        return len(self.flows) > 0

    @property
    def rules(self) -> list[Story]:
        return [s for s in self.stories if s.is_rule]

    def policy(self, name: str) -> dict | None:
        for policy in self.config.get("policies") or []:
            if isinstance(policy, dict) and policy.get("name") == name:
                return policy
        return None


def _yaml_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


def load_project(path: str | Path) -> Project:
    """Read and validate a project; raises ProjectError listing every problem found."""
    root = Path(path)
    if not root.is_dir():
        raise ProjectError([ValidationMessage(str(path), None, "", "is not a directory")])
    messages: list[ValidationMessage] = []

    def read(file: Path) -> YamlDocument | None:
        document, problems = load_yaml_file(file, str(file.relative_to(root)))
        messages.extend(problems)
        return document

    domain_paths = _yaml_files(root / "domain.yml") or _yaml_files(root / "domain")
    if not domain_paths:
        messages.append(ValidationMessage("domain.yml", None, "", "no domain file found"))
    domain_docs = [d for d in map(read, domain_paths) if d is not None]
    domain, problems = merge_domain_documents(domain_docs)
    messages.extend(problems)

    nlu = NLUTrainingData()
    stories: list[Story] = []
    flow_docs: list[YamlDocument] = []
    flow_paths = _yaml_files(root / "flows.yml") + _yaml_files(root / "flows")
    for file in flow_paths + _yaml_files(root / "data"):
        document = read(file)
        if document is None or document.data is None:
            continue
        flow_docs.append(document)
        if file in flow_paths:
            continue
        if not isinstance(document.data, dict):
            messages.append(document.message((), "", "a data file must be a mapping"))
            continue
        read_nlu(document, nlu, messages)
        read_stories(document, stories, messages)
        if "responses" in document.data:  # responses may live in data files (Rasa 3)
            extra, problems = merge_domain_documents([document])
            domain.responses.update(extra.responses)
            messages.extend(problems)

    config = _optional_mapping(root / "config.yml", read, messages)
    endpoints = _optional_mapping(root / "endpoints.yml", read, messages)
    config.setdefault("pipeline", [])
    if not config.get("policies"):
        config["policies"] = list(DEFAULT_POLICIES)

    flows = read_project_flows(flow_docs, messages)
    prepare_flows(flows, domain, messages)
    project = Project(root, domain, nlu, stories, config, endpoints, flows=flows)
    messages.extend(check_project(project))
    messages.extend(llm_config_problems(config, endpoints, root))
    messages.extend(rule_restriction_errors(project))
    errors = [m for m in messages if m.level == "error"]
    project.warnings = [m for m in messages if m.level == "warning"]
    if errors:
        raise ProjectError(errors, project.warnings)
    return project


def _optional_mapping(file: Path, read, messages: list) -> dict:
    if not file.exists():
        return {}
    document = read(file)
    if document is None or document.data is None:
        return {}
    if not isinstance(document.data, dict):
        messages.append(document.message((), "", "must be a mapping"))
        return {}
    return dict(document.data)


def check_project(project: Project) -> list[ValidationMessage]:
    """Cross-file checks: what rules and stories use must exist in the domain."""
    domain = project.domain
    messages: list[ValidationMessage] = []
    actions = domain.action_names
    intents = domain.intent_names
    used_actions: set[str] = {
        str(step.value) for flow in project.flows for step in flow.steps if step.kind == "action"
    } | {step.utter for flow in project.flows for step in flow.collect_steps()}
    used_actions |= {
        r["utter"] for f in project.flows for s in f.collect_steps() for r in s.rejections
    }
    for story in project.stories:
        kind = "rule" if story.is_rule else "story"
        for step in _flat_steps(story.steps + story.condition):
            where = f"{kind} '{story.name}'"
            if "action" in step and not step.get("bot_text"):
                name = step["action"]
                used_actions.add(name)
                if name not in actions and name != "...":
                    messages.append(
                        ValidationMessage(
                            story.file,
                            step["line"],
                            where,
                            f"uses action '{name}', which is not in the domain",
                        )
                    )
            if step.get("user") and step["user"] not in intents:
                messages.append(
                    ValidationMessage(
                        story.file,
                        step["line"],
                        where,
                        f"uses intent '{step['user']}', which is not in the domain",
                    )
                )
            for slot in step.get("slot_was_set") or {}:
                if slot not in domain.slots:
                    messages.append(
                        ValidationMessage(
                            story.file,
                            step["line"],
                            where,
                            f"sets slot '{slot}', which is not in the domain",
                        )
                    )
    for action in domain.actions:
        if action.startswith("utter_") and action not in domain.responses:
            messages.append(
                ValidationMessage(
                    "domain.yml", None, f"actions.{action}", "has no response defined", "warning"
                )
            )
    trained = {e.intent for e in project.nlu.examples}
    for intent in domain.intents:
        if intent not in trained:
            messages.append(
                ValidationMessage(
                    "domain.yml", None, f"intents.{intent}", "has no training examples", "warning"
                )
            )
    for intent in sorted(trained - intents):
        messages.append(
            ValidationMessage(
                "data",
                None,
                f"intent '{intent}'",
                "has training examples but is not in the domain",
                "warning",
            )
        )
    for response in domain.responses:
        if (
            response not in used_actions
            and response not in domain.actions
            and not (_used_implicitly(response, domain))
            and not (project.uses_flows and response in default_pattern_responses())
        ):
            messages.append(
                ValidationMessage(
                    "domain.yml",
                    None,
                    f"responses.{response}",
                    "is not used in any rule or story",
                    "warning",
                )
            )
    return messages


def _flat_steps(steps: list[dict]):
    for step in steps:
        if "or" in step:
            yield from step["or"]
        else:
            yield step


# Responses the engine itself uses (default actions, forms), so no rule needs to name them.
IMPLICIT_RESPONSES = {
    "utter_default",
    "utter_ask_rephrase",
    "utter_human_handoff",
    "utter_back_with_bot",
    "utter_restart",
    "utter_back",
    "utter_internal_error",
    "utter_internal_error_rasa",
}


def _used_implicitly(response: str, domain: Domain) -> bool:
    if response in IMPLICIT_RESPONSES:
        return True
    return response.startswith("utter_ask_") and any(
        response.removeprefix("utter_ask_").endswith(slot) for slot in domain.slots
    )
