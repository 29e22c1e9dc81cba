"""The default actions every assistant has, with Rasa's semantics."""

from bot_engine.actions.base import ActionContext
from bot_engine.dialogue import events


class ActionListen:
    name = "action_listen"

    def run(self, context: ActionContext) -> list[dict]:
        return []


class ActionRestart:
    name = "action_restart"

    def run(self, context: ActionContext) -> list[dict]:
        return [*context.utter("utter_restart"), events.restart()]


class ActionSessionStart:
    name = "action_session_start"

    def run(self, context: ActionContext) -> list[dict]:
        result = [events.session_started()]
        tracker = context.tracker
        if context.assistant.domain.carry_over_slots:
            result += [
                events.slot(e["name"], e.get("value"))
                for e in tracker.applied_events()
                if e.get("event") == "slot"
            ]
        metadata = context.extra.get("session_metadata")
        if metadata:
            result.append(events.slot("session_started_metadata", metadata))
        result.append(events.action("action_listen"))
        return result


class ActionDefaultFallback:
    name = "action_default_fallback"

    def run(self, context: ActionContext) -> list[dict]:
        return [*context.utter("utter_default"), events.rewind()]


class ActionDeactivateLoop:
    name = "action_deactivate_loop"

    def run(self, context: ActionContext) -> list[dict]:
        return [events.active_loop(None), events.slot("requested_slot", None)]


class ActionBack:
    name = "action_back"

    def run(self, context: ActionContext) -> list[dict]:
        return [*context.utter("utter_back"), events.rewind(), events.rewind()]


class ActionUnlikelyIntent:
    name = "action_unlikely_intent"

    def run(self, context: ActionContext) -> list[dict]:
        return []


class ActionSendText:
    name = "action_send_text"

    def run(self, context: ActionContext) -> list[dict]:
        message = context.extra.get("message") or {"text": ""}
        return [events.bot(message.get("text"), {k: v for k, v in message.items() if k != "text"})]


class ActionDefaultAskAffirmation:
    """ "Did you mean '<intent>'?" with Yes (/<intent>) and No (/out_of_scope) buttons."""

    name = "action_default_ask_affirmation"

    def run(self, context: ActionContext) -> list[dict]:
        parse = context.tracker.latest_message.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name")
        ranking = parse.get("intent_ranking") or []
        if intent == "nlu_fallback" and len(ranking) > 1:
            intent = ranking[1]["name"]
        label = context.assistant.intent_label(intent)
        buttons = [
            {"title": "Yes", "payload": f"/{intent}"},
            {"title": "No", "payload": "/out_of_scope"},
        ]
        text = f"Did you mean '{label}'?"
        return [events.bot(text, {"buttons": buttons}, {"utter_action": self.name})]


class ActionDefaultAskRephrase:
    name = "action_default_ask_rephrase"

    def run(self, context: ActionContext) -> list[dict]:
        return context.utter("utter_ask_rephrase")


class ActionHumanHandoff:
    """Tell the customer a person is coming and ask the hub to transfer the chat.

    The `pause` event keeps the bot quiet even if messages still reach it; the hub resumes the
    conversation when an agent hands it back.
    """

    name = "action_human_handoff"

    def run(self, context: ActionContext) -> list[dict]:
        said = context.utter("utter_human_handoff")
        if context.handoff is None:
            context.handoff = {"reason": context.extra.get("handoff_reason", "explicit_request")}
        return [*said, events.pause()]
