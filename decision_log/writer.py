"""The bounded background writer: decisions are queued in microseconds and written in batches.

    submit() -> bounded queue -> writer thread: redact, serialise, chain, one transaction a batch

The queue is the only thing a check waits for. When it is full, `submit` waits up to
`block_timeout` for room and then raises `LogFull`; the API answers 503 (fail closed): a
decision that cannot be logged is not given. Nothing is dropped silently: every refusal is
counted and logged. A failing database is retried with backoff, batch intact, while the queue
fills up; a commit whose outcome is unknown (the connection broke during COMMIT) is resolved by
looking the batch up before trying again, so no record is stored twice or lost.

Durable means on stable storage, not merely committed: a batch found stored after an unknown
outcome is acknowledged only once the backend has made it durable (`make_durable`). A commit
whose fsync failed (`NotDurable`) is never retried into a success: its records fail, and the
writer acknowledges nothing from then on (see `_not_durable`).

After the first record of a batch the writer waits up to `flush_interval` for the batch to fill
(fewer, larger transactions under moderate load); `flush` and `close` cut that wait short.

Durable acknowledgement (group commit): a record may carry an `ack` (an event loop and a future,
set by `DecisionLog.log`). The writer takes whatever is queued (no fill wait in durable mode),
commits it in one transaction, then wakes every waiting request of the batch with one
`call_soon_threadsafe` per event loop. Requests that arrive during a commit form the next batch,
so under load many requests share one commit (one fsync) instead of paying one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
import time
from collections import deque
from typing import Any

from replygate.decision_log.backend import NotDurable, SqlBackend
from replygate.decision_log.chain import (
    GENESIS,
    Chain,
    Prepared,
    canonical,
    parse_json,
    parse_request,
    storable,
    storable_without_floats,
)
from replygate.decision_log.records import (
    Checked,
    DecisionRecord,
    LogClosed,
    LogFailed,
    LogFull,
    actor_of,
    format_time,
    outcome_of,
)
from replygate.decision_log.redaction import Redactor

__all__ = ["BatchWriter", "prepare"]

log = logging.getLogger("replygate.decision_log")

FIRST_RETRY = 0.05
LAST_RETRY = 2.0
WARN_EVERY = 1.0  # seconds between two warnings of the same kind
ABANDON_GRACE = 1.0  # after close() gives up: time for a writer in backoff to notice
YIELD_EVERY = 32  # records prepared between two offers of the interpreter to other threads


Queued = DecisionRecord | Checked


@functools.lru_cache(maxsize=64)
def _redacted_json(redacted: tuple[str, ...]) -> str:
    # A handful of distinct lists (which rules applied): encode each once.
    return canonical(list(redacted))


def prepare(record: Queued, redactor: Redactor) -> Prepared:
    """Redact and serialise a record: everything it needs before it gets its chain position."""
    if isinstance(record, Checked):
        request, serialise = parse_request(record.request)
        # A decision holds no float (tests/test_decision_log_fast_json.py), so the fast encoder.
        decision, serialise_decision = parse_json(record.decision_json), storable_without_floats
    else:
        request, decision = record.request, record.decision
        serialise = serialise_decision = storable
    if request.get("at") is None:
        # A replay decides the request as of its original time.
        request = {**request, "at": format_time(record.time)}
    redacted: list[str] = []
    if redactor:
        request, redacted = redactor.apply(request)
    latency = float(record.latency_ms)
    return Prepared(
        decision_id=record.decision_id,
        time=format_time(record.time),
        when=record.time,
        client=record.client,
        request_json=serialise(request),
        decision_json=serialise_decision(decision),
        commit=record.commit,
        ref=record.ref,
        latency_ms=latency if math.isfinite(latency) else 0.0,
        redacted_json=_redacted_json(tuple(redacted)),
        actor=actor_of(request),
        outcome=outcome_of(decision),
        rules=SqlBackend.rules_of(decision),
    )


Ack = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _acknowledge(batch: list[Queued], failed: dict[str, BaseException]) -> None:
    """Wake the requests waiting for these records: one call into each event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, BaseException | None]]] = {}
    for record in batch:
        if isinstance(record, Checked) and record.ack is not None:
            loop, future = record.ack
            by_loop.setdefault(loop, []).append((future, failed.get(record.decision_id)))
    for loop, waiting in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, waiting)


