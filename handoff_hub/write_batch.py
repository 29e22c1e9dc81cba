"""Set-based writes inside a group commit: a few queries per batch instead of a few per job.

Inside a batch (handoff_hub.group_commit) the message path
  - locks every conversation of the batch with one `SELECT … ORDER BY id FOR UPDATE`,
  - looks up the batch's client message ids (idempotent resends) with one query,
  - inserts every new message with one INSERT, and
  - writes each conversation's new `last_seq` / tracker with one UPDATE per kind of change,
all in the batch's transaction, before its single COMMIT. Outside a batch every function here
falls back to the plain one-row query, so the rest of the hub is unchanged.
"""

import contextlib
import functools
import threading

from django.db import connection
from django.utils import timezone

from handoff_hub.models import Conversation, HandoffTicket, Message
from handoff_hub.presenters import READ, conversation_summary

_LIGHT_DEFER = ("tracker_state", "customer_metadata")


class _BatchState(threading.local):
    cache: dict | None = None


_batch = _BatchState()


def batch_cache() -> dict | None:
    """A dict living for the current batch (one snapshot per transaction), or None outside."""
    return _batch.cache


@contextlib.contextmanager
def batch():
    """Mark the enclosed code (one transaction of the writer thread) as a batch."""
    _batch.cache = {}
    try:
        yield _batch.cache
    finally:
        _batch.cache = None


def prepare(conversation_ids: list[int], client_ids: list[tuple[int, str]]) -> None:
    """Lock the batch's conversations (in id order) and read its client ids, once each.

    Both are raw queries: compiling the two querysets in the ORM cost more CPU than the
    rest of a small batch, on the one thread every message waits for.
    """
    cache = batch_cache()
    ids = sorted(set(conversation_ids))
    cache["conversations"] = {c.pk: c for c in _locked_rows(ids)} if ids else {}
    known: dict[tuple[int, str], Message] = {}
    if client_ids:
        wanted = set(client_ids)
        for message in _messages_with_client_ids(wanted):
            # Two IN lists select a superset of the pairs; keep the pairs asked for.
            if (message.conversation_id, message.client_id) in wanted:
                known[(message.conversation_id, message.client_id)] = message
    cache["client_ids"] = known
    cache["new_messages"] = []
    cache["dirty"] = {}


def _columns(model, skip=()) -> str:
    quote = connection.ops.quote_name
    return ", ".join(
        quote(field.column) for field in model._meta.concrete_fields if field.name not in skip
    )


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


@functools.cache
def _fields(model, skip=()) -> tuple:
    return tuple(field for field in model._meta.concrete_fields if field.name not in skip)


def _locked_rows(ids: list[int]) -> list[Conversation]:
    """The conversations' rows, locked in id order, without the large columns (deferred:
    loaded if a job reads them)."""
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    # Only our model's own column names go into the text; the ids are parameters.
    sql = (
        f"SELECT {_columns(Conversation, _LIGHT_DEFER)} "  # noqa: S608
        f"FROM {quote(Conversation._meta.db_table)} "
        f"WHERE {quote('id')} IN ({_placeholders(ids)}) ORDER BY {quote('id')}{lock}"
    )
    return _instances(Conversation, _fields(Conversation, _LIGHT_DEFER), sql, ids)


def _messages_with_client_ids(pairs: set[tuple[int, str]]) -> list[Message]:
    quote = connection.ops.quote_name
    conversations = sorted({pair[0] for pair in pairs})
    client_ids = sorted({pair[1] for pair in pairs})
    sql = (
        f"SELECT {_columns(Message)} FROM {quote(Message._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('conversation_id')} IN ({_placeholders(conversations)}) "
        f"AND {quote('client_id')} IN ({_placeholders(client_ids)})"
    )
    return _instances(Message, _fields(Message), sql, conversations + client_ids)


