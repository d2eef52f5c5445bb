"""How long each review page takes to render, for the bundled policy and a large one.

    .venv/bin/python -m bench.bench_pages [--rounds 5]

In-process (no network): a signed-in client asks for each page. "first" is the first render
after the policy loaded (the authority matrices and rule highlighting are computed then and
cached per policy); "median" is over the following rounds. The large policy is the bundled one
plus 1,000 generated rules (bench/gen_policy.py) and 200 persons. Targets (issue 10): under
200 ms for the bundled policy, under 1 s for the large one.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from bench.gen_policy import generated_sources
from replygate.api.app import create_app
from replygate.api.auth import KeyRing, inline_keys, parse_inline_keys
from replygate.api.settings import Settings

KEY = "rg_bench_pages_key_0000000000"
PAGES = (
    "/",
    "/team",
    "/rules",
    "/time",
    "/playground",
    "/playground?actor=carol&mode=form",
    "/decisions",
)


def large_policy(folder: Path, rules: int = 1000, persons: int = 200) -> None:
    sources = generated_sources(rules)
    roles = ["agent", "senior_agent", "comms_lead", "legal", "marketing"]
    people = "".join(f"person p{n:03d} is {roles[n % len(roles)]}\n" for n in range(persons))
    sources["policies/people.policy"] = people
    for name, text in sources.items():
        (folder / Path(name).name).write_text(text, encoding="utf-8")


def measure(policy: Path, rounds: int) -> dict[str, tuple[float, float]]:
    keys = KeyRing(parse_inline_keys(inline_keys([("bench", KEY, ["review", "audit"])])))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            policy=str(policy), decision_log=f"sqlite:///{tmp}/log.db", session_secret="b" * 40
        )
        with TestClient(create_app(settings, keys=keys)) as client:
            form = client.get("/sign-in").text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token is not None
            client.post("/sign-in", data={"key": KEY, "csrf": token.group(1)})
            found = {}
            for page in PAGES:
                times = []
                for _ in range(rounds + 1):
                    start = time.perf_counter()
                    answer = client.get(page)
                    times.append(time.perf_counter() - start)
                    assert answer.status_code == 200, (page, answer.status_code)
                found[page] = (times[0], statistics.median(times[1:]))
            return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        large = Path(tmp)
        large_policy(large)
        results = {
            "bundled": measure(root / "policies", args.rounds),
            "1,000 rules, 200 persons": measure(large, args.rounds),
        }
    print("| page | bundled: first / median | 1,000 rules + 200 persons: first / median |")
    print("|---|---|---|")
    for page in PAGES:
        cells = [
            f"{results[k][page][0] * 1e3:.0f} ms / {results[k][page][1] * 1e3:.0f} ms"
            for k in results
        ]
        print(f"| `{page}` | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
