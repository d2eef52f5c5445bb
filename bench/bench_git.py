"""Loading policies from git: cold (compile + blame), warm (cached by sha), and at 10,000 rules.

    .venv/bin/python -m bench.bench_git [--repeat N]

Builds throw-away repositories in a temporary folder: the example policy with a 20-commit
history (one rule edited per commit, by different authors, so blame has work to do), and the
example policy plus 10,000 generated rules (`bench.gen_policy`) in two commits. Prints one
table; times are wall-clock per load, median and best of N.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.gen_policy import generated_sources
from replygate.engine.loader import compile_sources
from replygate.engine.store import PolicyRepo

ROOT = Path(__file__).resolve().parent.parent
AUTHORS = ("Ada", "Bob", "Carol", "Dave")
_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **_ENV, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str, author: str, when: datetime) -> str:
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _git(repo, "add", "--", *files)
    stamp = f"{int(when.timestamp())} +0000"
    email = f"{author.lower()}@example.com"
    env = {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": stamp,
    }
    _git(repo, "commit", "--quiet", "--no-verify", "-m", message, env=env)
    return _git(repo, "rev-parse", "HEAD")


def _new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "--quiet", "--initial-branch=main")
    return path


def example_repo(path: Path, commits: int = 20) -> Path:
    """The example policy, then `commits - 1` commits that each reword one rule's message."""
    repo = _new_repo(path)
    files = {
        f"policies/{p.name}": p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "policies").glob("*.policy"))
    }
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    _commit(repo, files, "Import the example policy", "Ada", start)
    for number in range(1, commits):
        name = sorted(f for f in files if "care" in f or "safety" in f)[number % 2]
        text = files[name]
        files[name] = text.replace('message "', f'message "[{number}] ', 1)
        author = AUTHORS[number % len(AUTHORS)]
        _commit(
            repo, {name: files[name]}, f"Reword ({number})", author, start + timedelta(days=number)
        )
    return repo


def large_repo(path: Path, rules: int) -> Path:
    """The example policy plus `rules` generated rules, then one commit changing one of them."""
    repo = _new_repo(path)
    sources = generated_sources(rules)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    _commit(repo, sources, f"{rules} generated rules", "Ada", start)
    name = "policies/generated.policy"
    changed = sources[name].replace("Agents may post for brand 0.", "Agents post for brand 0.", 1)
    _commit(repo, {name: changed}, "Reword one grant", "Bob", start + timedelta(days=1))
    return repo


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and best wall-clock seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times), min(times)


def cold(repo: Path, blame: bool) -> Callable[[], object]:
    def run() -> object:
        with PolicyRepo(repo, blame=blame) as store:
            return store.load("main")

    return run


def measure(repeat: int, big_rules: int) -> list[tuple[str, float, float, int]]:
    """Every case of the table: (name, median seconds, best seconds, runs)."""
    rows: list[tuple[str, float, float, int]] = []

    def add(name: str, run: Callable[[], object], runs: int) -> None:
        rows.append((name, *timed(run, runs), runs))

    warm = repeat * 20
    few = max(3, repeat // 5)
    with tempfile.TemporaryDirectory(prefix="replygate-bench-git-") as scratch:
        example = example_repo(Path(scratch) / "example")
        sources = {
            f"policies/{p.name}": p.read_text(encoding="utf-8")
            for p in sorted((ROOT / "policies").glob("*.policy"))
        }
        add("example: compile from disk (no git)", lambda: compile_sources(sources), repeat)
        add("example: cold load, with blame", cold(example, True), repeat)
        add("example: cold load, no blame", cold(example, False), repeat)
        with PolicyRepo(example) as store:
            sha = store.load("main").version.commit or ""
            when = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
            add("example: warm load('main') (rev-parse + hit)", lambda: store.load("main"), warm)
            add("example: warm load(full sha) (hit, no git)", lambda: store.load(sha), warm)
            add("example: warm load('main', as_of=...)", lambda: store.load("main", when), warm)
            add(
                "example: rule_history, 20 commits",
                lambda: store.rule_history("no-promises-of-outcomes"),
                repeat,
            )

        big = large_repo(Path(scratch) / "large", big_rules)
        label = f"{big_rules:,} rules"
        generated = generated_sources(big_rules)
        add(f"{label}: compile from disk (no git)", lambda: compile_sources(generated), few)
        add(f"{label}: cold load, with blame", cold(big, True), few)
        add(f"{label}: cold load, no blame", cold(big, False), few)
        with PolicyRepo(big) as store:
            store.load("main")
            add(f"{label}: warm load('main')", lambda: store.load("main"), warm)
            add(
                f"{label}: rule_history, 2 commits",
                lambda: store.rule_history("grant-account-0"),
                repeat,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="runs per cold measurement")
    parser.add_argument("--rules", type=int, default=10_000, help="size of the large policy")
    args = parser.parse_args()
    rows = measure(args.repeat, args.rules)
    width = max(len(name) for name, *_ in rows)
    print(f"{'case':<{width}}  {'median':>10}  {'best':>10}  {'runs':>5}")
    for name, median, best, runs in rows:
        print(f"{name:<{width}}  {_ms(median):>10}  {_ms(best):>10}  {runs:>5}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
