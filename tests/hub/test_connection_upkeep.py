"""An engine thread's kept database connection that the database dropped is replaced, not
failed on again: its health check runs at most once a second, yet a turn after an idle spell
and a turn after a failed query both get a working connection."""

import threading
import time

import pytest
from django.db import DatabaseError, connection, connections

from handoff_hub import connection_upkeep
from handoff_hub.engine_pool import with_fresh_connection
from handoff_hub.models import Conversation

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="a SQLite connection is a file: the database never breaks it",
    ),
]


@pytest.fixture(autouse=True)
def kept_connections(monkeypatch):
    # As in production (CONN_MAX_AGE > 0): the threads keep their connections between turns.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)


def _backend_pid() -> int:
    Conversation.objects.count()
    return connection.connection.info.backend_pid


def _drop_backend(pid: int) -> None:
    """What a database restart does to one connection: the server ends it."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _poll in range(200):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.01)
        raise AssertionError(f"backend {pid} did not end")
    finally:
        other.close()


def _in_a_new_thread(scenario):
    """Run `scenario` in a thread of its own (an engine thread's state: none yet)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = scenario()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _two_quick_turns() -> int:
    """Two turns within the interval: the second's tidy is skipped, its health check done."""
    with_fresh_connection(_backend_pid, ())
    return with_fresh_connection(_backend_pid, ())


def test_a_connection_the_database_dropped_while_the_thread_was_idle_is_replaced():
    def scenario() -> tuple[int, int]:
        before = _two_quick_turns()
        _drop_backend(before)
        time.sleep(connection_upkeep.INTERVAL_SECONDS + 0.2)  # no turn for a while
        return before, with_fresh_connection(_backend_pid, ())

    before, after = _in_a_new_thread(scenario)
    assert after != before


def test_a_failed_query_the_work_caught_drops_the_connection_within_the_interval():
    def swallowing_a_failure() -> None:
        # As compute_and_commit does: the engine's error goes to the consumer, not up here.
        with pytest.raises(DatabaseError):
            Conversation.objects.count()

    def scenario() -> tuple[int, int]:
        before = _two_quick_turns()
        _drop_backend(before)
        with_fresh_connection(swallowing_a_failure, ())
        return before, with_fresh_connection(_backend_pid, ())

    before, after = _in_a_new_thread(scenario)
    assert after != before
