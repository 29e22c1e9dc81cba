"""Set-based writes inside a group commit: a few queries per batch instead of a few per job.

Inside a batch (handoff_hub.group_commit) the message path
  - locks every conversation of the batch with one `SELECT … ORDER BY id FOR UPDATE`,
  - looks up the batch's client message ids (idempotent resends) with one query,
  - inserts every new conversation (a widget's `hello`) with one INSERT, and every new
    message with another,
  - writes each conversation's new `last_seq` / tracker version / listeners with one UPDATE
    per kind of change, and the events its bot turns added (one INSERT each, pipelined),
all in the batch's transaction, before its single COMMIT. On PostgreSQL the two reads travel
together (after the BEGIN, which psycopg sends and waits for on its own), and so do all the
writes with the COMMIT: a batch of stored messages and bot turns is three round trips
however many it holds (BEGIN, reads, writes + COMMIT), where one per statement was six or
more. A batch that owes consoles summaries, or runs transitions, reads a little more first;
with a webhook active the COMMIT waits for the deliveries. Each round trip is a wait for the
database and then for this process's interpreter lock, on the thread every message waits
for; they cost most where the database is on another machine. Outside a batch every
function here falls back to the plain one-row query, so the rest of the hub is unchanged.
"""

import contextlib
import functools
import threading
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from handoff_hub import hooks
from handoff_hub.models import Conversation, HandoffTicket, Message, TrackerEvents
from handoff_hub.presenters import conversation_summary, last_message_of

_LIGHT_DEFER = ("tracker_state", "customer_metadata")
_INSERT_CHUNK = 500  # rows per INSERT: well below SQLite's limit of bound variables


class _BatchState(threading.local):
    cache: dict | None = None
    committed = False  # the last batch's flush sent its COMMIT, and the server ran it


_batch = _BatchState()


def batch_cache() -> dict | None:
    """A dict living for the current batch (one snapshot per transaction), or None outside."""
    return _batch.cache


@contextlib.contextmanager
def batch():
    """Mark the enclosed code (one transaction of the writer thread) as a batch."""
    _batch.cache = {}
    _batch.committed = False
    try:
        yield _batch.cache
    finally:
        _batch.cache = None


def committed_by_flush() -> bool:
    """Whether this thread's last batch committed in its flush: an error after that point
    (announcing, summaries, the atomic block's exit) must not make its jobs run again."""
    return _batch.committed


def prepare(conversation_ids: list[int], client_ids: list[tuple[int, str]]) -> None:
    """Lock the batch's conversations (in id order) and read its client ids, once each.

    Both are raw queries: compiling the two querysets in the ORM cost more CPU than the
    rest of a small batch, on the one thread every message waits for.
    """
    cache = batch_cache()
    ids = sorted(set(conversation_ids))
    wanted = set(client_ids)
    reads = []
    if ids:
        reads.append(_locked_rows(ids))
    if wanted:
        reads.append(_messages_with_client_ids(wanted))
    found = _run([], [(read.sql, read.params) for read in reads])
    results = iter([_instances(read, rows) for read, rows in zip(reads, found, strict=True)])
    cache["conversations"] = {c.pk: c for c in next(results)} if ids else {}
    known: dict[tuple[int, str], Message] = {}
    for message in next(results) if wanted else ():
        # The query selects a superset of the pairs; keep the pairs asked for.
        if (message.conversation_id, message.client_id) in wanted:
            known[(message.conversation_id, message.client_id)] = message
    cache["client_ids"] = known
    cache["new_messages"] = []
    cache["new_conversations"] = []
    cache["dirty"] = {}
    cache["listeners"] = {}
    cache["tracker_events"] = []
    cache["tracker_drops"] = []


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


@dataclass(frozen=True)
class _Read:
    model: type
    fields: tuple
    sql: str
    params: list


