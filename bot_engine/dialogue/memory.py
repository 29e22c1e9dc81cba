"""Rules and stories turned into memorised (states → next action) snippets, and their lookup.

RulePolicy and MemoizationPolicy are the same mechanism with different sources and windows:
a snippet matches when its states equal the conversation's latest states aligned at the end;
the longest matching snippet wins.
"""

import itertools
from dataclasses import dataclass

from bot_engine.dialogue.states import state_matches
from bot_engine.domain import Domain
from bot_engine.loading.stories_loader import Story

MAX_VARIANTS = 64


@dataclass(frozen=True)
class Snippet:
    states: tuple[dict, ...]
    action: str
    source: str
    conversation_start: bool = False


def snippets_from_stories(stories: list[Story], domain: Domain, max_history: int | None):
    snippets: list[Snippet] = []
    for story in _expand_checkpoints(stories):
        for variant in _expand_or(story.steps):
            snippets.extend(_story_snippets(story, variant, domain, max_history))
    return snippets


def _expand_or(steps: list[dict]) -> list[list[dict]]:
    choices = [step.get("or", [step]) for step in steps]
    variants = []
    for combination in itertools.product(*choices):
        variants.append(list(combination))
        if len(variants) >= MAX_VARIANTS:
            break
    return variants


def _expand_checkpoints(stories: list[Story]) -> list[Story]:
    """Glue stories that end in a checkpoint to those that start with it (one level)."""
    starting: dict[str, list[Story]] = {}
    for story in stories:
        if story.steps and "checkpoint" in story.steps[0]:
            starting.setdefault(story.steps[0]["checkpoint"], []).append(story)
    result = []
    for story in stories:
        steps = [s for s in story.steps if "checkpoint" not in s]
        ending = story.steps[-1].get("checkpoint") if story.steps else None
        followers = (
            starting.get(ending, []) if ending and story.steps[0] is not story.steps[-1] else []
        )
        if followers:
            for follower in followers:
                tail = [s for s in follower.steps if "checkpoint" not in s]
                result.append(_with_steps(story, steps + tail))
        else:
            result.append(_with_steps(story, steps))
    return result


def _with_steps(story: Story, steps: list[dict]) -> Story:
    return Story(
        story.name,
        steps,
        story.is_rule,
        story.file,
        story.line,
        story.conversation_start,
        story.condition,
        story.wait_for_user_input,
    )


def _story_snippets(story: Story, steps: list[dict], domain: Domain, max_history):
    """(states so far → action) for every action of the story, listens included."""
    state: dict = {"slots": {}}
    for condition in story.condition:
        _apply_step(state, condition, domain)
    history: list[dict] = []
    snippets: list[Snippet] = []

    def learn(action: str) -> None:
        history.append(_copy(state))
        window = tuple(history if max_history is None else history[-max_history:])
        snippets.append(Snippet(window, action, story.name, story.conversation_start))

    last_was_action = False
    for step in steps:
        if "action" in step:
            learn(step["action"])
            state["prev_action"] = step["action"]
            last_was_action = True
        elif "user" in step:
            if last_was_action:
                learn("action_listen")  # the assistant listened before the user spoke
            state["prev_action"] = "action_listen"
            _apply_step(state, step, domain)
            last_was_action = False
        else:
            _apply_step(state, step, domain)
    if last_was_action and (story.wait_for_user_input or not story.is_rule):
        learn("action_listen")
    return snippets


def _apply_step(state: dict, step: dict, domain: Domain) -> None:
    if "user" in step:
        state["intent"] = step["user"]
        entities = set()
        for name in step.get("entities") or {}:
            entities.add(name)
        state["entities"] = frozenset(entities)
    elif "slot_was_set" in step:
        for name, value in step["slot_was_set"].items():
            slot = domain.slots.get(name)
            if slot is not None and slot.influence_conversation:
                state["slots"][name] = slot.feature(value)
    elif "active_loop" in step:
        loop = step["active_loop"]
        state["active_loop"] = _loop_name(loop)


def _loop_name(loop):
    # The guide writes `two_stage_fallback`; the action emits its own name. Accept both.
    return "action_two_stage_fallback" if loop == "two_stage_fallback" else loop


def _copy(state: dict) -> dict:
    return dict(state, slots=dict(state["slots"]))


def best_match(snippets: list[Snippet], states: list[dict]) -> Snippet | None:
    """The longest snippet whose states equal the conversation's latest states."""
    best = None
    for snippet in snippets:
        length = len(snippet.states)
        if length > len(states):
            continue
        if snippet.conversation_start and length != len(states):
            continue
        if best is not None and length <= len(best.states):
            continue  # cannot beat the longer match found already
        # Latest state first: it is where most snippets differ, so most fail at once.
        if all(state_matches(snippet.states[-n], states[-n]) for n in range(1, length + 1)):
            best = snippet
    return best
