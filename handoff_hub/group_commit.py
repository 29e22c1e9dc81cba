"""Group commit: the WebSocket message path's writes, many per transaction.

Every consumer of a process hands its writes (store a customer message, apply a bot turn) to
one writer thread. The writer takes whatever is queued when it becomes free and runs it in ONE
transaction: one commit — one WAL flush on PostgreSQL, one write lock on SQLite — for all of
them, instead of one each. Under load, batches grow by themselves; when idle, a write runs at
once in a batch of one, so nothing waits for a timer.

Guarantees are those of the single writes: a job's result is handed back only after its batch
committed (so acks still follow storage); events are published on commit; jobs of one
conversation run in submission order, and rows are locked in conversation order so two
processes' batches never deadlock. If a batch fails, each job is retried alone, so one bad job
(or a database that went away) fails only itself, with its own error.
"""

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from handoff_hub import connection_upkeep, realtime, write_batch

logger = logging.getLogger(__name__)
MAX_BATCH = 64
_STOP = None  # in the job queue: the writer ends after the batch it is taking


@dataclass
class Job:
    function: Callable[..., Any]
    args: tuple
    order_key: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    result: Any = None
    error: BaseException | None = None
    client_id: str | None = None


class GroupCommitter:
    def __init__(self, max_batch: int = MAX_BATCH):
        self.max_batch = max_batch
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.batches = 0
        self.jobs_done = 0

    def submit(
        self,
        function: Callable[..., Any],
        *args,
        order_key: int = 0,
        client_id: str | None = None,
    ) -> asyncio.Future:
        """Queue `function(*args)` for the next batch; await the returned future for its result.

        `function` runs inside the batch's transaction and must not open its own savepoints
        (use `transaction.atomic(savepoint=False)`); `order_key` is the conversation the job
        writes (its row is locked with the batch's, in id order) and `client_id` a message id
        it looks up (read with the batch's).
        """
        loop = asyncio.get_running_loop()
        job = Job(function, args, order_key, loop, loop.create_future(), client_id=client_id)
        self._queue(job)
        return job.future

    def submit_from_thread(
        self,
        function: Callable[..., Any],
        *args,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future,
        order_key: int = 0,
    ) -> None:
        """`submit` for a worker thread: the batch's hand-back resolves `future` on `loop`.

        An engine thread queues its turn's commit itself, so the loop is woken once, with the
        committed result, instead of once for the computed turn and once more for its commit.
        """
        self._queue(Job(function, args, order_key, loop, future))

    def _queue(self, job: Job) -> None:
        self.jobs.put(job)
        self._ensure_thread()  # after the put: see _may_stop

    def stop(self, timeout: float = 10.0) -> bool:
        """End the writer after the batch it is running and close its database connection
        (at shutdown, so no connection outlives the process's work). The next submit starts
        a new writer. True if the writer ended within `timeout` seconds."""
        thread = self.thread
        if thread is None or not thread.is_alive():
            return True
        self.jobs.put(_STOP)
        thread.join(timeout)
        return not thread.is_alive()

    def _ensure_thread(self) -> None:
        thread = self.thread
        if thread is not None and thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                batch, stopping = self._take_batch()
                if batch:
                    self._commit(batch)
                if stopping and self._may_stop():
                    return
        finally:
            connection.close()

    def _take_batch(self) -> tuple[list[Job], bool]:
        """What is queued (up to max_batch jobs), waiting for the first; and whether a stop
        was asked for."""
        first = self.jobs.get()
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return batch, True
            batch.append(job)
        return batch, False

    def _may_stop(self) -> bool:
        """Stop unless jobs came meanwhile. `thread` is cleared before the queue is checked:
        a job put after the check finds no writer and its submit starts one."""
        with self.lock:
            self.thread = None
            if self.jobs.empty():
                return True
            self.thread = threading.current_thread()
            return False

    def _commit(self, batch: list[Job]) -> None:
        with realtime.collecting() as events:
            try:
                self._run_batch(batch)
            except BaseException:  # noqa: BLE001 - the writer thread must survive anything
                logger.exception("Group commit failed unexpectedly")
                for job in batch:
                    if job.error is None and job.result is None:
                        job.error = RuntimeError("write failed")
        connection_upkeep.tidy()
        _hand_back(batch, events)

    def _run_batch(self, batch: list[Job]) -> None:
        # Stable sort: one conversation's jobs keep their order; locks are taken by id.
        ordered = sorted(batch, key=lambda job: job.order_key)
        try:
            _run_in_transaction(ordered)
            self.batches += 1
            self.jobs_done += len(batch)
            return
        except Exception as error:  # noqa: BLE001 - retried one by one below
            logger.info("Batch of %s failed (%s); retrying each alone", len(batch), error)
            self._reset_connection()
        for job in ordered:
            job.result = job.error = None
            try:
                _run_in_transaction([job])
                self.batches += 1
                self.jobs_done += 1
            except Exception as error:  # noqa: BLE001 - handed to the waiting consumer
                job.error = error
                self._reset_connection()

    def _reset_connection(self) -> None:
        # A database that went away leaves a broken connection; the next batch reconnects.
        try:
            if connection.in_atomic_block:
                return
            connection.close_if_unusable_or_obsolete()
            if not connection.is_usable():
                connection.close()
        except Exception:  # noqa: BLE001
            connection.close()


