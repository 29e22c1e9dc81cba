"""The hub's own system checks (`manage.py check`)."""

import sqlite3

from django.core.checks import run_checks


def _hub_messages() -> list:
    return [message for message in run_checks() if message.id.startswith("hub.")]


def test_an_sqlite_without_returning_is_named_before_the_hub_starts(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    assert _hub_messages() == []  # this machine's SQLite is new enough
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    (too_old,) = _hub_messages()
    assert too_old.id == "hub.E001" and "3.31.1" in too_old.msg
    # PostgreSQL does not care which SQLite the interpreter has.
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.postgresql")
    assert _hub_messages() == []
