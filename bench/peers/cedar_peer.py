"""Cedar (through cedarpy) deciding the example policy: bench/peers/cedar/policy.cedar.

One Cedar authorization request answers one decision. Deny rules are `forbid`s; allow,
escalation and approval rules are `permit`s whose annotations carry our effect. Cedar returns
Deny with the matching forbids (-> deny), Deny with no reasons (-> no rule permits), or Allow with
every matching permit; `_combine` reads those by precedence: escalate > approval_required >
allow, and without an allow permit the answer is deny. Why one request and not one per outcome:
it is the cheapest faithful encoding, so the benchmark measures Cedar at its best.

What Cedar is given precomputed (it has no regular expressions, calendars or date arithmetic):
`promises_outcome`, `office_open` and `respond_by`; `at > respond_by` is compared in Cedar.
Picking one escalation target among several ("the role that inherits the others") happens in
`_combine`, from the role entities' parents. The policy set, schema and static entities are
parsed once; each request adds its actor, approvers, approvals and account as a small delta.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cedarpy

from bench.peers.facts import (
    OFFICE,
    PROMISE,
    epoch_micros,
    parse_time,
    respond_by,
    utc_text,
)

HERE = Path(__file__).resolve().parent / "cedar"
POLICY_FILE = HERE / "policy.cedar"
SCHEMA_FILE = HERE / "schema.cedarschema"
ENTITIES_FILE = HERE / "entities.json"
GENERATED_ACCOUNTS = (  # the accounts bench.requests_gen uses, for the few matching grants
    ("twitter", "@acme_help"),
    ("facebook", "AcmeSupport"),
    ("instagram", "@acme.official"),
    ("linkedin", "acme-corp"),
)

STORE_CACHE_SIZE = 4096

EntityRef = dict[str, str]
Entity = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a Cedar policy means to us: its rule name, our effect, its order and its role."""

    name: str
    effect: str  # deny | allow | escalate | approval_required
    order: int
    role: str | None  # escalation target or required approver


@dataclass(slots=True)
class Translated:
    """One check request as Cedar sees it, plus the deadline computed for it in Python."""

    request: dict[str, Any]
    entities: list[Entity]
    due: datetime | None
    at: datetime


def rule_table(policy_text: str) -> dict[str, Rule]:
    """Cedar's positional policy ids (policy0, …) mapped to our rule names and effects."""
    static = json.loads(cedarpy.policies_to_json_str(policy_text))["staticPolicies"]
    table = {}
    for policy_id, policy in static.items():
        notes = policy.get("annotations", {})
        effect = "deny" if policy["effect"] == "forbid" else notes.get("effect", "allow")
        role = notes.get("escalate_to") or notes.get("approval_from")
        table[policy_id] = Rule(notes.get("id", policy_id), effect, int(policy_id[6:]), role)
    return table


