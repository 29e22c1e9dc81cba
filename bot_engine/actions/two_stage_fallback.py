"""`action_two_stage_fallback`: ask "did you mean…?", then to rephrase, then give up.

A loop action (like a form): it stays active across user messages until the user clarifies
(the conversation continues as if they had said the clarified intent) or two attempts fail
(the ultimate fallback runs — in a hub, usually the handoff to a human).
"""

import copy
import time

from bot_engine.actions.base import ActionContext
from bot_engine.dialogue import events

NAME = "action_two_stage_fallback"
_UNCLEAR = {"nlu_fallback", "out_of_scope"}


class ActionTwoStageFallback:
    name = NAME

    def run(self, context: ActionContext) -> list[dict]:
        tracker = context.tracker
        result: list[dict] = []
        activated = tracker.active_loop.get("name") != NAME
        if activated:
            result.append(events.active_loop(NAME))
        if not self._is_done(tracker):
            if activated or tracker.latest_intent == "nlu_fallback":
                result += context.assistant.run_named("action_default_ask_affirmation", context)
            else:
                result += context.assistant.run_named("action_default_ask_rephrase", context)
            return result
        result.append(events.active_loop(None))
        if self._gave_up(tracker):
            context.extra["handoff_reason"] = "two_stage_fallback"
            ultimate = context.assistant.ultimate_fallback_action
            return result + context.assistant.run_named(ultimate, context)
        # Clarified: forget the fallback turns and replay the clarified message as certain.
        clarified = copy.deepcopy(tracker.latest_message)
        clarified["timestamp"] = time.time()
        intent = (clarified.get("parse_data") or {}).get("intent") or {}
        intent["confidence"] = 1.0
        return result + [events.rewind(), events.action("action_listen"), clarified]

    @staticmethod
    def _two_fallbacks_in_a_row(tracker) -> bool:
        return tracker.last_n_intents(2) == ["nlu_fallback", "nlu_fallback"]

    @staticmethod
    def _second_affirmation_failed(tracker) -> bool:
        return tracker.last_n_intents(3) == ["out_of_scope", "nlu_fallback", "out_of_scope"]

    def _gave_up(self, tracker) -> bool:
        return self._two_fallbacks_in_a_row(tracker) or self._second_affirmation_failed(tracker)

    def _is_done(self, tracker) -> bool:
        return tracker.latest_intent not in _UNCLEAR or self._gave_up(tracker)
