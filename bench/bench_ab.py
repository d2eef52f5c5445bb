"""A/B: the HTTP server of this checkout against the same server of another revision.

    .venv/bin/python -m bench.bench_ab REV [--kind api-nolog] [--rounds 6] [--duration 6]

Both run side by side (uvicorn, 2 workers, as `bench_http.py` starts them); wrk runs against
each in turn, the order alternating every round, so drift on a shared machine hits both alike.
The other revision runs from a temporary `git worktree` (its code, this checkout's venv). Prints
each run, then the medians of req/s and of worker CPU per request: the question it answers is
"did this change make the server slower?", not how fast it is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import bench_http

KINDS = ("api", "api-async", "api-nolog", "floor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("revision", help="the revision to compare with (e.g. HEAD~3, a sha)")
    parser.add_argument("--kind", choices=KINDS, default="api-nolog", help="which server")
    parser.add_argument("--rounds", type=int, default=6, help="runs of each (default: 6)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench_ab: error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="replygate-bench-ab-"))
    tree = workdir / "base"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(tree), args.revision],
        cwd=bench_http.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if added.returncode != 0:
        print(f"bench_ab: error: {added.stderr.strip()}", file=sys.stderr)
        return 2
    try:
        return _compare(args, workdir, tree)
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=bench_http.ROOT, check=False
        )
        shutil.rmtree(workdir, ignore_errors=True)


def _compare(args: argparse.Namespace, workdir: Path, tree: Path) -> int:
    script = workdir / "check.lua"
    script.write_text(
        bench_http.WRK_SCRIPT.format(key=bench_http.KEY, body=json.dumps(bench_http.BODY))
    )
    head = bench_http.servers(workdir, (args.kind,), (2,))[0]
    (workdir / "b").mkdir()
    base = bench_http.servers(workdir / "b", (args.kind,), (2,))[0]
    head.name, base.name, base.cwd = "this checkout", args.revision, tree
    measured: dict[str, list[dict[str, object]]] = {head.name: [], base.name: []}
    settings = argparse.Namespace(duration=args.duration, connections=args.connections, threads=1)
    with bench_http.running([head, base], workdir):
        for server in (head, base):  # warm-up
            bench_http.run_wrk(server.url, script, 2, args.connections, 1)
        for number in range(args.rounds):
            for server in (head, base) if number % 2 == 0 else (base, head):
                run = bench_http.measured_wrk(server, script, settings)
                measured[server.name].append(run)
                worker = run["cpu_us_per_request"].get("worker", 0.0)
                print(
                    f"round {number + 1} {server.name}: {run['rps']:,.0f} req/s, "
                    f"{worker:.1f} µs worker CPU per request",
                    flush=True,
                )
    for name, runs in measured.items():
        rps = statistics.median(float(run["rps"]) for run in runs)  # type: ignore[arg-type]
        cpu = statistics.median(
            float(run["cpu_us_per_request"].get("worker", 0.0))  # type: ignore[attr-defined]
            for run in runs
        )
        print(f"{name}: median {rps:,.0f} req/s, {cpu:.1f} µs worker CPU per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
