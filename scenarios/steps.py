"""The step library: every phrase a scenario may use, and what it does.

Given and When phrases describe the request (who, what, where, when, which post, what
content); Then phrases check the decision. The same words name the same things everywhere:
*the reply* / *the new post* is what would be published, *the original post* is the post being
answered, roles and rules are named exactly as in the policy. docs/scenarios.md lists every
phrase with an example; a test keeps that list and this module in step.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NoReturn

from replygate.engine.models import OutOfRange
from replygate.scenarios.phrases import NAME_TOKEN, Catalogue, unquoted
from replygate.scenarios.runner import ExpectationFailed, ScenarioRun, describe
from replygate.scenarios.values import (
    ExpectedOutcome,
    StepProblem,
    parse_category,
    parse_count,
    parse_duration,
    parse_names,
    parse_outcome,
    parse_time,
)

CATALOGUE = Catalogue()
phrase = CATALOGUE.add

_MEMBER = re.compile(
    rf"a member of (?P<groups>.+?) named (?P<person>{NAME_TOKEN})", re.IGNORECASE | re.DOTALL
)


def _time(run: ScenarioRun, text: str) -> datetime:
    written = parse_time(text)
    run.draft.zone, run.draft.zone_name = written.zone, written.zone_name
    return written.at


def _actor(run: ScenarioRun, text: str) -> None:
    member = _MEMBER.fullmatch(text.strip())
    if member is not None:
        run.draft.actor_id = unquoted(member["person"])
        run.draft.actor_groups = parse_names(member["groups"])
    else:
        run.draft.actor_id = unquoted(text)
        run.draft.actor_groups = []


# ---- the post being answered ----------------------------------------------------------------------


@phrase(
    "given",
    "(a|~an) [{sentiment:sentiment}] {category:words} on {channel:name} "
    "[(from|~by) an author with {reach:count} (followers|~follower)][, received at {time}]",
    "a negative complaint on twitter from an author with 25000 followers, "
    "received at 2026-11-27 21:40 Europe/Vienna",
)
def a_post(
    run: ScenarioRun,
    category: str,
    channel: str,
    sentiment: str | None = None,
    reach: str | None = None,
    time: str | None = None,
) -> None:
    """Describe the post being answered (replacing any post described before)."""
    if sentiment is None:
        _no_misspelt_sentiment(category, run.current_policy().categories)
    draft = run.draft
    draft.sentiment = sentiment.lower() if sentiment else None
    draft.category = parse_category(category)
    draft.post_channel = channel
    draft.reach = parse_count(reach) if reach is not None else None
    draft.received_at = _time(run, time) if time is not None else None
    draft.post_labels = []
    draft.post_text = None
    run.changed()


_SENTIMENTS = ("positive", "neutral", "negative")


def _no_misspelt_sentiment(category: str, declared: frozenset[str]) -> None:
    """'a negtive complaint' read as the category 'negtive complaint' failed later, blaming a
    missing sentiment at the When line: said here, at the Given, naming the word. So is 'an
    angry complaint' when the rest is a declared category."""
    first, _, rest = category.partition(" ")
    close = difflib.get_close_matches(first.lower(), _SENTIMENTS, n=1, cutoff=0.75)
    if rest and close:
        raise StepProblem(
            f"'{first}' is not a sentiment: did you mean '{close[0]}'? (a post is positive, "
            "neutral or negative)"
        )
    if rest and parse_category(rest) in declared and parse_category(category) not in declared:
        raise StepProblem(f"'{first}' is not a sentiment (a post is positive, neutral or negative)")


@phrase(
    "given", "the author has {reach:count} (followers|~follower)", "the author has 9,999 followers"
)
def author_reach(run: ScenarioRun, reach: str) -> None:
    """Set the post author's follower count."""
    run.draft.reach = parse_count(reach)
    run.changed()


@phrase(
    "given",
    "the [original] post (was received|~arrived) at {time}",
    "the original post was received at 2026-11-27 21:40 Europe/Vienna",
)
def received_at(run: ScenarioRun, time: str) -> None:
    """Set when the post being answered arrived."""
    run.draft.received_at = _time(run, time)
    run.changed()


