"""In process: replygate against the floor, Cedar and Casbin, agreement first, then speed.

    .venv/bin/python -m bench --sections inprocess     (the whole runner: python -m bench)

Every contender decides the same seeded requests (`bench.requests_gen`). Before any timing,
each one decides every request of the example policy and its answers are compared with
replygate's on (decision, approvers, escalate_to); at the scaled sizes every timed answer is
compared too. A contender that disagrees gets no speed figures.

Timing runs every series (contender x policy size x call style x input) in slices of the
requests, A B C … then … C B A, so drift on a shared machine reaches every series alike, and
ratios are taken within the one run. A series whose calls are slow (Cedar and Casbin at
+1,000 and +10,000 rules) is timed on every k-th request, k chosen so the series takes about
`budget` seconds; the table says which.

- end to end: the request's JSON bytes in, the engine's decision out. replygate validates them
  into a CheckRequest; a peer parses them with json.loads and builds its own input.
- engine only: the input already built. replygate: a validated CheckRequest. The floor: the
  parsed dict. Cedar: the translated request and its entity store. Casbin: the request tuple
  with the precomputed facts.
- batched: replygate and the floor loop over a list (a JSON array parsed in one call, end to
  end); Cedar uses `decide_batch` (`is_authorized_batch`). Casbin has no batch call here.
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from bench.gen_policy import generated_sources
from bench.requests_gen import generate
from replygate.engine.models import CheckRequest, Decision, to_utc_text

SIZES = (0, 10, 100, 1_000, 10_000)
PEERS_HINT = "install the peers with: .venv/bin/pip install -e '.[bench]'"

Key = tuple[str, tuple[str, ...], str | None]  # decision, approvers, escalate_to
Due = tuple[str | None, bool]  # respond_by (UTC text), sla_breached
Answer = tuple[Key, Due]


def size_label(size: int) -> str:
    """How a policy size reads in tables."""
    return "example" if size == 0 else f"+{size:,} rules"


def log(message: str) -> None:
    """Progress on stderr; the tables go to stdout and the results folder."""
    print(message, file=sys.stderr, flush=True)


# ---- the workload -------------------------------------------------------------------------------


@dataclass
class Workload:
    """The generated requests in every form a contender takes: dicts, JSON bytes, models."""

    requests: list[dict[str, Any]]
    raw: list[bytes]
    models: list[CheckRequest]

    @classmethod
    def generate(cls, count: int, seed: int) -> Workload:
        requests = generate(count, seed)
        raw = [json.dumps(r, ensure_ascii=False).encode() for r in requests]
        return cls(requests, raw, [CheckRequest.model_validate_json(r) for r in raw])

    def array(self, indices: Sequence[int]) -> bytes:
        """The requests at `indices` as one JSON array, the input of a batched end-to-end call."""
        return b"[" + b",".join(self.raw[i] for i in indices) + b"]"


def replygate_answer(decision: Decision) -> Answer:
    """What agreement compares, from a replygate Decision."""
    due = decision.respond_by
    key = (decision.decision, tuple(decision.approvers), decision.escalate_to)
    return key, (None if due is None else to_utc_text(due), decision.sla_breached)


def peer_answer(decision: dict[str, Any]) -> Answer:
    """What agreement compares, from a peer's decision dict."""
    key = (decision["decision"], tuple(decision["approvers"]), decision["escalate_to"])
    return key, (decision["respond_by"], decision["sla_breached"])


# ---- the contenders -----------------------------------------------------------------------------


class Contender:
    """One engine under test: how it loads a policy size, and its call styles."""

    name = ""
    label = ""
    sizes: tuple[int, ...] | None = None  # None: every size
    batched = False
    batch_note = ""
    loads_policy = True  # False: nothing to load (the floor is code), so no load time

    def __init__(self, workload: Workload) -> None:
        self.workload = workload

    def source(self, size: int) -> Any:
        """The policy text (or sources) for `size` extra rules; not part of the load time."""
        return None

    def load(self, source: Any) -> Any:
        """Load a policy: the timed step. Returns the handle the calls below take."""
        raise NotImplementedError

    def unseen(self, source: Any, attempt: int) -> Any:
        """The source as no cache has seen it, so that every timed load is a cold one."""
        return source

    def e2e(self, handle: Any) -> Callable[[bytes], Any]:
        raise NotImplementedError

    def engine_input(self, handle: Any, index: int) -> Any:
        raise NotImplementedError

    def engine(self, handle: Any) -> Callable[[Any], Any]:
        raise NotImplementedError

    def batch_e2e(self, handle: Any) -> Callable[[bytes], list[Any]]:
        raise NotImplementedError

    def batch_input(self, handle: Any, indices: Sequence[int]) -> Any:
        raise NotImplementedError

    def batch_engine(self, handle: Any) -> Callable[[Any], list[Any]]:
        raise NotImplementedError

    def answer(self, result: Any) -> Answer:
        return peer_answer(result)


