"""Lint + compile time of policies at 1x, 2x and 4x size: whatever passes the limits is linear.

The scaled policy (`scaled_sources`) grows every part a real policy set grows: rules of every
shape (`bench/gen_policy.py`), conditional denies, persons, groups, roles in inheritance
chains, channels and calendars. Beside it, the shapes at the limits (docs/limits.md) are timed
at 1x, 2x and 4x of their own size: a long inheritance chain, a long `in [...]` list, deep
nesting and long text. The last part times what must be refused fast: a list of 100,000 items,
a 10,000-level chain and a 50 MB file.

    .venv/bin/python bench/bench_limits.py            # base size 5,000 rules (4x = 20,000)
    .venv/bin/python bench/bench_limits.py --base 1000 --repeat 1

Figures are CPU seconds of the process, the best of `--repeat` runs (the machine is shared, and
wall-clock time there measures the other processes), and `xN` divides each time by the 1x
time: linear growth reads about x2 and x4.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path

from replygate.engine.loader import check_sources, compile_sources
from replygate.policy_dsl import limits
from replygate.policy_dsl.source import PolicyError

try:  # run as a script (python bench/bench_limits.py) or as a module (python -m bench.bench_limits)
    from bench.gen_policy import generated_sources
except ModuleNotFoundError:  # pragma: no cover - script form
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.gen_policy import generated_sources

FACTORS = (1, 2, 4)


def scaled_sources(rules: int) -> dict[str, str]:
    """The example policy plus `rules` generated rules and people, denies and roles in proportion."""
    sources = generated_sources(rules)
    chains = "".join(
        f"role chain_{c}_0\n"
        + "".join(f"role chain_{c}_{n} extends chain_{c}_{n - 1}\n" for n in range(1, 50))
        for c in range(rules // 200)
    )
    persons = "".join(
        f"person p{n} is {'agent' if n % 3 else f'chain_{n % max(1, rules // 200)}_49'}\n"
        for n in range(rules // 4)
    )
    groups = "".join(f'group "team-{n}" is agent\n' for n in range(rules // 20))
    denies = "".join(
        f"rule deny-{n} {{\n    deny\n    on reply\n    by anyone\n"
        f'    when actor.id == "blocked-{n}"\n    message "Account {n} is blocked."\n}}\n'
        for n in range(rules // 10)
    )
    sources["policies/people.policy"] = chains + persons + groups
    sources["policies/denies.policy"] = denies
    return sources


def chain(levels: int) -> dict[str, str]:
    roles = "role r0\n" + "".join(f"role r{n} extends r{n - 1}\n" for n in range(1, levels))
    rule = 'rule ok {\n    allow\n    on reply\n    by r0\n    message "ok"\n}\n'
    return {"chain.policy": roles + f"person alice is r{levels - 1}\n" + rule}


def long_list(items: int) -> dict[str, str]:
    values = ", ".join(f'"@brand-{n}"' for n in range(items))
    rule = (
        "rule brands {\n    allow\n    on post\n    by anyone\n"
        f'    when account in [{values}]\n    message "brands"\n}}\n'
    )
    return {"list.policy": rule}


def nested(rules: int) -> dict[str, str]:
    depth = limits.MAX_NESTING // 2 - 1
    condition = "context.a and (context.b or " * depth + "context.c" + ")" * depth
    text = "".join(
        f"rule n{n} {{\n    allow\n    on reply\n    by anyone\n    when {condition}\n"
        f'    message "nested"\n}}\n'
        for n in range(rules)
    )
    return {"nested.policy": text}


def unterminated(pairs: int) -> dict[str, str]:
    """A quoted text that never ends, on one line full of escaped quotes: error recovery
    rescanned the line from every quote (quadratic: 38 s for 40,000 pairs)."""
    return {"broken.policy": 'role a\nrule r { allow on reply by a message "' + '\\"' * pairs}


def timed(work: Callable[[], object], repeat: int) -> float:
    """CPU seconds of this process (best of `repeat`): on a shared machine, wall-clock time
    mostly measures the other processes."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def lint_and_compile(sources: dict[str, str]) -> None:
    _, diagnostics = check_sources(sources)
    errors = [d for d in diagnostics if d.severity.value == "error"]
    if errors:
        raise SystemExit("the benchmark policy does not check:\n" + errors[0].render(sources))
    compile_sources(sources)


def refused(sources: dict[str, str]) -> None:
    try:
        compile_sources(sources)
    except PolicyError:
        return
    raise SystemExit("expected the policy to be refused")


def row(name: str, make: Callable[[int], dict[str, str]], base: int, repeat: int) -> str:
    times = []
    for factor in FACTORS:
        sources = make(base * factor)
        size = sum(len(t) for t in sources.values())
        times.append((base * factor, size, timed(lambda s=sources: lint_and_compile(s), repeat)))
    cells = " | ".join(
        f"{n:,} ({size / 1e6:.1f} MB): {t:.2f} s, x{t / times[0][2]:.1f}" for n, size, t in times
    )
    return f"| {name} | {cells} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=5_000, help="rules at 1x (default 5,000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure, best kept")
    args = parser.parse_args()
    base, repeat = args.base, args.repeat
    print("| policy (1x, 2x, 4x) | 1x | 2x | 4x |")
    print("|---|---|---|---|")
    print(row("scaled policy set (rules)", scaled_sources, base, repeat), flush=True)
    print(row("inheritance chain (levels)", chain, 250, repeat), flush=True)
    print(row("`in [...]` list (items)", long_list, 2_500, repeat), flush=True)
    print(row(f"nesting {limits.MAX_NESTING - 2} deep (rules)", nested, 50, repeat), flush=True)
    times = [
        (n, timed(lambda n=n: refused(unterminated(n)), repeat)) for n in (10_000, 20_000, 40_000)
    ]
    cells = " | ".join(f"{n:,} pairs: {t:.2f} s, x{t / times[0][1]:.1f}" for n, t in times)
    print(f"| unterminated text on one line (refused) | {cells} |", flush=True)
    print()
    print("| refused input | time to the diagnostic |")
    print("|---|---|")
    for name, sources in (
        ("list of 100,000 items", long_list(100_000)),
        ("inheritance chain of 10,000 levels", chain(10_000)),
        ("50 MB file", {"big.policy": "# " + "x" * 50_000_000 + "\n"}),
    ):
        print(f"| {name} | {timed(lambda s=sources: refused(s), repeat):.2f} s |", flush=True)


if __name__ == "__main__":
    main()
