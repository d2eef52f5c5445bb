"""`--explain`: a readable trace of one decision, for people reviewing a policy.

It walks each candidate rule's conditions as written (quoting the policy text by span) and
says which held and which did not. This is the slow path; `decide` never calls it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from replygate.engine.conditions import MISSING, getter, lower
from replygate.engine.evaluator import CompiledPolicy, CompiledRule, Evaluation
from replygate.engine.models import CheckRequest, Decision, to_utc_text
from replygate.policy_dsl import ast
from replygate.policy_dsl.source import Span


@functools.lru_cache(maxsize=32)
def _lines(text: str) -> tuple[str, ...]:
    # Split once per file: a trace quotes hundreds of conditions of one large file.
    return tuple(text.split("\n"))


def _quote(policy: CompiledPolicy, span: Span) -> str:
    text = policy.sources.get(span.file)
    if text is None:
        return "<condition>"
    lines = list(_lines(text)[span.line - 1 : span.end_line])
    if not lines:
        return "<condition>"
    if len(lines) == 1:
        return lines[0][span.column - 1 : span.end_column - 1]
    lines[0] = lines[0][span.column - 1 :]
    lines[-1] = lines[-1][: span.end_column - 1]
    return " ".join(line.strip() for line in lines)


def _observed(expr: ast.Expr, evaluation: Evaluation) -> str:
    """What the request actually had, so a reader sees why a condition held or not."""
    request = evaluation.request
    path = getattr(expr, "path", None)
    if isinstance(path, ast.Path):
        owner = {"content": "content.labels", "post": "post.labels"}.get(path.dotted)
        shown = ast.Path(tuple(owner.split("."))) if owner else path
        value = getter(shown)(request)
        return f"{shown.dotted} is {'absent' if value is MISSING else repr(value)}"
    if isinstance(expr, ast.ActorIs | ast.ActorHasNoRole | ast.ActorInUnit):
        return f"actor holds {', '.join(sorted(evaluation.roles)) or 'no role'}"
    if isinstance(expr, ast.NowIn):
        return f"at {request.at.isoformat()}"
    if isinstance(expr, ast.DeadlinePassed):
        due = evaluation.deadline()
        return "no response deadline applies" if due is None else f"due {to_utc_text(due)}"
    return ""


def _conditions(
    policy: CompiledPolicy, rule: CompiledRule, evaluation: Evaluation
) -> Iterator[str]:
    """One line per condition: `holds` when it lets the rule match, `fails` when it stops it."""
    written = [(False, f) for e in rule.source.when for f in ast.flatten(e, ast.And)]
    written += [(True, e) for e in rule.source.unless]
    for is_unless, expr in written:
        value = lower(expr, policy.clocks, policy.units, policy.lists)(evaluation)
        holds = value != is_unless
        observed = _observed(expr.operand if isinstance(expr, ast.Not) else expr, evaluation)
        text = ("unless " if is_unless else "") + _quote(policy, expr.span)
        suffix = f"  ({observed})" if observed else ""
        yield f"      {'holds' if holds else 'fails'}  {text}{suffix}"


def _effect(rule: CompiledRule) -> str:
    if rule.effect == "escalate":
        return f"escalate to {rule.roles[0]}"
    if rule.effect == "approval_required" and rule.count > 1:
        return f"require {rule.count} approvals from " + ", ".join(rule.roles)
    if rule.effect == "approval_required":
        return "require approval from " + ", ".join(rule.roles)
    return rule.effect


def _names(names: tuple[ast.Name, ...]) -> str:
    return ", ".join(n.value for n in names)


def why_not_targeted(rule: ast.Rule, request: CheckRequest, roles: frozenset[str]) -> str | None:
    """Why the rule's `on`, `via` or `by` leaves this request out, or None when it does not."""
    if rule.actions is not None and request.action not in {a.value for a in rule.actions}:
        return f"action {request.action} not in: {_names(rule.actions)}"
    if rule.channels is not None and request.channel not in {c.value for c in rule.channels}:
        return f"channel {request.channel} not in: {_names(rule.channels)}"
    if rule.roles is not None and roles.isdisjoint(r.value for r in rule.roles):
        return f"actor holds none of: {_names(rule.roles)}"
    return None


def _left_out(
    policy: CompiledPolicy, request: CheckRequest, roles: frozenset[str]
) -> Iterator[str]:
    """One line per rule the request's action, channel or actor keeps from applying."""
    for rule in policy.rules:
        reason = why_not_targeted(rule.source, request, roles)
        if reason is not None:
            source = rule.reason.source
            where = f"  {source.file}:{source.line}" if source else ""
            yield f"  left out  {rule.name}  [{_effect(rule)}]  {reason}{where}"


def explain(policy: CompiledPolicy, request: CheckRequest) -> str:
    """The decision with every candidate rule, matched or not, and why."""
    actor = request.actor
    roles = policy.roles_of(actor.id, tuple(actor.groups))
    evaluation = Evaluation(policy, request, roles)
    decision: Decision = policy.decide(request)
    lines = [
        f"request: {actor.id} ({', '.join(sorted(roles)) or 'no role'}) wants to {request.action} "
        f"on {request.channel} at {request.at.isoformat()}",
    ]
    if decision.respond_by is not None:
        state = "missed" if decision.sla_breached else "met so far"
        lines.append(f"respond by: {to_utc_text(decision.respond_by)} ({state})")
    # Every rule whose `on`, `via` and `by` take the request, not only those the index hands
    # `decide`: the index also leaves out rules whose category, sentiment, account or actor
    # equality fails, and a reader asking why such a rule did not fire must see it here.
    indexed = {rule.order for rule in policy.candidates(request, roles)}
    candidates = [
        rule for rule in policy.rules if why_not_targeted(rule.source, request, roles) is None
    ]
    lines.append(
        f"candidate rules: {len(candidates)} of {len(policy.rules)} target this action, channel and actor"
    )
    for rule in candidates:
        # An indexed-out rule failed an equality the index tested; its test may leave that out.
        held = rule.order in indexed and (rule.test is None or rule.test(evaluation))
        source = rule.reason.source
        where = f"{source.file}:{source.line}" if source else ""
        lines.append(
            f"  {'MATCHED' if held else 'skipped'}  {rule.name}  [{_effect(rule)}]  {where}"
        )
        if rule.test is None:
            lines.append("      holds  (no condition)")
        else:
            lines.extend(_conditions(policy, rule, evaluation))
    left_out = list(_left_out(policy, request, roles))
    if left_out:
        lines.append(f"not targeted: {len(left_out)} rules leave out this request by on, via or by")
        lines.extend(left_out)
    outcome: str = decision.decision
    if outcome == "escalate":
        outcome += f" to {decision.escalate_to}"
    elif outcome == "approval_required":
        outcome += " from " + ", ".join(
            role
            if decision.approvals_missing.get(role, 1) == 1
            else f"{role} ({decision.approvals_missing[role]} approvals missing)"
            for role in decision.approvers
        )
    lines.append(f"decision: {outcome}")
    for reason in decision.reasons:
        lines.append(f"  because: {reason.message} ({reason.rule or reason.code})")
    return "\n".join(lines)
