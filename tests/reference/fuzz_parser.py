"""Coverage-guided fuzzing of the parser and the checker with atheris (libFuzzer): `make fuzz`.

Whatever text comes in, `parse_policy` and `check` may answer only with diagnostics: a
`PolicyError`, or a check result listing errors. Any other exception is a crash, which
libFuzzer reports with the input that caused it (saved as `build/fuzz/crash-…`).

    python -m tests.reference.fuzz_parser [-max_total_time=SECONDS] [libFuzzer options]

The corpus starts from the bundled policy, the golden files and generated policies, and
libFuzzer's dictionary holds the grammar's keywords, so mutations stay close to the language.
libFuzzer prints the number of executions at the end ("Done N runs in S second(s)").
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["replygate", "lark"]):
    from replygate.policy_dsl.checker import check
    from replygate.policy_dsl.parser import parse_policy
    from replygate.policy_dsl.source import PolicyError

ROOT = Path(__file__).resolve().parents[2]


def one_input(data: bytes) -> None:
    """Parse and check one input; only diagnostics may come out."""
    text = data.decode("utf-8", errors="replace")
    try:
        tree = parse_policy(text, "fuzz.policy")
    except PolicyError:
        return
    check([tree])


def seed_corpus(folder: Path) -> None:
    """Real and generated policies to start mutating from."""
    from tests.reference.strategies import RandomChooser, make_policy

    seeds = [*ROOT.glob("policies/**/*.policy"), *ROOT.glob("tests/golden/**/*.policy")]
    for number, seed in enumerate(seeds):
        (folder / f"seed-{number}").write_bytes(seed.read_bytes())
    for number in range(50):
        for name, text in make_policy(RandomChooser(f"fuzz/{number}")).sources.items():
            (folder / f"generated-{number}-{name}").write_text(text, encoding="utf-8")


def dictionary(path: Path) -> None:
    """The grammar's keywords and punctuation, one libFuzzer dictionary entry a line."""
    grammar = (ROOT / "policy_dsl" / "grammar.lark").read_text(encoding="utf-8")
    words = sorted(set(re.findall(r'"([^"\\]+)"', grammar)))
    extra = ['"', "/", "#", "mon-fri", "08:00-18:00", "2026-12-24", "30m", "1h30m", "Europe/Vienna"]
    path.write_text("".join(f'"{w}"\n' for w in (*words, *extra)), encoding="utf-8")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="replygate-fuzz-") as work:
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        seed_corpus(corpus)
        words = Path(work) / "policy.dict"
        dictionary(words)
        options = [f"-dict={words}"]
        if not any(a.startswith("-artifact_prefix=") for a in sys.argv):
            # Crashing inputs go to build/fuzz/ (ignored by git), not the working folder.
            (ROOT / "build" / "fuzz").mkdir(parents=True, exist_ok=True)
            options.append(f"-artifact_prefix={ROOT / 'build' / 'fuzz'}/")
        atheris.Setup([*sys.argv, *options, str(corpus)], one_input)
        atheris.Fuzz()


if __name__ == "__main__":
    main()
