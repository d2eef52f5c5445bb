"""What a text rule with a long phrase list adds to a decision.

    .venv/bin/python -m bench.bench_lists [--phrases 1000] [--requests 5000] [--rounds 3]

Two policies decide the same generated requests side by side in one run: the example policy,
and the example policy plus `list watched "…", …` (N phrases) and a rule that every request
reaches (`on any`, `by anyone`, `when content.text mentions any of watched`). Each request is
decided by both back to back (alternating which goes first), so a busy shared machine slows both
alike; the figure is the median of those paired differences (the difference of the two medians
is printed too). The search alone (one RE2 call on the request's text) is timed as well. The requests' texts mention no
phrase, the common case and the one that has to read the whole text.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
from typing import Any

from bench.bench_engine import time_calls
from bench.gen_policy import generated_sources
from bench.requests_gen import generate
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import compile_sources
from replygate.engine.models import CheckRequest

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "bre", "dan", "fel", "gor")


def phrases(count: int, seed: int = 13) -> list[str]:
    """Brand-like names of one to three words, all different, none in the generated texts."""
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        words = [
            "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            for _ in range(rng.randint(1, 3))
        ]
        found.add(" ".join(w.capitalize() for w in words))
    return sorted(found)


def policies(count: int) -> tuple[CompiledPolicy, CompiledPolicy]:
    """The example policy, and the same with an N-phrase list and a rule every request reaches."""
    sources = generated_sources(0)
    sources.pop("policies/generated.policy")
    plain = compile_sources(sources)
    listed = ", ".join(json.dumps(p) for p in phrases(count))
    sources["policies/watched.policy"] = (
        f"list watched {listed}\n\n"
        "rule watched-names-need-marketing {\n    require approval from marketing\n"
        "    on any\n    by anyone\n    when content.text mentions any of watched\n"
        '    message "Content that names a watched brand needs marketing."\n}\n'
    )
    return plain, compile_sources(sources)


def run(count: int, request_count: int, rounds: int) -> dict[str, Any]:
    plain, with_list = policies(count)
    models = [CheckRequest.model_validate(r) for r in generate(request_count)]
    search = with_list.lists["watched"].search
    assert search is not None
    texts = [m.content.text for m in models]
    for policy in (plain, with_list):  # warm role caches and RE2's lazily built automaton
        for model in models:
            policy.decide(model)
    timings: dict[str, list[float]] = {"without": [], "with": [], "search": []}
    added: list[float] = []
    gc.disable()
    try:
        for _ in range(rounds):
            for index, model in enumerate(models):
                # Each request is decided by both policies back to back, in alternating order:
                # the difference of a pair is taken under the same load, whatever the machine does.
                order = (plain, with_list) if index % 2 else (with_list, plain)
                first, second = (time_calls(p.decide, [model])[0] for p in order)
                without, with_rule = (second, first) if order[0] is with_list else (first, second)
                timings["without"].append(without)
                timings["with"].append(with_rule)
                added.append(with_rule - without)
            timings["search"] += time_calls(search, texts)
    finally:
        gc.enable()
    median = {name: statistics.median(values) * 1e6 for name, values in timings.items()}
    return {
        "phrases": count,
        "decisions_per_policy": len(added),
        "median_us_without_rule": round(median["without"], 2),
        "median_us_with_rule": round(median["with"], 2),
        "added_us_median_of_pairs": round(statistics.median(added) * 1e6, 2),
        "added_us_difference_of_medians": round(median["with"] - median["without"], 2),
        "search_alone_us": round(median["search"], 2),
        "mean_text_chars": round(statistics.mean(len(t) for t in texts), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phrases", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(args.phrases, args.requests, args.rounds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
