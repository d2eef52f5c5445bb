"""A review printed three ways: text for a terminal, Markdown for a pull request, JSON for tools.

The JSON form is a stable schema (`"schema": "replygate.diff/1"`, documented in docs/review.md):
keys are only ever added, never renamed or removed, within one schema version.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from replygate.engine.review.causes import AUTHORITY, ORDER, RULES, Cause
from replygate.engine.review.impact import BrokenScenario, Example, Group, NamedChange, Outcome
from replygate.engine.review.rules import DeclarationChange, FieldChange, RuleChange
from replygate.engine.review.space import describe

if TYPE_CHECKING:
    from replygate.engine.review import RequestSource, Review, Side

SCHEMA = "replygate.diff/1"
FORMATS = ("text", "markdown", "json")


def render(review: Review, fmt: str) -> str:
    """The review in one of `FORMATS`."""
    if fmt == "json":
        return json.dumps(as_json(review), indent=2, ensure_ascii=False)
    if fmt == "markdown":
        return markdown(review)
    if fmt == "text":
        return text(review)
    raise ValueError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")


# ---- shared wording ------------------------------------------------------------------------------


def side_title(side: Side) -> str:
    """`main (3f2a1c9)`, `WORKTREE` or a folder, as the reader named the side."""
    if side.commit is None or side.commit.startswith(side.label):
        return side.label if side.commit is None else side.commit[:12]
    return f"{side.label} ({side.commit[:12]})"


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}" + ("" if number == 1 else "s")


def _rule_counts(review: Review) -> dict[str, int]:
    counts = dict.fromkeys(("changed", "renamed", "added", "removed"), 0)
    for change in review.rules:
        counts[change.change] += 1
    return counts


def _headline(review: Review) -> str:
    impact = review.impact
    return (
        f"{_count(impact.changed, 'decision')} of {impact.requests:,} generated requests change: "
        f"{impact.widening:,} widening, {impact.narrowing:,} narrowing, "
        f"{impact.count('changed'):,} changed"
    )


def _rules_line(review: Review) -> str:
    counts = _rule_counts(review)
    return (
        f"Rules: {counts['changed']} changed, {counts['renamed']} renamed, "
        f"{counts['added']} added, {counts['removed']} removed. "
        f"Declarations: {len(review.declarations)} changed. "
        f"Authority: {_count(len(review.authority), 'change')}."
    )


def _grant_lines(review: Review) -> list[str]:
    lines = []
    for holder in review.authority.holders:
        for grant in holder.gained:
            lines.append(f"{holder.kind} {holder.holder} gained {grant.role} ({grant.via})")
        for grant in holder.lost:
            lines.append(f"{holder.kind} {holder.holder} lost {grant.role} ({grant.via})")
    for role in review.authority.roles:
        parts = []
        if role.gained:
            parts.append("now inherits " + ", ".join(role.gained))
        if role.lost:
            parts.append("no longer inherits " + ", ".join(role.lost))
        lines.append(f"role {role.role} " + " and ".join(parts))
    return lines


def _declaration_detail(change: DeclarationChange) -> str:
    details = []
    for item in change.fields:
        if change.change == "added":
            details.append(f"{item.field}: {item.after}")
        elif change.change == "removed":
            details.append(f"{item.field}: {item.before}")
        else:
            details.append(f"{item.field}: {item.before} → {item.after}")
    return "; ".join(details)


def _example_attributes(example: Example, zone: str) -> dict[str, str]:
    shown = dict(describe(example.case, zone))
    for key in ("actor", "action", "channel"):
        shown.pop(key, None)
    return shown


def cause_text(cause: Cause, review: Review) -> str:
    """The change behind a group: `rule viral-… changed (conditions)`, or the declarations or
    authority changes it came through."""
    if cause.kind == RULES:
        changes = {c.rule: c for c in review.rules}
        parts = []
        for name in cause.rules:
            change = changes.get(name)
            if change is None:
                parts.append(f"rule {name}")
            elif change.change == "changed":
                what = ", ".join(f.field for f in change.fields)
                parts.append(f"rule {name} changed ({what})")
            else:
                parts.append(f"rule {name} {change.change}")
        return "; ".join(parts)
    if cause.kind == ORDER:
        # Files are read in path order; the first matching escalation names the target.
        return "rule order: " + "; ".join(cause.moves)
    if cause.kind == AUTHORITY:
        grants = _grant_lines(review)
        shown = "; ".join(grants[:3]) + ("; …" if len(grants) > 3 else "")
        return "authority: " + (shown or "who holds which role changed")
    names = [f"{d.kind} {d.name} {d.change}" for d in review.declarations]
    shown = "; ".join(names[:3]) + ("; …" if len(names) > 3 else "")
    return "declarations: " + (shown or "a declaration changed")


def _broken_line(item: BrokenScenario) -> str:
    where = f" ({item.where})" if item.where else ""
    return (
        f"{item.name}{where}: expects {item.expected}, HEAD gives {item.head}"
        f" (deciding rule: {item.rule_after})"
    )


def _already_failing(review: Review) -> str | None:
    failing = [b for b in review.broken if not b.held_on_base]
    if not failing:
        return None
    one = len(failing) == 1
    return f"{_count(len(failing), 'scenario')} already failed on BASE and still " + (
        "fails (not listed: this change did not break it)"
        if one
        else "fail (not listed: this change did not break them)"
    )


def _broken_title(count: int) -> str:
    verb = "gets the outcome it expects" if count == 1 else "get the outcome they expect"
    return f"{_count(count, 'scenario')} no longer {verb}"


def _named_counts(review: Review) -> str:
    used = [s for s in review.sources if s.status == "used"]
    return ", ".join(f"{_count(s.requests, s.source + ' request')}" for s in used)


# ---- text ---------------------------------------------------------------------------------------


def _field_lines(item: FieldChange, indent: str) -> list[str]:
    lines = [f"{indent}{item.field}"]
    lines += [f"{indent}  - {line}" for line in (item.before or "").splitlines()]
    lines += [f"{indent}  + {line}" for line in (item.after or "").splitlines()]
    return lines


def _text_rule(change: RuleChange) -> list[str]:
    if change.change == "renamed":
        return [f"  renamed  {change.old_name} → {change.rule}  (same content, {change.head_at})"]
    where = change.head_at or change.base_at
    lines = [f"  {change.change:<8} {change.rule}  ({where})"]
    if change.change == "changed":
        for item in change.fields:
            lines += _field_lines(item, "      ")
    else:
        sign = "+" if change.change == "added" else "-"
        body = change.after if change.change == "added" else change.before
        lines += [f"      {sign} {line}" for line in (body or "").splitlines()]
    return lines


def _text_example(example: Example, zone: str) -> list[str]:
    what, rules = example_text(
        describe(example.case, zone), example.rule_before, example.rule_after
    )
    return [f"      - {what}", f"        {rules}"]


def example_text(summary: Mapping[str, str], rule_before: str, rule_after: str) -> tuple[str, str]:
    """An example as the text report prints it, from its summary (`describe`, or the JSON's
    `summary`): "carol reply on twitter · negative question, reach 5000 · at: …", and
    "deciding rule: BEFORE → AFTER". The Changes page shows the same two lines."""
    shown = dict(summary)
    actor, action, channel = (shown.pop(key, "") for key in ("actor", "action", "channel"))
    attributes = " · ".join(f"{k}: {v}" if k != "post" else v for k, v in shown.items())
    return (
        f"{actor} {action} on {channel} · {attributes}",
        f"deciding rule: {rule_before} → {rule_after}",
    )


def _text_group(group: Group, review: Review) -> list[str]:
    lines = [
        f"  {group.klass.upper():<9}  {group.before} → {group.after}  "
        f"({_count(group.count, 'request')})  because: {cause_text(group.cause, review)}"
    ]
    if group.summary:
        lines.append(f"      {group.summary}")
    for example in group.examples:
        lines += _text_example(example, review.impact.zone)
    return lines


# Each section is a function of the review giving its lines (none when it has nothing to say),
# in reading order: flags first, then the changes in words, then the detail.
def _text_flags(review: Review) -> list[str]:
    lines = []
    if review.widens:
        lines.append("WIDENING: some decisions become more permissive; compliance sign-off needed.")
    broken = review.newly_broken
    if broken:
        lines.append(f"BROKEN SCENARIOS: {_broken_title(len(broken))}:")
        lines += [f"  {_broken_line(item)}" for item in broken]
    return ["", *lines] if lines else []


def _text_words(review: Review) -> list[str]:
    groups = review.impact.groups
    if not groups:
        return []
    return ["", "What changes"] + [
        f"  {g.klass.upper():<9}  {g.summary or f'{g.before} → {g.after}'}" for g in groups
    ]


def _text_counts(review: Review) -> list[str]:
    return ["", _rules_line(review), _headline(review) + "."]


def _text_rules(review: Review) -> list[str]:
    if not review.rules:
        return []
    lines = ["", "Rule changes"]
    for change in review.rules:
        lines += _text_rule(change)
    return lines


def _text_declarations(review: Review) -> list[str]:
    if not review.declarations:
        return []
    lines = ["", "Declaration changes"]
    for item in review.declarations:
        detail = _declaration_detail(item)
        lines.append(f"  {item.kind} {item.name} {item.change}" + (f": {detail}" if detail else ""))
    return lines


def _text_authority(review: Review) -> list[str]:
    grants = _grant_lines(review)
    return ["", "Authority"] + [f"  {line}" for line in grants] if grants else []


def _text_impact(review: Review) -> list[str]:
    impact = review.impact
    lines = [
        "",
        f"Decision impact ({impact.requests:,} requests, {impact.decisions:,} decisions, "
        f"{impact.seconds:.2f} s; times in {impact.zone})",
    ]
    if not impact.groups:
        lines.append("  no generated request changes its decision")
    for group in impact.groups:
        lines += _text_group(group, review)
    return lines


def _text_scenarios(review: Review) -> list[str]:
    lines = ["", "Scenarios whose outcome changes", *_text_named(review)]
    failing = _already_failing(review)
    return lines + ([f"  {failing}"] if failing else [])


TEXT_SECTIONS = (
    _text_flags,
    _text_words,
    _text_counts,
    _text_rules,
    _text_declarations,
    _text_authority,
    _text_impact,
    _text_scenarios,
)


def text(review: Review) -> str:
    """The review for a terminal."""
    lines = [f"replygate diff  BASE {side_title(review.base)}  →  HEAD {side_title(review.head)}"]
    for section in TEXT_SECTIONS:
        lines += section(review)
    return "\n".join(lines)


def _text_named(review: Review) -> list[str]:
    lines = [f"  {_source_note(s)}" for s in review.sources if s.note]
    if not any(s.status == "used" for s in review.sources):
        return lines or ["  none checked (pass --features DIR or --decision-log URL)"]
    if not review.named:
        lines.append(f"  none ({_named_counts(review)} checked)")
    for item in review.named:
        lines.append(
            f"  {item.klass.upper():<9}  {item.name} [{item.source}]: {item.before} → {item.after}"
            f"  (deciding rule: {item.rule_before} → {item.rule_after})"
        )
    if review.not_replayable:
        lines.append(f"  {_not_replayable(review)}")
    return lines


def _not_replayable(review: Review) -> str:
    """The named requests counted apart: their outcome may differ only by redaction."""
    rules: dict[str, int] = {}
    for item in review.not_replayable:
        for rule in item.rule_after.split(", "):
            rules[rule] = rules.get(rule, 0) + 1
    listed = ", ".join(f"{rule} ({count})" for rule, count in sorted(rules.items()))
    return (
        f"{_count(len(review.not_replayable), 'logged request')} not replayable, not counted as "
        f"changes: a redacted field they depend on is read by {listed}"
    )


def _source_note(source: RequestSource) -> str:
    if source.status == "used":
        return f"{source.source} requests from {source.location}: {source.note}"
    return f"{source.source} requests from {source.location} skipped: {source.note}"


# ---- Markdown -----------------------------------------------------------------------------------


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", "<br>")


def _code(value: str) -> str:
    return f"`{value}`" if "`" not in value else f"``{value}``"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], right: int = -1) -> list[str]:
    head = list(header)
    rule = ["---:" if i == right else "---" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _rule_diff(change: RuleChange) -> list[str]:
    before = (change.before or "").splitlines()
    after = (change.after or "").splitlines()
    lines = [line for line in difflib.ndiff(before, after) if not line.startswith("? ")]
    return ["```diff", *lines, "```"]


def _md_rules(review: Review) -> list[str]:
    rows = []
    for change in review.rules:
        if change.change == "renamed":
            what = f"renamed from {_code(change.old_name or '')}, same content"
        else:
            what = ", ".join(f.field for f in change.fields) if change.change == "changed" else ""
        where = change.head_at or change.base_at or ""
        rows.append([change.change, _code(change.rule), what, _code(where)])
    lines = ["#### Rule changes", "", *_table(["change", "rule", "what changed", "where"], rows)]
    diffs = [c for c in review.rules if c.change != "renamed"]
    if diffs:
        lines += ["", "<details><summary>Rule text, before and after</summary>", ""]
        for change in diffs:
            lines += [f"**{change.rule}** ({change.change})", "", *_rule_diff(change), ""]
        lines += ["</details>"]
    return lines


def _md_example_rows(group: Group, zone: str) -> list[list[str]]:
    rows = []
    for example in group.examples:
        case = example.case
        shown = _example_attributes(example, zone)
        at = shown.pop("at", "")
        attributes = "; ".join(f"{k}: {v}" if k != "post" else v for k, v in shown.items())
        rows.append(
            [
                case.actor,
                case.action,
                case.channel,
                attributes,
                at,
                f"{_code(example.rule_before)} → {_code(example.rule_after)}",
            ]
        )
    return rows


def _md_impact(review: Review) -> list[str]:
    impact = review.impact
    lines = [
        "#### Decision impact",
        "",
        f"{impact.requests:,} generated requests were decided on both sides "
        f"({impact.decisions:,} decisions); {_count(impact.changed, 'decision')} differ. "
        f"Times are in {impact.zone}.",
    ]
    if not impact.groups:
        return lines
    rows = [
        [
            g.klass,
            _code(str(g.before)),
            _code(str(g.after)),
            cause_text(g.cause, review),
            f"{g.count:,}",
        ]
        for g in impact.groups
    ]
    lines += ["", *_table(["class", "before", "after", "because", "requests"], rows, right=4)]
    for group in impact.groups:
        summary = (
            f"{group.klass}: {group.before} → {group.after} ({_count(group.count, 'request')}), "
            f"because: {cause_text(group.cause, review)}"
        )
        lines += [
            "",
            f"<details><summary>{_html(summary)}</summary>",
            "",
            *([group.summary, ""] if group.summary else []),
            *_table(
                ["actor", "action", "channel", "attributes", "at", "deciding rule"],
                _md_example_rows(group, impact.zone),
            ),
            "",
            "</details>",
        ]
    return lines


def _html(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_named(review: Review) -> list[str]:
    lines = ["#### Scenarios whose outcome changes", ""]
    notes = [f"- {_source_note(s)}" for s in review.sources if s.note]
    lines += [*notes, ""] if notes else []
    if not any(s.status == "used" for s in review.sources):
        if not review.sources:
            lines.append("No scenarios or logged requests were checked.")
        return lines
    if review.not_replayable:
        lines += [f"{_not_replayable(review)}.", ""]
    if not review.named:
        lines.append(f"None ({_named_counts(review)} checked).")
        return lines
    rows = [
        [
            item.name,
            item.source,
            _code(str(item.before)),
            _code(str(item.after)),
            item.klass,
            f"{_code(item.rule_before)} → {_code(item.rule_after)}",
        ]
        for item in review.named
    ]
    return lines + _table(["name", "source", "before", "after", "class", "deciding rule"], rows)


def _md_flags(review: Review) -> list[str]:
    lines = []
    if review.widens:
        lines += [
            "> [!WARNING]",
            "> **This change widens decisions**: some requests become more permissive. "
            "Compliance sign-off is needed.",
            "",
        ]
    broken = review.newly_broken
    if broken:
        lines += [
            "> [!CAUTION]",
            f"> **{_broken_title(len(broken))}:**",
            ">",
            *(
                f"> - {_html(b.name)} ({_code(b.where or '?')}): expects {_code(str(b.expected))}, "
                f"HEAD gives {_code(str(b.head))} (deciding rule {_code(b.rule_after)})"
                for b in broken
            ),
            "",
        ]
    return lines


def _md_words(review: Review) -> list[str]:
    groups = review.impact.groups
    if not groups:
        return []
    return [
        "**What changes**",
        "",
        *(f"- **{g.klass}**: {g.summary or f'{g.before} → {g.after}'}" for g in groups),
        "",
    ]


def _md_declarations(review: Review) -> list[str]:
    if not review.declarations:
        return []
    rows = [[d.kind, _code(d.name), d.change, _declaration_detail(d)] for d in review.declarations]
    return ["", "#### Declarations", "", *_table(["kind", "name", "change", "details"], rows)]


def _md_authority(review: Review) -> list[str]:
    grants = _grant_lines(review)
    return ["", "#### Authority", "", *(f"- {line}" for line in grants)] if grants else []


def _md_scenarios(review: Review) -> list[str]:
    failing = _already_failing(review)
    return ["", *_md_named(review), *(["", failing + "."] if failing else [])]


def _md_counts(review: Review) -> list[str]:
    return [f"**{_headline(review)}.**", "", _rules_line(review)]


def _md_rule_section(review: Review) -> list[str]:
    return ["", *_md_rules(review)] if review.rules else []


def _md_impact_section(review: Review) -> list[str]:
    return ["", *_md_impact(review)]


# As for text: one function a section, in reading order.
MARKDOWN_SECTIONS = (
    _md_flags,
    _md_words,
    _md_counts,
    _md_rule_section,
    _md_declarations,
    _md_authority,
    _md_impact_section,
    _md_scenarios,
)


def markdown(review: Review) -> str:
    """The review as a pull-request comment."""
    lines = [
        f"### replygate diff: {_code(side_title(review.base))} → {_code(side_title(review.head))}",
        "",
    ]
    for section in MARKDOWN_SECTIONS:
        lines += section(review)
    return "\n".join(lines) + "\n"


# ---- JSON ---------------------------------------------------------------------------------------


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "decision": outcome.decision,
        "approvers": list(outcome.approvers),
        "escalate_to": outcome.escalate_to,
    }


def _fields_json(fields: Iterable[FieldChange]) -> list[dict[str, str | None]]:
    return [{"field": f.field, "before": f.before, "after": f.after} for f in fields]


def _side_json(side: Side) -> dict[str, Any]:
    return {"label": side.label, "commit": side.commit, "files": sorted(side.sources)}


def _example_json(example: Example, zone: str) -> dict[str, Any]:
    return {
        "summary": dict(describe(example.case, zone)),
        "rule_before": example.rule_before,
        "rule_after": example.rule_after,
        "request": example.request.model_dump(mode="json"),
    }


def _named_json(item: NamedChange) -> dict[str, Any]:
    return {
        "name": item.name,
        "source": item.source,
        "from": str(item.before),
        "to": str(item.after),
        "class": item.klass,
        "before": _outcome_json(item.before),
        "after": _outcome_json(item.after),
        "rule_before": item.rule_before,
        "rule_after": item.rule_after,
    }


def _cause_json(cause: Cause, review: Review) -> dict[str, Any]:
    found: dict[str, Any] = {"kind": cause.kind, "rules": list(cause.rules)}
    if cause.moves:
        found["moves"] = list(cause.moves)
    return {**found, "text": cause_text(cause, review)}


def _broken_json(item: BrokenScenario) -> dict[str, Any]:
    expected = item.expected
    return {
        "name": item.name,
        "location": item.where,
        "expected": {
            "decision": expected.decision,
            "roles": list(expected.roles),
            "negated": expected.negated,
        },
        "expected_text": str(expected),
        "base": _outcome_json(item.base),
        "head": _outcome_json(item.head),
        "rule_after": item.rule_after,
        "held_on_base": item.held_on_base,
    }


def as_json(review: Review) -> dict[str, Any]:
    """The review as plain data in the `replygate.diff/1` schema."""
    impact = review.impact
    summary: Mapping[str, Any] = {
        "rules": _rule_counts(review),
        "declarations": len(review.declarations),
        "authority": len(review.authority),
        "requests": impact.requests,
        "decisions": impact.decisions,
        "seconds": round(impact.seconds, 3),
        "changed": impact.changed,
        "widening": impact.widening,
        "narrowing": impact.narrowing,
        "other": impact.count("changed"),
        "scenarios_changed": len(review.named),
        "scenarios_broken": len(review.newly_broken),
        "widens": review.widens,
    }
    return {
        "schema": SCHEMA,
        "base": _side_json(review.base),
        "head": _side_json(review.head),
        "summary": dict(summary),
        "rules": [
            {
                "change": c.change,
                "rule": c.rule,
                "old_name": c.old_name,
                "fields": _fields_json(c.fields),
                "before": c.before,
                "after": c.after,
                "base_location": c.base_at,
                "head_location": c.head_at,
            }
            for c in review.rules
        ],
        "declarations": [
            {"kind": d.kind, "name": d.name, "change": d.change, "fields": _fields_json(d.fields)}
            for d in review.declarations
        ],
        "authority": {
            "holders": [
                {
                    "kind": h.kind,
                    "holder": h.holder,
                    "gained": [{"role": g.role, "via": g.via} for g in h.gained],
                    "lost": [{"role": g.role, "via": g.via} for g in h.lost],
                }
                for h in review.authority.holders
            ],
            "roles": [
                {
                    "role": r.role,
                    "extends_before": list(r.extends_before),
                    "extends_after": list(r.extends_after),
                    "inherits_gained": list(r.gained),
                    "inherits_lost": list(r.lost),
                }
                for r in review.authority.roles
            ],
        },
        "impact": {
            "zone": impact.zone,
            "groups": [
                {
                    "from": str(g.before),
                    "to": str(g.after),
                    "class": g.klass,
                    "count": g.count,
                    "before": _outcome_json(g.before),
                    "after": _outcome_json(g.after),
                    "cause": _cause_json(g.cause, review),
                    "summary": g.summary,
                    "examples": [_example_json(e, impact.zone) for e in g.examples],
                }
                for g in impact.groups
            ],
        },
        "scenarios": {
            "sources": [
                {
                    "source": s.source,
                    "location": s.location,
                    "status": s.status,
                    "requests": s.requests,
                    "note": s.note,
                }
                for s in review.sources
            ],
            "changed": [_named_json(item) for item in review.named],
            "broken": [_broken_json(item) for item in review.broken],
            "not_replayable": [
                {"name": item.name, "source": item.source, "rules": item.rule_after.split(", ")}
                for item in review.not_replayable
            ],
        },
    }
