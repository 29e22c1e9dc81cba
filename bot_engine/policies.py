"""Choosing the next action: default intent actions, loops, rules, memorised stories, fallback.

Rasa's ensemble in one place, in its order of precedence (see docs/engine.md):
1. right after the user spoke, `/restart`, `/back`, `/session_start` run their default action;
2. an active loop (form, two-stage fallback) gets the user's message, then the bot listens;
3. the longest matching rule;
4. the longest matching story (MemoizationPolicy, `max_history` turns);
5. otherwise, right after the user spoke, the core fallback action at `core_fallback_threshold`.
"""

from dataclasses import dataclass

from bot_engine.dialogue.memory import best_match, snippets_from_stories
from bot_engine.errors import ValidationMessage

DEFAULT_INTENT_ACTIONS = {
    "restart": "action_restart",
    "back": "action_back",
    "session_start": "action_session_start",
}


@dataclass(frozen=True)
class Prediction:
    action: str
    policy: str | None
    confidence: float
    is_core_fallback: bool = False


class PolicyEnsemble:
    def __init__(self, project):
        rule_policy = project.policy("RulePolicy") or {}
        memo_policy = project.policy("MemoizationPolicy") or project.policy(
            "AugmentedMemoizationPolicy"
        )
        self.domain = project.domain
        self.core_fallback_threshold = float(rule_policy.get("core_fallback_threshold", 0.3))
        self.core_fallback_action = rule_policy.get(
            "core_fallback_action_name", "action_default_fallback"
        )
        self.enable_fallback_prediction = bool(rule_policy.get("enable_fallback_prediction", True))
        self.rules = snippets_from_stories(project.rules, project.domain, None)
        self.max_history = int((memo_policy or {}).get("max_history", 5) or 5)
        stories = [s for s in project.stories if not s.is_rule]
        self.stories = (
            snippets_from_stories(stories, project.domain, self.max_history) if memo_policy else []
        )

    def predict(self, tracker, excluded: frozenset = frozenset()) -> Prediction:
        last_action = tracker.latest_action
        after_listen = last_action == "action_listen"
        loop = tracker.active_loop
        if after_listen:
            default = DEFAULT_INTENT_ACTIONS.get(tracker.latest_intent or "")
            if default and default not in excluded:
                return Prediction(default, "RulePolicy", 1.0)
        if loop and not loop.get("rejected") and loop["name"] not in excluded:
            if last_action == loop["name"]:
                return Prediction("action_listen", "RulePolicy", 1.0)
            return Prediction(loop["name"], "RulePolicy", 1.0)
        states = tracker.dialogue_states()
        candidates = [s for s in self.rules if s.action not in excluded]
        rule = best_match(candidates, states)
        if rule is not None:
            action = rule.action
            if action == "action_listen" and loop and last_action != loop["name"]:
                action = loop["name"]  # after handling an interruption, go back to the loop
            return Prediction(action, "RulePolicy", 1.0)
        story = best_match(
            [s for s in self.stories if s.action not in excluded], states[-self.max_history :]
        )
        if story is not None:
            return Prediction(story.action, "MemoizationPolicy", 1.0)
        if after_listen and self.enable_fallback_prediction:
            return Prediction(
                self.core_fallback_action, "RulePolicy", self.core_fallback_threshold, True
            )
        return Prediction("action_listen", None, 0.0)


def rule_restriction_errors(project) -> list[ValidationMessage]:
    """RulePolicy's `restrict_rules` (default true): a rule holds at most one user message.

    Rules are for short, fixed reactions; a longer exchange belongs in a story (Rasa refuses
    to train such rules, and so do we).
    """
    rule_policy = project.policy("RulePolicy")
    if rule_policy is None or rule_policy.get("restrict_rules", True) is False:
        return []
    messages = []
    for rule in project.rules:
        user_turns = [s for s in rule.steps if "user" in s or _user_choice(s)]
        if len(user_turns) > 1:
            messages.append(
                ValidationMessage(
                    rule.file,
                    user_turns[1].get("line") or rule.line,
                    f"rule '{rule.name}'",
                    f"contains {len(user_turns)} user messages; a rule may hold one "
                    "(use a story, or set restrict_rules: false on RulePolicy)",
                )
            )
    return messages


def _user_choice(step: dict) -> bool:
    return any("user" in option for option in step.get("or") or [])