def _locked_rows(ids: list[int]) -> _Read:
    """The conversations' rows, locked in id order, without the large columns (deferred:
    loaded if a job reads them)."""
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    where, params = _one_of("id", ids)
    # Only our model's own column names go into the text; the ids are parameters.
    sql = (
        f"SELECT {_columns(Conversation, _LIGHT_DEFER)} "  # noqa: S608
        f"FROM {quote(Conversation._meta.db_table)} "
        f"WHERE {where} ORDER BY {quote('id')}{lock}"
    )
    return _Read(Conversation, _fields(Conversation, _LIGHT_DEFER), sql, params)


def _messages_with_client_ids(pairs: set[tuple[int, str]]) -> _Read:
    quote = connection.ops.quote_name
    by_conversation, conversations = _one_of("conversation_id", sorted({p[0] for p in pairs}))
    by_client_id, client_ids = _one_of("client_id", sorted({p[1] for p in pairs}))
    sql = (
        f"SELECT {_columns(Message)} FROM {quote(Message._meta.db_table)} "  # noqa: S608
        f"WHERE {by_conversation} AND {by_client_id}"
    )
    return _Read(Message, _fields(Message), sql, conversations + client_ids)


def _one_of(column: str, values: list) -> tuple[str, list]:
    """`column` is one of `values`: one array parameter on PostgreSQL, an IN list elsewhere."""
    quoted = connection.ops.quote_name(column)
    if connection.vendor == "postgresql":
        return f"{quoted} = ANY(%s)", [values]
    return f"{quoted} IN ({_placeholders(values)})", list(values)


def _run(
    writes: list[tuple[str, list]], queries: list[tuple[str, list]], commit: bool = False
) -> list[list]:
    """Run each write (an executemany of its rows), then each query, in the batch's
    transaction; the rows of each query. With `commit`, end the transaction with them.

    On PostgreSQL all of it goes out in one pipeline and its results are read after the
    pipeline has ended: its closing sync brings them back in one round trip, where a fetch
    inside it would wait for each (psycopg sends a transaction's BEGIN, and waits for it, on
    its own). Server-side binding: values travel as parameters instead of being quoted into
    the text by Django's cursors, which cost as much as encoding them.
    """
    if not (writes or queries):
        return []
    if connection.vendor != "postgresql":
        # In-process: nothing to save by committing with the writes; Django commits.
        with connection.cursor() as cursor:
            for sql, rows in writes:
                cursor.executemany(sql, rows)
            found = []
            for sql, params in queries:
                cursor.execute(sql, params)
                found.append(cursor.fetchall())
        return found
    import psycopg

    # Raw cursors skip Django's check that the transaction is still usable.
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    raw = connection.connection
    cursors: list = []
    try:
        # Driver errors become Django's (DatabaseError, IntegrityError) as on its own cursors.
        with connection.wrap_database_errors:
            with raw.pipeline():
                for sql, rows in writes:
                    cursors.append(psycopg.Cursor(raw))
                    cursors[-1].executemany(sql, rows)
                reading = []
                for sql, params in queries:
                    cursors.append(psycopg.Cursor(raw))
                    cursors[-1].execute(sql, params)
                    reading.append(cursors[-1])
                if commit:
                    # The COMMIT rides the writes' round trip. Once the server has run it,
                    # the connection is idle and the commit Django sends when the atomic
                    # block ends is no round trip (psycopg skips it); a failure here raises
                    # like any write's, and the block rolls back.
                    cursors.append(psycopg.Cursor(raw))
                    cursors[-1].execute("COMMIT")
            return [cursor.fetchall() for cursor in reading]
    finally:
        for cursor in cursors:
            cursor.close()


def _instances(read: _Read, rows: list) -> list:
    """Model instances from rows selecting `read.fields` (in the model's field order).

    What a RawQuerySet does, minus what it repeated for every query: mapping the cursor's
    columns onto the model and looking up each column's converters (SQLite returns datetimes
    and JSON as text; Django has PostgreSQL's driver return JSON as text too).
    """
    names, converters = _row_reading(read.model, read.fields, connection.vendor)
    instances = []
    for row in rows:
        if converters:
            row = list(row)
            for index, convert in converters:
                row[index] = convert(row[index])
        instances.append(read.model.from_db(connection.alias, names, row))
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


