"""replygate against the engines a user would pick instead, measured in one run: `python -m bench`.

    .venv/bin/python -m bench                       # everything, under ten minutes on 2 cores
    .venv/bin/python -m bench --quick               # a smaller run, about two minutes
    .venv/bin/python -m bench --sections inprocess,memory

Sections: inprocess (agreement, load times, latency and decisions/s of replygate, the floor,
Cedar and Casbin at the example policy and +10 … +10,000 rules; bench/compare.py), memory
(bench/memory.py), http (bench/bench_http.py: /v1/check against the FastAPI floor), and the
other benches as they are: git (bench/bench_git.py), diff (bench/bench_diff.py) and
decision-log (bench/bench_decision_log.py). Writes bench/results/latest.md and latest.json and
prints the Markdown. Exit status: 0; 1 when an engine disagrees with replygate; 2 for bad
options. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import compare, memory

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("inprocess", "memory", "http", "git", "diff", "decision-log")
OTHER_BENCHES = {
    "git": "Loading policies from git (bench/bench_git.py)",
    "diff": "replygate diff (bench/bench_diff.py)",
    "decision-log": "Decision-log writer (bench/bench_decision_log.py)",
}


# ---- the machine --------------------------------------------------------------------------------


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (this machine is shared: figures need them)."""
    return [round(value, 2) for value in os.getloadavg()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _commit() -> str | None:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{sha} with uncommitted changes" if dirty else sha


def machine() -> dict[str, Any]:
    """Where and when the figures were taken."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "commit": _commit(),
    }


# ---- the sections -------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _section(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one section and note the machine's load before and after it, and its duration."""
    _log(f"== {name} (load average {' '.join(map(str, load_average()))})")
    before, began = load_average(), time.monotonic()
    result = run()
    result["_load"] = {"before": before, "after": load_average()}
    result["_seconds"] = round(time.monotonic() - began, 1)
    return result


def _subprocess_bench(
    module: str, args: list[str], timeout: float, with_json: bool = False
) -> dict[str, Any]:
    """Run another engineer's bench as a script; its stdout is its report, `--json` its figures."""
    if not (ROOT / "bench" / f"{module}.py").exists():
        return {"skipped": f"bench/{module}.py does not exist"}
    with tempfile.TemporaryDirectory(prefix="replygate-bench-") as folder:
        json_file = Path(folder) / "result.json"
        command = [sys.executable, "-m", f"bench.{module}", *args]
        if with_json:
            command += ["--json", str(json_file)]
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=None,  # its progress goes straight to the terminal
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"skipped": f"bench/{module}.py did not finish within {timeout:.0f} s"}
        if done.returncode != 0:
            return {"skipped": f"bench/{module}.py exited with status {done.returncode}"}
        found: dict[str, Any] = {"report": done.stdout.rstrip()}
        if json_file.exists():
            found["result"] = json.loads(json_file.read_text(encoding="utf-8"))
        return found


def _supports(module: str, option: str) -> bool:
    """Whether another engineer's bench takes `option` (read from its --help)."""
    shown = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return option in shown.stdout


def http_section(duration: float, rounds: int, attribution: bool) -> dict[str, Any]:
    """bench/bench_http.py: /v1/check with the decision log against the floor app."""
    args = ["--duration", str(duration), "--rounds", str(rounds)]
    if attribution and _supports("bench_http", "--attribution"):
        args.append("--attribution")  # the API once more without its decision log
    # Up to six servers, two measurements each per round, plus start-up and warm-up.
    return _subprocess_bench("bench_http", args, 24 * duration * rounds + 300, with_json=True)


HTTP_SERVERS = {
    "floor": "floor (FastAPI, constant)",
    "api": "replygate /v1/check, log durable (default)",
    "api-async": "replygate /v1/check, log async",
    "api-nolog": "replygate /v1/check, decision log off",
}


