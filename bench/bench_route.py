"""Routing and coverage: `route` latency and `coverage` over four weeks.

    .venv/bin/python -m bench.bench_route [--requests 2000] [--json FILE]

Route latency is measured for the bundled policy and for a generated one with 200 persons in
50 rosters (targets: median under 1 ms); coverage over four weeks for the bundled policy
(target: under 2 s, a fresh compile each round so the roster caches start cold).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from replygate.engine.coverage import coverage
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import compile_sources, read_folder
from replygate.engine.models import RouteRequest
from replygate.engine.routing import route

ROOT = Path(__file__).resolve().parent.parent
START = datetime.fromisoformat("2026-11-30T00:00:00+01:00")
CATEGORIES = ("complaint", "question", "praise", "feature_request", "crisis")


def large_sources(persons: int = 200, rosters: int = 50) -> dict[str, str]:
    """The bundled policy plus `persons` agents in `rosters` rotating rosters."""
    sources = read_folder(ROOT / "policies")
    lines = [
        f"person p{n:03d} is {'senior_agent' if n % 5 == 0 else 'agent'}" for n in range(persons)
    ]
    per = persons // rosters
    for r in range(rosters):
        members = ", ".join(f"p{n:03d}" for n in range(r * per, (r + 1) * per))
        start = 6 + r % 12
        lines.append(
            f'roster gen-{r:02d} {{\n    members {members}\n    zone "Europe/Vienna"\n'
            f"    open mon-sun {start:02d}:00-{(start + 8) % 24:02d}:00\n"
            f"    rotate every {1 + r % 3}d from 2026-11-30 {start:02d}:00\n}}"
        )
    sources["policies/generated.policy"] = "\n".join(lines) + "\n"
    return sources


def requests(count: int, seed: int = 7) -> list[RouteRequest]:
    rng = random.Random(seed)
    found = []
    for n in range(count):
        received = START + timedelta(minutes=rng.randrange(28 * 24 * 60))
        found.append(
            RouteRequest.model_validate(
                {
                    "channel": rng.choice(["twitter", "facebook", "instagram", "linkedin"]),
                    "post": {
                        "id": f"p{n}",
                        "sentiment": rng.choice(["positive", "neutral", "negative"]),
                        "category": rng.choice(CATEGORIES),
                        "author_reach": rng.choice([10, 9999, 10000, 250000]),
                        "received_at": received.isoformat(),
                    },
                    "at": (received + timedelta(minutes=rng.randrange(30))).isoformat(),
                }
            )
        )
    return found


def _latency(policy: CompiledPolicy, items: list[RouteRequest]) -> dict[str, float]:
    for item in items[:200]:  # warm the roster caches the way a running server has them
        route(policy, item)
    timings = []
    for item in items:
        start = time.perf_counter_ns()
        route(policy, item)
        timings.append((time.perf_counter_ns() - start) / 1e6)
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings), 3),
        "p99_ms": round(timings[int(0.99 * len(timings))], 3),
    }


def run(count: int) -> dict[str, Any]:
    items = requests(count)
    bundled = compile_sources(read_folder(ROOT / "policies"))
    large = compile_sources(large_sources())
    results: dict[str, Any] = {
        "route_bundled": _latency(bundled, items),
        "route_200_persons_50_rosters": _latency(large, items),
    }
    rounds = []
    for _ in range(3):
        fresh = compile_sources(read_folder(ROOT / "policies"))
        start = time.perf_counter()
        coverage(fresh, START, START + timedelta(days=28))
        rounds.append(time.perf_counter() - start)
    results["coverage_4_weeks_bundled_s"] = round(statistics.median(rounds), 3)
    # How busy the machine is: 100,000 empty loop iterations take ~1.5 ms on an idle core.
    start = time.perf_counter()
    for _ in range(100_000):
        pass
    results["calibration_empty_loop_100k_ms"] = round((time.perf_counter() - start) * 1e3, 2)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    results = run(args.requests)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