def _run_in_transaction(jobs: list[Job]) -> None:
    try:
        with write_batch.batch(), transaction.atomic():
            write_batch.prepare(
                [job.order_key for job in jobs if job.order_key],
                [(job.order_key, job.client_id) for job in jobs if job.client_id],
            )
            for job in jobs:
                job.result = job.function(*job.args)
            write_batch.flush(commit=True)
    except Exception:
        if not write_batch.committed_by_flush():
            raise
        # Its writes are in: running its jobs again would store them twice. What failed came
        # after the commit (its live events are lost; clients catch up by replay).
        logger.exception("Batch of %s failed after its commit", len(jobs))


def _hand_back(batch: list[Job], events: list) -> None:
    """The batch's events, then its results, to the loop(s): one wake-up for the whole batch
    where one loop serves everything (the usual case), instead of one per event and job."""
    served = realtime.served_loop()
    mine = [job for job in batch if job.loop is served]
    others = [job for job in batch if job.loop is not served]
    if not realtime.hand_over(events, lambda: _resolve_all(mine)):
        others = batch
    for job in others:
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits for it
            job.loop.call_soon_threadsafe(_resolve, job)


def _resolve_all(jobs: list[Job]) -> None:
    for job in jobs:
        _resolve(job)


def _resolve(job: Job) -> None:
    if job.future.done():  # cancelled, or a turn its socket gave up on (PendingTurn.expire)
        return
    if job.error is not None:
        job.future.set_exception(job.error)
    else:
        job.future.set_result(job.result)


_committer = GroupCommitter()


def submit(
    function: Callable[..., Any], *args, order_key: int = 0, client_id: str | None = None
) -> asyncio.Future:
    """Run `function(*args)` in this process's next group commit (see GroupCommitter.submit)."""
    return _committer.submit(function, *args, order_key=order_key, client_id=client_id)


def submit_from_thread(
    function: Callable[..., Any],
    *args,
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future,
    order_key: int = 0,
) -> None:
    """Queue a job from a worker thread (see GroupCommitter.submit_from_thread)."""
    _committer.submit_from_thread(function, *args, loop=loop, future=future, order_key=order_key)


def stop(timeout: float = 10.0) -> bool:
    """End this process's writer and close its connection (see GroupCommitter.stop)."""
    return _committer.stop(timeout)


def stats() -> tuple[int, int]:
    """(batches committed, jobs in them) since the process started."""
    return _committer.batches, _committer.jobs_done
