"""Peak memory of each engine at each policy size, each measured in a fresh interpreter.

    .venv/bin/python -m bench --sections memory        (one worker: python -m bench.memory --help)

Why resident memory and not tracemalloc: tracemalloc sees only what Python's own allocator hands
out, and Cedar keeps its policies in Rust (cedarpy), so it would look free. The operating
system's peak resident set size counts every allocator alike. It is read from `VmHWM` in
/proc/self/status, the high-water mark of this process's own address space: `ru_maxrss` would
not do, because Linux carries it over from the parent through fork and exec, so every worker
started by a runner holding large policies reported the runner's peak.

Why a fresh interpreter per engine and size: a peak only ever grows, and one engine's freed
memory stays in the process, so measurements in one process would charge each engine for the
ones before it. Each worker reads a small sample of requests, then reads its peak three times:

1. start: the interpreter and the requests (JSON bytes);
2. imported: plus the engine's modules and the policy's text (`import` = 2 - 1);
3. peak: plus loading the policy and deciding every request of the sample, end to end
   (`policy` = 3 - 2, what the loaded policy and the decisions' caches cost);

and finally the resident set (VmRSS): what stays once the garbage of loading is collected
(a compiler's parse trees make the peak higher than what a loaded policy keeps).

The baseline of each figure is the same interpreter a moment earlier, with the same imports,
so nothing but the measured step differs.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENGINES = {
    "replygate": "replygate",
    "floor": "floor (plain Python)",
    "cedar": "cedarpy",
    "casbin": "pycasbin",
}
PEER_MODULES = {"cedar": "cedarpy", "casbin": "casbin"}


def _status_kb(field: str) -> int | None:
    """A memory figure of this process from /proc/self/status, in KiB (None without /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_kb() -> int:
    """This address space's peak resident set size in KiB."""
    gc.collect()
    peak = _status_kb("VmHWM")
    if peak is not None:
        return peak
    # Without /proc (macOS: bytes, not KiB): inherited from the parent, so an upper bound.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss // 1024 if sys.platform == "darwin" else maxrss


def _prepare(engine: str, size: int) -> tuple[Any, Callable[[Any], Any], Callable[[bytes], Any]]:
    """Import the engine and build its policy source: (source, load, make the decide call)."""
    if engine == "replygate":
        from bench.gen_policy import generated_sources
        from replygate.engine.loader import compile_sources
        from replygate.engine.models import CheckRequest

        sources = generated_sources(size)
        if not size:
            sources.pop("policies/generated.policy")
        validate = CheckRequest.model_validate_json
        return (
            sources,
            compile_sources,
            lambda policy: lambda body: policy.decide(validate(body)),
        )
    if engine == "floor":
        from bench.peers import floor

        return None, lambda _: floor, lambda module: lambda body: module.decide(json.loads(body))
    if engine == "cedar":
        from bench.peers.cedar_peer import CedarPeer, scaled_policy_text

        return (
            scaled_policy_text(size),
            CedarPeer,
            lambda peer: lambda body: peer.decide(json.loads(body)),
        )
    if engine == "casbin":
        from bench.peers.casbin_peer import CasbinPeer, scaled_policy_text

        return (
            scaled_policy_text(size),
            lambda text: CasbinPeer(text, parse_once=True),
            lambda peer: lambda body: peer.decide(json.loads(body)),
        )
    raise ValueError(f"unknown engine {engine!r}")


def worker(engine: str, size: int, requests_file: Path) -> dict[str, Any]:
    """Runs in its own interpreter: the three peaks for one engine at one size."""
    raw = requests_file.read_bytes().splitlines()
    start = _peak_kb()
    source, load, decider = _prepare(engine, size)
    imported = _peak_kb()
    decide = decider(load(source))
    for body in raw:
        decide(body)
    peak = _peak_kb()
    return {
        "resident_kb": _status_kb("VmRSS"),  # what stays once loading's garbage is gone
        "engine": engine,
        "size": size,
        "sample": len(raw),
        "start_kb": start,
        "imported_kb": imported,
        "peak_kb": peak,
    }


def available() -> tuple[list[str], list[str]]:
    """The engines this environment can measure, and the peers that are missing."""
    found, missing = [], []
    for engine in ENGINES:
        module = PEER_MODULES.get(engine)
        if module is None or importlib.util.find_spec(module) is not None:
            found.append(engine)
        else:
            missing.append(engine)
    return found, missing


def _run_worker(engine: str, size: int, requests_file: Path, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", engine, str(size), str(requests_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"engine": engine, "size": size, "error": tail[0]}
    measured: dict[str, Any] = json.loads(done.stdout)
    return measured


def measure(
    sizes: Sequence[int],
    sample: int,
    seed: int = 7,
    jobs: int = 2,
    engines: Sequence[str] | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Every engine at every size (the floor at the example only), `jobs` workers at a time."""
    from bench.requests_gen import generate

    found, missing = available()
    if engines is not None:
        found = [e for e in found if e in engines]
    plan = [(e, s) for e in found for s in sizes if e != "floor" or s == 0]
    with tempfile.TemporaryDirectory(prefix="replygate-bench-memory-") as folder:
        requests_file = Path(folder) / "requests.jsonl"
        requests_file.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in generate(sample, seed)),
            encoding="utf-8",
        )
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(
                pool.map(lambda job: _run_worker(job[0], job[1], requests_file, timeout), plan)
            )
    rows: dict[str, dict[str, Any]] = {}
    for result in results:
        rows.setdefault(result["engine"], {})[str(result["size"])] = result
    return {
        "method": "VmHWM (peak RSS) of a fresh interpreter per engine and size",
        "sample": sample,
        "sizes": list(sizes),
        "missing": missing,
        "rows": rows,
    }


def _mb(kib: int) -> str:
    return f"{kib / 1024:,.1f}"


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    if "error" in row:
        return "failed"
    peak = _mb(row["peak_kb"] - row["imported_kb"])
    resident = row.get("resident_kb")
    if resident is None:
        return peak
    return f"{peak} / {_mb(max(0, resident - row['imported_kb']))}"


def markdown(result: dict[str, Any]) -> str:
    """The memory table: what loading the policy and deciding the sample adds, in MB."""
    sizes = result["sizes"]
    labels = ["example" if s == 0 else f"+{s:,} rules" for s in sizes]
    lines = [
        "## Peak memory",
        "",
        "A fresh interpreter per engine and size. Each cell: MB that loading the policy and "
        f"deciding {result['sample']} requests end to end add to the interpreter's peak resident "
        "memory (VmHWM), then, after the slash, what stays resident once loading's garbage is "
        "gone (VmRSS at the end); both over the interpreter that has already imported the engine "
        "and built the policy text. `import`: what importing the engine added; `total`: the "
        "whole process's peak at the largest size.",
        "",
        "| engine | " + " | ".join(labels) + " | import | total |",
        "|---|" + "---:|" * (len(sizes) + 2),
    ]
    for engine, by_size in result["rows"].items():
        cells = [_cell(by_size.get(str(size))) for size in sizes]
        measured = [r for r in by_size.values() if "error" not in r]
        first = measured[0] if measured else None
        last = measured[-1] if measured else None
        cells.append(_mb(first["imported_kb"] - first["start_kb"]) if first else "—")
        cells.append(_mb(last["peak_kb"]) if last else "—")
        lines.append(f"| {ENGINES[engine]} | " + " | ".join(cells) + " |")
    errors = [
        f"- {r['engine']} at {r['size']:,} rules: {r['error']}"
        for by_size in result["rows"].values()
        for r in by_size.values()
        if "error" in r
    ]
    if errors:
        lines += ["", "Failed workers:", "", *errors]
    if result["missing"]:
        lines += ["", f"Not measured (not installed): {', '.join(result['missing'])}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="One memory worker (python -m bench runs them all): prints its peaks as JSON."
    )
    parser.add_argument("engine", choices=sorted(ENGINES))
    parser.add_argument("size", type=int, help="extra generated rules (0: the example policy)")
    parser.add_argument("requests", type=Path, help="a JSONL file of requests to decide")
    args = parser.parse_args(argv)
    print(json.dumps(worker(args.engine, args.size, args.requests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