def _resolve(waiting: list[tuple[Any, BaseException | None]]) -> None:
    for future, error in waiting:
        if future.done():  # the request gave up waiting (timeout, client gone)
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class _Throttled:
    """A warning at most once per `WARN_EVERY` seconds, saying how many were held back."""

    def __init__(self) -> None:
        self._last = 0.0
        self._held = 0
        self._lock = threading.Lock()

    def warn(self, message: str, *args: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < WARN_EVERY:
                self._held += 1
                return
            held, self._held, self._last = self._held, 0, now
        suffix = f" ({held} more since the last warning)" if held else ""
        log.warning(message + suffix, *args)


class _Queue:
    """A bounded FIFO for one consumer that can be told to hurry (flush) or to finish (close)."""

    def __init__(self, size: int, batch_size: int) -> None:
        self.size = size
        self.batch_size = batch_size
        self._items: deque[Queued] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._batch_ready = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self.accepted = 0
        self.refused = 0
        self.closing = False
        self._hurry = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Queued, timeout: float) -> bool:
        """Append, waiting up to `timeout` for room; False when there was none."""
        with self._lock:
            if self.closing:
                raise LogClosed("the decision log is closed: no more decisions can be logged")
            if len(self._items) >= self.size:
                deadline = time.monotonic() + timeout
                while len(self._items) >= self.size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self.refused += 1
                        return False
                    self._not_full.wait(remaining)
                    if self.closing:
                        raise LogClosed(
                            "the decision log is closed: no more decisions can be logged"
                        )
            self._items.append(item)
            self.accepted += 1
            depth = len(self._items)
            if depth == 1:
                self._not_empty.notify()
            elif depth >= self.batch_size:
                self._batch_ready.notify()
            return True

    def take(self, fill_wait: float) -> list[Queued] | None:
        """The next batch (waiting for a first item); None once closed and empty."""
        with self._lock:
            while not self._items:
                if self.closing:
                    return None
                self._not_empty.wait()
            if len(self._items) < self.batch_size and fill_wait > 0:
                deadline = time.monotonic() + fill_wait
                while len(self._items) < self.batch_size and not (self.closing or self._hurry):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._batch_ready.wait(remaining)
            count = min(self.batch_size, len(self._items))
            batch = [self._items.popleft() for _ in range(count)]
            if not self._items:
                self._hurry = False
            self._not_full.notify(count)
            return batch

    def hurry(self) -> int:
        """Write what is queued without waiting for a full batch; the count accepted so far."""
        with self._lock:
            self._hurry = True
            self._batch_ready.notify()
            return self.accepted

    def close(self) -> None:
        """Accept nothing more; the consumer drains what is queued, then stops."""
        with self._lock:
            self.closing = True
            self._not_empty.notify_all()
            self._batch_ready.notify_all()
            self._not_full.notify_all()


