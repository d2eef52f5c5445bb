"""HTTP benchmark: `/v1/check` of `replygate serve` against the floor of the stack.

    .venv/bin/python -m bench.bench_http [--duration 10] [--rounds 2] [--json FILE]

Four servers run side by side on 127.0.0.1, each served by uvicorn with uvloop and httptools:
the real API (decision log on, SQLite in a temporary folder, a bearer key) and the floor
(`bench/floor_app.py`: FastAPI validating the same body, answering a constant), each with 1 and
2 workers. Runs are interleaved (floor, API, floor, API, …) so drift on this shared machine hits
both alike.

Two measurements per server and round:
1. Maximum throughput: `wrk` (Debian's package; `apt-get install wrk`) with a fixed number of
   keep-alive connections for a fixed time, POSTing the body with a Lua script. Its p50/p99 are
   closed-loop latencies at saturation.
2. Latency at half the maximum rate: Debian's wrk has no fixed-rate mode (that is wrk2), so an
   open-loop generator here sends requests on a fixed schedule (asyncio + uvloop, raw HTTP/1.1 on
   a pool of keep-alive connections) and measures each latency from the moment the request was
   *due*, not from when a connection was free, so a stalled server cannot hide its queue
   (no coordinated omission). The generator reports its own lag so a busy generator shows.

Both load generators share the machine's two cores with the servers; the ratio to the floor is
the figure to read, since the floor pays the same tax. Around each wrk run the server's processes
are read from /proc (`bench/cpu_split.py`): CPU per request by role (workers, committers; wrk's
own from its exit), which explains a ratio on saturated cores, and each worker's share, which
shows a run where the kernel gave most connections to one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import cpu_split
from replygate.api.schemas import EXAMPLE_REQUEST

ROOT = Path(__file__).absolute().parent.parent
KEY = "rg_bench_key_0123456789"
UNBALANCED = 0.3  # a worker's CPU share below which a 2-worker run is reported as lopsided

# The API's documented example, with a label that makes the policy ask for a second approval.
BODY: dict[str, Any] = {
    **EXAMPLE_REQUEST,
    "content": {**EXAMPLE_REQUEST["content"], "labels": ["mentions_price"]},
}

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = [==[{body}]==]
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """One server process under test."""

    name: str
    kind: str
    workers: int
    port: int
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    cwd: Path = ROOT  # the checkout whose code it runs (`bench_ab.py` runs another revision's)

    def start(self, log_dir: Path) -> None:
        """Start the process and wait (bounded) until /readyz answers 200."""
        output = open(log_dir / f"{self.name}.log", "wb")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up; see {output.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within 60 s")

    def stop(self) -> None:
        """SIGTERM, as an orchestrator would; the API drains its decision log."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> cpu_split.Snapshot:
        """The CPU each process of the server has used so far (empty before it starts)."""
        return cpu_split.snapshot(self.process.pid) if self.process is not None else {}