def _inserted(conversation: Conversation) -> Conversation:
    """`conversation`, if it has a row: one made by create_conversation has none (and no id)
    until the batch's flush, so nothing of the batch may save or file it under its id."""
    if conversation.pk is None:
        raise ValueError("a conversation created in this batch has no row until its flush")
    return conversation


def save_conversation(conversation: Conversation, fields: list[str]) -> None:
    """Save these fields now, or once per conversation when the batch flushes."""
    _inserted(conversation)
    cache = batch_cache()
    if cache is None or "dirty" not in cache:
        conversation.save(update_fields=fields)
        return
    cache["dirty"].setdefault(conversation.pk, (conversation, set()))[1].update(fields)


def save_listeners(conversation: Conversation) -> None:
    """Write the row's `listeners` now, or at flush (without touching `updated_at`: who
    listens is no change of the chat)."""
    _inserted(conversation)
    cache = batch_cache()
    if cache is None or "listeners" not in cache:
        Conversation.objects.filter(pk=conversation.pk).update(listeners=conversation.listeners)
        return
    cache["listeners"][conversation.pk] = conversation


def add_tracker_events(conversation_id: int, version: int, events_json: str) -> None:
    """Insert a turn's TrackerEvents row now, or with the batch's other writes."""
    cache = batch_cache()
    if cache is None or "tracker_events" not in cache:
        TrackerEvents.objects.create(
            conversation_id=conversation_id, version=version, events=events_json
        )
        return
    cache["tracker_events"].append((conversation_id, version, events_json))


def drop_tracker_events(conversation_id: int, up_to_version: int) -> None:
    """Delete the TrackerEvents rows a new snapshot covers, now or after the batch's inserts."""
    cache = batch_cache()
    if cache is None or "tracker_drops" not in cache:
        TrackerEvents.objects.filter(
            conversation_id=conversation_id, version__lte=up_to_version
        ).delete()
        return
    cache["tracker_drops"].append((conversation_id, up_to_version))


def tracker_events_not_flushed(conversation_id: int) -> list[tuple[int, str]]:
    """(version, events JSON) this batch added to the conversation's tracker, not yet written."""
    cache = batch_cache()
    added = (cache or {}).get("tracker_events") or ()
    return [(version, text) for pk, version, text in added if pk == conversation_id]


def listeners_changed(conversation_id: int) -> Conversation | None:
    """The row whose `listeners` this batch changed and has not written yet, if any."""
    cache = batch_cache()
    return None if cache is None else cache.get("listeners", {}).get(conversation_id)


def summarize_at_flush(conversation: Conversation) -> bool:
    """Inside a batch, note that the consoles need `conversation`'s summary once the batch
    commits; False outside one (the caller reads it after commit itself).

    The batch builds every summary it owes at flush from the rows it holds, with one ticket
    query for all of them, instead of three queries per chat on the writer thread after commit.
    """
    cache = batch_cache()
    if cache is None or "dirty" not in cache:
        return False
    cache.setdefault("summaries", {})[_inserted(conversation).pk] = conversation
    return True


def create_conversation(**fields) -> Conversation:
    """A new conversation, INSERTed by the batch's flush with the others of the batch (its id
    is set then: nothing in the batch may use it before); outside a batch, at once.

    A burst of new visitors is a batch of such jobs: one INSERT each was a round trip each,
    on the thread every message waits for. As with bulk_create, no post_save is sent."""
    cache = batch_cache()
    if cache is None or "new_conversations" not in cache:
        return Conversation.objects.create(**fields)
    conversation = Conversation(**fields)
    cache["new_conversations"].append(conversation)
    return conversation


