"""Running one scenario: its steps, in order, against a compiled policy.

Given steps describe the request; each When step builds the request from everything said so
far and decides it; Then steps check that decision. A Given after a When amends the request,
and the next Then decides it again (that is how an approval flow reads:
`When carol replies … Then … needs approval … When dave approves … Then … is allowed`).

Whatever goes wrong is raised as `ScenarioFailed` carrying a report written for the person who
wrote the scenario: the steps with the failing one marked, what was expected and what the
engine decided, the deciding rules with file:line, and the request that was built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from replygate.engine.models import range_errors
from replygate.scenarios.builder import RequestDraft
from replygate.scenarios.features import ScenarioCase, StepLine
from replygate.scenarios.phrases import describes, slot_values, unknown_step_message
from replygate.scenarios.policy_source import (
    PolicyProvider,
    PolicySpec,
    PolicyUnavailable,
    relative,
)
from replygate.scenarios.values import StepProblem, show_time

if TYPE_CHECKING:
    from replygate.engine.evaluator import CompiledPolicy
    from replygate.engine.models import CheckRequest, Decision
    from replygate.scenarios.coverage import CoverageRecorder
    from replygate.scenarios.phrases import Phrase


class ScenarioFailed(Exception):
    """A scenario did not pass; `report` says why, in full."""

    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


class ExpectationFailed(Exception):
    """Raised by a Then step: what it expected, and (optionally) what it found instead."""

    def __init__(self, expected: str, actual: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.actual = actual


@dataclass(slots=True)
class _Decided:
    request: CheckRequest
    decision: Decision
    policy: CompiledPolicy
    spec: PolicySpec


class ScenarioRun:
    """One run of one scenario case. Steps act on it through the methods below."""

    def __init__(
        self,
        case: ScenarioCase,
        policies: PolicyProvider | None,
        recorder: CoverageRecorder | None = None,
        *,
        root: Path | None = None,
        decide: bool = True,
    ) -> None:
        self.case = case
        self.policies = policies
        self.recorder = recorder
        self.root = root
        self.deciding = decide
        self.draft = RequestDraft()
        self.spec: PolicySpec | None = None  # None: the default policy of the feature file
        self.built: list[CheckRequest] = []
        # Without deciding, each Then step skipped: the request it would check (an index into
        # `built`), the step and its slot values. `corpus` reads expectations from them.
        self.skipped_checks: list[tuple[int, StepLine, Phrase, dict[str, Any]]] = []
        self.pinned: str | None = None  # the revision a `Given the policy at` step named
        self.docstring: str | None = None
        self._performed = False
        self._stale = False
        self._last: _Decided | None = None
        self._last_request: CheckRequest | None = None

    # ---- what steps call ------------------------------------------------------------------------
    def changed(self) -> None:
        """A Given step amended the request; a later Then decides it again."""
        if self._performed:
            self._stale = True

    def act(self) -> None:
        """A When step: build the request from everything said so far and decide it."""
        self._performed = True
        self._refresh()

    def use_policy_at(self, ref: str) -> None:
        """`Given the policy at "main"`: the rest of the scenario runs against that revision."""
        self.pinned = ref
        if not self.deciding:
            return
        if self.policies is None:
            raise StepProblem("no policy source is configured for this run")
        try:
            self.spec = self.policies.at_ref(self.case.feature_file, ref)
            self.policies.load(self.spec)
        except PolicyUnavailable as problem:
            raise StepProblem(str(problem)) from None
        self.changed()

    def decision(self) -> Decision:
        """The decision on the request as the steps describe it now (for Then steps)."""
        if not self._performed:
            raise StepProblem(
                "there is no When step before this Then: say who publishes, e.g. "
                "'When alice replies at 2026-11-27 21:50 Europe/Vienna'"
            )
        if self._stale or self._last is None:
            self._refresh()
        assert self._last is not None  # _refresh decides or raises
        return self._last.decision

    def current_policy(self) -> Any:
        """The compiled policy this scenario runs against (for rosters and routing steps)."""
        if self.policies is None:
            raise StepProblem("no policy source is configured for this run")
        spec = (
            self.spec
            if self.spec is not None
            else self.policies.default_for(self.case.feature_file)
        )
        return self.policies.load(spec)

    def show_time_of(self, decision_time: object) -> str:
        """A time as the scenario writes them: in the zone of its most recent time step."""
        from datetime import datetime

        if not isinstance(decision_time, datetime):
            return "none"
        return show_time(decision_time, self.draft.zone, self.draft.zone_name)

    # ---- running ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Run every step; raise `ScenarioFailed` with a full report at the first failure."""
        from replygate.scenarios.steps import CATALOGUE

        for index, step in enumerate(self.case.steps):
            found = CATALOGUE.find(step.text, step.docstring is not None, step.kind)
            if found is None:
                self._fail(index, self._unmatched(step))
            phrase, values = found
            if describes(phrase.kind) != describes(step.kind):
                self._fail(index, _wrong_keyword(step, phrase.kind))
            if not self.deciding and not describes(phrase.kind):
                self._refresh_if_stale()
                if self.built:
                    checked = (len(self.built) - 1, step, phrase, slot_values(values))
                    self.skipped_checks.append(checked)
                continue
            self.docstring = step.docstring
            try:
                phrase.action(self, **slot_values(values))
            except StepProblem as problem:
                self._fail(index, str(problem))
            except PolicyUnavailable as problem:
                self._fail(index, str(problem))
            except ExpectationFailed as failure:
                self._fail(index, None, failure)
        steps = self.case.steps
        if self.deciding and not any(step.kind == "then" for step in steps):
            # A scenario without a Then passes whatever the policy says: it protects nothing.
            self._fail(
                len(steps),
                "the scenario checks nothing: end it with a Then step, "
                "e.g. 'Then the reply is allowed'",
            )
        if self.deciding and steps[-1].kind != "then":
            # Steps after the last Then change the request, but nothing checks what they do.
            last_then = max(index for index, step in enumerate(steps) if step.kind == "then")
            self._fail(
                last_then + 1,
                "nothing checks the steps after the last Then: end the scenario with a Then "
                "step (e.g. 'Then the reply is allowed'), or remove them",
            )

    def _unmatched(self, step: StepLine) -> str:
        from replygate.scenarios.steps import CATALOGUE

        if "<" in step.text and ">" in step.text:
            return (
                f'"{step.text}" still has a <placeholder>: a Scenario Outline fills '
                "<name> from the column 'name' of its Examples table; check the column names"
            )
        other = CATALOGUE.find(step.text, step.docstring is None, step.kind)
        if other is not None:
            if step.docstring is None:
                return f'"{step.keyword} {step.text}" needs a text block ("""…""") on the lines below it'
            return (
                f'"{step.keyword} {step.text}" takes no text block: remove the """ lines below it'
            )
        return unknown_step_message(CATALOGUE, step.keyword, step.text, step.kind)

    def _refresh_if_stale(self) -> None:
        if self._performed and self._stale:
            self._refresh()

    def _refresh(self) -> None:
        request = self.draft.build()
        self._stale = False
        self.built.append(request)
        self._last_request = request
        if not self.deciding:
            return
        if self.policies is None:
            raise StepProblem("no policy source is configured for this run")
        default = self.spec is None
        spec = self.policies.default_for(self.case.feature_file) if default else self.spec
        assert spec is not None
        policy = self.policies.load(spec)
        undeclared = policy.undeclared_values(request)
        if undeclared:
            # The same refusal the API (422) and `replygate check` give this request.
            raise StepProblem(
                "the steps do not make a valid request for this policy:\n"
                + "\n".join(f"{e['field']}: {e['message']}" for e in undeclared)
            )
        decision = policy.decide(request)
        refused = range_errors(decision)
        if refused:
            raise StepProblem(
                "the steps do not make a valid request:\n"
                + "\n".join(f"{item['field']}: {item['message']}" for item in refused)
            )
        if default and self.recorder is not None:
            self.recorder.record(spec, policy, spec.label(self.root), request)
        self._last = _Decided(request, decision, policy, spec)

    # ---- reporting ----------------------------------------------------------------------------------
    def _fail(
        self, index: int, problem: str | None, failure: ExpectationFailed | None = None
    ) -> NoReturn:
        raise ScenarioFailed(self.report(index, problem, failure))

    def report(
        self, index: int, problem: str | None, failure: ExpectationFailed | None = None
    ) -> str:
        """The full failure report for the step at `index`."""
        case = self.case
        # Where to look, as a compiler says it: the failing step's line (an editor jumps there),
        # then the scenario's.
        where = self._where(case.line)
        if 0 <= index < len(case.steps) and case.steps[index].line != case.line:
            where = (
                f"{self._where(case.steps[index].line)} (the scenario starts at line {case.line})"
            )
        lines = [f"Scenario: {case.title}", f"  {where}"]
        if case.row_line is not None:
            lines.append(f"  {self._where(case.row_line)} (the Examples row)")
        lines.append("")
        for position, step in enumerate(case.steps):
            marker = ">" if position == index else " "
            note = "   <-- failed here" if position == index else ""
            if position > index:
                note = "   (not run)"
            lines.append(f"  {marker} {step.keyword} {step.text}{note}")
        lines.append("")
        if problem is not None:
            lines.append(problem)
        if failure is not None:
            lines.append(f"Expected: {failure.expected}")
            if failure.actual is not None:
                lines.append(f"Actual:   {failure.actual}")
        if self._last is not None and (failure is not None or not self._stale):
            lines.append("")
            lines.extend(self._decision_lines(self._last))
        elif self._last_request is not None:
            lines.append("")
            lines.append("Request built:")
            lines.extend(_indented(_request_json(self._last_request)))
        return "\n".join(lines).rstrip() + "\n"

    def _where(self, line: int) -> str:
        return f"{relative(self.case.feature_file.resolve(), self.root)}:{line}"

    def _decision_lines(self, decided: _Decided) -> list[str]:
        decision = decided.decision
        lines = [f"Decision: {describe(decision)}"]
        if decision.respond_by is not None:
            state = "missed" if decision.sla_breached else "not missed"
            lines.append(
                f"Response due by: {self.show_time_of(decision.respond_by)} (deadline {state})"
            )
        else:
            lines.append("Response due by: no response deadline")
        lines.append("Deciding rules:")
        for reason in decision.reasons:
            if reason.rule is None:
                lines.append(f"  (no rule, {reason.code}): {reason.message}")
                continue
            where = f"{reason.source.file}:{reason.source.line}" if reason.source else "?"
            lines.append(f"  {reason.rule} ({reason.effect}) at {where}")
            lines.append(f"      {reason.message}")
        commit = decided.policy.version.commit
        label = decided.spec.label(self.root)
        lines.append(f"Policy: {label}" + (f" (commit {commit[:12]})" if commit else ""))
        lines.append("Request built:")
        lines.extend(_indented(_request_json(decided.request)))
        return lines


