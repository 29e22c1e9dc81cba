"""The bot engine as the hub sees it: one loaded assistant per process."""

import threading

from django.conf import settings

_lock = threading.Lock()
_assistants: dict = {}


def get_assistant():
    """Load (and train if needed) the configured assistant once, on first use.

    Imported lazily so the web process starts (and serves the console) without paying for the
    NLU libraries until the first bot turn.
    """
    path = settings.HUB["ASSISTANT_PATH"]
    assistant = _assistants.get(path)
    if assistant is None:
        with _lock:
            assistant = _assistants.get(path)
            if assistant is None:
                from bot_engine import Assistant

                assistant = Assistant.load(path, model_dir=settings.HUB["MODEL_DIR"])
                _assistants[path] = assistant
    return assistant