@phrase(
    "given",
    "the original post (is labelled|~is labeled) {labels:names}",
    "the original post is labelled promo",
)
def post_labels(run: ScenarioRun, labels: str) -> None:
    """Label the post being answered."""
    run.draft.post_labels.extend(parse_names(labels))
    run.changed()


@phrase(
    "given", 'the original post says "{text:text}"', 'the original post says "Where is my parcel?"'
)
def post_text(run: ScenarioRun, text: str) -> None:
    """Set the text of the post being answered."""
    run.draft.post_text = text
    run.changed()


# ---- what would be published --------------------------------------------------------------------


@phrase(
    "given",
    "the (content|reply|new post) (is labelled|~is labeled) {labels:names}",
    "the content is labelled mentions_price",
)
def content_labels(run: ScenarioRun, labels: str) -> None:
    """Label what would be published."""
    run.draft.content_labels.extend(parse_names(labels))
    run.changed()


@phrase(
    "given",
    'the (content|reply|new post) says "{text:text}"',
    'the reply says "We guarantee a full refund."',
)
def content_text(run: ScenarioRun, text: str) -> None:
    """Set the text that would be published."""
    run.draft.content_text = text
    run.changed()


@phrase(
    "given",
    "the (content|reply|new post) says:",
    "the reply says:",
    docstring=True,
)
def content_text_block(run: ScenarioRun) -> None:
    """Set a longer text that would be published, from the text block below the step."""
    run.draft.content_text = run.docstring or ""
    run.changed()


# ---- context, approvals, policy ------------------------------------------------------------------


@phrase("given", "crisis mode is {state:onoff}", "crisis mode is on")
def crisis_mode(run: ScenarioRun, state: str) -> None:
    """Switch the crisis flag (`context.crisis`) on or off."""
    run.draft.context["crisis"] = state.lower() == "on"
    run.changed()


@phrase(
    "given", "the context flag {flag:name} is {state:onoff}", "the context flag quiet_period is on"
)
def context_flag(run: ScenarioRun, flag: str, state: str) -> None:
    """Set any `context.<flag>` to true or false."""
    run.draft.context[flag] = state.lower() == "on"
    run.changed()


@phrase(
    "given",
    'the context value {key:name} is "{value:quoted}"',
    'the context value campaign is "black-friday"',
)
def context_text(run: ScenarioRun, key: str, value: str) -> None:
    """Set `context.<key>` to a text."""
    run.draft.context[key] = value
    run.changed()


@phrase("given", "the context value {key:name} is {value:count}", "the context value tier is 2")
def context_number(run: ScenarioRun, key: str, value: str) -> None:
    """Set `context.<key>` to a number."""
    run.draft.context[key] = parse_count(value)
    run.changed()


@phrase("given", "{people:names} (has|have) approved", "dave has approved")
def approved(run: ScenarioRun, people: str) -> None:
    """Record approvals already given (four eyes)."""
    for person in parse_names(people):
        run.draft.approvals.append({"by": person})
    run.changed()


@phrase(
    "given",
    "a member of {groups:names} named {person:name} has approved",
    "a member of legal-team named lena has approved",
)
def approved_by_member(run: ScenarioRun, groups: str, person: str) -> None:
    """Record an approval by a member of directory groups."""
    run.draft.approvals.append({"by": person, "groups": parse_names(groups)})
    run.changed()


@phrase("when", "{people:names} (approves|~approve)", "dave approves")
def approves(run: ScenarioRun, people: str) -> None:
    """Record an approval given after the request was decided (the next Then decides again)."""
    approved(run, people)


@phrase("given", 'the account is "{account:quoted}"', 'the account is "@acme_help"')
def account(run: ScenarioRun, account: str) -> None:
    """Set the account published from."""
    run.draft.account = run.draft.given_account = account
    run.changed()