def _uvicorn(target: str, port: int, workers: int, *extra: str) -> list[str]:
    """uvicorn serving `target` exactly as `replygate serve` does: uvloop, httptools."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]


def servers(
    workdir: Path, kinds: tuple[str, ...], worker_counts: tuple[int, ...] = (1, 2)
) -> list[Server]:
    """Each kind of server (floor, api, api-async, api-nolog) with 1 and 2 workers.

    `api` is `replygate serve` as shipped: durable acknowledgement (a check is answered once its
    record is committed with synchronous=FULL, group commit); `api-async` the opt-in mode that
    answers once the record is queued.
    """
    keys = workdir / "keys.json"
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    keys.write_text(
        json.dumps({"keys": [{"client": "bench", "sha256": digest, "scopes": ["check"]}]})
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPLYGATE_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    found = []
    for workers in worker_counts:
        for kind in kinds:
            port = free_port()
            if kind == "floor":
                command = _uvicorn("bench.floor_app:app", port, workers)
                server_env = env
            elif kind in ("api", "api-async"):
                log_url = f"sqlite:///{workdir / f'decisions-{kind}-{workers}w.db'}"
                command = [
                    sys.executable,
                    "-m",
                    "replygate.cli.main",
                    "serve",
                    "--policy",
                    "policies",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    "--decision-log",
                    log_url,
                    "--keys",
                    str(keys),
                    "--log-ack",
                    "durable" if kind == "api" else "async",
                ]
                server_env = env
            else:
                command = _uvicorn("bench.bench_http:api_without_log", port, workers, "--factory")
                server_env = {**env, "REPLYGATE_POLICY": "policies", "REPLYGATE_KEYS": str(keys)}
            found.append(Server(f"{kind}-{workers}w", kind, workers, port, command, server_env))
    return found


class _NullLog:
    """Takes records and keeps none: isolates the decision log's cost (`--attribution` only)."""

    queue_depth = 0
    stats: dict[str, int] = {}

    def submit(self, record: object) -> None:
        """Drop the record."""

    async def log(self, record: object) -> None:
        """Drop the record."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Nothing is pending."""
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Nothing to drain."""


def api_without_log() -> Any:
    """The real API with the decision log replaced by `_NullLog` (an app factory for uvicorn)."""
    from replygate.api.app import create_app
    from replygate.api.settings import Settings

    return create_app(Settings.from_env(), open_log=lambda _settings: _NullLog())  # type: ignore[arg-type,return-value]


# ---- wrk: maximum throughput ------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(
    url: str, script: Path, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    """One bounded wrk run: requests/s, p50/p99 (ms) and any errors."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"{url}/v1/check",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.MULTILINE)
    return {
        "requests": int(re.search(r"(\d+) requests in", out)[1]),  # type: ignore[index]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": socket_errors[1] if socket_errors else None,
    }


def measured_wrk(server: Server, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`run_wrk`, plus the CPU each part of the machine's work took per request meanwhile.

    The server's processes are read from /proc (`bench/cpu_split.py`); wrk's own CPU is this
    process's children's time, since wrk is the only child that ends during the run.
    """
    before, wrk_before = server.cpu(), os.times()
    result = run_wrk(server.url, script, args.duration, args.connections, args.threads)
    after, wrk_after = server.cpu(), os.times()
    seconds = cpu_split.cpu_by_role(before, after)
    seconds["wrk"] = (wrk_after.children_user + wrk_after.children_system) - (
        wrk_before.children_user + wrk_before.children_system
    )
    requests = max(1, result["requests"])
    result["cpu_us_per_request"] = {
        role: round(used * 1e6 / requests, 1) for role, used in sorted(seconds.items()) if used
    }
    result["worker_cpu_shares"] = cpu_split.worker_shares(before, after)
    return result


# ---- the open-loop generator: latency at a fixed rate -------------------------------------------


def raw_request(port: int, body: bytes) -> bytes:
    """One keep-alive HTTP/1.1 POST, ready to write."""
    head = (
        f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class OpenLoopResult:
    """Latencies (from the due time) and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    lag: list[float] = field(default_factory=list)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    await reader.readexactly(int(length[1]) if length else 0)
    return status


async def open_loop(
    port: int, body: bytes, rate: float, seconds: float, connections: int
) -> OpenLoopResult:
    """Send `rate` requests/s for `seconds` on a schedule, whatever the server's pace."""
    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    clock = time.perf_counter
    request = raw_request(port, body)
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    result = OpenLoopResult()

    async def one(due: float) -> None:
        reader, writer = await pool.get()
        result.lag.append(clock() - due)
        try:
            if await _exchange(reader, writer, request) != 200:
                result.errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        result.latencies.append(clock() - due)
        pool.put_nowait((reader, writer))

    total = int(rate * seconds)
    start = clock() + 0.1
    tasks = []
    for number in range(total):
        due = start + number / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return result


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of `values` (0 < share <= 1)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))
    return ordered[rank]


