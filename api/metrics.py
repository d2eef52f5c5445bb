"""Prometheus metrics: decisions by outcome, check latency, policy loads, the decision log.

With one worker the metrics live in memory. With several, a scrape reaches one worker chosen by
the kernel, so per-worker scraping would report a random worker each time; the server therefore
runs prometheus-client's multiprocess mode instead: `replygate serve --workers N` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh temporary folder before the workers start, each worker
writes its values to memory-mapped files there, and any worker's `/metrics` sums them all.

Counters that belong to other components (decision-log writes and rejections, policy loads) are
carried over as deltas by `refresh`, which each worker runs once a second and before a scrape.

A worker that exits cleanly removes its live gauges (`process_exited`); one that dies uncleanly
(SIGKILL, the OOM killer, the supervisor replacing a hung worker) leaves them, and they would be
summed into every later scrape (a queue depth stuck, `replygate_policy_ready 0`). So each scrape
first forgets the live gauges of every worker whose process is gone (`forget_dead_workers`).
Counters and histograms of dead workers stay: what they counted did happen.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

OUTCOMES = ("allow", "deny", "escalate", "approval_required")
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
_LOG_STATS = ("written", "rejected_full", "write_errors", "batches")


# prometheus-client's file of a live gauge: gauge_livesum_1234.db, gauge_livemin_1234.db, ...
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, when the server runs several workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def forget_dead_workers(directory: str) -> list[int]:
    """Drop the live gauges of workers that are gone; the pids whose gauges were dropped.

    A pid counts as a live worker when a process with it exists, is not a zombie, and shares
    this worker's parent (the supervisor): a pid the kernel gave to an unrelated process since
    the worker died is not mistaken for the worker.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    pids = {int(found[1]) for name in names if (found := _LIVE_GAUGE_FILE.fullmatch(name))}
    gone = sorted(pid for pid in pids if pid != os.getpid() and not _is_sibling(pid))
    for pid in gone:
        with contextlib.suppress(FileNotFoundError):  # another worker's scrape was first
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    return gone


def _is_sibling(pid: int) -> bool:
    """True when `pid` is a running process with this process's parent."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: the pid was reused
        return False
    except OSError:
        return True  # cannot tell: keep its gauges rather than drop a live worker's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return False  # exited in between
    except OSError:
        return True  # no /proc (not Linux): the process exists, take it for the worker
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last.
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 2:
        return True
    state, parent = fields[0], fields[1]
    return state not in ("Z", "X") and parent == str(os.getppid())


class _Log(Protocol):
    @property
    def queue_depth(self) -> int: ...

    @property
    def stats(self) -> dict[str, int]: ...


class _Source(Protocol):
    def load_counts(self) -> tuple[int, int]: ...

    def is_ready(self) -> bool: ...

    def loaded_timestamp(self) -> float | None: ...


class Metrics:
    """The server's metrics; one instance per app (tests build many apps in one process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        # In multiprocess mode values live in files and the scrape builds its own registry.
        registry = None if self.multiprocess else CollectorRegistry()
        self.registry = registry
        self.decisions = Counter(
            "replygate_decisions",
            "Decisions answered, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "replygate_check_duration_seconds",
            "Time to answer one check: parse, decide, log (seconds).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.policy_loads = Counter(
            "replygate_policy_loads", "Policy versions compiled and swapped in.", registry=registry
        )
        self.policy_failures = Counter(
            "replygate_policy_load_failures",
            "Polls whose policy could not be loaded: a commit that does not compile, a ref that "
            "vanished, a failed fetch (the last good one kept serving).",
            registry=registry,
        )
        self.policy_ready = Gauge(
            "replygate_policy_ready",
            "1 when every worker has a policy loaded.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.policy_loaded_at = Gauge(
            "replygate_policy_loaded_timestamp_seconds",
            "When the serving policy was loaded (the oldest across workers).",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.queue_depth = Gauge(
            "replygate_decision_log_queue_depth",
            "Decisions waiting for the background writer.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        log_counters = {
            "written": "Decisions written to the decision log.",
            "rejected_full": "Checks refused with 503 because the decision-log queue stayed full.",
            "write_errors": "Failed decision-log writes (retried; see the server log).",
            "batches": "Batches written by the decision-log writer.",
        }
        self.log_counters = {
            name: Counter(f"replygate_decision_log_{name}", text, registry=registry)
            for name, text in log_counters.items()
        }
        self._outcome = {outcome: self.decisions.labels(outcome) for outcome in OUTCOMES}
        self._seen: dict[str, int] = dict.fromkeys(_LOG_STATS, 0)
        self._seen_loads = (0, 0)

    def decided(self, outcome: str, seconds: float) -> None:
        """Count one answered check."""
        counter = self._outcome.get(outcome)
        if counter is not None:
            counter.inc()
        self.latency.observe(seconds)

    def refresh(self, log: _Log | None, source: _Source | None) -> None:
        """Carry the decision log's and the policy source's own counts over as deltas."""
        if log is not None:
            self.queue_depth.set(log.queue_depth)
            stats = log.stats
            for name in _LOG_STATS:
                value = int(stats.get(name, 0))
                if value > self._seen[name]:
                    self.log_counters[name].inc(value - self._seen[name])
                self._seen[name] = value
        if source is not None:
            loads, failures = source.load_counts()
            seen_loads, seen_failures = self._seen_loads
            if loads > seen_loads:
                self.policy_loads.inc(loads - seen_loads)
            if failures > seen_failures:
                self.policy_failures.inc(failures - seen_failures)
            self._seen_loads = (loads, failures)
            self.policy_ready.set(1 if source.is_ready() else 0)
            loaded = source.loaded_timestamp()
            if loaded is not None:
                self.policy_loaded_at.set(loaded)

    def exposition(self) -> bytes:
        """The Prometheus text format, summed over every worker in multiprocess mode."""
        if self.registry is not None:
            return generate_latest(self.registry)
        directory = multiprocess_dir()
        if directory is not None:
            forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    @staticmethod
    def process_exited() -> None:
        """Drop this worker's live gauges from the multiprocess folder."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
