"""The hand-written floor: the bundled example policy as plain `if`s over the request dict.

No policy language, no index, no models: the fastest a Python function deciding this policy on
this machine can be, and the reference the other peers must agree with. It parses the JSON
timestamps itself and counts office hours with engine.calendars, like every other engine here.

Outcome precedence is deny > escalate > approval_required > allow, and only allow rules permit:
the code below returns at the first outcome that wins, in that order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench.peers.facts import (
    LEGAL_LABELS,
    OFFICE,
    PROMISE,
    parse_time,
    respond_by,
    roles_of,
    utc_text,
)

MARKETING_CHANNELS = frozenset({"linkedin", "instagram"})
POSITIVE_OR_NEUTRAL = frozenset({"positive", "neutral"})
_NO_APPROVERS: list[str] = []


def decide(req: dict[str, Any]) -> dict[str, Any]:
    """Decide one request dict (the /v1/check JSON, parsed) against the example policy."""
    actor = req["actor"]
    roles = roles_of(actor["id"], tuple(actor.get("groups", ())))
    at_text = req.get("at")
    at = parse_time(at_text) if at_text else datetime.now(UTC)
    post = req.get("post")
    due = None
    if req["action"] == "reply" and post is not None:
        due = respond_by(post["category"], parse_time(post["received_at"]))
    decision, approvers, escalate_to = _outcome(req, roles, post, at, due)
    return {
        "decision": decision,
        "approvers": approvers,
        "escalate_to": escalate_to,
        "respond_by": None if due is None else utc_text(due),
        "sla_breached": due is not None and at > due,
    }


def _outcome(
    req: dict[str, Any],
    roles: frozenset[str],
    post: dict[str, Any] | None,
    at: datetime,
    due: datetime | None,
) -> tuple[str, list[str], str | None]:
    """(decision, approvers, escalate_to): the rules of policies/*.policy, strongest effect first."""
    # ---- deny: safety.policy and publishing.policy
    if not roles:
        return "deny", _NO_APPROVERS, None  # not on the social media team
    context = req.get("context")
    if context and context.get("crisis") is True and "comms_lead" not in roles:
        return "deny", _NO_APPROVERS, None
    content = req.get("content") or {}
    text = content.get("text")
    if text and PROMISE.search(text):
        return "deny", _NO_APPROVERS, None
    action = req["action"]
    marketing = "marketing" in roles
    if marketing:
        if action == "reply":
            return "deny", _NO_APPROVERS, None
        if req["channel"] not in MARKETING_CHANNELS or not OFFICE.is_open(at):
            return "deny", _NO_APPROVERS, None

    needed = []
    if action == "reply" and post is not None:
        category = post["category"]
        sentiment = post["sentiment"]
        # ---- escalate: care.policy (comms_lead inherits senior_agent, so it wins when both match)
        if category == "crisis" and "comms_lead" not in roles:
            return "escalate", _NO_APPROVERS, "comms_lead"
        if (
            "agent" in roles
            and "senior_agent" not in roles
            and (sentiment == "negative" or (category == "complaint" and (due is None or at > due)))
        ):
            return "escalate", _NO_APPROVERS, "senior_agent"
        # ---- permits: only allow rules do
        if sentiment in POSITIVE_OR_NEUTRAL:
            allowed = "agent" in roles or (
                "product_manager" in roles and category == "feature_request"
            )
        elif sentiment == "negative" and "senior_agent" in roles:
            allowed = True
            if post["author_reach"] >= 10000 and "comms_lead" not in roles:
                needed.append("comms_lead")
        else:
            allowed = False
    else:
        allowed = action == "post" and marketing  # the marketing denials above did the rest
    if not allowed:
        return "deny", _NO_APPROVERS, None  # no rule permits

    # ---- approval_required: unmet requirements, after the approvals already given
    labels = content.get("labels")
    if labels and "legal" not in roles and not LEGAL_LABELS.isdisjoint(labels):
        needed.append("legal")
    if needed and req.get("approvals"):
        needed = _unmet(needed, req["approvals"], req["actor"]["id"])
    if needed:
        return "approval_required", needed, None
    return "allow", _NO_APPROVERS, None


def _unmet(needed: list[str], approvals: list[dict[str, Any]], actor: str) -> list[str]:
    """The required roles no approver holds; nobody approves their own publication."""
    held: set[str] = set()
    for approval in approvals:
        if approval["by"] != actor:
            held |= roles_of(approval["by"], tuple(approval.get("groups", ())))
    return [role for role in needed if role not in held]