@phrase("given", 'the policy at "{ref:ref}"', 'the policy at "main"')
def policy_at(run: ScenarioRun, ref: str) -> None:
    """Decide against a revision of the policy's git repository."""
    run.use_policy_at(ref)


# ---- who publishes ---------------------------------------------------------------------------------


@phrase(
    "when",
    '{actor} replies [on {channel:name}] [as "{account:quoted}"] [at {time}]',
    "alice replies at 2026-11-27 21:50 Europe/Vienna",
)
def replies(
    run: ScenarioRun,
    actor: str,
    channel: str | None = None,
    account: str | None = None,
    time: str | None = None,
) -> None:
    """Someone replies to the post; decides the request."""
    _actor(run, actor)
    draft = run.draft
    draft.action = "reply"
    # Each reply names its own channel or goes to the post's: an earlier step's `on tiktok`
    # must not carry over (a scenario would pass deciding another request than it says).
    draft.channel = channel
    draft.account = account if account is not None else draft.given_account
    draft.after_received = None
    # Without a time, a reply is published when the post arrived (docs/scenarios.md), not at
    # an earlier step's time: a green "escalates" could otherwise be about another moment.
    draft.at = _time(run, time) if time is not None else None
    run.act()


@phrase(
    "when",
    "{actor} replies {delay:duration} after (it|~the post) (was received|~arrived)",
    "alice replies 31 minutes after it was received",
)
def replies_after(run: ScenarioRun, actor: str, delay: str) -> None:
    """Someone replies a while after the post arrived; decides the request."""
    _actor(run, actor)
    run.draft.action = "reply"
    run.draft.channel = None  # the post's channel, as `replies` without `on`
    run.draft.account = run.draft.given_account
    run.draft.after_received = parse_duration(delay)
    run.act()


@phrase(
    "when",
    '{actor} posts on {channel:name} [as "{account:quoted}"] [at {time}]',
    "frank posts on linkedin at 2026-11-27 10:00 Europe/Vienna",
)
def posts(
    run: ScenarioRun,
    actor: str,
    channel: str,
    account: str | None = None,
    time: str | None = None,
) -> None:
    """Someone publishes a new post; decides the request."""
    _actor(run, actor)
    draft = run.draft
    draft.action = "post"
    draft.channel = channel
    draft.account = account if account is not None else draft.given_account
    # A new post needs its own time: an earlier step's would decide another moment.
    draft.at = _time(run, time) if time is not None else None
    run.act()


# ---- the decision -------------------------------------------------------------------------------------


@phrase(
    "then",
    'the deciding rule is "{rule:quoted}"',
    'the deciding rule is "viral-negative-needs-comms-lead"',
)
def deciding_rule(run: ScenarioRun, rule: str) -> None:
    """The rule is among the rules that decided."""
    _known_rules(run, [rule])
    rules = _deciding_rules(run)
    if rule not in rules:
        _fail_expectation(f'rule "{rule}" decides', _rules_text(rules, run))


@phrase(
    "then",
    "the deciding rules are {rules:quotedlist}",
    'the deciding rules are "crisis-post-goes-to-comms-lead" and "negative-post-goes-to-senior-agent"',
)
def deciding_rules(run: ScenarioRun, rules: str) -> None:
    """Exactly these rules decided."""
    wanted = sorted(set(re.findall(r'"([^"]+)"', rules)))
    _known_rules(run, wanted)
    found = _deciding_rules(run)
    if sorted(set(found)) != wanted:
        _fail_expectation("deciding rules " + _rules_text(wanted), _rules_text(found, run))


@phrase(
    "then",
    'the deciding rules do not include "{rule:quoted}"',
    'the deciding rules do not include "outsiders-may-not-publish"',
)
def not_deciding_rule(run: ScenarioRun, rule: str) -> None:
    """The rule is not among the rules that decided."""
    _known_rules(run, [rule])
    found = _deciding_rules(run)
    if rule in found:
        _fail_expectation(f'rule "{rule}" does not decide', _rules_text(found, run))