_REQUEST_LIST = TypeAdapter(list[CheckRequest])


class Replygate(Contender):
    name = "replygate"
    label = "replygate"
    batched = True
    batch_note = "a loop over a list of validated requests (end to end: one JSON array validated in one call)"

    def source(self, size: int) -> dict[str, str]:
        sources = generated_sources(size)
        if not size:
            sources.pop("policies/generated.policy")
        return sources

    def load(self, source: dict[str, str]) -> Any:
        from replygate.engine.loader import compile_sources

        return compile_sources(source)

    def unseen(self, source: dict[str, str], attempt: int) -> dict[str, str]:
        # The loader caches parsed files by their text (for git, where most files repeat from
        # commit to commit); a comment that differs per attempt makes each load parse anew.
        return {path: f"{text}\n# bench load {attempt}\n" for path, text in source.items()}

    def e2e(self, handle: Any) -> Callable[[bytes], Any]:
        decide, validate = handle.decide, CheckRequest.model_validate_json
        return lambda body: decide(validate(body))

    def engine_input(self, handle: Any, index: int) -> CheckRequest:
        return self.workload.models[index]

    def engine(self, handle: Any) -> Callable[[Any], Any]:
        return handle.decide  # type: ignore[no-any-return]

    def batch_e2e(self, handle: Any) -> Callable[[bytes], list[Any]]:
        decide, validate = handle.decide, _REQUEST_LIST.validate_json
        return lambda body: [decide(model) for model in validate(body)]

    def batch_input(self, handle: Any, indices: Sequence[int]) -> list[CheckRequest]:
        return [self.workload.models[i] for i in indices]

    def batch_engine(self, handle: Any) -> Callable[[Any], list[Any]]:
        decide = handle.decide
        return lambda models: [decide(model) for model in models]

    def answer(self, result: Any) -> Answer:
        return replygate_answer(result)


class Floor(Contender):
    name = "floor"
    label = "floor (plain Python)"
    sizes = (0,)  # hand-written for the example policy; there is no scaled floor
    batched = True
    loads_policy = False
    batch_note = "a loop over a list of dicts (end to end: one JSON array parsed in one call)"

    def load(self, source: Any) -> Any:
        from bench.peers import floor

        return floor

    def e2e(self, handle: Any) -> Callable[[bytes], Any]:
        decide, loads = handle.decide, json.loads
        return lambda body: decide(loads(body))

    def engine_input(self, handle: Any, index: int) -> dict[str, Any]:
        return self.workload.requests[index]

    def engine(self, handle: Any) -> Callable[[Any], Any]:
        return handle.decide  # type: ignore[no-any-return]

    def batch_e2e(self, handle: Any) -> Callable[[bytes], list[Any]]:
        decide, loads = handle.decide, json.loads
        return lambda body: [decide(request) for request in loads(body)]

    def batch_input(self, handle: Any, indices: Sequence[int]) -> list[dict[str, Any]]:
        return [self.workload.requests[i] for i in indices]

    def batch_engine(self, handle: Any) -> Callable[[Any], list[Any]]:
        decide = handle.decide
        return lambda requests: [decide(request) for request in requests]


class Cedar(Contender):
    name = "cedar"
    label = "cedarpy"
    batched = True
    batch_note = (
        "`decide_batch`: `is_authorized_batch` over the batch, one call per consistent entity set"
    )

    def source(self, size: int) -> str:
        from bench.peers.cedar_peer import scaled_policy_text

        return scaled_policy_text(size)

    def load(self, source: str) -> Any:
        from bench.peers.cedar_peer import CedarPeer

        return CedarPeer(source)

    def e2e(self, handle: Any) -> Callable[[bytes], Any]:
        decide, loads = handle.decide, json.loads
        return lambda body: decide(loads(body))

    def engine_input(self, handle: Any, index: int) -> Any:
        item = handle.translate(self.workload.requests[index])
        return item, handle._store(item.entities)

    def engine(self, handle: Any) -> Callable[[Any], Any]:
        import cedarpy

        authorize, policies, schema, decision = (
            cedarpy.is_authorized,
            handle.policies,
            handle.schema,
            handle._decision,
        )
        return lambda built: decision(
            built[0], authorize(built[0].request, policies, built[1], schema)
        )

    def batch_e2e(self, handle: Any) -> Callable[[bytes], list[Any]]:
        decide_batch, loads = handle.decide_batch, json.loads
        return lambda body: decide_batch(loads(body))

    def batch_input(self, handle: Any, indices: Sequence[int]) -> Any:
        from bench.peers.cedar_peer import _partition

        items = [handle.translate(self.workload.requests[i]) for i in indices]
        groups = [
            (group, handle.base.with_added_json_str(json.dumps(entities)))
            for group, entities in _partition(items)
        ]
        return items, groups

    def batch_engine(self, handle: Any) -> Callable[[Any], list[Any]]:
        import cedarpy

        authorize, policies, schema, decision = (
            cedarpy.is_authorized_batch,
            handle.policies,
            handle.schema,
            handle._decision,
        )

        def run(built: Any) -> list[Any]:
            # CedarPeer.decide_batch after its translation and store building.
            items, groups = built
            decided: list[Any] = [None] * len(items)
            for group, store in groups:
                results = authorize([items[i].request for i in group], policies, store, schema)
                for index, result in zip(group, results, strict=True):
                    decided[index] = decision(items[index], result)
            return decided

        return run