def flush(commit: bool = False) -> None:
    """Write what the batch's jobs deferred: the conversations' changes, their tracker
    events, then the new conversations and the messages (on PostgreSQL in one round trip),
    and announce the messages.

    With `commit`, the batch's COMMIT rides that round trip too, on PostgreSQL, in the
    outermost atomic block, and unless a webhook is active (announcing a message then records
    its deliveries, which must commit with it); the atomic block's exit commits otherwise. It
    must be the batch's last call: nothing after it may query or write.
    """
    cache = batch_cache()
    if cache is None or "new_messages" not in cache:
        return
    written = cache["new_messages"]
    by_fields: dict[tuple[str, ...], list[Conversation]] = {}
    for conversation, fields in cache["dirty"].values():
        by_fields.setdefault(tuple(sorted(fields - {"updated_at"})), []).append(conversation)
    now = timezone.now()
    updates = [_row_updates(fields, rows, now) for fields, rows in by_fields.items()]
    if cache["listeners"]:  # who listens is no change of the chat: updated_at stays
        updates.append(_row_updates(("listeners",), list(cache["listeners"].values())))
    updates += _tracker_writes(cache["tracker_events"], cache["tracker_drops"])
    messages = [message for message, _announce in written]
    created = cache["new_conversations"]
    # Nothing of the batch refers to its new conversations (_inserted): their rows may come
    # after the other writes.
    creates = _inserts(Conversation, created, returning="public_id")
    inserts = _inserts(Message, messages)
    summaries = cache.pop("summaries", None)
    owed = _OwedSummaries(summaries, messages) if summaries else None
    queries = creates + inserts + ([(owed.tickets.sql, owed.tickets.params)] if owed else [])
    commit = (
        commit
        and connection.vendor == "postgresql"
        and len(connection.atomic_blocks) == 1  # a savepoint's COMMIT would end its outer block
        and not (written and hooks.any_active())
    )
    found = _run(updates, queries, commit=commit)
    _batch.committed = commit
    _set_ids(created, found[: len(creates)], by="public_id")
    _set_ids(messages, found[len(creates) : len(creates) + len(inserts)])
    for _message, announce in written:
        announce()
    if owed:
        owed.publish(found[-1])
    cache["new_messages"], cache["dirty"], cache["listeners"] = [], {}, {}
    cache["new_conversations"] = []
    cache["tracker_events"], cache["tracker_drops"] = [], []


def _inserts(model, objects: list, returning: str | None = None) -> list[tuple[str, list]]:
    """INSERTs of all the batch's new `objects` of `model` (one per few hundred), each
    returning the ids in the order of its VALUES (as Django's bulk_create also relies on),
    and with each the column `returning`, if named, to match them by instead."""
    fields = _fields(model, ("id",))
    rows = []
    for instance in objects:
        rows.append(
            [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
        )
    quote = connection.ops.quote_name
    one_row = f"({_placeholders(fields)})"
    statements = []
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        # Only our own model's column names go into the text; every value is a parameter.
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
            f"({_columns(model, ('id',))}) VALUES {', '.join([one_row] * len(chunk))} "
            f"RETURNING {quote('id')}" + (f", {quote(returning)}" if returning else "")
        )
        statements.append((sql, [value for row in chunk for value in row]))
    return statements


def _set_ids(objects: list, returned: list, by: str | None = None) -> None:
    """The ids the INSERTs returned onto the objects they inserted: in order, or matched by
    the unique field `by` (returned beside each id). A new chat's id must never be another's:
    its messages would land in that chat."""
    rows = [row for rows in returned for row in rows]
    if by is None:
        ids = [row[0] for row in rows]
    else:  # the database's form of the field (SQLite: a UUID as hex) read back as Python's
        field = type(objects[0])._meta.get_field(by) if objects else None
        id_of = {field.to_python(row[1]): row[0] for row in rows}
        ids = [id_of[getattr(instance, by)] for instance in objects]
    for instance, pk in zip(objects, ids, strict=True):
        instance.pk = pk
        instance._state.adding, instance._state.db = False, connection.alias


def _tracker_writes(added: list, drops: list) -> list[tuple[str, list]]:
    """The batch's TrackerEvents INSERTs, then the DELETEs of rows that a snapshot of the
    same batch covers (after: a turn's row may come before the snapshot that covers it)."""
    quote = connection.ops.quote_name
    table = quote(TrackerEvents._meta.db_table)
    columns = ", ".join(quote(name) for name in ("conversation_id", "version", "events"))
    writes = []
    # Only our own model's column names go into the text; every value is a parameter.
    if added:
        insert = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s)"  # noqa: S608
        writes.append((insert, [list(row) for row in added]))
    if drops:
        delete = (
            f"DELETE FROM {table} WHERE {quote('conversation_id')} = %s "  # noqa: S608
            f"AND {quote('version')} <= %s"
        )
        writes.append((delete, [list(row) for row in drops]))
    return writes


