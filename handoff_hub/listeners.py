"""Which hub processes listen to a conversation, so an event crosses Redis only when needed.

Each conversation row lists the processes with a live socket on it (`Conversation.listeners`):
"customer:<process>" for a widget, "watcher:<process>" for an agent who has it open. Entries
change under the row lock, like every other change of the chat, and every writer reads them
under that lock, so for any commit C and any socket S that joins on another process:

- S writes its entry (after it joined the Redis group) and only then reads the backlog;
- C either commits before the entry (and S's backlog read sees C) or after it (and C's writer
  saw the entry and publishes through Redis, where S already listens).

A new chat has no backlog: its socket joins the group of the public id it generated, and only
then is the row created, with the entry in it, so no C can precede the entry.

A process that dies leaves its entries behind: that costs later writers a publish nobody on
that process hears, never a missed event. Entries are per process, not per socket: the first
local socket of a group writes it, the last one to leave removes it.
"""

import uuid

from django.db import transaction

# This process, as named in `listeners` and on the events it publishes through Redis.
PROCESS = uuid.uuid4().hex[:12]
CUSTOMER, WATCHER = "customer", "watcher"


def key(kind: str) -> str:
    """This process's entry for sockets of `kind`."""
    return f"{kind}:{PROCESS}"


def heard_elsewhere(listeners: list[str] | None, kind: str) -> bool:
    """Does a socket of `kind` on another process listen, per a row's `listeners`?"""
    mine, prefix = key(kind), f"{kind}:"
    return any(entry != mine and entry.startswith(prefix) for entry in listeners or ())


def add(conversation_id: int, entry: str) -> None:
    """Note a process's socket on the conversation (a group-commit job)."""
    _change(conversation_id, entry, present=True)


def remove(conversation_id: int, entry: str) -> None:
    """The process's last socket on the conversation left (a group-commit job)."""
    _change(conversation_id, entry, present=False)


def _change(conversation_id: int, entry: str, present: bool) -> None:
    from handoff_hub import write_batch
    from handoff_hub.models import Conversation

    with transaction.atomic(savepoint=False):
        # The batch's locked row, so later jobs of the batch see the new list; or the row an
        # earlier job of the batch changed (its new list is not written until the flush).
        conversation = (
            write_batch.locked_conversation(conversation_id)
            or write_batch.listeners_changed(conversation_id)
            or Conversation.objects.select_for_update()
            .only("listeners")
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None:
            return  # deleted meanwhile: nobody to tell
        current = list(conversation.listeners or [])
        if (entry in current) == present:
            return
        current = [*current, entry] if present else [e for e in current if e != entry]
        conversation.listeners = current
        write_batch.save_listeners(conversation)