@phrase("then", "no rule permits it", "no rule permits it")
def not_permitted(run: ScenarioRun) -> None:
    """The default deny: no rule allowed the request."""
    decision = run.decision()
    if not any(reason.code == "not_permitted" for reason in decision.reasons):
        _fail_expectation("denied because no rule permits it", _outcome_text(run))


@phrase("then", 'the reason says "{text:text}"', 'the reason says "Not on the social media team"')
def reason_says(run: ScenarioRun, text: str) -> None:
    """A reason's message contains the text (ignoring case)."""
    if not text.strip():
        raise StepProblem('the text to look for is empty: every reason "says" it')
    messages = [reason.message for reason in run.decision().reasons]
    if not any(text.lower() in message.lower() for message in messages):
        _fail_expectation(
            f'a reason says "{text}"', "; ".join(f'"{m}"' for m in messages) or "no reasons"
        )


@phrase("then", "the approval by {person:name} is ignored", "the approval by carol is ignored")
def approval_ignored(run: ScenarioRun, person: str) -> None:
    """The decision says it ignored this person's approval (self-approval, or a missing role)."""
    decision = run.decision()
    notes = [r.message for r in decision.reasons if r.code == "approval_ignored"]
    if not any(note.startswith(f"approval by {person} ") for note in notes):
        _fail_expectation(
            f"the approval by {person} is ignored",
            "; ".join(notes) or "no approval was ignored",
        )


@phrase(
    "then", "the response is due by {time}", "the response is due by 2026-11-27 22:10 Europe/Vienna"
)
def due_by(run: ScenarioRun, time: str) -> None:
    """The response deadline is exactly this time."""
    wanted = parse_time(time)
    decision = run.decision()
    due = decision.respond_by
    if due is None or due != wanted.at:
        shown = "no response deadline" if due is None else f"due by {run.show_time_of(due)}"
        _fail_expectation(f"due by {time.strip()}", shown)


@phrase("then", "there is no response deadline", "there is no response deadline")
def no_deadline(run: ScenarioRun) -> None:
    """No response-time rule applies."""
    due = run.decision().respond_by
    if due is not None:
        _fail_expectation("no response deadline", f"due by {run.show_time_of(due)}")


@phrase("then", "the response deadline is {state:deadline}", "the response deadline is missed")
def deadline_state(run: ScenarioRun, state: str) -> None:
    """The response deadline is missed (the reply is late) or met."""
    wanted = "met" if state.lower() == "kept" else state.lower()
    decision = run.decision()
    if decision.respond_by is None:
        _fail_expectation(f"the response deadline is {wanted}", "no response deadline applies")
    missed = decision.sla_breached
    if missed != (wanted == "missed"):
        actual = "missed" if missed else "met"
        _fail_expectation(
            f"the response deadline is {wanted}",
            f"{actual} (due by {run.show_time_of(decision.respond_by)})",
        )


@phrase(
    "then",
    "the (reply|new post|post|~answer|~publication|~decision|outcome|~request) {outcome:outcome}",
    "the reply needs approval from comms_lead and legal",
)
def outcome(run: ScenarioRun, outcome: str) -> None:
    """The decision is allowed, denied, escalates to a role, or needs approval from roles."""
    expected = parse_outcome(outcome)
    _known("role", list(expected.roles), run.current_policy().closure)
    decision = run.decision()
    if expected.negated:
        ok = decision.decision != expected.decision
    else:
        ok = decision.decision == expected.decision
        if ok and expected.decision == "escalate":
            ok = decision.escalate_to == expected.roles[0]
        if ok and expected.decision == "approval_required":
            ok = tuple(decision.approvers) == expected.roles
        if ok and expected.count is not None:
            ok = all(decision.approvals_missing.get(r) == expected.count for r in expected.roles)
    if not ok:
        _fail_expectation(_expected_words(expected), _outcome_text(run))


# ---- helpers ------------------------------------------------------------------------------------------