def _http_markdown(section: dict[str, Any]) -> list[str]:
    lines = ["## HTTP: /v1/check against the floor of the stack", ""]
    if "skipped" in section:
        return [*lines, f"Not measured: {section['skipped']}."]
    summary = section["result"]
    settings = summary["settings"]
    servers = summary["servers"]
    lines += [
        f"bench/bench_http.py: {settings['server']}; wrk with {settings['wrk_connections']} "
        f"keep-alive connections for {settings['duration_s']:g} s per run, then an open-loop "
        f"generator at half the measured maximum (latency from each request's due time); "
        f"{settings['rounds']} interleaved rounds, medians. The API runs with bearer-key "
        "authentication and the decision log on (SQLite); the floor is FastAPI validating the "
        "same body and answering a constant (bench/floor_app.py). The load generators share the "
        "two cores with the servers.",
        "",
        "| server | workers | req/s | p50 ms | p99 ms | to floor | at half rate: req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers in (1, 2):
        floor = servers[f"floor-{workers}w"]["rps"]
        for kind, name in HTTP_SERVERS.items():
            row = servers.get(f"{kind}-{workers}w")
            if row is None:
                continue
            ratio = "" if kind == "floor" else f"{row['rps'] / floor:.0%}"
            lines.append(
                f"| {name} | {workers} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {ratio} | {row['half_rate']:,.0f} | "
                f"{row['half_p50_ms']:.2f} | {row['half_p99_ms']:.2f} | {row['errors']} |"
            )
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for kind, mode, target in (("api", "durable", 0.60), ("api-async", "async", 0.75)):
        if f"{kind}-2w" not in servers:
            continue
        ratio = servers[f"{kind}-2w"]["rps"] / servers["floor-2w"]["rps"]
        lines.append(
            f"| /v1/check throughput ({mode} log) ≥ {target:.0%} of the floor's at 2 workers | "
            f"{ratio:.0%} | {'yes' if ratio >= target else '**no**'} |"
        )
    for workers in (1, 2):
        p99 = servers[f"api-{workers}w"]["half_p99_ms"]
        lines.append(
            f"| /v1/check p99 < 20 ms at half the maximum rate, {workers} worker(s) | "
            f"{p99:.1f} ms | {'yes' if p99 < 20 else '**no**'} |"
        )
    return lines + _http_cpu_markdown(servers)


def _http_cpu_markdown(servers: dict[str, Any]) -> list[str]:
    """CPU per request by process role, where bench_http measured it."""
    measured = {
        name: row["cpu_us_per_request"]
        for name, row in servers.items()
        if "cpu_us_per_request" in row
    }
    if not measured:
        return []
    roles = [
        role
        for role in ("worker", "committer", "supervisor", "other", "wrk")
        if any(role in used for used in measured.values())
    ]
    lines = [
        "",
        "CPU per request at saturation (µs; the servers' processes read from /proc, wrk's from "
        "its exit; all share the two cores):",
        "",
        "| server | workers | " + " | ".join(roles) + " | all |",
        "|---|---:|" + "---:|" * (len(roles) + 1),
    ]
    for workers in (1, 2):
        for kind, name in HTTP_SERVERS.items():
            used = measured.get(f"{kind}-{workers}w")
            if used is None:
                continue
            cells = " | ".join(f"{used[role]:.0f}" if role in used else "" for role in roles)
            lines.append(f"| {name} | {workers} | {cells} | {sum(used.values()):.0f} |")
    return lines


def _text_markdown(title: str, section: dict[str, Any]) -> list[str]:
    lines = [f"## {title}", ""]
    if "skipped" in section:
        return [*lines, f"Not measured: {section['skipped']}."]
    return [*lines, "```", section["report"], "```"]


def markdown(results: dict[str, Any], command: str) -> str:
    """latest.md: the run's header, then each section that ran."""
    meta = results["meta"]
    minutes, seconds = divmod(round(meta["duration_s"]), 60)
    lines = [
        "# replygate benchmarks",
        "",
        f"- run: {meta['date']}, `{command}`, {minutes} min {seconds} s"
        + (f", commit {meta['commit']}" if meta["commit"] else ""),
        f"- machine: {meta['cpu']}, {meta['cpus']} CPUs, {meta['memory_gb']} GB, "
        f"{meta['os']}, Python {meta['python']}",
        f"- shared machine, load average (1/5/15 min): {' / '.join(map(str, meta['load_before']))} "
        f"at the start, {' / '.join(map(str, meta['load_after']))} at the end",
    ]
    for name in SECTIONS:
        section = results.get(name)
        if section and "_load" in section:
            load = section["_load"]
            lines.append(
                f"- {name}: {section['_seconds']:g} s, load {load['before'][0]} → {load['after'][0]}"
            )
    lines.append("")
    if "inprocess" in results:
        lines += [compare.markdown(results["inprocess"]), ""]
    if "memory" in results:
        lines += [memory.markdown(results["memory"]), ""]
    if "http" in results:
        try:
            lines += [*_http_markdown(results["http"]), ""]
        except (KeyError, TypeError, ZeroDivisionError):
            # bench_http.py is someone else's and may change shape: show its own report then.
            title = "HTTP (bench/bench_http.py's own report: its JSON changed shape)"
            lines += [*_text_markdown(title, results["http"]), ""]
    for name, title in OTHER_BENCHES.items():
        if name in results:
            lines += [*_text_markdown(title, results[name]), ""]
    return "\n".join(lines)


# ---- the command --------------------------------------------------------------------------------


def _sections(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or '(none)'}; choose from {', '.join(SECTIONS)}"
        )
    return chosen


PEERS = ("floor", "cedar", "casbin", "casbin-shipped")


