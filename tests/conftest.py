"""Suite-wide settings: which profile runs (SQLite + memory, or PostgreSQL + Redis)."""

import os

import pytest

PROD_PROFILE = os.environ.get("HUB_TEST_PROFILE") == "prod"


def pytest_report_header(config) -> str:
    if PROD_PROFILE:
        return "profile: PostgreSQL + Redis (DATABASE_URL, REDIS_URL)"
    return "profile: SQLite + in-memory channel layer"


def pytest_collection_modifyitems(config, items) -> None:
    if not PROD_PROFILE:
        return
    skip = pytest.mark.skip(reason="runs in the SQLite profile only")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)
