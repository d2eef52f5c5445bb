"""Prometheus metrics: decisions by outcome, check latency, policy loads, the decision log.

With one worker the metrics live in memory. With several, a scrape reaches one worker chosen by
the kernel, so per-worker scraping would report a random worker each time; the server therefore
runs prometheus-client's multiprocess mode instead: `replygate serve --workers N` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh temporary folder before the workers start, each worker
writes its values to memory-mapped files there, and any worker's `/metrics` sums them all.

Counters that belong to other components (decision-log writes and rejections, policy loads) are
carried over as deltas by `refresh`, which each worker runs once a second and before a scrape.
"""

from __future__ import annotations

import os
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


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, when the server runs several workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


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
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    @staticmethod
    def process_exited() -> None:
        """Drop this worker's live gauges from the multiprocess folder."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