def _engines(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown engine {', '.join(unknown)}; choose from {', '.join(PEERS)}"
        )
    return chosen


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rule counts: {text!r}") from None
    if not sizes or sizes[0] < 0:
        raise argparse.ArgumentTypeError("rule counts are 0 (the example policy) or more")
    return sizes


def parser() -> argparse.ArgumentParser:
    """The options of `python -m bench`."""
    found = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    found.add_argument("--quick", action="store_true", help="fewer requests, shorter runs (~2 min)")
    found.add_argument(
        "--sections",
        type=_sections,
        default=list(SECTIONS),
        help=f"comma-separated, from {','.join(SECTIONS)} (default: all)",
    )
    found.add_argument(
        "--engines",
        type=_engines,
        help="in process: only these peers beside replygate "
        "(from floor,cedar,casbin,casbin-shipped; default all)",
    )
    found.add_argument(
        "--requests", type=int, help="generated requests (default 10000; quick 2000)"
    )
    found.add_argument("--seed", type=int, default=7, help="the request generator's seed")
    found.add_argument(
        "--sizes",
        type=_sizes,
        default=compare.SIZES,
        help="extra rules per policy size, 0 = the example (default 0,10,100,1000,10000)",
    )
    found.add_argument(
        "--budget",
        type=float,
        help="seconds per timed series; slower series are sampled (default 3; quick 0.4)",
    )
    found.add_argument("--slices", type=int, help="interleaved slices (default 20; quick 4)")
    found.add_argument("--batch", type=int, default=100, help="requests per batch (default 100)")
    found.add_argument(
        "--http-duration", type=float, help="seconds per HTTP run (default 6; quick 2)"
    )
    found.add_argument("--http-rounds", type=int, help="HTTP rounds (default 2; quick 1)")
    found.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="where latest.md/json go"
    )
    return found


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quick = args.quick
    settings = compare.Settings(
        requests=args.requests or (2_000 if quick else 10_000),
        seed=args.seed,
        sizes=args.sizes,
        budget=args.budget or (0.4 if quick else 3.0),
        slices=args.slices or (4 if quick else 20),
        batch=args.batch,
        load_repeat=1 if quick else 3,
        min_samples=30 if quick else 100,
    )
    if settings.requests < settings.slices or settings.batch < 1 or settings.budget <= 0:
        print(
            "python -m bench: error: need requests >= slices, batch >= 1, budget > 0",
            file=sys.stderr,
        )
        return 2
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {"meta": {**machine(), "load_before": load_average()}}
    began = time.monotonic()
    if "inprocess" in args.sections:
        results["inprocess"] = _section("in process", lambda: compare.run(settings, args.engines))
    if "memory" in args.sections:
        results["memory"] = _section(
            "memory",
            lambda: memory.measure(settings.sizes, 20 if quick else 100, settings.seed),
        )
    if "http" in args.sections:
        duration = args.http_duration or (2.0 if quick else 6.0)
        rounds = args.http_rounds or (1 if quick else 2)
        results["http"] = _section("http", lambda: http_section(duration, rounds, not quick))
    if "git" in args.sections:
        repeat = "1" if quick else "3"
        results["git"] = _section(
            "git",
            lambda: _subprocess_bench("bench_git", ["--repeat", repeat, "--rules", "1000"], 600),
        )
    if "diff" in args.sections:
        repeat = "1" if quick else "3"
        results["diff"] = _section(
            "diff",
            lambda: _subprocess_bench("bench_diff", ["--repeat", repeat], 600, with_json=True),
        )
    if "decision-log" in args.sections:
        records, rounds = ("5000", "1") if quick else ("20000", "3")
        results["decision-log"] = _section(
            "decision-log",
            lambda: _subprocess_bench(
                "bench_decision_log", ["--records", records, "--rounds", rounds], 600, True
            ),
        )
    results["meta"]["load_after"] = load_average()
    results["meta"]["duration_s"] = round(time.monotonic() - began, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(  # first: the figures survive a formatting bug
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    report = markdown(results, command.strip())
    (args.out / "latest.md").write_text(report + "\n", encoding="utf-8")
    print(report)
    _log(f"wrote {args.out / 'latest.md'} and {args.out / 'latest.json'}")
    if "inprocess" in results and disagreements(results["inprocess"]):
        _log("python -m bench: an engine disagrees with replygate (see the agreement table)")
        return 1
    return 0


def disagreements(inprocess: dict[str, Any]) -> int:
    """Every disagreement with replygate: the full agreement pass and the timed answers."""
    full: int = sum(
        style["disagreements"]
        for styles in inprocess["agreement"].values()
        for style in styles.values()
    )
    timed: int = sum(row["disagreements"] for row in inprocess["series"])
    return full + timed


if __name__ == "__main__":
    sys.exit(main())
