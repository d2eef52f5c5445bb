"""Throughput of the decision-log writer, SQLite and PostgreSQL, and the cost a check pays.

    .venv/bin/python -m bench.bench_decision_log [--records 50000] [--rounds 3] [--json FILE]

For each backend and round: a fresh log (default settings: queue 10,000, batches of 500,
content.text hashed), records of real example-policy decisions submitted as fast as one thread
can, then `flush`. Reported: records/s from the first submit until everything is committed
(what the writer sustains while sharing the interpreter with the submitting thread), and the
per-call cost of `DecisionRecord.new` + `submit` (what a check pays on its critical path), and
the CPU time this process spends per record, all threads (what the log takes from the decisions
it shares a process with; PostgreSQL's own work is in its server processes).
A full queue is waited out (LogFull is retried), as a client would retry a 503.

PostgreSQL comes from $REPLYGATE_TEST_POSTGRES, else a private server is started with
`.ci/postgres.sh start bench` and stopped afterwards. The server runs with fsync on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from replygate.decision_log import DecisionRecord, LogFull, open_decision_log
from replygate.decision_log.redaction import Redactor
from replygate.decision_log.writer import BatchWriter
from replygate.engine.loader import load_policy
from replygate.engine.models import CheckRequest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "postgres.sh"
VARIABLE = "REPLYGATE_TEST_POSTGRES"


def sample_requests() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request JSON, decision JSON) pairs from the bundled sample requests."""
    policy = load_policy(ROOT / "policies")
    pairs = []
    for line in (ROOT / "examples" / "requests.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            request = CheckRequest.model_validate_json(line)
        except ValueError:
            continue
        decision = policy.decide(request)
        pairs.append((request.model_dump(mode="json"), decision.model_dump(mode="json")))
    return pairs


def one_round(
    url: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]], count: int
) -> dict[str, float]:
    log = open_decision_log(url, redact={"content.text": "hash"})
    full = 0
    try:
        start = time.perf_counter()
        cpu_start = time.process_time()
        for index in range(count):
            request, decision = pairs[index % len(pairs)]
            record = DecisionRecord.new(request, decision, "bench", None, None, 0.1)
            while True:
                try:
                    log.submit(record)
                    break
                except LogFull:
                    full += 1
        submitted = time.perf_counter()
        if not log.flush(600.0):
            raise RuntimeError("the writer did not finish within 10 minutes")
        done = time.perf_counter()
        cpu = time.process_time() - cpu_start
        stats = log.stats
    finally:
        log.close()
    assert stats["written"] == count, stats
    return {
        "records_per_s": count / (done - start),
        "submit_us": (submitted - start) / count * 1e6,
        "cpu_us": cpu / count * 1e6,
        "batches": stats["batches"],
        "full_retries": full,
    }


class _Held:
    """A backend whose insert waits until released: the writer thread sleeps meanwhile."""

    where = "held"
    driver_errors = ()

    def __init__(self) -> None:
        self.release = threading.Event()

    def chain_head(self, writer_id: str) -> None:
        return None

    def insert(self, rows: list[Any]) -> None:
        self.release.wait()

    def existing(self, decision_ids: list[str]) -> set[str]:
        return set()

    def close(self) -> None:
        self.release.set()


def critical_path_us(pairs: list[tuple[dict[str, Any], dict[str, Any]]], count: int) -> float:
    """`DecisionRecord.new` + `submit` alone, the writer parked: what a check pays."""
    backend = _Held()
    writer = BatchWriter(
        backend,  # type: ignore[arg-type]
        "bench",
        Redactor({"content.text": "hash"}),
        queue_size=count + 1,
        batch_size=1,
        flush_interval=0.0,
        block_timeout=0.1,
    )
    try:
        start = time.perf_counter()
        for index in range(count):
            request, decision = pairs[index % len(pairs)]
            writer.submit(DecisionRecord.new(request, decision, "bench", None, None, 0.1))
        return (time.perf_counter() - start) / count * 1e6
    finally:
        backend.release.set()
        writer.close(1.0)


@contextmanager
def postgres(given: str | None) -> Iterator[str]:
    """A PostgreSQL DSN: the given one, or a private server for the benchmark."""
    if given:
        yield given
        return
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", "bench"], capture_output=True, text=True, check=False
    )
    found = re.search(rf"^export {VARIABLE}=(\S+)$", started.stdout, re.MULTILINE)
    if started.returncode != 0 or found is None:
        raise SystemExit(f"cannot start PostgreSQL:\n{started.stderr}")
    try:
        yield found.group(1)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", "bench"], capture_output=True, check=False)


def fresh_schema(server: str) -> str:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in server else "?"
    return f"{server}{joiner}options={quote(f'-csearch_path={schema}')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get(VARIABLE))
    args = parser.parse_args()
    pairs = sample_requests()
    results: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
    with tempfile.TemporaryDirectory() as folder, postgres(args.postgres) as server:
        # Interleaved rounds, so drift on a shared machine touches both backends alike.
        for round_ in range(args.rounds):
            sqlite_url = f"sqlite:///{Path(folder) / f'round{round_}.db'}"
            results["sqlite"].append(one_round(sqlite_url, pairs, args.records))
            results["postgresql"].append(one_round(fresh_schema(server), pairs, args.records))
    summary: dict[str, Any] = {
        backend: {
            "records_per_s": statistics.median(r["records_per_s"] for r in rounds),
            "submit_us": statistics.median(r["submit_us"] for r in rounds),
            "cpu_us": statistics.median(r["cpu_us"] for r in rounds),
            "batches": statistics.median(r["batches"] for r in rounds),
            "rounds": rounds,
        }
        for backend, rounds in results.items()
    }
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"decision-log writer, {args.records:,} records x {args.rounds} rounds (median); "
        f"{os.cpu_count()} CPUs, load average {load}\n"
    )
    print(
        "| backend | records/s (submit → committed) | new + submit per record "
        "| CPU of this process per record | batches |"
    )
    print("|---|---:|---:|---:|---:|")
    for backend, row in summary.items():
        print(
            f"| {backend} | {row['records_per_s']:,.0f} | {row['submit_us']:.1f} µs "
            f"| {row['cpu_us']:.1f} µs | {row['batches']:.0f} |"
        )
    critical = statistics.median(critical_path_us(pairs, 20_000) for _ in range(args.rounds))
    summary["critical_path_us"] = critical
    print(
        f"\nOn a check's critical path (DecisionRecord.new + submit, writer parked): "
        f"{critical:.1f} µs per record"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
