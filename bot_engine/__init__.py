"""A Rasa-compatible bot engine: plain Python, no Django. The hub uses only this API:

Assistant.load(path) -> Assistant
assistant.handle(tracker_state, text, sender_id=...) -> TurnResult
    (.messages, .tracker_state, .handoff: Handoff | None, .hangup: bool,
     .context: the agent's summary on turns that hand off or failed)
assistant.return_from_human(tracker_state, slots) -> TurnResult
assistant.parse(text) -> dict
"""

from bot_engine.assistant import Assistant, TurnResult
from bot_engine.errors import ProjectError, ValidationMessage
from bot_engine.handoff import Handoff

__all__ = ["Assistant", "Handoff", "ProjectError", "TurnResult", "ValidationMessage"]
