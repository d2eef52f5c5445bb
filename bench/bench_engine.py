"""In-process decision latency of the engine, for the example policy and scaled policies.

    .venv/bin/python -m bench.bench_engine [--requests 10000] [--rounds 5] [--json FILE]

Per decision, both engine-only (`decide` on a validated request) and end to end (request JSON
bytes in, decision JSON out). Sizes are measured round-robin, one slice of requests at a time,
so drift on a shared machine touches every size alike; medians and p99 come from per-call
timings. Growth is the median at 10,000 extra rules over the median at 10.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.gen_policy import generated_sources
from bench.requests_gen import generate
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import compile_sources
from replygate.engine.models import CheckRequest

SIZES = (0, 10, 100, 1_000, 10_000)


def _label(size: int) -> str:
    return "example" if size == 0 else f"+{size:,} rules"


def compile_timed(size: int) -> tuple[CompiledPolicy, float]:
    sources = generated_sources(size) if size else generated_sources(0)
    if not size:
        sources.pop("policies/generated.policy")
    start = time.perf_counter()
    policy = compile_sources(sources)
    return policy, time.perf_counter() - start


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_calls(call: Callable[[Any], Any], items: list[Any]) -> list[float]:
    """Seconds per call, one timing per item."""
    clock = time.perf_counter_ns
    timings = []
    for item in items:
        start = clock()
        call(item)
        timings.append((clock() - start) / 1e9)
    return timings


def run(request_count: int, rounds: int) -> dict[str, Any]:
    raw = [json.dumps(r).encode() for r in generate(request_count)]
    models = [CheckRequest.model_validate_json(r) for r in raw]
    policies: dict[int, CompiledPolicy] = {}
    compile_seconds: dict[int, float] = {}
    for size in SIZES:
        policies[size], compile_seconds[size] = compile_timed(size)
    engine: dict[int, list[float]] = {size: [] for size in SIZES}
    end_to_end: dict[int, list[float]] = {size: [] for size in SIZES}
    for policy in policies.values():  # warm caches (roles, calendar days) the same for everyone
        for model in models[:500]:
            policy.decide(model)
    slice_size = max(1, len(models) // rounds)
    gc.disable()
    try:
        for start in range(0, len(models), slice_size):
            batch = models[start : start + slice_size]
            raw_batch = raw[start : start + slice_size]
            for size in SIZES:
                policy = policies[size]
                engine[size] += time_calls(policy.decide, batch)
                end_to_end[size] += time_calls(
                    lambda body, p=policy: p.decide(
                        CheckRequest.model_validate_json(body)
                    ).model_dump_json(),
                    raw_batch,
                )
    finally:
        gc.enable()
    rows = []
    for size in SIZES:
        rows.append(
            {
                "policy": _label(size),
                "rules": len(policies[size].rules),
                "compile_ms": round(compile_seconds[size] * 1000, 1),
                "engine_median_us": round(statistics.median(engine[size]) * 1e6, 2),
                "engine_p99_us": round(_percentile(engine[size], 0.99) * 1e6, 2),
                "engine_per_s": round(len(engine[size]) / sum(engine[size])),
                "e2e_median_us": round(statistics.median(end_to_end[size]) * 1e6, 2),
                "e2e_p99_us": round(_percentile(end_to_end[size], 0.99) * 1e6, 2),
                "e2e_per_s": round(len(end_to_end[size]) / sum(end_to_end[size])),
            }
        )
    growth = statistics.median(engine[10_000]) / statistics.median(engine[10])
    return {"requests": len(models), "rows": rows, "growth_10_to_10000": round(growth, 2)}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Engine, in process, {result['requests']:,} generated requests per policy",
        "",
        "| policy | rules | compile ms | engine median µs | engine p99 µs | engine decisions/s | end-to-end median µs | end-to-end p99 µs | end-to-end decisions/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['policy']} | {row['rules']:,} | {row['compile_ms']:,} | {row['engine_median_us']} | "
            f"{row['engine_p99_us']} | {row['engine_per_s']:,} | {row['e2e_median_us']} | {row['e2e_p99_us']} | {row['e2e_per_s']:,} |"
        )
    lines += [
        "",
        f"Median growth from +10 to +10,000 rules: {result['growth_10_to_10000']}x (target ≤ 2x).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.requests, args.rounds)
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
