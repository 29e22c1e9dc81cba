"""The bot engine as the hub sees it: the assistant version each conversation runs on.

Loaded assistants are immutable, so they are cached per process by version: a turn keeps the
one it started with (a turn in progress finishes on it) while the next turn asks again and
picks up an activation made meanwhile, in this process or another (see
`assistants.registry`). With no active version for a conversation's site, the project at
HUB_ASSISTANT_PATH answers, as before versions existed.
"""

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from handoff_hub.assistants import registry

logger = logging.getLogger(__name__)
# Versions kept loaded per process; older ones are dropped (turns holding them finish fine).
MAX_LOADED_VERSIONS = 4

_lock = threading.Lock()
_by_version: "OrderedDict[int, LoadedAssistant]" = OrderedDict()
_by_path: "dict[str, LoadedAssistant]" = {}


@dataclass(frozen=True)
class LoadedAssistant:
    assistant: object  # bot_engine.Assistant, imported lazily
    version_id: int | None
    fingerprint: str


def assistant_for(conversation=None) -> LoadedAssistant:
    """The assistant `conversation`'s next turn runs on (no conversation: the default site)."""
    version_id = registry.active_version_id(conversation)
    if version_id is not None:
        loaded = _version(version_id)
        if loaded is not None:
            return loaded
    return _fallback()


def get_assistant(conversation=None):
    """The engine `Assistant` for a conversation (or for the default site)."""
    return assistant_for(conversation).assistant


def remember_trained(version_id: int, assistant) -> None:
    """Keep an assistant this process just trained, so activating it needs no reload."""
    with _lock:
        _keep(version_id, LoadedAssistant(assistant, version_id, assistant.fingerprint))


def forget_versions() -> None:
    """Drop this process's loaded versions (tests; the next turn loads what is active)."""
    with _lock:
        _by_version.clear()


def _keep(version_id: int, loaded: LoadedAssistant) -> None:
    _by_version[version_id] = loaded
    _by_version.move_to_end(version_id)
    while len(_by_version) > MAX_LOADED_VERSIONS:
        _by_version.popitem(last=False)


def _version(version_id: int) -> LoadedAssistant | None:
    loaded = _by_version.get(version_id)
    if loaded is not None:
        return loaded
    from handoff_hub.assistants.models import AssistantVersion

    with _lock:
        loaded = _by_version.get(version_id)
        if loaded is not None:
            return loaded
        version = AssistantVersion.objects.filter(pk=version_id).first()
        if version is None:
            registry.forget()  # deleted since we read the deployments
            return None
        from bot_engine import Assistant

        logger.info("Loading assistant %s from %s", version, version.project_path)
        assistant = Assistant.load(version.project_path, model_dir=settings.HUB["MODEL_DIR"])
        loaded = LoadedAssistant(assistant, version_id, assistant.fingerprint)
        _keep(version_id, loaded)
        return loaded


def _fallback() -> LoadedAssistant:
    # Imported lazily so the web process starts (and serves the console) without paying for
    # the NLU libraries until the first bot turn.
    path = settings.HUB["ASSISTANT_PATH"]
    loaded = _by_path.get(path)
    if loaded is None:
        with _lock:
            loaded = _by_path.get(path)
            if loaded is None:
                from bot_engine import Assistant

                assistant = Assistant.load(path, model_dir=settings.HUB["MODEL_DIR"])
                loaded = LoadedAssistant(assistant, None, assistant.fingerprint)
                _by_path[path] = loaded
    return loaded
