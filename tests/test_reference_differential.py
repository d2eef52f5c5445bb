"""The compiled engine against the reference interpreter, on generated policies and requests.

The engine (index, closures, cached calendars) and `tests/reference/interpreter.py` (a plain
walk of the syntax tree, written from the README) must give the same whole decision: outcome,
approvers, escalation target, deadline, SLA flag and the deciding rules in order (with the
file and line of each rule, and of the response-time rule that set the deadline).

CI sweeps a fixed, seeded set of generated policies with many requests each (deterministic,
fast). `make fuzz` sweeps a million pairs from fresh seeds. A disagreement is shrunk (fewer,
simpler declarations and request fields that still disagree) and printed as a policy and a
request that reproduce it.
"""

from __future__ import annotations

import ast as python_ast
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from replygate.engine.loader import compile_sources
from replygate.engine.models import CheckRequest
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import PolicyError
from tests.reference.interpreter import ReferencePolicy, as_json
from tests.reference.strategies import (
    Case,
    GeneratedPolicy,
    RandomChooser,
    ReplayChooser,
    cases,
    make_policy,
    make_request,
    show,
)

PAIRS = int(os.environ.get("REFINT_PAIRS", "20000"))
REQUESTS_PER_POLICY = int(os.environ.get("REFINT_REQUESTS_PER_POLICY", "125"))
SHARDS = int(os.environ.get("REFINT_SHARDS", "1"))
# CI is deterministic; `make fuzz` sets a fresh base seed (printed, to reproduce a failure).
SEED = os.environ.get("REFINT_SEED", "ci")


def engine_json(policy: Any, request: dict[str, Any]) -> dict[str, Any]:
    model = CheckRequest.model_validate_json(json.dumps(request))
    decision = policy.decide(model)
    found: dict[str, Any] = decision.model_dump(mode="json")
    # What the adapters refuse before deciding (a flag given "true"): compared too.
    found["refused"] = sorted(item["field"] for item in policy.undeclared_values(model))
    # A reason's source as (file, line): the reference knows where rules and response times stand.
    found["reasons"] = [
        {
            **{k: r[k] for k in ("rule", "effect", "code", "message")},
            "source": None if r["source"] is None else [r["source"]["file"], r["source"]["line"]],
        }
        for r in found["reasons"]
    ]
    found.pop("policy")
    return found


def disagreement(generated: GeneratedPolicy, compiled: Any, request: dict[str, Any]) -> str | None:
    """None when engine and reference agree on `request`, else both decisions."""
    engine = engine_json(compiled, request)
    reference = {
        **as_json(generated.reference.decide(request), engine),
        "refused": generated.reference.refused_fields(request),
    }
    if engine == reference:
        return None
    return f"engine:    {json.dumps(engine)}\nreference: {json.dumps(reference)}"


def _disagrees(policy_record: Sequence[int], request_record: Sequence[int]) -> bool:
    try:
        generated = make_policy(ReplayChooser(policy_record))
        compiled = compile_sources(generated.sources)
    except PolicyError:
        return False
    request = make_request(generated, ReplayChooser(request_record))
    return disagreement(generated, compiled, request) is not None