_TICKET_SUMMARY_FIELDS = ("id", "conversation", "reason", "enqueued_at")


class _OwedSummaries:
    """The consoles' summaries a batch owes, read inside its transaction before the commit
    that ends it: the chats' queues, agents and their profiles (one query each for all of
    them), the last message of a chat the batch wrote none to, and a query for the tickets
    that joins the batch's last round trip."""

    def __init__(self, conversations: dict[int, Conversation], written: list[Message]):
        from django.db.models import prefetch_related_objects

        self.conversations = conversations
        chats = list(conversations.values())
        prefetch_related_objects([c for c in chats if c.queue_id], "queue")
        prefetch_related_objects([c for c in chats if c.assigned_agent_id], "assigned_agent")
        # Profiles of every agent, also of one cached on its chat before (which a prefetch of
        # "assigned_agent__agent_profile" would pass over): read now, not after the commit.
        agents = [c.assigned_agent for c in chats if c.assigned_agent_id]
        prefetch_related_objects(agents, "agent_profile")
        self.last_message: dict[int, Message | None] = {}
        for message in written:
            known = self.last_message.get(message.conversation_id)
            if known is None or message.seq > known.seq:
                self.last_message[message.conversation_id] = message
        for pk, conversation in conversations.items():
            if pk not in self.last_message:
                self.last_message[pk] = last_message_of(conversation)
        skip = tuple(
            f.name
            for f in HandoffTicket._meta.concrete_fields
            if f.name not in _TICKET_SUMMARY_FIELDS
        )
        quote = connection.ops.quote_name
        where, params = _one_of("conversation_id", sorted(conversations))
        sql = (
            f"SELECT {_columns(HandoffTicket, skip)} "  # noqa: S608
            f"FROM {quote(HandoffTicket._meta.db_table)} "
            f"WHERE {where} ORDER BY {quote('enqueued_at')} DESC"
        )
        self.tickets = _Read(HandoffTicket, _fields(HandoffTicket, skip), sql, params)

    def publish(self, ticket_rows: list) -> None:
        from handoff_hub.realtime import publish_summary_on_commit  # realtime imports us

        latest_ticket: dict[int, HandoffTicket] = {}
        for ticket in _instances(self.tickets, ticket_rows):  # newest first
            latest_ticket.setdefault(ticket.conversation_id, ticket)
        for pk, conversation in self.conversations.items():
            summary = conversation_summary(
                conversation, latest_ticket.get(pk), self.last_message[pk]
            )
            publish_summary_on_commit(summary)


def _row_updates(
    fields: tuple[str, ...], conversations: list[Conversation], now=None
) -> tuple[str, list[list]]:
    """One parametrised UPDATE for many rows (pipelined by psycopg: one round trip), which
    also sets `updated_at` to `now` unless it is None.

    Django's bulk_update builds a CASE per field in Python, which costs more than the writes.
    """
    quote = connection.ops.quote_name
    columns = [Conversation._meta.get_field(name) for name in fields]
    assignments = [f"{quote(c.column)} = %s" for c in columns]
    if now is not None:
        assignments.append(f"{quote('updated_at')} = %s")
    table = quote(Conversation._meta.db_table)
    # Only our own model's column names go into the text; every value is a parameter.
    sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE id = %s"  # noqa: S608
    rows = []
    for conversation in conversations:
        values = [_prepared(conversation, c) for c in columns]
        if now is not None:
            conversation.updated_at = now
            values.append(connection.ops.adapt_datetimefield_value(now))
        rows.append([*values, conversation.pk])
    return sql, rows


def _prepared(conversation: Conversation, column):
    encoded = getattr(conversation, "tracker_json", None)
    if column.attname == "tracker_state" and encoded is not None:
        conversation.tracker_json = None
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb(None, dumps=lambda _unused: encoded)
        return encoded
    return column.get_db_prep_save(getattr(conversation, column.attname), connection)