def run_open_loop(port: int, rate: float, seconds: float, connections: int) -> dict[str, Any]:
    """p50/p99 (ms) at a fixed rate, the errors, and how far the generator lagged."""
    import uvloop

    body = json.dumps(BODY).encode()
    result = uvloop.run(open_loop(port, body, rate, seconds, connections))
    return {
        "rate": rate,
        "sent": len(result.latencies),
        "errors": result.errors,
        "p50_ms": percentile(result.latencies, 0.50) * 1000,
        "p99_ms": percentile(result.latencies, 0.99) * 1000,
        "max_ms": max(result.latencies) * 1000,
        "generator_lag_p99_ms": percentile(result.lag, 0.99) * 1000,
    }


# ---- the run --------------------------------------------------------------------------------


@contextlib.contextmanager
def running(all_servers: list[Server], log_dir: Path) -> Iterator[None]:
    try:
        for server in all_servers:
            server.start(log_dir)
        yield
    finally:
        for server in all_servers:
            server.stop()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every server, every round, interleaved; medians over the rounds."""
    workdir = Path(tempfile.mkdtemp(prefix="replygate-bench-http-"))
    script = workdir / "check.lua"
    script.write_text(WRK_SCRIPT.format(key=KEY, body=json.dumps(BODY)))
    kinds: tuple[str, ...] = ("floor", "api", "api-async")
    if args.attribution:
        kinds += ("api-nolog",)
    worker_counts = tuple(int(count) for count in args.workers.split(","))
    all_servers = servers(workdir, kinds, worker_counts)
    runs: dict[str, list[dict[str, Any]]] = {server.name: [] for server in all_servers}
    args.load_before = os.getloadavg()
    try:
        with running(all_servers, workdir):
            for server in all_servers:  # warm-up: imports, caches, SQLite pages
                run_wrk(server.url, script, 2, args.connections, args.threads)
            for round_number in range(args.rounds):
                for workers in worker_counts:
                    for kind in kinds:
                        server = next(
                            s for s in all_servers if s.kind == kind and s.workers == workers
                        )
                        saturated = measured_wrk(server, script, args)
                        shares = saturated["worker_cpu_shares"]
                        half = run_open_loop(
                            server.port, saturated["rps"] / 2, args.duration, args.open_connections
                        )
                        runs[server.name].append({"max": saturated, "half": half})
                        print(
                            f"round {round_number + 1} {server.name:9} "
                            f"{saturated['rps']:8.0f} req/s  p50 {saturated['p50_ms']:.2f} ms  "
                            f"p99 {saturated['p99_ms']:.2f} ms | at {half['rate']:.0f}/s: "
                            f"p50 {half['p50_ms']:.2f} ms  p99 {half['p99_ms']:.2f} ms  "
                            f"errors {saturated['non_2xx'] + half['errors']}"
                            + (
                                f" | worker CPU {'/'.join(f'{x:.0%}' for x in shares)}"
                                if len(shares) > 1
                                else ""
                            ),
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    # Other work on the machine skews every figure; the load average says how much there was.
    args.load_after = os.getloadavg()
    return summarise(runs, args)


def summarise(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    """Medians per server and the API/floor ratios per worker count."""
    summary: dict[str, Any] = {
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "wrk_connections": args.connections,
            "wrk_threads": args.threads,
            "open_loop_connections": args.open_connections,
            "cpus": os.cpu_count(),
            "server": "uvicorn + uvloop + httptools",
            "loadavg_before": args.load_before,
            "command": " ".join(sys.argv),
            "loadavg_after": args.load_after,
        },
        "servers": {},
        "ratios": {},
    }
    for name, measured in runs.items():
        summary["servers"][name] = {
            "rps": statistics.median(run["max"]["rps"] for run in measured),
            "p50_ms": statistics.median(run["max"]["p50_ms"] for run in measured),
            "p99_ms": statistics.median(run["max"]["p99_ms"] for run in measured),
            "half_rate": statistics.median(run["half"]["rate"] for run in measured),
            "half_p50_ms": statistics.median(run["half"]["p50_ms"] for run in measured),
            "half_p99_ms": statistics.median(run["half"]["p99_ms"] for run in measured),
            "errors": sum(run["max"]["non_2xx"] + run["half"]["errors"] for run in measured),
            "cpu_us_per_request": _median_by_role(
                run["max"]["cpu_us_per_request"] for run in measured
            ),
            "min_worker_cpu_share": min(
                (min(run["max"]["worker_cpu_shares"], default=1.0) for run in measured),
                default=1.0,
            ),
            "runs": measured,
        }
    for workers in (1, 2):
        if f"floor-{workers}w" not in summary["servers"]:
            continue
        floor = summary["servers"][f"floor-{workers}w"]["rps"]
        for kind in ("api", "api-async", "api-nolog"):
            if f"{kind}-{workers}w" in summary["servers"]:
                ratio = summary["servers"][f"{kind}-{workers}w"]["rps"] / floor
                summary["ratios"][f"{kind}-{workers}w"] = ratio
    return summary


ROLES = ("worker", "committer", "supervisor", "other", "wrk")


def _median_by_role(runs: Iterator[dict[str, float]]) -> dict[str, float]:
    taken = list(runs)
    return {
        role: statistics.median(run.get(role, 0.0) for run in taken)
        for role in ROLES
        if any(role in run for run in taken)
    }


def table(summary: dict[str, Any]) -> str:
    """The Markdown table of the run."""
    lines = [
        "| server | workers | req/s (wrk) | p50 ms | p99 ms | ratio to floor | "
        "half rate req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers in (1, 2):
        for kind in ("floor", "api", "api-async", "api-nolog"):
            row = summary["servers"].get(f"{kind}-{workers}w")
            if row is None:
                continue
            ratio = summary["ratios"].get(f"{kind}-{workers}w", 1.0)
            ratio = f"{ratio:.2f}"
            lines.append(
                f"| {kind} | {workers} | {row['rps']:.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {ratio} | {row['half_rate']:.0f} | "
                f"{row['half_p50_ms']:.2f} | {row['half_p99_ms']:.2f} | {row['errors']} |"
            )
    lines += [
        "",
        "CPU per request at saturation, µs (from /proc: the server's processes by role, and wrk):",
        "",
        "| server | workers | " + " | ".join(ROLES) + " | all |",
        "|---|---:|" + "---:|" * (len(ROLES) + 1),
    ]
    for workers in (1, 2):
        for kind in ("floor", "api", "api-async", "api-nolog"):
            row = summary["servers"].get(f"{kind}-{workers}w")
            if row is None:
                continue
            used = row["cpu_us_per_request"]
            cells = " | ".join(f"{used[role]:.0f}" if role in used else "" for role in ROLES)
            lines.append(f"| {kind} | {workers} | {cells} | {sum(used.values()):.0f} |")
    return "\n".join(lines)


def lopsided(summary: dict[str, Any]) -> list[str]:
    """A note for each server with a run in which one worker did little of the work."""
    return [
        f"note: {name}: in at least one run a worker did only "
        f"{row['min_worker_cpu_share']:.0%} of the work (connections unevenly accepted); "
        "that run measures one worker, not the server"
        for name, row in summary["servers"].items()
        if row["min_worker_cpu_share"] < UNBALANCED
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument(
        "--workers", default="1,2", help="worker counts to run, comma-separated (default: 1,2)"
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--open-connections", type=int, default=64, help="connections of the open-loop generator"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server logs)")
    parser.add_argument(
        "--attribution",
        action="store_true",
        help="also run the API with the decision log replaced by a null sink (what the log costs)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench_http: error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    summary = measure(args)
    print(table(summary))
    targets = {"api": 0.60, "api-async": 0.75}  # issue 11, at 2 workers and 64 connections
    for name, ratio in sorted(summary["ratios"].items()):
        kind = name.rsplit("-", 1)[0]
        mode = {"api": "durable", "api-async": "async"}.get(kind, kind)
        target = f" (target at 2 workers: >= {targets[kind]:.0%})" if kind in targets else ""
        row = summary["servers"][name]
        print(
            f"\n{name} ({mode}): {ratio:.0%} of the floor{target}; p99 at half rate "
            f"{row['half_p99_ms']:.2f} ms",
            end="",
        )
    print()
    for note in lopsided(summary):
        print(note)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