def _known(kind: str, names: list[str], known: Iterable[str]) -> None:
    """A StepProblem for a name the policy does not have: a Then about it would check nothing
    (`do not include "agents-reply-to-positve"` always holds)."""
    choices = sorted(known)
    for name in names:
        if name not in choices:
            close = difflib.get_close_matches(name, choices, n=1)
            hint = f": did you mean {close[0]}?" if close else ""
            raise StepProblem(f"the policy has no {kind} '{name}'{hint}")


def _known_rules(run: ScenarioRun, names: list[str]) -> None:
    _known("rule", names, (rule.name for rule in run.current_policy().rules))


def _known_people(run: ScenarioRun, names: list[str]) -> None:
    _known("person", names, run.current_policy().people)


def _deciding_rules(run: ScenarioRun) -> list[str]:
    return [reason.rule for reason in run.decision().reasons if reason.rule is not None]


_REFUSALS = frozenset({"unknown_channel", "unknown_account", "evaluation_error"})


def _rules_text(rules: list[str], run: ScenarioRun | None = None) -> str:
    if rules:
        return " and ".join(f'"{rule}"' for rule in rules)
    # No rule decided: the default deny, or a refusal before any rule (an undeclared channel
    # or account), which is not the default deny and is named as the engine names it.
    for reason in run.decision().reasons if run is not None else ():
        if reason.rule is None and reason.code in _REFUSALS:
            return f"no rule: refused ({reason.code}: {reason.message})"
    return "no rule (default deny)"


def _outcome_text(run: ScenarioRun) -> str:
    return describe(run.decision())


def _expected_words(expected: ExpectedOutcome) -> str:
    if expected.negated:
        return "not allowed"
    if expected.decision == "allow":
        return "allowed"
    if expected.decision == "deny":
        return "denied"
    if expected.decision == "escalate":
        return f"escalates to {expected.roles[0]}"
    if expected.count is not None:
        noun = "approval" if expected.count == 1 else "approvals"
        return f"needs {expected.count} {noun} from " + " and ".join(expected.roles)
    return "needs approval from " + " and ".join(expected.roles)


def _fail_expectation(expected: str, actual: str) -> NoReturn:
    raise ExpectationFailed(expected, actual)


# ---- rosters and routing (who is on duty, who can answer the post) --------------------------------


def _route(run: ScenarioRun) -> Any:
    """Route the post the steps describe, at the time of `When the post is routed at …`."""
    from replygate.engine.routing import route_or_refusal

    answer, refused = route_or_refusal(run.current_policy(), _route_request(run))
    if answer is None:
        raise _not_a_valid_post(refused)
    return answer


def _route_request(run: ScenarioRun) -> Any:
    """The route request of the post the steps describe, at the routing time."""
    from pydantic import ValidationError

    from replygate.engine.models import RouteRequest, describe_errors

    draft = run.draft
    post = draft._post()
    data: dict[str, Any] = {
        "channel": draft.channel or draft.post_channel,
        "post": post,
        "context": dict(draft.context),
        "at": draft.at or post["received_at"],
    }
    if draft.account is not None:
        data["account"] = draft.account
    try:
        return RouteRequest.model_validate(data)
    except ValidationError as error:
        raise StepProblem(
            "the steps do not make a valid post:\n" + describe_errors(error)
        ) from None


def _not_a_valid_post(refused: list[dict[str, str]]) -> StepProblem:
    lines = "\n".join(f"{item['field']}: {item['message']}" for item in refused)
    return StepProblem(f"the steps do not make a valid post:\n{lines}")


def _is_on_duty(run: ScenarioRun, person: str, moment: datetime) -> bool:
    try:
        answer: bool = run.current_policy().duty.is_on_duty(person, moment)
        return answer
    except OutOfRange as error:
        raise _not_a_valid_post([error.as_field_error()]) from None


def _routed_at(run: ScenarioRun) -> datetime:
    if run.draft.at is None:
        raise StepProblem(
            "the scenario never says when: write e.g. "
            "'When the post is routed at 2026-12-05 22:15 Europe/Vienna'"
        )
    return run.draft.at


