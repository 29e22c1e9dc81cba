"""What the hub needs from its environment, checked by every management command (`migrate`,
`check`, the demo's start-up) so a missing piece is named before the first customer hits it."""

import sqlite3

from django.conf import settings
from django.core import checks

# The group commit inserts a batch's messages with `INSERT … RETURNING id` (SQLite 3.35+).
SQLITE_NEEDED = (3, 35)


@checks.register()
def sqlite_is_new_enough(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    engine = settings.DATABASES["default"]["ENGINE"]
    if not engine.endswith("sqlite3") or sqlite3.sqlite_version_info >= SQLITE_NEEDED:
        return []
    return [
        checks.Error(
            f"SQLite {sqlite3.sqlite_version} is too old for Handoff Hub: it needs 3.35 or "
            "newer (INSERT … RETURNING).",
            hint="Set DATABASE_URL to PostgreSQL, or use a Python built with a newer SQLite.",
            id="hub.E001",
        )
    ]