class CedarPeer:
    """The example policy (or a scaled variant) loaded into cedarpy once, ready to decide.

    The policy set is validated against the schema when loaded (`validate`). Requests are not
    validated against it unless `request_schema` is set: that costs ~3x per call and only
    re-checks what `translate` builds; turn it on to charge Cedar for request validation.
    """

    def __init__(
        self,
        policy_text: str | None = None,
        *,
        validate: bool = True,
        request_schema: bool = False,
    ) -> None:
        text = POLICY_FILE.read_text(encoding="utf-8") if policy_text is None else policy_text
        schema = cedarpy.Schema.from_str(SCHEMA_FILE.read_text(encoding="utf-8"))
        if validate:
            checked = cedarpy.validate_policies(text, schema)
            if not checked.validation_passed:
                raise ValueError("; ".join(str(error) for error in checked.errors))
        self.policies = cedarpy.PolicySet.from_str(text)
        self.rules = rule_table(text)
        self.schema = schema if request_schema else None
        static: list[Entity] = json.loads(ENTITIES_FILE.read_text(encoding="utf-8"))
        # People are directory data: each request builds its actor from them and its groups.
        self.people: dict[str, list[EntityRef]] = {
            e["uid"]["id"]: e["parents"] for e in static if e["uid"]["type"] == "User"
        }
        self.base = cedarpy.Entities.from_json_str(
            json.dumps([e for e in static if e["uid"]["type"] != "User"])
        )
        self.inherits = _role_closure(static)
        # Entity stores by their per-request delta: requests repeat actors, accounts and
        # approvals, and a real deployment would cache a user's entities the same way.
        self._stores: dict[str, cedarpy.Entities] = {}

    def _store(self, entities: list[Entity]) -> cedarpy.Entities:
        delta = json.dumps(entities)
        store = self._stores.get(delta)
        if store is None:
            if len(self._stores) >= STORE_CACHE_SIZE:
                self._stores.clear()
            store = self._stores[delta] = self.base.with_added_json_str(delta)
        return store

    # ---- one request ----------------------------------------------------------------------
    def decide(self, req: dict[str, Any]) -> dict[str, Any]:
        """Decide one request dict: translate, one `is_authorized` call, combine."""
        item = self.translate(req)
        store = self._store(item.entities)
        result = cedarpy.is_authorized(item.request, self.policies, store, self.schema)
        return self._decision(item, result)

    def decide_batch(self, reqs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Decide many requests with `is_authorized_batch`, one call per consistent entity set.

        Cedar takes one entity store per batch, so requests whose actor appears with different
        groups (alice with and without care-team) go to different calls. cedarpy's cost per
        request grows with the size of the store, so entities are shared, never per request.
        """
        items = [self.translate(req) for req in reqs]
        decisions: list[dict[str, Any] | None] = [None] * len(items)
        for indices, entities in _partition(items):
            store = self.base.with_added_json_str(json.dumps(entities))
            requests = [items[i].request for i in indices]
            results = cedarpy.is_authorized_batch(requests, self.policies, store, self.schema)
            for index, result in zip(indices, results, strict=True):
                decisions[index] = self._decision(items[index], result)
        return [d for d in decisions if d is not None]

    # ---- translation ----------------------------------------------------------------------
    def translate(self, req: dict[str, Any]) -> Translated:
        """The Cedar request, the entities it adds, and the deadline (a precomputed fact)."""
        actor = req["actor"]
        actor_id = actor["id"]
        actor_entity = self._user(actor_id, actor.get("groups", ()))
        entities = [actor_entity]
        # Nobody approves their own publication: Cedar cannot say "someone other than the
        # principal", so the actor's own approval is dropped here.
        approver_groups: dict[str, list[str]] = {}
        for approval in req.get("approvals", ()):
            if approval["by"] != actor_id:
                approver_groups.setdefault(approval["by"], []).extend(approval.get("groups", ()))
        approvers = [{"type": "User", "id": by} for by in sorted(approver_groups)]
        entities += [self._user(by, groups) for by, groups in sorted(approver_groups.items())]
        # Named by who approved, so requests with the same approvers share one entity.
        approvals = {"type": "Approvals", "id": ",".join(sorted(approver_groups))}
        entities.append({"uid": approvals, "attrs": {}, "parents": approvers})
        channel = req["channel"]
        account = {"type": "Account", "id": f"{channel}/{req.get('account') or ''}"}
        entities.append(
            {"uid": account, "attrs": {}, "parents": [{"type": "Channel", "id": channel}]}
        )

        at_text = req.get("at")
        at = parse_time(at_text) if at_text else datetime.now(UTC)
        content = req.get("content") or {}
        context: dict[str, Any] = {
            "content_labels": list(content.get("labels", ())),
            "crisis": (req.get("context") or {}).get("crisis") is True,
            "approvals": {"__entity": approvals},
            "promises_outcome": bool(PROMISE.search(content.get("text") or "")),
        }
        due = None
        post = req.get("post")
        if req["action"] == "reply" and post is not None:
            due = respond_by(post["category"], parse_time(post["received_at"]))
            context["post"] = {
                "sentiment": post["sentiment"],
                "category": post["category"],
                "author_reach": post["author_reach"],
                "labels": list(post.get("labels", ())),
            }
            context["at"] = epoch_micros(at)
            if due is not None:
                context["respond_by"] = epoch_micros(due)
        else:
            context["office_open"] = OFFICE.is_open(at)
        request = {
            "principal": actor_entity["uid"],
            "action": {"type": "Action", "id": req["action"]},
            "resource": account,
            "context": context,
        }
        return Translated(request, entities, due, at)

    def _user(self, person: str, groups: Iterable[str]) -> Entity:
        parents = [*self.people.get(person, ()), *({"type": "Group", "id": g} for g in groups)]
        return {"uid": {"type": "User", "id": person}, "attrs": {}, "parents": parents}

    # ---- outcome --------------------------------------------------------------------------
    def _decision(self, item: Translated, result: cedarpy.AuthzResult) -> dict[str, Any]:
        decision, approvers, escalate_to = self._combine(result)
        due = item.due
        return {
            "decision": decision,
            "approvers": approvers,
            "escalate_to": escalate_to,
            "respond_by": None if due is None else utc_text(due),
            "sla_breached": due is not None and item.at > due,
        }

    def _combine(self, result: cedarpy.AuthzResult) -> tuple[str, list[str], str | None]:
        """Our four outcomes from Cedar's decision and the policies that determined it."""
        diagnostics = result.diagnostics
        if diagnostics.errors:  # a policy that failed to evaluate might have been a forbid
            return "deny", [], None
        if not result.allowed:  # the matching forbids, or nothing permits
            return "deny", [], None
        matched = sorted((self.rules[p] for p in diagnostics.reasons), key=lambda r: r.order)
        targets = [r.role for r in matched if r.effect == "escalate" and r.role]
        if targets:
            return "escalate", [], self._escalation_target(targets)
        if not any(r.effect == "allow" for r in matched):
            return "deny", [], None
        approvers = sorted({r.role for r in matched if r.effect == "approval_required" and r.role})
        if approvers:
            return "approval_required", approvers, None
        return "allow", [], None

    def _escalation_target(self, targets: list[str]) -> str:
        """The target role that inherits every other target, else the first rule's."""
        for target in targets:
            if all(other in self.inherits.get(target, ()) for other in targets):
                return target
        return targets[0]

    # ---- scaled policy sets ---------------------------------------------------------------
    @classmethod
    def scaled(cls, extra_rules: int, matching: int = 0) -> CedarPeer:
        """The example policy plus `extra_rules` generated rules (see `scaled_policy_text`)."""
        return cls(scaled_policy_text(extra_rules, matching))


def _role_closure(static: list[Entity]) -> dict[str, frozenset[str]]:
    """Each role and every role it inherits, from the Role entities' parents."""
    parents = {
        e["uid"]["id"]: [p["id"] for p in e["parents"] if p["type"] == "Role"]
        for e in static
        if e["uid"]["type"] == "Role"
    }

    def closed(role: str) -> frozenset[str]:
        held = {role}
        for parent in parents.get(role, ()):
            held |= closed(parent)
        return frozenset(held)

    return {role: closed(role) for role in parents}


def _partition(items: list[Translated]) -> list[tuple[list[int], list[Entity]]]:
    """Group requests so that within a group every entity uid has one definition."""
    groups: list[tuple[list[int], dict[tuple[str, str], Entity]]] = []
    for index, item in enumerate(items):
        for group in groups:
            if all(group[1].get(_key(e), e) == e for e in item.entities):
                indices, known = group
                break
        else:
            indices, known = [], {}
            groups.append((indices, known))
        indices.append(index)
        for entity in item.entities:
            known[_key(entity)] = entity
    return [(indices, list(known.values())) for indices, known in groups]


def _key(entity: Entity) -> tuple[str, str]:
    uid = entity["uid"]
    return uid["type"], uid["id"]


def scaled_policy_text(extra_rules: int, matching: int = 0) -> str:
    """policy.cedar plus `extra_rules` rules in the four shapes of bench/gen_policy.py.

    Per-account post grants, per-person reply exceptions, per-topic legal approvals and
    per-team grants: none matches a generated request (no generated request uses those
    accounts, people, categories or roles), so decisions stay the example policy's. The
    `matching` extra grants do match generated requests but repeat what
    agents-reply-to-positive-and-neutral already permits, so they cost evaluation, not agreement.
    """
    rules = [_generated_rule(number) for number in range(extra_rules)]
    for number in range(matching):
        channel, account = GENERATED_ACCOUNTS[number % len(GENERATED_ACCOUNTS)]
        rules.append(
            f'@id("redundant-grant-{number}")\n@effect("allow")\n'
            f'permit (principal in Role::"agent", action == Action::"reply", '
            f'resource == Account::"{channel}/{account}")\n'
            'when { ["positive", "neutral"].contains(context.post.sentiment) };\n'
        )
    return POLICY_FILE.read_text(encoding="utf-8") + "\n" + "\n".join(rules)


def _generated_rule(number: int) -> str:
    channel = ("twitter", "facebook", "instagram", "linkedin")[number % 4]
    shape = number % 4
    if shape == 0:
        return (
            f'@id("grant-account-{number}")\n@effect("allow")\n'
            f'permit (principal in Role::"agent", action == Action::"post", '
            f'resource == Account::"{channel}/@brand-{number}");\n'
        )
    if shape == 1:
        return (
            f'@id("person-exception-{number}")\n@effect("allow")\n'
            f'permit (principal == User::"contractor-{number}", action == Action::"reply", resource)\n'
            'when { context.post.sentiment != "negative" };\n'
        )
    if shape == 2:
        return (
            f'@id("category-{number}")\n@effect("approval_required")\n@approval_from("legal")\n'
            f'permit (principal in Role::"agent", action == Action::"reply", resource)\n'
            f'when {{ context.post.category == "topic-{number}" }}\n'
            'unless { principal in Role::"legal" || context.approvals in Role::"legal" };\n'
        )
    # "on reply, post … when post.author_reach < N": a new post has no post, so only replies.
    return (
        f'@id("team-{number}")\n@effect("allow")\n'
        f'permit (principal in Role::"team_{number}", action == Action::"reply", '
        f'resource in Channel::"{channel}")\n'
        f"when {{ context.post.author_reach < {1000 + number} }};\n"
    )


_DEFAULT: CedarPeer | None = None


def decide(req: dict[str, Any]) -> dict[str, Any]:
    """Decide with the example policy, loaded on first use."""
    global _DEFAULT  # noqa: PLW0603 - one shared, immutable peer per process
    if _DEFAULT is None:
        _DEFAULT = CedarPeer()
    return _DEFAULT.decide(req)


def decide_batch(reqs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decide many requests with the example policy through Cedar's batch call."""
    global _DEFAULT  # noqa: PLW0603
    if _DEFAULT is None:
        _DEFAULT = CedarPeer()
    return _DEFAULT.decide_batch(reqs)