def _instances(model, fields: tuple, sql: str, params: list) -> list:
    """Model instances from a query selecting `fields` (in the model's field order).

    What a RawQuerySet does, minus what it repeated for every query: mapping the cursor's
    columns onto the model and looking up each column's converters (SQLite returns datetimes
    and JSON as text; PostgreSQL's driver converts them itself).
    """
    names, converters = _row_reading(model, fields, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    instances = []
    for row in rows:
        if converters:
            row = list(row)
            for index, convert in converters:
                row[index] = convert(row[index])
        instances.append(model.from_db(connection.alias, names, row))
    return instances


_reading: dict = {}


def _row_reading(model, fields: tuple, vendor: str) -> tuple[list[str], list]:
    key = (model, fields, vendor)
    known = _reading.get(key)
    if known is None:
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            steps = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if steps:
                converters.append((index, _converter(steps, column)))
        known = _reading[key] = ([field.attname for field in fields], converters)
    return known


def _converter(steps: list, column):
    def convert(value):
        for step in steps:
            value = step(value, column, connection)
        return value

    return convert


def locked_conversation(conversation_id: int) -> Conversation | None:
    """The batch's locked row of this conversation (one object shared by its jobs)."""
    cache = batch_cache()
    if cache is None or "conversations" not in cache:
        return None
    return cache["conversations"].get(conversation_id)


def message_with_client_id(conversation: Conversation, client_id: str) -> Message | None:
    cache = batch_cache()
    if cache is None or "client_ids" not in cache:
        return Message.objects.filter(conversation=conversation, client_id=client_id).first()
    return cache["client_ids"].get((conversation.pk, client_id))


def add_message(message: Message, announce) -> None:
    """Insert now, or with the batch's single INSERT; `announce()` runs once it is written."""
    cache = batch_cache()
    if cache is None or "new_messages" not in cache:
        message.save(force_insert=True)
        announce()
        return
    cache["new_messages"].append((message, announce))
    if message.client_id:
        cache["client_ids"][(message.conversation_id, message.client_id)] = message


def save_conversation(conversation: Conversation, fields: list[str]) -> None:
    """Save these fields now, or once per conversation when the batch flushes."""
    cache = batch_cache()
    if cache is None or "dirty" not in cache:
        conversation.save(update_fields=fields)
        return
    cache["dirty"].setdefault(conversation.pk, (conversation, set()))[1].update(fields)


def summarize_at_flush(conversation: Conversation) -> bool:
    """Inside a batch, note that the consoles need `conversation`'s summary once the batch
    commits; False outside one (the caller reads it after commit itself).

    The batch builds every summary it owes at flush from the rows it holds, with one ticket
    query for all of them, instead of three queries per chat on the writer thread after commit.
    """
    cache = batch_cache()
    if cache is None or "dirty" not in cache:
        return False
    cache.setdefault("summaries", {})[conversation.pk] = conversation
    return True


def flush() -> None:
    """Write what the batch's jobs deferred: messages first, then their conversations."""
    cache = batch_cache()
    if cache is None or "new_messages" not in cache:
        return
    written = cache["new_messages"]
    if written:
        Message.objects.bulk_create([message for message, _announce in written])
        for _message, announce in written:
            announce()
    by_fields: dict[tuple[str, ...], list[Conversation]] = {}
    for conversation, fields in cache["dirty"].values():
        by_fields.setdefault(tuple(sorted(fields - {"updated_at"})), []).append(conversation)
    now = timezone.now()
    for fields, conversations in by_fields.items():
        _update_rows(fields, conversations, now)
    summaries = cache.pop("summaries", None)
    if summaries:
        _publish_summaries(summaries, [message for message, _announce in written])
    cache["new_messages"], cache["dirty"] = [], {}


def _publish_summaries(conversations: dict[int, Conversation], written: list[Message]) -> None:
    from handoff_hub.realtime import publish_summary_on_commit  # realtime imports this module

    latest_ticket: dict[int, HandoffTicket] = {}
    tickets = HandoffTicket.objects.filter(conversation_id__in=list(conversations))
    for ticket in tickets.order_by("-enqueued_at"):
        latest_ticket.setdefault(ticket.conversation_id, ticket)
    last_written: dict[int, Message] = {}
    for message in written:
        known = last_written.get(message.conversation_id)
        if known is None or message.seq > known.seq:
            last_written[message.conversation_id] = message
    for pk, conversation in conversations.items():
        summary = conversation_summary(
            conversation, latest_ticket.get(pk), last_written.get(pk, READ)
        )
        publish_summary_on_commit(summary)


def _update_rows(fields: tuple[str, ...], conversations: list[Conversation], now) -> None:
    """One parametrised UPDATE run for many rows (pipelined by psycopg, one round trip).

    Django's bulk_update builds a CASE per field in Python, which costs more than the writes.
    """
    columns = [Conversation._meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{connection.ops.quote_name(c.column)} = %s" for c in columns)
    table = connection.ops.quote_name(Conversation._meta.db_table)
    updated_at = connection.ops.quote_name("updated_at")
    # Only our own model's column names go into the text; every value is a parameter.
    sql = f"UPDATE {table} SET {assignments}, {updated_at} = %s WHERE id = %s"  # noqa: S608
    rows = []
    for conversation in conversations:
        conversation.updated_at = now
        values = [_prepared(conversation, c) for c in columns]
        rows.append([*values, connection.ops.adapt_datetimefield_value(now), conversation.pk])
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        import psycopg

        # Server-side binding: the tracker travels as a parameter instead of being quoted
        # into the query text (Django's cursors bind client-side), which cost as much as
        # encoding it.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.executemany(sql, rows)
    else:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def _prepared(conversation: Conversation, column):
    encoded = getattr(conversation, "tracker_json", None)
    if column.attname == "tracker_state" and encoded is not None:
        conversation.tracker_json = None
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb(None, dumps=lambda _unused: encoded)
        return encoded
    return column.get_db_prep_save(getattr(conversation, column.attname), connection)