class Casbin(Contender):
    batch_note = "no batch call (pycasbin's batch_enforce is a loop over enforce)"

    def __init__(self, workload: Workload, parse_once: bool, tuples: dict[int, Any]) -> None:
        super().__init__(workload)
        self.parse_once = parse_once
        self.name = "casbin" if parse_once else "casbin-shipped"
        self.label = "pycasbin, matcher parsed once" if parse_once else "pycasbin as shipped"
        # The request tuple does not depend on the policy: built once, shared by both variants.
        self.tuples = tuples

    def source(self, size: int) -> str:
        from bench.peers.casbin_peer import scaled_policy_text

        return scaled_policy_text(size)

    def load(self, source: str) -> Any:
        from bench.peers.casbin_peer import CasbinPeer

        return CasbinPeer(source, parse_once=self.parse_once)

    def e2e(self, handle: Any) -> Callable[[bytes], Any]:
        decide, loads = handle.decide, json.loads
        return lambda body: decide(loads(body))

    def engine_input(self, handle: Any, index: int) -> Any:
        built = self.tuples.get(index)
        if built is None:
            built = self.tuples[index] = _casbin_tuple(handle, self.workload.requests[index])
        return built

    def engine(self, handle: Any) -> Callable[[Any], Any]:
        ask = handle._ask

        def run(built: Any) -> dict[str, Any]:
            action, tail, respond_by, breached = built
            decision, approvers, escalate_to = ask(action, tail)
            return {
                "decision": decision,
                "approvers": approvers,
                "escalate_to": escalate_to,
                "respond_by": respond_by,
                "sla_breached": breached,
            }

        return run


def _casbin_tuple(peer: Any, request: dict[str, Any]) -> tuple[str, tuple[Any, ...], Any, bool]:
    """The (action, request tuple) CasbinPeer.decide hands to its enforcer, and the deadline.

    Captured from a real `decide` so the bench never keeps a second copy of the translation.
    """
    captured: list[tuple[str, tuple[Any, ...]]] = []
    ask = peer._ask

    def capture(action: str, tail: tuple[Any, ...]) -> Any:
        captured.append((action, tail))
        return ask(action, tail)

    peer._ask = capture
    try:
        decided = peer.decide(request)
    finally:
        del peer._ask
    action, tail = captured[0]
    return action, tail, decided["respond_by"], decided["sla_breached"]


def contenders(workload: Workload) -> tuple[list[Contender], list[str]]:
    """Every contender this environment can run, and a sentence for each missing peer."""
    found: list[Contender] = [Replygate(workload), Floor(workload)]
    missing = []
    try:
        import cedarpy  # noqa: F401
    except ImportError:
        missing.append(f"cedarpy is not installed, so Cedar is left out; {PEERS_HINT}")
    else:
        found.append(Cedar(workload))
    try:
        import casbin  # noqa: F401
    except ImportError:
        missing.append(f"pycasbin (casbin) is not installed, so Casbin is left out; {PEERS_HINT}")
    else:
        tuples: dict[int, Any] = {}
        found += [Casbin(workload, True, tuples), Casbin(workload, False, tuples)]
    return found, missing


# ---- one timed series ---------------------------------------------------------------------------