def describe(decision: Decision) -> str:
    """A decision in the scenario vocabulary: allowed, denied, escalates to R, needs approval …"""
    if decision.decision == "allow":
        return "allowed"
    if decision.decision == "deny":
        return "denied"
    if decision.decision == "escalate":
        return f"escalates to {decision.escalate_to}"
    missing = decision.approvals_missing
    if any(missing.get(role, 1) != 1 for role in decision.approvers):
        return "needs " + " and ".join(
            f"{missing.get(role, 1)} approval{'s' if missing.get(role, 1) != 1 else ''} from {role}"
            for role in decision.approvers
        )
    return "needs approval from " + " and ".join(decision.approvers)


def _wrong_keyword(step: StepLine, kind: str) -> str:
    if describes(kind):
        return (
            f'"{step.text}" describes the request, but it follows a Then: write it as '
            f'"Given {step.text}" or "When {step.text}" (a later Then decides again)'
        )
    return (
        f'"{step.text}" checks the decision: write it as "Then {step.text}" (or "And" after a Then)'
    )


def _request_json(request: CheckRequest) -> str:
    return json.dumps(request.model_dump(mode="json", exclude_none=True), indent=2)


def _indented(text: str) -> list[str]:
    return [f"  {line}" for line in text.splitlines()]