def shrink(
    policy_record: list[int], request_record: list[int], budget: int = 1000
) -> tuple[list[int], list[int]]:
    """Smaller choices that still disagree: each recorded choice set to its simplest value
    (offset 0), then halved, then decremented, until nothing gets simpler (the idea behind
    hypothesis's shrinker, on the generators' own choice records)."""
    records = [list(policy_record), list(request_record)]
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for which in (0, 1):
            record = records[which]
            index = 0
            while index < len(record) and tries < budget:
                for candidate in (0, record[index] // 2, record[index] - 1):
                    if not 0 <= candidate < record[index]:
                        continue
                    trial = [*record[:index], candidate, *record[index + 1 :]]
                    attempt = [trial, records[1]] if which == 0 else [records[0], trial]
                    tries += 1
                    if _disagrees(*attempt):
                        records[which] = record = trial
                        improved = True
                        break
                index += 1
    return records[0], records[1]


def _still_disagrees(sources: dict[str, str], request: dict[str, Any]) -> bool:
    try:
        compiled = compile_sources(sources)
        CheckRequest.model_validate_json(json.dumps(request))
    except (PolicyError, ValueError):
        return False
    files = [parse_policy(text, path) for path, text in sources.items()]
    generated = GeneratedPolicy(sources, None, files, ReferencePolicy(files))  # type: ignore[arg-type]
    return disagreement(generated, compiled, request) is not None


def _without_declarations(sources: dict[str, str], request: dict[str, Any]) -> dict[str, str]:
    """Delete whole declarations, last first, while it still disagrees."""
    for path in list(sources):
        for declaration in reversed(parse_policy(sources[path], path).declarations):
            lines = sources[path].split("\n")
            first, last = declaration.span.line - 1, declaration.span.end_line
            trial = {**sources, path: "\n".join(lines[:first] + lines[last:])}
            if _still_disagrees(trial, request):
                sources = trial
    return sources


def _without_lines(sources: dict[str, str], request: dict[str, Any]) -> dict[str, str]:
    """Delete policy lines one at a time (clauses, comments) while it still disagrees."""
    for path in list(sources):
        lines = sources[path].split("\n")
        index = len(lines) - 1
        while index >= 0:
            # The line gone, else its trailing comment gone.
            for replacement in ([], [lines[index].split("  #")[0]]):
                shorter = lines[:index] + replacement + lines[index + 1 :]
                trial = {**sources, path: "\n".join(shorter)}
                if shorter != lines and _still_disagrees(trial, request):
                    sources, lines = trial, shorter
                    break
            index -= 1
    return sources


def _without_fields(sources: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
    """Drop optional request fields (and approvals, one at a time) while it disagrees."""
    optional = [
        ("account",),
        ("content",),
        ("context",),
        ("approvals",),
        ("actor", "groups"),
        ("post", "labels"),
        ("post", "text"),
        *(("context", key) for key in request.get("context", {})),
    ]
    for place in optional:
        trial = json.loads(json.dumps(request))
        owner = trial
        for key in place[:-1]:
            owner = owner.get(key, {})
        if place[-1] in owner:
            del owner[place[-1]]
            if _still_disagrees(sources, trial):
                request = trial
    for index in reversed(range(len(request.get("approvals", [])))):
        trial = json.loads(json.dumps(request))
        del trial["approvals"][index]
        if _still_disagrees(sources, trial):
            request = trial
    return request


def report(policy_record: list[int], request_record: list[int]) -> str:
    policy_record, request_record = shrink(policy_record, request_record)
    generated = make_policy(ReplayChooser(policy_record))
    request = make_request(generated, ReplayChooser(request_record))
    sources = _without_lines(_without_declarations(dict(generated.sources), request), request)
    request = _without_fields(sources, request)
    files = [parse_policy(text, path) for path, text in sources.items()]
    shrunk = GeneratedPolicy(sources, generated.vocabulary, files, ReferencePolicy(files))
    return (
        "the engine and the reference interpreter disagree (shrunk example)\n"
        f"---- policy\n{shrunk.text}---- request\n{show(request)}\n"
        f"{disagreement(shrunk, compile_sources(sources), request)}"
    )


def sweep(shard: int, pairs: int) -> int:
    """Compare `pairs` generated pairs; fail with a shrunk example at the first disagreement."""
    compared = 0
    number = 0
    while compared < pairs:
        policy_chooser = RandomChooser(f"{SEED}/{shard}/{number}")
        generated = make_policy(policy_chooser)
        compiled = compile_sources(generated.sources)
        for index in range(min(REQUESTS_PER_POLICY, pairs - compared)):
            request_chooser = RandomChooser(f"{SEED}/{shard}/{number}/{index}")
            request = make_request(generated, request_chooser)
            if disagreement(generated, compiled, request) is not None:
                pytest.fail(report(policy_chooser.record, request_chooser.record), pytrace=False)
            compared += 1
        number += 1
    return compared


@pytest.mark.parametrize("shard", range(SHARDS))
def test_engine_agrees_with_reference(shard: int, record_property: Any) -> None:
    compared = sweep(shard, PAIRS // SHARDS)
    record_property("reference_pairs", compared)
    assert compared >= PAIRS // SHARDS


@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(case=cases())
def test_engine_agrees_with_reference_hypothesis(case: Case) -> None:
    """The same property through hypothesis, whose own shrinker minimises a failure."""
    compiled = compile_sources(case.policy.sources)
    for request in case.requests:
        problem = disagreement(case.policy, compiled, request)
        assert problem is None, f"request {show(request)}\n{problem}"


def test_the_reference_shares_no_code_with_the_engine() -> None:
    """The reference reads the README, not the engine: it imports nothing from it."""
    source = Path(__file__).parent / "reference" / "interpreter.py"
    tree = python_ast.parse(source.read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in python_ast.walk(tree)
        if isinstance(node, python_ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in python_ast.walk(tree)
        if isinstance(node, python_ast.Import)
        for alias in node.names
    }
    assert not [name for name in imported if name.startswith("replygate.engine")]