@dataclass
class Series:
    """One contender at one policy size, in one call style (single or batched), one input."""

    contender: Contender
    size: int
    mode: str  # "e2e" | "engine"
    batched: bool
    call: Callable[[Any], Any]
    make_input: Callable[[Any], Any]  # an index (single) or a list of indices (batched)
    stride: int = 1
    seconds: list[float] = field(default_factory=list)  # per call (batched: per decision)
    per_index: dict[int, float] = field(default_factory=dict)  # seconds per decision, by request
    slices: list[list[int]] = field(default_factory=list)  # the requests timed in each slice
    batch_sizes: list[int] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)

    @property
    def name(self) -> str:
        style = "batch" if self.batched else "single"
        return f"{self.contender.name} {size_label(self.size)} {style} {self.mode}"

    def run(self, indices: Sequence[int], batch: int) -> None:
        """Time the calls on `indices` (one slice), then keep their answers."""
        clock = time.perf_counter_ns
        call = self.call
        if self.batched:
            chunks = [list(indices[k : k + batch]) for k in range(0, len(indices), batch)]
        else:
            chunks = [[index] for index in indices]
        inputs = [self.make_input(c if self.batched else c[0]) for c in chunks]
        results: list[Any] = []
        timings: list[int] = []
        gc.disable()  # a collection triggered by one series must not land in another's timing
        try:
            for item in inputs:
                start = clock()
                result = call(item)
                timings.append(clock() - start)
                results.append(result)
        finally:
            gc.enable()
        for chunk, elapsed, result in zip(chunks, timings, results, strict=True):
            seconds = elapsed / 1e9 / len(chunk)
            self.seconds.append(seconds)
            outputs = result if self.batched else [result]
            for index, output in zip(chunk, outputs, strict=True):
                self.answers[index] = self.contender.answer(output)
                self.per_index[index] = seconds
            if self.batched:
                self.batch_sizes.append(len(chunk))
        self.slices.append(list(indices))

    def calibrate(self, count: int, batch: int, budget: float) -> float:
        """Warm up on the first requests; the estimated seconds per decision."""
        step = batch if self.batched else 1
        limit = min(count, 3 * batch if self.batched else 500)
        spent, done = 0.0, 0
        while done < limit and (spent < min(0.3, budget / 4) or done < 5):
            chunk = list(range(done, min(count, done + step)))
            item = self.make_input(chunk if self.batched else chunk[0])
            start = time.perf_counter()
            self.call(item)
            spent += time.perf_counter() - start
            done += len(chunk)
        return spent / done


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0 < fraction <= 1)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def _figures(series: Series) -> dict[str, Any]:
    total = sum(series.per_index.values())
    decisions = len(series.per_index)
    return {
        "samples": decisions,
        "stride": series.stride,
        "batch": max(series.batch_sizes) if series.batch_sizes else None,
        "batches": len(series.batch_sizes) if series.batch_sizes else None,
        "median_us": statistics.median(series.seconds) * 1e6 if series.seconds else None,
        "p99_us": percentile(series.seconds, 0.99) * 1e6 if series.seconds else None,
        "per_s": decisions / total if total else None,
    }


# ---- agreement ----------------------------------------------------------------------------------


def _compare(reference: dict[int, Answer], answers: dict[int, Answer]) -> dict[str, Any]:
    """Disagreements on (decision, approvers, escalate_to), and on the deadline apart."""
    wrong = [i for i, answer in answers.items() if answer[0] != reference[i][0]]
    late = [i for i, answer in answers.items() if answer[1] != reference[i][1]]
    return {
        "checked": len(answers),
        "disagreements": len(wrong),
        "deadline_disagreements": len(late),
        "examples": [
            {"request": i, "replygate": reference[i], "peer": answers[i]} for i in sorted(wrong)[:3]
        ],
    }


def check_agreement(
    contender: Contender, handle: Any, workload: Workload, reference: dict[int, Answer], batch: int
) -> dict[str, dict[str, Any]]:
    """Every request of the workload through the contender's end-to-end calls, single and batched."""
    everyone = range(len(workload.raw))
    decide = contender.e2e(handle)
    found = {
        "single": _compare(
            reference, {i: contender.answer(decide(workload.raw[i])) for i in everyone}
        )
    }
    if contender.batched:
        decide_many = contender.batch_e2e(handle)
        answers: dict[int, Answer] = {}
        for start in range(0, len(workload.raw), batch):
            chunk = list(range(start, min(len(workload.raw), start + batch)))
            for index, result in zip(chunk, decide_many(workload.array(chunk)), strict=True):
                answers[index] = contender.answer(result)
        found["batch"] = _compare(reference, answers)
    return found


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Settings:
    """What one in-process run measures."""

    requests: int = 10_000
    seed: int = 7
    sizes: tuple[int, ...] = SIZES
    budget: float = 3.0  # seconds per series; slower series are sampled
    slices: int = 20
    batch: int = 100
    load_repeat: int = 3  # loads per size up to 1,000 rules (larger sizes load once)
    min_samples: int = 100  # a sampled series still times at least this many requests


