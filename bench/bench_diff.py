"""`replygate diff` of two commits: the example policy, and the example plus 1,000 generated rules.

    .venv/bin/python -m bench.bench_diff [--repeat N] [--json FILE]

Builds throw-away repositories in a temporary folder, each with two branches: `main` and
`change`. For the example policy the change moves a threshold (reach 10,000 -> 5,000); for the
1,000-rule policy (`bench.gen_policy`) it moves one per-account grant to another channel.
Times the whole command in-process (git read, compile both sides, generate the request space,
decide it on both sides, render JSON), then each phase alone. Median and best of N runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.gen_policy import generated_sources
from replygate.cli.main import main as replygate
from replygate.engine.review import compare, load_side, render
from replygate.engine.review.impact import decision_impact
from replygate.engine.review.rules import rule_changes
from replygate.engine.review.space import generate_space
from replygate.engine.store import PolicyRepo

ROOT = Path(__file__).resolve().parent.parent
_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

THRESHOLD = ("policies/care.policy", "author_reach >= 10000", "author_reach >= 5000")
MOVED_GRANT = (
    "policies/generated.policy",
    "rule grant-account-0 {\n    allow\n    on post\n    via twitter\n",
    "rule grant-account-0 {\n    allow\n    on post\n    via facebook\n",
)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **_ENV, **_IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _git(repo, "add", "--", *files)
    _git(repo, "commit", "--quiet", "--no-verify", "-m", message)


def make_case(path: Path, sources: dict[str, str], edit: tuple[str, str, str]) -> Path:
    """A repository with `sources` on `main` and the edited version on branch `change`."""
    path.mkdir(parents=True)
    _git(path, "init", "--quiet", "--initial-branch=main")
    _commit(path, sources, "Policy")
    file, old, new = edit
    if old not in sources[file]:
        raise SystemExit(f"bench: the text to edit is not in {file}: {old!r}")
    _git(path, "checkout", "--quiet", "-b", "change")
    _commit(path, {file: sources[file].replace(old, new, 1)}, "One change")
    _git(path, "checkout", "--quiet", "main")
    return path


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    """(median, best) seconds of `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def measure_case(name: str, repo: Path, runs: int) -> dict[str, Any]:
    """The whole command, then each phase, for one repository."""

    def command() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            code = replygate(["diff", "main", "change", "--repo", str(repo), "--format", "json"])
        if code != 0:
            raise SystemExit(f"bench: replygate diff exited {code} on {name}")

    with PolicyRepo(repo, blame=False) as store:
        old_sha, new_sha = store.resolve("main"), store.resolve("change")
        old_sources, new_sources = store.sources_at(old_sha), store.sources_at(new_sha)
        read = timed(lambda: (store.sources_at(old_sha), store.sources_at(new_sha)), runs)
    base = load_side("base", "main", old_sources, old_sha)
    head = load_side("head", "change", new_sources, new_sha)
    space = generate_space(base, head)
    changes = rule_changes(base, head)
    impact = decision_impact(base, head, space, 3, changes)
    review = compare(base, head)
    phases = {
        "read both commits": read,
        "compile both sides": timed(
            lambda: (
                load_side("base", "main", old_sources, old_sha),
                load_side("head", "change", new_sources, new_sha),
            ),
            runs,
        ),
        "generate the request space": timed(lambda: generate_space(base, head), runs),
        "decide it on both sides": timed(
            lambda: decision_impact(base, head, space, 3, changes), runs
        ),
        "render JSON": timed(lambda: render(review, "json"), runs),
        "whole command": timed(command, runs),
    }
    return {
        "case": name,
        "rules": len(head.policy.rules),
        "space": len(space),
        "decisions": impact.decisions,
        "changed": impact.changed,
        "groups": [
            f"{g.klass}: {g.before} -> {g.after} ({g.count}) because {g.cause.kind}"
            + (f" {', '.join(g.cause.rules)}" if g.cause.rules else "")
            for g in impact.groups
        ],
        "phases": {k: {"median_s": m, "best_s": b} for k, (m, b) in phases.items()},
    }


def measure(runs: int) -> list[dict[str, Any]]:
    example = generated_sources(0)
    example.pop("policies/generated.policy")
    with tempfile.TemporaryDirectory(prefix="replygate-bench-diff-") as folder:
        root = Path(folder)
        return [
            measure_case(
                "example policy, threshold moved",
                make_case(root / "example", example, THRESHOLD),
                runs,
            ),
            measure_case(
                "example + 1,000 rules, one grant moved",
                make_case(root / "thousand", generated_sources(1_000), MOVED_GRANT),
                runs,
            ),
        ]


def report(results: list[dict[str, Any]]) -> str:
    lines = []
    for result in results:
        lines += [
            f"{result['case']}: {result['rules']:,} rules, {result['space']:,} requests in the "
            f"space, {result['decisions']:,} decisions, {result['changed']:,} changed",
            *(f"    {group}" for group in result["groups"]),
        ]
        width = max(len(k) for k in result["phases"])
        for phase, numbers in result["phases"].items():
            lines.append(
                f"  {phase:<{width}}  median {numbers['median_s']:7.3f} s"
                f"  best {numbers['best_s']:7.3f} s"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results = measure(max(1, args.repeat))
    print(report(results))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