class BatchWriter:
    """One writer thread, one chain (`writer_id`), one bounded queue."""

    def __init__(
        self,
        backend: SqlBackend,
        writer_id: str,
        redactor: Redactor,
        *,
        queue_size: int,
        batch_size: int,
        flush_interval: float,
        block_timeout: float,
        key: bytes | None = None,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError("queue_size and batch_size must be at least 1")
        self.backend = backend
        self.writer_id = writer_id
        self.redactor = redactor
        self.block_timeout = block_timeout
        self.flush_interval = flush_interval
        self._queue = _Queue(queue_size, batch_size)
        seq, head = backend.chain_head(writer_id) or (0, GENESIS)
        self._chain = Chain(writer_id, seq, head, key)
        self._done = threading.Condition()
        self._settled = 0  # records the writer is finished with: written or given up on
        self._written = 0
        self._batches = 0
        self._write_errors = 0
        self._failing_writes = 0  # failed attempts since the last write that succeeded
        self._unwritable = 0
        self._abandon = threading.Event()
        # Why durable writing stopped (a failed fsync), or None while it works.
        self._broken: str | None = None
        self._full_warning = _Throttled()
        self._error_warning = _Throttled()
        self._thread = threading.Thread(
            target=self._run, name=f"decision-log-writer-{writer_id}", daemon=True
        )
        self._thread.start()

    # ---- the caller's side -----------------------------------------------------------------
    def submit(self, record: Queued) -> None:
        """Queue a record; LogFull when there is no room within `block_timeout`."""
        if not self._queue.put(record, self.block_timeout):
            self._full_warning.warn(
                "decision log queue full (%d waiting): a check was refused (fail closed)",
                self._queue.size,
            )
            raise LogFull(
                f"the decision log queue is full ({self._queue.size} records waiting for the "
                "database)"
            )

    def flush(self, timeout: float) -> bool:
        """Wait until every record submitted so far is written; False on timeout."""
        target = self._queue.hurry()
        with self._done:
            return self._done.wait_for(lambda: self._settled >= target, timeout)

    def close(self, timeout: float) -> bool:
        """Stop accepting, write what is queued, stop; False if records had to be abandoned."""
        self._queue.close()
        self._thread.join(timeout)
        drained = not self._thread.is_alive()
        if not drained:
            self._abandon.set()
            self._thread.join(ABANDON_GRACE)
            lost = self._queue.accepted - self._settled
            log.error(
                "decision log %s: %d decisions could not be written within %.1f s and are lost",
                self.backend.where,
                lost,
                timeout,
            )
        self.backend.close()
        return drained

    @property
    def queue_size(self) -> int:
        """How many records the queue holds at most."""
        return self._queue.size

    @property
    def failure(self) -> str | None:
        """Why this writer acknowledges nothing any more (a failed fsync), or None."""
        return self._broken

    @property
    def queue_depth(self) -> int:
        """Records accepted but not yet written: queued, or in a batch being written."""
        return self._queue.accepted - self._settled

    @property
    def stats(self) -> dict[str, int]:
        """Counts since the log opened: submitted, written, rejected_full, batches, write_errors."""
        return {
            "submitted": self._queue.accepted,
            "written": self._written,
            "rejected_full": self._queue.refused,
            "batches": self._batches,
            "write_errors": self._write_errors,
            "failing_writes": self._failing_writes,
            "unwritable": self._unwritable,
            "queue_depth": self.queue_depth,
        }

    # ---- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._abandon.is_set():
            batch = self._queue.take(self.flush_interval)
            if batch is None:
                return
            try:
                self._write(batch)
            except Exception:  # a bug here must not stop the log: say so, keep going
                log.exception("decision log writer: unexpected failure on a batch")
                self._write_errors += 1
                self._settle(len(batch), 0)
                error = LogFailed("the decision log could not write this decision")
                _acknowledge(batch, {record.decision_id: error for record in batch})

    def _write(self, batch: list[Queued]) -> None:
        pending: list[Prepared] = []
        seen: set[str] = set()
        given_up = 0
        failed: dict[str, BaseException] = {}
        for index, record in enumerate(batch, 1):
            if index % YIELD_EVERY == 0:
                # Let the decisions run: otherwise this thread keeps the interpreter for up
                # to a whole switch interval (5 ms), which a check's latency would show.
                time.sleep(0)
            try:
                item = prepare(record, self.redactor)
            except Exception:
                log.exception("decision log: cannot serialise decision %s", record.decision_id)
                self._unwritable += 1
                given_up += 1
                failed[record.decision_id] = LogFailed("this decision cannot be serialised")
                continue
            if item.decision_id in seen:
                log.error("decision log: decision %s was submitted twice", item.decision_id)
                given_up += 1
                continue
            seen.add(item.decision_id)
            pending.append(item)
        written = 0
        delay = FIRST_RETRY
        if pending and self._broken is not None:
            self._refuse(pending, failed)
            given_up += len(pending)
            pending = []
        while pending:
            rows = self._chain.link(pending)
            try:
                self.backend.insert(rows)
            except NotDurable as error:
                # Committed, so stored and in the chain, but not known to be on disk: failed,
                # never retried (a second fsync may succeed without the data being there).
                self._write_errors += 1
                self._chain.advance(rows)
                written += len(rows)
                self._not_durable(str(error), pending, failed)
                break
            except Exception as error:
                self._write_errors += 1
                self._failing_writes += 1
                self._error_warning.warn(
                    "decision log %s: writing %d records failed, retrying: %s",
                    self.backend.where,
                    len(rows),
                    str(error).strip().split("\n", 1)[0] or type(error).__name__,
                )
                if self._abandon.wait(delay):
                    error = LogFailed("the decision log is closing with this decision unwritten")
                    failed.update((item.decision_id, error) for item in pending)
                    _acknowledge(batch, failed)
                    return
                delay = min(delay * 2, LAST_RETRY)
                pending, stored = self._resync(pending)
                written += len(stored)
                if stored:
                    try:
                        # Found committed, but the commit may never have been fsynced.
                        self.backend.make_durable()
                    except NotDurable as failure:
                        self._not_durable(str(failure), stored, failed)
                        if pending:
                            self._refuse(pending, failed)
                            given_up += len(pending)
                        break
                continue
            self._chain.advance(rows)
            written += len(rows)
            self._batches += 1
            break
        self._settle(written + given_up, written)
        _acknowledge(batch, failed)

    def _not_durable(
        self, reason: str, items: list[Prepared], failed: dict[str, BaseException]
    ) -> None:
        """A commit that cannot be made durable: fail its records, acknowledge nothing more.

        After a failed fsync the stored pages may be lost while later commits (appended to the
        same WAL) sync fine, and recovery stops at the first lost frame: no later commit can
        be said to be on disk either. So this writer refuses every record from now on (the API
        answers 503) until the log is opened again, as PostgreSQL stops on a failed fsync.
        """
        error = LogFailed("the decision log could not make this decision durable")
        failed.update((item.decision_id, error) for item in items)
        if self._broken is None:
            self._broken = reason
            log.error(
                "decision log %s: %s; no decision is acknowledged any more until the log is "
                "opened again (restart the server once the storage is fixed)",
                self.backend.where,
                reason,
            )

    def _refuse(self, items: list[Prepared], failed: dict[str, BaseException]) -> None:
        """Records not written because durable writing has stopped (a failed fsync)."""
        error = LogFailed(f"the decision log cannot make decisions durable: {self._broken}")
        failed.update((item.decision_id, error) for item in items)
        self._write_errors += 1  # the operators' counter keeps rising while this lasts
        self._error_warning.warn(
            "decision log %s: %d records refused: %s", self.backend.where, len(items), self._broken
        )

    def _resync(self, pending: list[Prepared]) -> tuple[list[Prepared], list[Prepared]]:
        """After a failed write: drop what is in fact stored, take the chain head from the log.

        The commit may have succeeded before the connection broke, or another process may be
        writing under the same `writer_id`; in both cases the database knows the truth.
        """
        try:
            stored = self.backend.existing([item.decision_id for item in pending])
            head = self.backend.chain_head(self.writer_id)
        except Exception as error:
            log.debug("decision log: cannot look the batch up yet: %s", error)
            return pending, []
        self._chain.seq, self._chain.head = head or (0, GENESIS)
        if not stored:
            return pending, []
        return (
            [item for item in pending if item.decision_id not in stored],
            [item for item in pending if item.decision_id in stored],
        )

    def _settle(self, settled: int, written: int) -> None:
        with self._done:
            self._settled += settled
            self._written += written
            if written:
                self._failing_writes = 0
            self._done.notify_all()
