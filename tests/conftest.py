"""Suite-wide settings: which profile runs (SQLite + memory, or PostgreSQL + Redis), and
fixtures every area uses."""

import gc
import os

import pytest

PROD_PROFILE = os.environ.get("HUB_TEST_PROFILE") == "prod"

# The suite talks to servers on loopback only (action servers, webhook receivers, the hub):
# a proxy this machine's environment names must not stand in between. Tests of proxying set
# their own.
for _variable in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
    os.environ.pop(_variable, None)
    os.environ.pop(_variable.upper(), None)


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


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's test database, with every thread's kept connection closed before it is
    dropped (one left open blocks the drop: "is being accessed by other users"): the hub's
    worker threads (engine pool, group-commit writer, queue refresher) end, the thread asgiref
    runs thread-sensitive `database_sync_to_async` calls on closes its own, and the handles of
    threads that already ended (each test loop's default executor, where `read_in_thread`
    reads) are collected, which closes their connections."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from handoff_hub.lifecycle import stop_worker_threads

    stop_worker_threads()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
    gc.collect()


@pytest.fixture
def make_agent(db):
    """A user with an agent profile serving the default Support queue."""
    from django.contrib.auth import get_user_model

    from handoff_hub.models import AgentProfile, Queue

    def make(username: str = "alex", capacity: int = 3, supervisor: bool = False):
        queue, _ = Queue.objects.get_or_create(name="Support", defaults={"is_default": True})
        user = get_user_model().objects.create_user(username, password="pw-" + username)
        profile = AgentProfile.objects.create(
            user=user, display_name=username.title(), capacity=capacity, is_supervisor=supervisor
        )
        profile.queues.add(queue)
        return user

    return make


@pytest.fixture(autouse=True)
def fresh_assistant_lookup():
    """Every test sees the deployments (and webhooks) of its own database, not a cached view
    of an earlier one."""
    from handoff_hub import engine, hooks
    from handoff_hub.assistants import registry

    registry.forget()
    engine.forget_versions()
    hooks.webhooks_changed()
    yield
    registry.forget()
    engine.forget_versions()


@pytest.fixture(autouse=True)
def no_polling_threads_outlive_the_test():
    """A webhook or job thread a test started polls a database that is gone (or blocked) in the
    next test; stop it with its test."""
    yield
    from handoff_hub.assistants.runner import stop_runner
    from handoff_hub.webhooks.delivery import stop_worker

    stop_worker()
    stop_runner()
