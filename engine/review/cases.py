"""One generated request in a hashable form, and the pieces the space builds it from.

A `Case` is deduplicated by value, so the space holds each distinct request once; `request()`
turns it into the `CheckRequest` the evaluator decides. A `Dimension` is one attribute and the
values to try for it, each value a `Patch` applied to a base case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from replygate.engine.models import Actor, Approval, CheckRequest, Content, Post

NEUTRAL_TEXT = "Thanks for your message, we are looking into it."
BASE_SENTIMENT = "positive"
BASE_REACH = 100
REPLY_GAP = timedelta(minutes=5)  # a reply 5 minutes after the post: no deadline is near
UNDECLARED_ACCOUNT = "@undeclared-account"  # tried on each channel that declares accounts
MINUTE = timedelta(minutes=1)
UNMENTIONED = "unmentioned"

ContextItem = tuple[str, str, Any]  # name, type tag (so True and 1 stay apart), value
ApprovalItem = tuple[str, tuple[str, ...]]
Patch = dict[str, Any]
TEXT_FIELDS = {"post.id": "post_id", "post.text": "post_text", "content.text": "content_text"}
# Texts a request may leave out (a reply with only an image): absent matches no pattern, so
# `unless content.text matches /\S/` and `when content.text matches /^\s*$/` differ there only.
ABSENT_TEXTS = frozenset({"post.text", "content.text"})
CONTEXT_KEY = "+context:"  # patch keys that set (or, with None, remove) one context flag


class Case(NamedTuple):
    """One generated request in a hashable form, so the space can deduplicate."""

    actor: str
    groups: tuple[str, ...]
    action: str
    channel: str
    account: str | None
    at: datetime
    sentiment: str | None = None  # None: a new post, which answers no post
    category: str | None = None
    reach: int | None = None
    received_at: datetime | None = None
    post_labels: tuple[str, ...] = ()
    post_text: str | None = None
    post_id: str = "p-1"
    content_labels: tuple[str, ...] = ()
    content_text: str | None = NEUTRAL_TEXT
    context: tuple[ContextItem, ...] = ()
    approvals: tuple[ApprovalItem, ...] = ()

    def request(self) -> CheckRequest:
        """The request this case stands for (built without re-validating: it is valid by construction)."""
        post = None
        if self.sentiment is not None:
            post = Post.model_construct(
                id=self.post_id,
                sentiment=self.sentiment,
                category=self.category,
                author_reach=self.reach,
                received_at=self.received_at,
                labels=list(self.post_labels),
                text=self.post_text,
            )
        return CheckRequest.model_construct(
            actor=_actor(self.actor, self.groups),
            action=self.action,
            channel=self.channel,
            account=self.account,
            post=post,
            content=_content(self.content_labels, self.content_text),
            context={name: value for name, _, value in self.context},
            approvals=_approvals(self.approvals),
            at=self.at,
        )


# Most cases share their actor, content and approvals: build each of those once. The models are
# frozen and the evaluator only reads them, so sharing is safe.
@lru_cache(maxsize=4096)
def _actor(actor: str, groups: tuple[str, ...]) -> Actor:
    return Actor.model_construct(id=actor, groups=list(groups))


@lru_cache(maxsize=4096)
def _content(labels: tuple[str, ...], text: str | None) -> Content:
    return Content.model_construct(labels=list(labels), text=text)


def _approvals(approvals: tuple[ApprovalItem, ...]) -> list[Approval]:
    return [_approval(by, groups) for by, groups in approvals]


@lru_cache(maxsize=4096)
def _approval(by: str, groups: tuple[str, ...]) -> Approval:
    return Approval.model_construct(by=by, groups=list(groups))


@dataclass(frozen=True)
class Baseline:
    """The plain request every variation starts from: the values the generator varies away from."""

    sentiment: str
    category: str
    reach: int
    at: datetime
    zone: str
    channels: Mapping[str, Sequence[str]]  # each representative channel and those it stands for


@dataclass(frozen=True)
class Profile:
    """An actor the space uses: a person, a member of a group (or two), an outsider, an id a rule names."""

    id: str
    groups: tuple[str, ...]
    roles: frozenset[str]  # held on either side


@dataclass
class Dimension:
    """One attribute (or a few that move together) and the values to try for it."""

    name: str
    patches: list[Patch]
    reply_only: bool = False
    # The first `keep` patches are where the two sides differ: a thinned joint keeps them first.
    keep: int = 0
    # The order in which a thinned joint keeps the others (indices); else an even spread.
    cut_order: tuple[int, ...] = ()