@phrase(
    "when",
    "the post is routed [at {time}]",
    "the post is routed at 2026-12-05 22:15 Europe/Vienna",
)
def routed(run: ScenarioRun, time: str | None = None) -> None:
    """Ask who should get the post, at this time (default: when it was received)."""
    # Without a time, when the post was received (not an earlier reply's time).
    run.draft.at = _time(run, time) if time is not None else run.draft.received_at


@phrase("then", "{person:name} is on duty", "carol is on duty")
def on_duty(run: ScenarioRun, person: str) -> None:
    """The person is on duty in one of their rosters at the routing time."""
    _known_people(run, [person])
    moment = _routed_at(run)
    if not _is_on_duty(run, person, moment):
        _fail_expectation(
            f"{person} is on duty", f"{person} is not on duty at {run.show_time_of(moment)}"
        )


@phrase("then", "{person:name} is not on duty", "ivan is not on duty")
def not_on_duty(run: ScenarioRun, person: str) -> None:
    """The person is on duty in none of their rosters at the routing time."""
    _known_people(run, [person])
    moment = _routed_at(run)
    if _is_on_duty(run, person, moment):
        _fail_expectation(
            f"{person} is not on duty", f"{person} is on duty at {run.show_time_of(moment)}"
        )


@phrase("then", "the post can be answered by {person:name}", "the post can be answered by dave")
def answered_by(run: ScenarioRun, person: str) -> None:
    """The person may answer the post and is on duty at some moment before its deadline."""
    answer = _route(run)
    found = next((c for c in answer.candidates if c["person"] == person), None)
    if found is None:
        names = ", ".join(c["person"] for c in answer.candidates) or "nobody"
        _fail_expectation(f"{person} may answer the post", f"only {names} may")
    # The rule `covered` uses (engine.routing.answers_in_time): on duty at some moment before
    # the deadline, not merely now when now is past it, and the approvals the person still
    # needs can be given in time by holders on duty.
    if _answers_in_time(run, person):
        return
    due = answer.respond_by
    later = found.get("next_on_duty")
    moment = _routed_at(run)
    if due is not None and moment >= due:
        actual = f"the deadline passed at {run.show_time_of(due)}"
    elif not found["on_duty"] and (later is None or (due is not None and later >= due)):
        actual = f"next on duty {run.show_time_of(later)}"
    else:
        roles = ", ".join(found.get("approvers") or []) or "the roles it needs"
        actual = f"no other holder of {roles} is on duty before the deadline to approve"
    _fail_expectation(f"{person} can answer the post before the deadline", actual)


def _answers_in_time(run: ScenarioRun, person: str) -> bool:
    from replygate.engine.routing import answers_in_time

    found: bool = answers_in_time(run.current_policy(), _route_request(run), person)
    return found


@phrase(
    "then",
    "nobody on duty can answer it before its deadline",
    "nobody on duty can answer it before its deadline",
)
def not_covered(run: ScenarioRun) -> None:
    """No candidate can answer before the response deadline (a coverage gap)."""
    answer = _route(run)
    if answer.covered:
        who = [c["person"] for c in answer.candidates if c["on_duty"]] or ["someone later"]
        _fail_expectation("nobody can answer in time", "covered by " + ", ".join(who))


@phrase(
    "then",
    "someone on duty can answer it before its deadline",
    "someone on duty can answer it before its deadline",
)
def covered(run: ScenarioRun) -> None:
    """Some candidate can answer before the response deadline."""
    if not _route(run).covered:
        _fail_expectation("someone can answer in time", "nobody can")


@phrase(
    "then",
    "{unit:name} is informed",
    "product_management is informed",
)
def informed(run: ScenarioRun, unit: str) -> None:
    """A `share` clause names the unit for this post."""
    _known("unit", [unit], run.current_policy().units)  # a typo would only ever fail
    units = [i.unit for i in _route(run).inform]
    if unit not in units:
        _fail_expectation(f"{unit} is informed", ", ".join(units) or "no unit is informed")