def run(settings: Settings, only: Sequence[str] | None = None) -> dict[str, Any]:
    """Agreement, load times and interleaved timings; the figures as one JSON-ready dict.

    `only` names the contenders to run (replygate always runs: it is the reference).
    """
    log(f"in process: generating {settings.requests:,} requests (seed {settings.seed})")
    workload = Workload.generate(settings.requests, settings.seed)
    found, missing = contenders(workload)
    for sentence in missing:
        log(f"bench: {sentence}")
    if only is not None:
        found = [c for c in found if c.name == "replygate" or c.name in only]
    return measure(workload, found, missing, settings)


def measure(
    workload: Workload,
    found: Sequence[Contender],
    missing: Sequence[str],
    settings: Settings,
) -> dict[str, Any]:
    """The in-process run for the given contenders (replygate first: it is the reference)."""
    if not found or found[0].name != "replygate":
        raise ValueError("replygate must be the first contender: it is the reference")
    count = len(workload.raw)
    handles: dict[tuple[str, int], Any] = {}
    load_ms: dict[str, dict[str, float | None]] = {}
    for contender in found:
        load_ms[contender.name] = {}
        for size in settings.sizes:
            if contender.sizes is not None and size not in contender.sizes:
                continue
            source = contender.source(size)
            repeat = settings.load_repeat if size <= 1_000 else 1
            times = []
            for attempt in range(max(1, repeat)):
                fresh = contender.unseen(source, attempt)
                start = time.perf_counter()
                handles[contender.name, size] = contender.load(fresh)
                times.append(time.perf_counter() - start)
            median = statistics.median(times) * 1000
            load_ms[contender.name][str(size)] = median if contender.loads_policy else None
            log(f"  loaded {contender.label} at {size_label(size)} in {min(times) * 1000:,.0f} ms")

    # The reference: replygate's answer to every request at every size (untimed).
    replygate = found[0]
    reference: dict[int, dict[int, Answer]] = {}
    for size in settings.sizes:
        decide = replygate.engine(handles["replygate", size])
        reference[size] = {
            i: replygate.answer(decide(replygate.engine_input(None, i))) for i in range(count)
        }

    log(f"agreement: every contender decides all {count:,} requests of the example policy")
    agreement: dict[str, dict[str, Any]] = {}
    first = settings.sizes[0]
    for contender in found:
        if (contender.name, first) in handles:
            began = time.perf_counter()
            agreement[contender.name] = check_agreement(
                contender,
                handles[contender.name, first],
                workload,
                reference[first],
                settings.batch,
            )
            verdicts = ", ".join(
                f"{style} {result['disagreements']} disagreements"
                for style, result in agreement[contender.name].items()
            )
            log(f"  {contender.label}: {verdicts} ({time.perf_counter() - began:.1f} s)")

    all_series = _build_series(found, handles, settings)
    log(f"timing: {len(all_series)} series in {settings.slices} interleaved slices")
    # One stride per contender and size, from its slowest series: all its call styles are
    # timed on the same requests, which matters where a decision's cost depends on the request
    # (Casbin stops at the first question that settles it).
    slowest: dict[tuple[str, int], float] = {}
    for series in all_series:
        estimate = series.calibrate(count, settings.batch, settings.budget)
        key = series.contender.name, series.size
        slowest[key] = max(slowest.get(key, 0.0), estimate)
    most = max(1, count // max(1, settings.min_samples))
    for series in all_series:
        estimate = slowest[series.contender.name, series.size]
        series.stride = min(most, max(1, math.ceil(estimate * count / settings.budget)))
        if series.stride > 1 and series.mode == "e2e" and not series.batched:
            log(
                f"  sampled {series.contender.label} at {size_label(series.size)}: "
                f"~{estimate * 1e6:,.0f} µs per decision, timed on 1 request in {series.stride}"
            )
    bounds = [round(k * count / settings.slices) for k in range(settings.slices + 1)]
    for number in range(settings.slices):
        low, high = bounds[number], bounds[number + 1]
        order = all_series if number % 2 == 0 else list(reversed(all_series))
        gc.collect()
        for series in order:
            first_index = -(-low // series.stride) * series.stride
            series.run(range(first_index, high, series.stride), settings.batch)
        log(f"  slice {number + 1}/{settings.slices} done")

    rows = []
    for series in all_series:
        checked = _compare(reference[series.size], series.answers)
        rows.append(
            {
                "engine": series.contender.name,
                "label": series.contender.label,
                "size": series.size,
                "mode": series.mode,
                "batched": series.batched,
                **_figures(series),
                "checked": checked["checked"],
                "disagreements": checked["disagreements"],
                "deadline_disagreements": checked["deadline_disagreements"],
                "examples": checked["examples"],
            }
        )
    disqualified = {
        name
        for name, styles in agreement.items()
        if any(result["disagreements"] for result in styles.values())
    }
    for row in rows:
        row["withheld"] = row["engine"] in disqualified or row["disagreements"] > 0
    return {
        "requests": count,
        "seed": settings.seed,
        "sizes": list(settings.sizes),
        "budget_s": settings.budget,
        "slices": settings.slices,
        "batch": settings.batch,
        "missing": list(missing),
        "engines": {
            c.name: {"label": c.label, "batch": c.batch_note if c.batched else None} for c in found
        },
        "agreement": agreement,
        "load_ms": load_ms,
        "series": rows,
        "ratios": ratios(all_series, rows, settings.sizes),
        "serialisation": _serialisation(found, handles, workload, first),
    }


def _build_series(
    found: Sequence[Contender], handles: dict[tuple[str, int], Any], settings: Settings
) -> list[Series]:
    """Every series, ordered by size, then contender, then call style."""
    made = []
    for size in settings.sizes:
        for contender in found:
            handle = handles.get((contender.name, size))
            if handle is None:
                continue
            workload = contender.workload

            def single_e2e(index: int, raw: list[bytes] = workload.raw) -> bytes:
                return raw[index]

            def single_engine(index: int, c: Contender = contender, h: Any = handle) -> Any:
                return c.engine_input(h, index)

            made += [
                Series(contender, size, "e2e", False, contender.e2e(handle), single_e2e),
                Series(contender, size, "engine", False, contender.engine(handle), single_engine),
            ]
            if contender.batched:

                def batch_engine(
                    indices: list[int], c: Contender = contender, h: Any = handle
                ) -> Any:
                    return c.batch_input(h, indices)

                made += [
                    Series(
                        contender, size, "e2e", True, contender.batch_e2e(handle), workload.array
                    ),
                    Series(
                        contender,
                        size,
                        "engine",
                        True,
                        contender.batch_engine(handle),
                        batch_engine,
                    ),
                ]
    return made


def _serialisation(
    found: Sequence[Contender], handles: dict[tuple[str, int], Any], workload: Workload, size: int
) -> dict[str, float]:
    """Median µs to write one decision as JSON: not part of end to end, reported beside it."""
    medians: dict[str, float] = {}
    sample = range(min(2_000, len(workload.raw)))
    for contender in found:
        if contender.name not in ("replygate", "floor"):  # a Decision model, a plain dict
            continue
        handle = handles.get((contender.name, size))
        if handle is None:
            continue
        decide = contender.e2e(handle)
        outputs = [decide(workload.raw[i]) for i in sample]
        write: Callable[[Any], Any] = (
            (lambda d: d.model_dump_json()) if contender.name == "replygate" else json.dumps
        )
        clock = time.perf_counter_ns
        timings = []
        for output in outputs:
            start = clock()
            write(output)
            timings.append(clock() - start)
        medians[contender.name] = statistics.median(timings) / 1000
    return medians


# ---- ratios -------------------------------------------------------------------------------------


def _find(
    series: Sequence[Series], engine: str, size: int, mode: str, batched: bool
) -> Series | None:
    for s in series:
        if (s.contender.name, s.size, s.mode, s.batched) == (engine, size, mode, batched):
            return s
    return None


def _paired(a: Series, b: Series) -> list[list[int]]:
    """The requests both series timed, slice by slice: ratios compare like with like."""
    return [[i for i in slice_a if i in b.per_index] for slice_a in a.slices]


def _rate_ratio(a: Series, b: Series) -> tuple[float, list[float]]:
    """a's decisions/s over b's on the requests both timed: whole run, and per slice."""

    def ratio(indices: Sequence[int]) -> float:
        return sum(b.per_index[i] for i in indices) / sum(a.per_index[i] for i in indices)

    slices = [indices for indices in _paired(a, b) if indices]
    return ratio([i for indices in slices for i in indices]), [ratio(x) for x in slices]


def _growth(large: Series, small: Series) -> tuple[float, list[float]]:
    """Median time per decision at the large size over the small, on the same requests."""

    def ratio(indices: Sequence[int]) -> float:
        return statistics.median(large.per_index[i] for i in indices) / statistics.median(
            small.per_index[i] for i in indices
        )

    slices = [indices for indices in _paired(large, small) if indices]
    return ratio([i for indices in slices for i in indices]), [ratio(x) for x in slices]


def ratios(
    series: Sequence[Series], rows: Sequence[dict[str, Any]], sizes: Sequence[int]
) -> list[dict[str, Any]]:
    """The ratios the issue sets targets for, and their neighbours for context."""
    withheld = {(r["engine"], r["size"], r["mode"], r["batched"]) for r in rows if r["withheld"]}
    found: list[dict[str, Any]] = []
    base = sizes[0]

    def add(
        name: str,
        pair: tuple[Series | None, Series | None],
        measure: Callable[[Series, Series], tuple[float, list[float]]],
        target: str | None,
        meets: Callable[[float], bool] | None,
    ) -> None:
        a, b = pair
        if a is None or b is None:
            return
        if any((s.contender.name, s.size, s.mode, s.batched) in withheld for s in (a, b)):
            found.append(
                {"ratio": name, "value": None, "target": target, "met": None, "withheld": True}
            )
            return
        value, per_slice = measure(a, b)
        per_slice = per_slice or [value]
        found.append(
            {
                "ratio": name,
                "value": value,
                "requests": sum(len(indices) for indices in _paired(a, b)),
                "slice_median": statistics.median(per_slice),
                "slice_low": min(per_slice),
                "slice_high": max(per_slice),
                "target": target,
                "met": None if meets is None else meets(value),
                "withheld": False,
            }
        )

    where = size_label(base)
    for mode, batched, style in (
        ("e2e", False, "end to end, one at a time"),
        ("e2e", True, "end to end, batched"),
        ("engine", False, "engine only, one at a time"),
    ):
        main = mode == "e2e" and not batched
        add(
            f"replygate / cedarpy decisions/s, {where}, {style}",
            (
                _find(series, "replygate", base, mode, batched),
                _find(series, "cedar", base, mode, batched),
            ),
            _rate_ratio,
            "≥ 10" if main else None,
            (lambda v: v >= 10) if main else None,
        )
    for mode, style in (("e2e", "end to end"), ("engine", "engine only")):
        main = mode == "e2e"
        add(
            f"floor / replygate decisions/s, {where}, {style}, one at a time",
            (
                _find(series, "floor", base, mode, False),
                _find(series, "replygate", base, mode, False),
            ),
            _rate_ratio,
            "≤ 5" if main else None,
            (lambda v: v <= 5) if main else None,
        )
    for peer in ("casbin", "casbin-shipped"):
        add(
            f"replygate / {peer} decisions/s, {where}, end to end, one at a time",
            (
                _find(series, "replygate", base, "e2e", False),
                _find(series, peer, base, "e2e", False),
            ),
            _rate_ratio,
            None,
            None,
        )
    if 10 in sizes and 10_000 in sizes:
        for engine in ("replygate", "cedar", "casbin", "casbin-shipped"):
            for mode, style in (("e2e", "end to end"), ("engine", "engine only")):
                main = engine == "replygate" and mode == "e2e"
                add(
                    f"{engine} growth +10 → +10,000 rules, median time, {style}",
                    (
                        _find(series, engine, 10_000, mode, False),
                        _find(series, engine, 10, mode, False),
                    ),
                    _growth,
                    "≤ 2" if main else None,
                    (lambda v: v <= 2) if main else None,
                )
    return found


# ---- Markdown -----------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _sample(row: dict[str, Any], total: int) -> str:
    text = f"{row['samples']:,}"
    if row["stride"] > 1:
        text += f" (1 in {row['stride']})"
    elif row["samples"] < total:
        text += f" of {total:,}"
    return text


def agreement_table(result: dict[str, Any]) -> list[str]:
    """Agreement with replygate: the example policy in full, the scaled sizes on the timed answers."""
    engines = result["engines"]
    lines = [
        f"Every engine decided all {result['requests']:,} generated requests (seed {result['seed']}) "
        "of the example policy; a disagreement is a different decision, approver list or escalation "
        "target than replygate's. At the scaled sizes every timed answer is checked too.",
        "",
        "| engine | calls | example: checked | disagreements | deadline disagreements | scaled sizes: checked | disagreements |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    base = result["sizes"][0]
    for name, styles in result["agreement"].items():
        for style, found in styles.items():
            batched = style == "batch"
            scaled = [
                r
                for r in result["series"]
                if r["engine"] == name and r["batched"] == batched and r["size"] != base
            ]
            checked = sum(r["checked"] for r in scaled)
            wrong = sum(r["disagreements"] for r in scaled)
            reference = name == "replygate" and not batched
            lines.append(
                f"| {engines[name]['label']} | {'batched' if batched else 'one at a time'} | "
                f"{found['checked']:,} | {'reference' if reference else found['disagreements']} | "
                f"{'reference' if reference else found['deadline_disagreements']} | "
                f"{f'{checked:,}' if scaled else '—'} | {wrong if scaled else '—'} |"
            )
    return lines


def speed_table(result: dict[str, Any]) -> list[str]:
    """Per size, per engine and call style: end to end and engine only, side by side."""
    lines = [
        "| policy | engine | calls | sample | end to end median µs | p99 µs | decisions/s | engine only median µs | p99 µs | decisions/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    paired: dict[tuple[str, int, bool], dict[str, dict[str, Any]]] = {}
    for row in result["series"]:
        paired.setdefault((row["engine"], row["size"], row["batched"]), {})[row["mode"]] = row
    for (engine, size, batched), modes in paired.items():
        e2e, only = modes.get("e2e"), modes.get("engine")
        batch = max((r["batch"] or 0) for r in modes.values())
        calls = f"batches of ≤ {batch}" if batched else "one at a time"
        cells = []
        for row in (e2e, only):
            if row is None:
                cells += ["—"] * 3
            elif row["withheld"]:
                cells += ["**disagrees: withheld**", "", ""]
            else:
                cells += [_num(row["median_us"]), _num(row["p99_us"]), f"{row['per_s']:,.0f}"]
        samples = " / ".join(
            dict.fromkeys(_sample(r, result["requests"]) for r in (e2e, only) if r is not None)
        )
        lines.append(
            f"| {size_label(size)} | {result['engines'][engine]['label']} | {calls} | {samples} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def growth_table(result: dict[str, Any]) -> list[str]:
    """Median end-to-end µs per decision (one at a time) by size, and the load time."""
    sizes = result["sizes"]
    header = " | ".join(size_label(s) for s in sizes)
    lines = [
        f"| engine | median µs: {header} | load ms: {header} |",
        "|---|" + "---:|" * (2 * len(sizes)),
    ]
    for name, info in result["engines"].items():
        medians = []
        for size in sizes:
            row = next(
                (
                    r
                    for r in result["series"]
                    if (r["engine"], r["size"], r["mode"], r["batched"])
                    == (name, size, "e2e", False)
                ),
                None,
            )
            if row is None:
                medians.append("—")
            elif row["withheld"]:
                medians.append("withheld")
            else:
                medians.append(_num(row["median_us"]))
        loads = [_num(result["load_ms"].get(name, {}).get(str(s))) for s in sizes]
        lines.append(f"| {info['label']} | " + " | ".join(medians + loads) + " |")
    return lines


def ratio_table(result: dict[str, Any]) -> list[str]:
    """The ratios, their spread over the slices, and the verdicts."""
    lines = [
        "| ratio (same run, interleaved, same requests) | requests | whole run | median of slices | slices: lowest to highest | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for ratio in result["ratios"]:
        if ratio["withheld"]:
            count, measured, middle, spread = "", "withheld (disagrees)", "", ""
        else:
            count = f"{ratio['requests']:,}"
            measured = f"{ratio['value']:.2f}x"
            middle = f"{ratio['slice_median']:.2f}x"
            spread = f"{ratio['slice_low']:.2f} to {ratio['slice_high']:.2f}"
        met = {True: "yes", False: "**no**", None: ""}[ratio["met"]]
        lines.append(
            f"| {ratio['ratio']} | {count} | {measured} | {middle} | {spread} | {ratio['target'] or ''} | {met} |"
        )
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The in-process sections of latest.md."""
    lines = ["## Agreement", ""]
    if result["missing"]:
        lines += [f"**Missing:** {sentence}." for sentence in result["missing"]] + [""]
    lines += agreement_table(result)
    lines += ["", "## Ratios against the targets", "", *ratio_table(result)]
    lines += [
        "",
        "## In process: growth with the policy size",
        "",
        "End to end, one decision at a time; load = parse, check and compile (replygate), "
        "validate and parse the policy set (Cedar), build the enforcer (Casbin).",
        "",
    ]
    lines += growth_table(result)
    lines += [
        "",
        "## In process: every series",
        "",
        f"Median and p99 per decision; decisions/s = decisions timed / time spent in the calls. "
        f"Batched figures are per decision within a batch. Series slower than "
        f"{result['budget_s']:g} s over all requests are timed on every k-th request (sample).",
        "",
    ]
    lines += speed_table(result)
    batch_notes = [
        f"- {info['label']}: {info['batch']}"
        for info in result["engines"].values()
        if info["batch"]
    ]
    if batch_notes:
        lines += ["", "Batched means:", "", *batch_notes]
    serialisation = result.get("serialisation") or {}
    if serialisation:
        parts = ", ".join(
            f"{result['engines'][name]['label']} {value:.1f} µs"
            for name, value in serialisation.items()
        )
        lines += [
            "",
            f"Not in end to end: writing the decision as JSON (median per decision): {parts} "
            "(replygate's decision carries its reasons and the policy version).",
        ]
    return "\n".join(lines)
