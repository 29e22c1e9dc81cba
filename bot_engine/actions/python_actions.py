"""In-process custom actions: plain Python classes with rasa_sdk's `run` signature.

from bot_engine.actions.python_actions import register_action

@register_action
class ActionCheckOrder:
    def name(self): return "action_check_order"
    def run(self, dispatcher, tracker, domain): ...; return [SlotSet-like dicts]
"""

from bot_engine.actions import outside_effects
from bot_engine.actions.base import ActionContext, ActionFailed
from bot_engine.dialogue import events as ev

_registry: dict[str, type] = {}


def register_action(cls: type) -> type:
    _registry[cls().name()] = cls
    return cls


def registered_action(name: str):
    cls = _registry.get(name)
    return PythonAction(name, cls) if cls else None


class Dispatcher:
    """Collects what an action wants to say, like rasa_sdk's CollectingDispatcher."""

    def __init__(self):
        self.messages: list[dict] = []

    def utter_message(self, text: str | None = None, **kwargs) -> None:
        self.messages.append({"text": text, **kwargs})


class TrackerView:
    """The read-only tracker API custom actions use (a subset of rasa_sdk's Tracker)."""

    def __init__(self, tracker):
        self._tracker = tracker
        self.sender_id = tracker.sender_id
        self.slots = dict(tracker.slots)
        self.latest_message = tracker.current_state()["latest_message"]
        self.events = tracker.current_state()["events"]
        self.active_loop = dict(tracker.active_loop)

    def get_slot(self, name: str):
        return self.slots.get(name)

    def get_intent_of_latest_message(self):
        return (self.latest_message.get("intent") or {}).get("name")

    def get_latest_entity_values(self, entity: str, role=None, group=None):
        return (
            e.get("value")
            for e in self.latest_message.get("entities") or []
            if e.get("entity") == entity and e.get("role") == role and e.get("group") == group
        )


class PythonAction:
    def __init__(self, name: str, cls: type):
        self.name = name
        self.cls = cls

    def run(self, context: ActionContext) -> list[dict]:
        dispatcher = Dispatcher()
        outside_effects.about_to_run(self.name)
        try:
            returned = self.cls().run(
                dispatcher, TrackerView(context.tracker), context.assistant.domain.as_rasa_dict()
            )
        except Exception as error:  # noqa: BLE001 - a custom action's bug must not crash the chat
            raise ActionFailed(f"custom action '{self.name}' failed: {error!r}") from error
        result = []
        for message in dispatcher.messages:
            name = message.pop("response", None) or message.pop("template", None)
            if name:
                result += context.utter(name, **{k: v for k, v in message.items() if v})
            else:
                text = message.pop("text", None)
                result.append(ev.bot(text, {k: v for k, v in message.items() if v}))
        for event in returned or []:
            if isinstance(event, dict) and "event" in event:
                event.setdefault("timestamp", None)
                result.append(event)
        return result


def load_action_classes(project_root, module: str) -> dict[str, type]:
    """Custom actions of `endpoints.yml: action_endpoint: actions_module: <module>`, in-process.

    The module is a file or package in the project directory (`actions` → `actions.py` or
    `actions/__init__.py`); every class in it with `name()` and `run()` is an action.
    """
    import importlib.util
    import inspect
    from pathlib import Path

    base = Path(project_root) / Path(*module.split("."))
    path = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
    if not path.exists():
        raise FileNotFoundError(f"actions_module '{module}' not found at {path}")
    unique = f"_assistant_actions_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(unique, path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    found = {}
    for _, cls in inspect.getmembers(loaded, inspect.isclass):
        if cls.__module__ != unique or not (hasattr(cls, "name") and hasattr(cls, "run")):
            continue
        try:
            found[cls().name()] = cls
        except Exception:  # noqa: BLE001, S112 - base classes without a name are not actions
            continue
    return found
