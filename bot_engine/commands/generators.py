"""Command generators chosen by the `pipeline:` of config.yml, and the shared input guards.

A generator is any object with `predict_commands(parse, tracker, flows) -> list[dict]` that
returns command dicts in the §8.1 format. Generators run in pipeline order; once one returned
commands the later ones are skipped (so `NLUCommandAdapter` before an LLM generator gives
intent triggers precedence). The LLM generator names of Rasa Pro build `LLMGenerator`
(`bot_engine.commands.llm_bridge`); other generators can be added with `register_generator`.
"""

from collections.abc import Callable
from pathlib import Path

from bot_engine.actions import outside_effects
from bot_engine.commands import catalogue as c
from bot_engine.commands.llm_bridge import LLM_GENERATOR_COMPONENTS, LLMGenerator
from bot_engine.commands.nlu_adapter import NLUCommandAdapter
from bot_engine.flows.guards import startable_flow_ids
from bot_engine.flows.model import FlowsList

DEFAULT_MAX_CHARACTERS = 420
_registry: dict[str, Callable[[dict], object]] = {"NLUCommandAdapter": NLUCommandAdapter}


def register_generator(name: str, factory: Callable[[dict], object]) -> None:
    """Make a pipeline component name build this generator (factory gets its config dict)."""
    _registry[name] = factory


def generators_from_config(
    pipeline: list, endpoints: dict | None = None, project_root: Path | None = None
) -> list:
    """The command generators of a pipeline, in order (LLM ones need endpoints for `llm:`)."""
    generators = []
    for component in pipeline or []:
        if not isinstance(component, dict):
            continue
        name = component.get("name")
        if name in _registry:
            generators.append(_registry[name](component))
        elif name in LLM_GENERATOR_COMPONENTS:
            generators.append(LLMGenerator.from_config(component, endpoints, project_root))
    return generators


def max_characters(pipeline: list) -> int:
    """`user_input.max_characters` of the first command generator (420; negative: no limit)."""
    for component in pipeline or []:
        if isinstance(component, dict) and (
            component.get("name") in _registry or component.get("name") in LLM_GENERATOR_COMPONENTS
        ):
            user_input = component.get("user_input") or {}
            if isinstance(user_input, dict) and "max_characters" in user_input:
                try:
                    return int(user_input["max_characters"])
                except (TypeError, ValueError):
                    break
    return DEFAULT_MAX_CHARACTERS


def input_guard(text: str, limit: int) -> list[dict]:
    """An `error` command for an empty or too long message, else nothing."""
    if not (text or "").strip():
        return [c.command(c.ERROR, error_type=c.ERROR_INPUT_EMPTY, info={})]
    if limit >= 0 and len(text) > limit:
        return [
            c.command(c.ERROR, error_type=c.ERROR_INPUT_TOO_LONG, info={"max_characters": limit})
        ]
    return []


def generate_commands(parse: dict, tracker, flows: FlowsList, generators: list) -> list[dict]:
    """The first generator's commands that are well-formed and start only startable flows."""
    commands: list[dict] = []
    for generator in generators:
        try:
            produced = generator.predict_commands(parse, tracker, flows)
        except outside_effects.EffectsDeferred:
            raise  # not a failure: the turn is computed again once its message is stored
        except Exception:  # noqa: BLE001 - a failing generator must not fail the turn (§8.3.1)
            produced = []
        commands, _problems = c.parse_commands(produced)
        if commands:
            break
    startable = set(startable_flow_ids(flows, tracker))
    return [x for x in commands if x["command"] != c.START_FLOW or x["flow"] in startable]
