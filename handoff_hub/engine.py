"""The bot engine as the hub sees it: one loaded assistant per process."""

import threading

from django.conf import settings

_lock = threading.Lock()
_assistant = None


def get_assistant():
    """Load (and train if needed) the configured assistant once, on first use.

    Imported lazily so the web process starts (and serves the console) without paying for the
    NLU libraries until the first bot turn.
    """
    global _assistant
    if _assistant is None:
        with _lock:
            if _assistant is None:
                from bot_engine import Assistant

                _assistant = Assistant.load(
                    settings.HUB["ASSISTANT_PATH"], model_dir=settings.HUB["MODEL_DIR"]
                )
    return _assistant
