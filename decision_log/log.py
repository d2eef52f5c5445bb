"""`open_decision_log(url)`: the decision log a server process writes to and audits read from.

Two acknowledgement modes (`ack`):
- `durable` (the server's default): `await log.log(record)` returns only once the record is
  committed to stable storage; concurrent requests share one commit (group commit).
- `async`: `log.log` returns once the record is queued; the writer commits it within about
  `flush_interval`. A crash of the process loses what was queued and not yet committed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import ParamSpec, TypeVar

from replygate.decision_log.backend import Filters, RawRow, SqlBackend, UnreadableRow
from replygate.decision_log.chain import is_keyed
from replygate.decision_log.keys import fingerprint
from replygate.decision_log.records import (
    Checked,
    DecisionLogError,
    DecisionRecord,
    LogFailed,
)
from replygate.decision_log.redaction import Redactor
from replygate.decision_log.writer import BatchWriter

__all__ = ["ACK_MODES", "DecisionLog", "new_writer_id", "open_backend", "open_decision_log"]

ACK_MODES = ("durable", "async")
# Above this share of the queue a submit may block, so `log` leaves the event loop for it.
QUEUE_HEADROOM = 0.9

log = logging.getLogger("replygate.decision_log")

_P = ParamSpec("_P")
_T = TypeVar("_T")
SCHEMES = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def new_writer_id() -> str:
    """hostname-pid-random: unique per process, readable in an audit."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def open_backend(url: str, *, readonly: bool) -> SqlBackend:
    """The backend for a decision-log URL; ValueError for a URL of no known kind."""
    if url.startswith("sqlite:"):
        from replygate.decision_log.sqlite import SqliteBackend

        return SqliteBackend(url, readonly=readonly)
    if url.startswith(("postgresql://", "postgres://")):
        from replygate.decision_log.postgres import PostgresBackend

        return PostgresBackend(url, readonly=readonly)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ValueError(f"decision log URL: unknown kind '{scheme}'; use {SCHEMES}")


def open_decision_log(
    url: str,
    *,
    queue_size: int = 10_000,
    batch_size: int = 500,
    flush_interval: float = 0.05,
    block_timeout: float = 0.1,
    redact: Mapping[str, str] | None = None,
    writer_id: str | None = None,
    ack: str = "async",
    ack_timeout: float = 10.0,
    key: bytes | None = None,
) -> DecisionLog:
    """Open (creating or migrating the schema) the decision log at `url` and start its writer.

    `ack` is `durable` or `async` (see the module's docstring); in durable mode the writer does
    not wait for batches to fill. `key` makes every chain hash an HMAC under it (keys.py).
    Raises ValueError for a bad URL, redaction rule or mode, DecisionLogError when the database
    cannot be reached or set up.
    """
    if ack not in ACK_MODES:
        raise ValueError(f"log ack mode '{ack}': use durable or async")
    redactor = Redactor(redact)
    backend = open_backend(url, readonly=False)
    backend.durable = ack == "durable"
    if backend.durable:
        flush_interval = 0.0  # group commit: whatever is queued goes in the next transaction
    try:
        backend.migrate()
        writer = BatchWriter(
            backend,
            chain_for(backend, writer_id, key) if writer_id else new_writer_id(),
            redactor,
            queue_size=queue_size,
            batch_size=batch_size,
            flush_interval=flush_interval,
            block_timeout=block_timeout,
            key=key,
        )
    except backend.driver_errors as error:
        backend.close()
        raise DecisionLogError(f"cannot open the decision log {backend.where}: {error}") from None
    except BaseException:
        backend.close()
        raise
    return DecisionLog(backend, writer, durable=backend.durable, ack_timeout=ack_timeout)


def chain_for(backend: SqlBackend, writer_id: str, key: bytes | None) -> str:
    """The chain a fixed `writer_id` writes to: its own, unless that was written with another key.

    A chain has one key (or none) from its first record to its last: verify checks each record
    under the key its chain was written with, so a chain continued under another key would fail
    for ever although nobody tampered. When the head of `writer_id` is of the other kind
    (keyed or not), or its HMAC does not verify under `key`, this process starts the chain
    `writer_id+key-<fingerprint>` (`writer_id+unkeyed` without a key) instead, and continues
    it the next time it is opened with the same key. DecisionLogError when that chain cannot
    be continued either (its head altered).
    """
    suffix = f"key-{fingerprint(key)}" if key is not None else "unkeyed"
    for candidate in (writer_id, f"{writer_id}+{suffix}"):
        try:
            head = backend.head(candidate)
        except UnreadableRow:
            head, unreadable = None, True
        else:
            unreadable = False
        if not unreadable and (head is None or _continues(head, key)):
            if candidate != writer_id:
                # Say it loudly once, when the new chain starts; quietly when it continues.
                log.log(
                    logging.WARNING if head is None else logging.INFO,
                    "decision log %s: chain %s was written with another log key (or none); "
                    "this process writes chain %s",
                    backend.where,
                    writer_id,
                    candidate,
                )
            return candidate
    raise DecisionLogError(
        f"the decision log {backend.where}: neither chain {writer_id} nor {candidate} can be "
        f"continued {'under this log key' if key is not None else 'without a log key'}: their "
        "last records were written with another key or altered (`replygate audit verify` says "
        "which); give another writer id"
    )


def _continues(head: RawRow, key: bytes | None) -> bool:
    """Whether a chain whose last record is `head` was written with `key` (None: no key)."""
    if not is_keyed(head.hash):
        return key is None
    if key is None:
        return False
    try:
        texts = head.hashed_texts()
        return head.digest(texts, key) == head.hash and head.texts in (None, texts)
    except (ValueError, TypeError, RecursionError):  # content that cannot be hashed: altered
        return False


