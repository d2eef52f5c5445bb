"""The SQLite write transaction of a decision log, run in a process of its own.

    python -I -S sqlite_committer.py DATABASE durable|async

Why a process: Python's sqlite3 module releases the interpreter lock around every statement step,
the file lock and the fsync, and takes it back after each. In a server worker the event loop
holds that lock almost all the time under load, so each retake waited up to a switch interval:
about ten retakes a batch made a 16-record commit take 7-10 ms instead of under 1 ms, and in
durable mode every check waits for that commit (measured with `bench.bench_http`; see
bench/README.md). Here the transaction runs without any other Python thread; the worker's writer
thread only sends the batch and reads the answer (two retakes).

Protocol on stdin/stdout, one exchange per batch, each message a 4-byte big-endian length and a
`marshal`-encoded value (only this module's parent writes to it):
    request: a list of (sql, parameters) pairs, run in one `BEGIN IMMEDIATE` transaction
    answer:  None once committed (and, in durable mode, the WAL fsynced), or (kind, message);
             kind `SyncFailed` says the transaction committed but its fsync failed (not durable)

The transaction is the one `SqliteBackend` ran in-process before: an advisory `flock` on
`<log>-writer.lock` around it (the writers of a server's workers take turns), committed with
`synchronous=NORMAL`, then in durable mode the WAL is fsynced after the write lock is released
(see `sqlite.py` for why that is as durable as `synchronous=FULL`). The folder is fsynced once,
after the first commit, so the WAL's directory entry is durable too.

It stops at the end of its input: when the parent closes it, or dies (even by SIGKILL). It
ignores SIGINT and SIGTERM, which a terminal or a service manager sends to the whole process
group: the worker it belongs to drains its queue through it before stopping.

Only the standard library: it runs with `-I -S` (no site-packages, no environment) to start fast.
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import signal
import sqlite3
import struct
import sys
from typing import IO, Any

BUSY_TIMEOUT = 10.0
SYNC_FAILED = "SyncFailed"  # the kind of answer for a commit whose fsync failed
_HEADER = struct.Struct(">I")


class SyncFailed(Exception):
    """The transaction committed, but the fsync that makes it durable failed.

    Its own kind, so the parent does not retry it as a failed transaction: on Linux a failed
    fsync is not retryable (the kernel may drop the dirty pages and reports the error once).
    """


def read_message(stream: IO[bytes]) -> Any:
    """The next message, or EOFError when the stream ends (between or within messages)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return marshal.loads(body)


def write_message(stream: IO[bytes], value: Any) -> None:
    body = marshal.dumps(value)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


class Transaction:
    """One connection, the writers' file lock, and (durable mode) the WAL to fsync."""

    def __init__(self, database: str, durable: bool) -> None:
        self.database = database
        self.durable = durable
        self.conn = sqlite3.connect(database, timeout=BUSY_TIMEOUT, isolation_level=None)
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.lock = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.wal: int | None = None

    def run(self, statements: list[tuple[str, list[Any]]]) -> None:
        conn = self.conn
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)
        if self.durable:
            try:
                self._sync_wal()
            except OSError as error:
                raise SyncFailed(f"committed, but the fsync of the WAL failed: {error}") from None

    def checkpoint(self) -> None:
        """Copy the WAL into the database file, not waiting for readers.

        The readers open the log read-only and so never checkpoint it, and the WAL is folded in
        by itself only every 1,000 pages: after a clean stop a small log was all in its -wal
        file, and a copy of the .db alone verified as an empty log. PASSIVE: another worker's
        readers must not hold up this one's stop.
        """
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)

    def _sync_wal(self) -> None:
        if self.wal is None:
            self.wal = os.open(f"{self.database}-wal", os.O_RDONLY)
            folder = os.open(os.path.dirname(os.path.abspath(self.database)), os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        os.fdatasync(self.wal)


def serve(database: str, durable: bool, requests: IO[bytes], answers: IO[bytes]) -> None:
    """Run transactions until the parent closes `requests`."""
    transaction = Transaction(database, durable)
    while True:
        try:
            statements = read_message(requests)
        except EOFError:
            transaction.checkpoint()
            return
        try:
            transaction.run(statements)
            answer: Any = None
        except Exception as error:  # the parent retries the batch (not SyncFailed) and says why
            answer = (type(error).__name__, str(error))
        try:
            write_message(answers, answer)
        except BrokenPipeError:  # the parent is gone: nobody waits for this answer
            return


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    database, mode = argv[1], argv[2]
    try:
        serve(database, mode == "durable", sys.stdin.buffer, sys.stdout.buffer)
    except (sqlite3.Error, OSError) as error:
        # Cannot open the database or the lock: the parent sees the pipe close and says so.
        print(f"replygate decision-log committer: {database}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
