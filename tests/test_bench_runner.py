"""The benchmark runner (`python -m bench`): agreement counts, withheld figures, the tables.

A tiny sample (60 requests, the example policy and +10 rules, a few milliseconds per series)
so the test stays fast; no timing is asserted, only what the runner reports about it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import bench_http, compare, cpu_split, memory
from bench.__main__ import disagreements, main, markdown

SETTINGS = compare.Settings(
    requests=60, seed=7, sizes=(0, 10), budget=0.05, slices=2, batch=16, load_repeat=1
)
EVERY_PEER = ["replygate", "floor", "cedar", "casbin", "casbin-shipped"]


@pytest.fixture(scope="module")
def workload() -> compare.Workload:
    return compare.Workload.generate(SETTINGS.requests, SETTINGS.seed)


@pytest.fixture(scope="module")
def result(workload: compare.Workload) -> dict[str, Any]:
    found, missing = compare.contenders(workload)
    return compare.measure(workload, found, missing, SETTINGS)


class Liar(compare.Floor):
    """The floor, but every answer it gives is a deny: it must be caught and withheld."""

    def answer(self, result: Any) -> compare.Answer:
        _, due = compare.peer_answer(result)
        return ("deny", (), None), due


# ---- agreement --------------------------------------------------------------------------------


def test_every_peer_decides_every_request_and_agrees(result: dict[str, Any]) -> None:
    assert list(result["agreement"]) == EVERY_PEER
    for name, styles in result["agreement"].items():
        for style, found in styles.items():
            assert (name, style, found["checked"], found["disagreements"]) == (name, style, 60, 0)
    assert set(result["agreement"]["cedar"]) == {"single", "batch"}
    assert set(result["agreement"]["casbin"]) == {"single"}
    assert disagreements(result) == 0


def test_timed_answers_at_scaled_sizes_are_checked_too(result: dict[str, Any]) -> None:
    scaled = [row for row in result["series"] if row["size"] == 10]
    assert {row["engine"] for row in scaled} == {"replygate", "cedar", "casbin", "casbin-shipped"}
    for row in scaled:
        assert row["checked"] == row["samples"] > 0
        assert (row["disagreements"], row["withheld"]) == (0, False)


def test_a_disagreeing_engine_is_counted_and_its_speed_withheld(
    workload: compare.Workload,
) -> None:
    replygate = compare.Replygate(workload)
    measured = compare.measure(workload, [replygate, Liar(workload)], [], SETTINGS)
    policy = replygate.load(replygate.source(0))
    not_denied = sum(replygate.answer(policy.decide(m))[0][0] != "deny" for m in workload.models)
    assert not_denied > 0
    assert measured["agreement"]["floor"]["single"]["disagreements"] == not_denied
    assert measured["agreement"]["floor"]["single"]["examples"]
    assert all(row["withheld"] for row in measured["series"] if row["engine"] == "floor")
    assert not any(row["withheld"] for row in measured["series"] if row["engine"] == "replygate")
    floor_ratios = [r for r in measured["ratios"] if r["ratio"].startswith("floor / replygate")]
    assert floor_ratios and all(r["withheld"] and r["value"] is None for r in floor_ratios)
    text = compare.markdown(measured)
    assert "**disagrees: withheld**" in text
    assert "withheld (disagrees)" in text
    assert disagreements(measured) > 0


def test_missing_peers_are_named_with_the_install_command(
    workload: compare.Workload, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cedarpy", None)  # import now raises ImportError
    monkeypatch.setitem(sys.modules, "casbin", None)
    found, missing = compare.contenders(workload)
    assert [c.name for c in found] == ["replygate", "floor"]
    assert len(missing) == 2
    assert all("pip install -e '.[bench]'" in sentence for sentence in missing)
    assert "Cedar is left out" in missing[0]
    assert "Casbin is left out" in missing[1]


# ---- the tables -------------------------------------------------------------------------------


def test_tables_show_every_engine_the_counts_and_the_targets(result: dict[str, Any]) -> None:
    text = compare.markdown(result)
    assert "| cedarpy | batched | 60 | 0 | 0 |" in text
    assert "| pycasbin as shipped | one at a time | 60 | 0 | 0 |" in text
    assert "| replygate | one at a time | 60 | reference | reference |" in text
    assert "replygate / cedarpy decisions/s, example, end to end, one at a time" in text
    assert "floor / replygate decisions/s, example, end to end, one at a time" in text
    assert "| ≥ 10 |" in text and "| ≤ 5 |" in text
    assert "| engine | median µs: example | +10 rules | load ms: example | +10 rules |" in text
    for label in ("replygate", "floor (plain Python)", "cedarpy", "pycasbin, matcher parsed once"):
        assert f"| example | {label} | one at a time |" in text
    assert "| +10 rules | cedarpy | batches of ≤ 16 |" in text
    assert "| +10 rules | floor" not in text  # the floor exists for the example policy only
    json.dumps(result)  # latest.json must be writable


def test_the_report_marks_missed_targets_and_skipped_sections() -> None:
    http = {
        "settings": {"server": "uvicorn", "wrk_connections": 32, "duration_s": 1, "rounds": 1},
        "servers": {
            f"{kind}-{w}w": {
                "rps": rps,
                "p50_ms": 1.0,
                "p99_ms": 2.0,
                "half_rate": rps / 2,
                "half_p50_ms": 1.0,
                "half_p99_ms": p99,
                "errors": 0,
            }
            for kind, w, rps, p99 in (
                ("floor", 1, 1000, 5.0),
                ("api", 1, 800, 12.0),
                ("floor", 2, 2000, 5.0),
                ("api", 2, 1000, 25.0),
                ("api-async", 2, 1600, 9.0),
            )
        },
        "ratios": {"1w": 0.8, "2w": 0.5},
    }
    http["servers"]["floor-2w"]["cpu_us_per_request"] = {"worker": 88.0, "wrk": 15.2}
    http["servers"]["api-2w"]["cpu_us_per_request"] = {"worker": 202, "committer": 50, "wrk": 13}
    results = {
        "meta": {
            "date": "2026-11-27 06:00 UTC",
            "cpu": "CPU",
            "cpus": 2,
            "memory_gb": 8,
            "os": "Linux",
            "python": "3.11",
            "commit": None,
            "load_before": [1.0, 1.0, 1.0],
            "load_after": [2.0, 2.0, 2.0],
            "duration_s": 75,
        },
        "http": {"result": http},
        "git": {"skipped": "bench/bench_git.py does not exist"},
        "decision-log": {"report": "| sqlite | 17,862 |"},
    }
    text = markdown(results, "python -m bench --sections http,git")
    assert "1 min 15 s" in text
    assert "1.0 / 1.0 / 1.0 at the start, 2.0 / 2.0 / 2.0 at the end" in text
    assert (
        "| /v1/check throughput (durable log) ≥ 60% of the floor's at 2 workers | 50% | **no** |"
    ) in text
    assert (
        "| /v1/check throughput (async log) ≥ 75% of the floor's at 2 workers | 80% | yes |"
    ) in text
    assert "p99 < 20 ms at half the maximum rate, 1 worker(s) | 12.0 ms | yes |" in text
    assert "p99 < 20 ms at half the maximum rate, 2 worker(s) | 25.0 ms | **no** |" in text
    assert "| floor (FastAPI, constant) | 2 | 88 |  | 15 | 103 |" in text
    assert "| replygate /v1/check, log durable (default) | 2 | 202 | 50 | 13 | 265 |" in text
    assert "| replygate /v1/check, log async | 2 |" not in text.split("CPU per request")[1]
    assert "Not measured: bench/bench_git.py does not exist." in text
    assert (
        "## Decision-log writer (bench/bench_decision_log.py)\n\n```\n| sqlite | 17,862 |" in text
    )


def test_memory_is_measured_in_a_fresh_interpreter() -> None:
    """The worker's own peak, not the parent's: a compiled policy must cost more than nothing."""
    ballast = bytearray(300 * 1024 * 1024)  # a parent peak far above any worker's
    measured = memory.measure(sizes=(0, 10), sample=3, engines=["replygate", "floor"])
    del ballast
    row = measured["rows"]["replygate"]["0"]
    assert "error" not in row
    assert 0 < row["start_kb"] < row["imported_kb"] < row["peak_kb"] < 300 * 1024
    assert list(measured["rows"]["floor"]) == ["0"]  # the floor has no scaled policies
    assert list(measured["rows"]["replygate"]) == ["0", "10"]
    text = memory.markdown(measured)
    assert "| floor (plain Python) | " in text and "| replygate | " in text


def test_unknown_sections_are_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--sections", "inprocess,nosuch"])
    assert exit_.value.code == 2
    assert "unknown section nosuch" in capsys.readouterr().err


ODD_NAME = "a) b (c) 1 2"  # /proc/PID/stat puts the name in parentheses: parse past the last ")"


def _spin_until(stop: Any) -> None:
    Path("/proc/self/comm").write_text(ODD_NAME)
    while not stop.is_set():
        pass


def test_the_http_bench_reads_each_workers_cpu_and_share() -> None:
    context = multiprocessing.get_context("spawn")  # how uvicorn starts its workers
    stop = context.Event()
    worker = context.Process(target=_spin_until, args=(stop,))
    worker.start()
    # A process started from the committer's script is told apart from a worker by its command.
    committer = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", "decision_log/sqlite_committer.py"],
        stdin=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60  # a spawned interpreter starts slowly under load
        while Path(f"/proc/{worker.pid}/comm").read_text().strip() != ODD_NAME:
            assert time.monotonic() < deadline, "the worker did not rename itself"
        before = cpu_split.snapshot(os.getpid())
        assert before[committer.pid].role == "committer"
        assert before[os.getpid()].role == "supervisor"
        assert before[worker.pid].role == "worker"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the spinning child's CPU time moves
            after = cpu_split.snapshot(os.getpid())
            if after[worker.pid].ticks > before[worker.pid].ticks:
                break
        used = cpu_split.cpu_by_role(before, after)
        assert used["worker"] > 0
        assert cpu_split.worker_shares(before, after) == [1.0]
    finally:
        stop.set()
        worker.join(10)
        committer.communicate(b"", timeout=10)
    alone = cpu_split.snapshot(os.getpid())
    assert worker.pid not in alone
    assert alone[os.getpid()].role == "worker"  # one process serving alone is the worker
    assert cpu_split.worker_shares(before, {}) == []  # every worker gone: no shares to give


def test_worker_shares_split_the_workers_cpu_and_a_vanished_worker_counts_as_idle() -> None:
    worker, committer = cpu_split.Process("worker", 10), cpu_split.Process("committer", 0)
    before = {1: worker, 2: cpu_split.Process("worker", 20), 3: committer}
    after = {1: cpu_split.Process("worker", 40), 2: cpu_split.Process("worker", 110), 3: committer}
    assert cpu_split.worker_shares(before, after) == [0.25, 0.75]
    assert cpu_split.worker_shares(before, {1: after[1], 3: committer}) == [1.0, 0.0]
    # A committer replaced during the run (new pid) is counted whole.
    replaced = {**after, 4: cpu_split.Process("committer", 50)}
    used = cpu_split.cpu_by_role(before, replaced)
    assert used["committer"] == 50 / cpu_split.TICKS_PER_SECOND
    assert used["worker"] == 120 / cpu_split.TICKS_PER_SECOND


def test_without_proc_there_is_no_cpu_split_and_no_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cpu_split, "PROC", tmp_path / "missing")  # as on macOS
    assert cpu_split.snapshot(os.getpid()) == {}
    assert cpu_split.worker_shares({}, {}) == []
    assert cpu_split.cpu_by_role({}, {}) == {}


def test_the_http_report_has_medians_cpu_per_request_and_names_a_lopsided_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(rps: float, cpu: dict[str, float], shares: list[float]) -> dict[str, Any]:
        saturated = {"rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "non_2xx": 0}
        saturated |= {"cpu_us_per_request": cpu, "worker_cpu_shares": shares}
        half = {"rate": rps / 2, "p50_ms": 1.0, "p99_ms": 3.0, "errors": 0}
        return {"max": saturated, "half": half}

    runs = {
        "floor-2w": [
            run(1000, {"worker": 80, "wrk": 15}, [0.5, 0.5]),
            run(1200, {"worker": 90, "wrk": 17}, [0.48, 0.52]),
        ],
        "api-2w": [
            run(500, {"worker": 200, "committer": 50, "wrk": 13}, [0.5, 0.5]),
            run(300, {"worker": 220, "committer": 60, "wrk": 11}, [0.1, 0.9]),
        ],
    }
    settings = argparse.Namespace(
        duration=8,
        rounds=2,
        connections=64,
        threads=1,
        open_connections=64,
        load_before=(1.0, 1.0, 1.0),
        load_after=(2.0, 2.0, 2.0),
    )
    summary = bench_http.summarise(runs, settings)
    api = summary["servers"]["api-2w"]
    assert api["rps"] == 400
    assert api["cpu_us_per_request"] == {"worker": 210, "committer": 55, "wrk": 12}
    assert api["min_worker_cpu_share"] == 0.1
    assert summary["ratios"]["api-2w"] == 400 / 1100
    text = bench_http.table(summary)
    assert "| floor | 2 | 85 |  |  |  | 16 | 101 |" in text
    assert "| api | 2 | 210 | 55 |  |  | 12 | 277 |" in text
    assert bench_http.lopsided(summary) == [
        "note: api-2w: in at least one run a worker did only 10% of the work (connections "
        "unevenly accepted); that run measures one worker, not the server"
    ]