class AckDeadlines:
    """Fails the durable acknowledgements of one event loop not given within `timeout`.

    One timer for all waiting checks instead of one each (`asyncio.timeout` schedules and
    cancels a timer per check: measured at about a tenth of a durable check's CPU). Checks wait
    in arrival order with the same timeout, so the oldest waiting one is the next to expire; the
    timer also fires every `SWEEP_SECONDS` to let go of the answered ones.
    """

    SWEEP_SECONDS = 0.5

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, message: str) -> None:
        self._loop = loop
        self._timeout = timeout
        self._message = message
        self._waiting: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def serves(self, loop: asyncio.AbstractEventLoop, timeout: float) -> bool:
        """Whether these deadlines are those of `loop` with `timeout`."""
        return self._loop is loop and self._timeout == timeout

    def watch(self, future: asyncio.Future[None]) -> None:
        """Fail `future` with LogFailed unless it is done within the timeout from now."""
        deadline = self._loop.time() + self._timeout
        self._waiting.append((deadline, future))
        if self._timer is None:
            self._schedule(deadline)

    def _schedule(self, deadline: float) -> None:
        wake = min(deadline, self._loop.time() + self.SWEEP_SECONDS)
        self._timer = self._loop.call_at(wake, self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time()
        waiting = self._waiting
        while waiting:
            deadline, future = waiting[0]
            if not future.done():
                if deadline > now:
                    break
                future.set_exception(LogFailed(self._message))
            waiting.popleft()
        if waiting:
            self._schedule(waiting[0][0])


class DecisionLog:
    """Submit decisions (never blocking for long), query the audit trail, drain on close."""

    def __init__(
        self,
        backend: SqlBackend,
        writer: BatchWriter,
        *,
        durable: bool = False,
        ack_timeout: float = 10.0,
    ) -> None:
        self._backend = backend
        self._writer = writer
        self.durable = durable
        self.ack_timeout = ack_timeout
        self._submit_directly_below = int(writer.queue_size * QUEUE_HEADROOM)
        self._ack_deadlines: AckDeadlines | None = None

    @property
    def ack(self) -> str:
        """`durable` or `async`: when `log` returns."""
        return "durable" if self.durable else "async"

    async def log(self, record: Checked) -> None:
        """Hand an answered check to the log, from an event loop, without blocking it.

        Async mode: returns once the record is queued. Durable mode: returns once it is
        committed (group commit with whatever else is waiting). Raises LogFull when the queue
        stays full, LogClosed when the log is stopping, LogFailed when the commit did not
        happen within `ack_timeout` (the database is down): in every case the check must not
        be answered.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] | None = None
        if self.durable:
            future = loop.create_future()
            record.ack = (loop, future)
        if self._writer.queue_depth < self._submit_directly_below:
            self._writer.submit(record)
        else:
            # Near full, submit may block briefly: keep the event loop free meanwhile.
            await loop.run_in_executor(None, self._writer.submit, record)
        if future is not None:
            # Only once queued: a refused record's future is never failed nor awaited.
            self._deadlines(loop).watch(future)
            await future

    def _deadlines(self, loop: asyncio.AbstractEventLoop) -> AckDeadlines:
        # One event loop per server process: a new one (a test's asyncio.run) or a changed
        # ack_timeout starts afresh; the previous one's timer still serves its own waiters.
        deadlines = self._ack_deadlines
        if deadlines is None or not deadlines.serves(loop, self.ack_timeout):
            message = f"the decision log {self.where} did not commit within {self.ack_timeout:g} s"
            deadlines = self._ack_deadlines = AckDeadlines(loop, self.ack_timeout, message)
        return deadlines

    @property
    def where(self) -> str:
        """The log's location, without secrets."""
        return self._backend.where

    @property
    def writer_id(self) -> str:
        """The id of this process's hash chain."""
        return self._writer.writer_id

    def submit(self, record: DecisionRecord | Checked) -> None:
        """Queue a record for writing; LogFull if the queue stays full for `block_timeout`."""
        self._writer.submit(record)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is written; False if that took too long."""
        return self._writer.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new records, write every queued one (up to `timeout`), close the database."""
        self._writer.close(timeout)

    @property
    def failure(self) -> str | None:
        """Why no decision can be logged until the log is opened again (a failed fsync), or None."""
        return self._writer.failure

    @property
    def queue_depth(self) -> int:
        """Records accepted but not yet written (queued, or in the batch being written)."""
        return self._writer.queue_depth

    @property
    def stats(self) -> dict[str, int]:
        """submitted, written, rejected_full, batches, write_errors (and unwritable, queue_depth)."""
        return self._writer.stats

    def query(
        self,
        *,
        actor: str | None = None,
        outcome: str | None = None,
        rule: str | None = None,
        commit: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        client: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[DecisionRecord], str | None]:
        """Stored decisions, last committed first, filtered; and the cursor of the next page (or None).

        `rule` matches a decision when any of its reasons names that rule; `commit` takes a full
        or abbreviated sha. ValueError for a naive time or a cursor this log did not give out.
        """
        for name, value in (("since", since), ("until", until)):
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise ValueError(f"{name}: needs a time-zone offset")
        filters = Filters(actor, outcome, rule, commit, client, since, until)
        return self._read(self._backend.query, filters, limit, cursor)

    def get(self, decision_id: str) -> DecisionRecord | None:
        """One stored decision by id (None if unknown or still queued)."""
        return self._read(self._backend.get, decision_id)

    def count(self) -> int:
        """How many decisions are stored."""
        return self._read(self._backend.count)

    def _read(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return call(*args, **kwargs)
        except self._backend.driver_errors as error:
            raise DecisionLogError(f"cannot read the decision log {self.where}: {error}") from None

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
