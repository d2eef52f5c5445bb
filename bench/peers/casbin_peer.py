"""Casbin (through pycasbin) deciding the example policy: bench/peers/casbin/{model.conf,policy.csv}.

Casbin answers yes or no to one request tuple. The model adds a question field q to the tuple,
and a decision asks the questions in precedence order, stopping at the first that settles it:
"deny"; "escalate:<role>" for each target, the role that inherits the others first; "allow"
(no allow means deny); then "approval:<role>" for each role that may be required. The matcher
does RBAC with role inheritance (g) and the ABAC conditions as policy fields, including the
"guarantee" regular expression. FastEnforcer indexes the lines by (q, action), Casbin's own way
to keep a question from scanning the rules of the others.

Precomputed in Python (Casbin has no calendars or date arithmetic): the facts office_open,
office_closed and deadline_passed; crisis_mode is the request's flag under a name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import casbin
from casbin.persist.adapters.string_adapter import StringAdapter
from casbin.util.expression import SimpleEval

from bench.peers.facts import OFFICE, RESPONSE_TIMES, parse_time, respond_by, utc_text

HERE = Path(__file__).resolve().parent / "casbin"
MODEL_FILE = HERE / "model.conf"
POLICY_FILE = HERE / "policy.csv"
GENERATED_ACCOUNTS = (  # the accounts bench.requests_gen uses, for the few matching grants
    ("twitter", "@acme_help"),
    ("facebook", "AcmeSupport"),
    ("instagram", "@acme.official"),
    ("linkedin", "acme-corp"),
)
# The order of the policy fields after q and act (model.conf), for generated lines.
FIELDS = (
    "sub",
    "obj",
    "chan",
    "sentiment",
    "category",
    "reach_min",
    "reach_max",
    "label",
    "text",
    "fact",
    "unless",
    "approved_by",
)


class ParsedOnceEnforcer(casbin.FastEnforcer):  # type: ignore[misc]
    """A FastEnforcer that parses its matcher once, not on every enforce() as pycasbin does.

    Same evaluation, same answers; it shows what Casbin's matching costs once the per-call
    parse and evaluator set-up, which dominate pycasbin's time per call, are out of the way.
    One evaluator per matcher text is reused, so an instance is not thread-safe.
    """

    @staticmethod
    def _get_expression(expr: str, functions: dict[str, Any] | None = None) -> SimpleEval:
        evaluator = _EVALUATORS.get(expr)
        if evaluator is None:
            evaluator = _EVALUATORS[expr] = SimpleEval("", functions)
            evaluator.ast_parsed_value = _parsed_matcher(expr)
        evaluator.functions = functions
        return evaluator


_EVALUATORS: dict[str, SimpleEval] = {}


def _parsed_matcher(expr: str) -> ast.expr:
    """The matcher as pycasbin parses it (the same rewriting of && || !)."""
    python = re.sub(r"!(?!=)", "not ", expr.replace("&&", "and").replace("||", "or"))
    statement = ast.parse(python.strip()).body[0]
    if not isinstance(statement, ast.Expr):
        raise ValueError(f"a matcher is an expression: {expr!r}")
    return statement.value


class CasbinPeer:
    """The example policy (or a scaled variant) in a pycasbin FastEnforcer, ready to decide.

    `parse_once=True` uses ParsedOnceEnforcer: pycasbin's evaluation without its per-call parse.
    """

    def __init__(self, policy_text: str | None = None, *, parse_once: bool = False) -> None:
        text = POLICY_FILE.read_text(encoding="utf-8") if policy_text is None else policy_text
        enforcer_class = ParsedOnceEnforcer if parse_once else casbin.FastEnforcer
        self.enforcer = enforcer_class(str(MODEL_FILE), StringAdapter(text), cache_key_order=[0, 1])
        role_manager = self.enforcer.get_role_manager()
        has_link: Callable[[str, str], bool] = role_manager.has_link

        def holds(subjects: Sequence[str], role: str) -> bool:
            """g() for several subjects: the actor and each of their directory groups."""
            return any(has_link(subject, role) for subject in subjects)

        self.enforcer.add_function("holds", holds)
        self.enforcer.add_function("int", int)
        questions = {line[0] for line in self.enforcer.get_policy()}
        targets = [q.split(":", 1)[1] for q in _in_order(self.enforcer, "escalate:")]
        # A target that inherits the others is asked first (comms_lead before senior_agent);
        # unrelated targets keep the order of their first line.
        ordered = sorted(targets, key=lambda t: -sum(has_link(t, o) for o in targets if o != t))
        self.escalations = [(f"escalate:{t}", t) for t in ordered]
        self.approvals = sorted(
            (q, q.split(":", 1)[1]) for q in questions if q.startswith("approval:")
        )
        self._enforce = self.enforcer.enforce

    def decide(self, req: dict[str, Any]) -> dict[str, Any]:
        """Decide one request dict by asking Casbin the questions in precedence order."""
        actor = req["actor"]
        actor_id = actor["id"]
        action = req["action"]
        at_text = req.get("at")
        at = parse_time(at_text) if at_text else datetime.now(UTC)
        post = req.get("post")
        content = req.get("content") or {}
        facts = set()
        if (req.get("context") or {}).get("crisis") is True:
            facts.add("crisis_mode")
        due = None
        if action == "reply" and post is not None:
            category = post["category"]
            due = respond_by(category, parse_time(post["received_at"]))
            sentiment, reach = post["sentiment"], post["author_reach"]
            # "deadline has passed": the category has a response time and it is over (or
            # could not be computed: fail closed, as the engine does).
            if category in RESPONSE_TIMES and (due is None or at > due):
                facts.add("deadline_passed")
        else:
            category, sentiment, reach = "", "", -1  # a new post answers no post
            facts.add("office_open" if OFFICE.is_open(at) else "office_closed")
        approvers = tuple(
            subject
            for approval in req.get("approvals", ())
            if approval["by"] != actor_id  # nobody approves their own publication
            for subject in (approval["by"], *approval.get("groups", ()))
        )
        tail = (
            (actor_id, *actor.get("groups", ())),
            req.get("account") or "",
            req["channel"],
            sentiment,
            category,
            reach,
            tuple(content.get("labels", ())),
            content.get("text") or "",
            facts,
            approvers,
        )
        decision, approver_roles, escalate_to = self._ask(action, tail)
        return {
            "decision": decision,
            "approvers": approver_roles,
            "escalate_to": escalate_to,
            "respond_by": None if due is None else utc_text(due),
            "sla_breached": due is not None and at > due,
        }

    def _ask(self, action: str, tail: tuple[Any, ...]) -> tuple[str, list[str], str | None]:
        enforce = self._enforce
        if enforce("deny", action, *tail):
            return "deny", [], None
        for question, target in self.escalations:
            if enforce(question, action, *tail):
                return "escalate", [], target
        if not enforce("allow", action, *tail):
            return "deny", [], None  # no rule permits
        unmet = [role for question, role in self.approvals if enforce(question, action, *tail)]
        if unmet:
            return "approval_required", unmet, None
        return "allow", [], None

    @classmethod
    def scaled(cls, extra_rules: int, matching: int = 0, *, parse_once: bool = False) -> CasbinPeer:
        """The example policy plus `extra_rules` generated lines (see `scaled_policy_text`)."""
        return cls(scaled_policy_text(extra_rules, matching), parse_once=parse_once)


def _in_order(enforcer: casbin.FastEnforcer, prefix: str) -> list[str]:
    """The distinct questions starting with `prefix`, in the order their first line appears."""
    seen: dict[str, None] = {}
    for line in enforcer.get_policy():
        if line[0].startswith(prefix):
            seen.setdefault(line[0], None)
    return list(seen)


def _line(q: str, act: str, **fields: str) -> str:
    return ", ".join(("p", q, act, *(fields.get(name, "*") for name in FIELDS)))


def scaled_policy_text(extra_rules: int, matching: int = 0) -> str:
    """policy.csv plus `extra_rules` rules in the four shapes of bench/gen_policy.py.

    As for Cedar: per-account post grants, per-person reply exceptions, per-topic legal
    approvals and per-team grants, none matching a generated request; `matching` more grants
    match generated requests but only repeat agents-reply-to-positive-and-neutral.
    """
    lines = []
    for number in range(extra_rules):
        channel = ("twitter", "facebook", "instagram", "linkedin")[number % 4]
        shape = number % 4
        if shape == 0:
            lines.append(
                _line("allow", "post", sub="agent", obj=f"@brand-{number}", chan=f"^{channel}$")
            )
        elif shape == 1:
            lines.append(
                _line(
                    "allow", "reply", sub=f"contractor-{number}", sentiment="^(positive|neutral)$"
                )
            )
        elif shape == 2:
            lines.append(
                _line(
                    "approval:legal",
                    "reply",
                    sub="agent",
                    category=f"topic-{number}",
                    unless="legal",
                    approved_by="legal",
                )
            )
        else:  # "on reply, post … when post.author_reach < N": a new post has no post
            lines.append(
                _line(
                    "allow",
                    "reply",
                    sub=f"team_{number}",
                    chan=f"^{channel}$",
                    reach_max=str(1000 + number),
                )
            )
    for number in range(matching):
        channel, account = GENERATED_ACCOUNTS[number % len(GENERATED_ACCOUNTS)]
        lines.append(
            _line(
                "allow",
                "reply",
                sub="agent",
                obj=account,
                chan=f"^{channel}$",
                sentiment="^(positive|neutral)$",
            )
        )
    return POLICY_FILE.read_text(encoding="utf-8") + "\n" + "\n".join(lines) + "\n"


_DEFAULT: CasbinPeer | None = None


def decide(req: dict[str, Any]) -> dict[str, Any]:
    """Decide with the example policy, loaded on first use."""
    global _DEFAULT  # noqa: PLW0603 - one shared peer per process
    if _DEFAULT is None:
        _DEFAULT = CasbinPeer()
    return _DEFAULT.decide(req)
