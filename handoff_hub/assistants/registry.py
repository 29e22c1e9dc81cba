"""Which assistant version each site key runs, as this process sees it.

The map of deployments is re-read from the database at most every ASSISTANT_REFRESH_SECONDS
(one small query), so an activation made in any process reaches every process within that
time, and at once in the process that made it (`forget` runs after its commit). Nothing else
is kept per process: the database is the record.
"""

import time

from django.conf import settings

from handoff_hub.assistants.models import Deployment

_snapshot: tuple[float, dict[str, int]] | None = None


def forget() -> None:
    """Drop this process's copy of the deployments; the next lookup reads them again."""
    global _snapshot
    _snapshot = None


def active_versions() -> dict[str, int]:
    """{site key: version id} for every site with an active version."""
    global _snapshot
    refresh = float(settings.HUB.get("ASSISTANT_REFRESH_SECONDS", 1.0))
    snapshot = _snapshot
    now = time.monotonic()
    if snapshot is None or now - snapshot[0] >= refresh:
        snapshot = (now, dict(Deployment.objects.values_list("site", "version_id")))
        _snapshot = snapshot
    return snapshot[1]


def site_keys(conversation) -> list[str]:
    """Most specific first: the widget's site key, the channel, then the default (blank)."""
    keys = []
    if conversation is not None:
        for key in (conversation.site, conversation.channel):
            if key and key not in keys:
                keys.append(key)
    keys.append("")
    return keys


def active_version_id(conversation=None) -> int | None:
    """The version a conversation's next turn should run on (None: HUB_ASSISTANT_PATH)."""
    active = active_versions()
    for key in site_keys(conversation):
        if key in active:
            return active[key]
    return None
