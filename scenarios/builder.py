"""Building a `CheckRequest` from what a scenario's Given and When steps said.

The draft collects facts in any order; `build()` turns them into the wire request the engine
and the API use, and says in words what is missing ("the scenario never says when …") instead
of showing a validation error about JSON fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from pydantic import ValidationError

from replygate.engine.models import CheckRequest, describe_errors, parse_request
from replygate.scenarios.values import StepProblem

POST_ID = "scenario-post"
# A category word that means "no particular category" (`Given a negative post on twitter`).
NO_CATEGORY = "post"
OTHER_CATEGORY = "other"


@dataclass(slots=True)
class RequestDraft:
    """Everything the steps said so far about the request; mutable while the steps run."""

    actor_id: str | None = None
    actor_groups: list[str] = field(default_factory=list)
    action: str | None = None
    channel: str | None = None
    account: str | None = None
    # `Given the account is …` holds for every later step; a step's own `as …` for that step only.
    given_account: str | None = None
    # the post being answered
    post_channel: str | None = None
    sentiment: str | None = None
    category: str | None = None
    reach: int | None = None
    received_at: datetime | None = None
    post_labels: list[str] = field(default_factory=list)
    post_text: str | None = None
    # what would be published
    content_labels: list[str] = field(default_factory=list)
    content_text: str | None = None  # None: the scenario says nothing of the reply's text
    context: dict[str, Any] = field(default_factory=dict)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    at: datetime | None = None
    after_received: timedelta | None = None
    # how to show times back: the zone the scenario last wrote a time in
    zone: tzinfo = UTC
    zone_name: str = "UTC"

    def describes_post(self) -> bool:
        """Whether any step described the post being answered."""
        return self.sentiment is not None or self.category is not None

    def build(self) -> CheckRequest:
        """The request as the engine receives it; `StepProblem` says what the steps left out."""
        if self.actor_id is None or self.action is None:
            raise StepProblem(
                "the scenario never says who publishes: add e.g. "
                "'When alice replies at 2026-11-27 21:50 Europe/Vienna'"
            )
        data: dict[str, Any] = {
            "actor": {"id": self.actor_id, "groups": list(self.actor_groups)},
            "action": self.action,
            "content": {"labels": list(self.content_labels)}
            | ({} if self.content_text is None else {"text": self.content_text}),
            "context": dict(self.context),
            "approvals": [dict(a) for a in self.approvals],
        }
        if self.account is not None:
            data["account"] = self.account
        if self.action == "reply":
            data["post"] = self._post()
            data["channel"] = self.channel or self.post_channel
            data["at"] = self._reply_time()
        else:
            data["channel"] = self.channel
            if self.at is None:
                raise StepProblem(
                    "the scenario never says when the new post is published: write e.g. "
                    "'When frank posts on linkedin at 2026-11-27 10:00 Europe/Vienna'"
                )
            data["at"] = self.at
        if data["channel"] is None:
            raise StepProblem(
                "the scenario never says which channel: write e.g. "
                "'Given a negative complaint on twitter …' or 'When alice replies on twitter …'"
            )
        try:
            # The JSON text the API would receive, through the API's own parser: strict, and the
            # same refusals (control characters, times outside UTC) in the same words.
            return parse_request(json.dumps(data, default=_timestamp_text))
        except ValidationError as error:
            raise StepProblem(
                "the steps do not make a valid request:\n" + describe_errors(error)
            ) from None

    def _post(self) -> dict[str, Any]:
        if not self.describes_post():
            raise StepProblem(
                "a reply needs the post it answers: add e.g. 'Given a negative complaint on "
                "twitter from an author with 25000 followers, received at 2026-11-27 21:40 "
                "Europe/Vienna'"
            )
        if self.sentiment is None:
            raise StepProblem(
                "the scenario never says whether the post is positive, neutral or negative"
            )
        received = self.received_at
        if received is None:
            received = self.at
        if received is None:
            raise StepProblem(
                "the scenario never says when the post was received: add ', received at "
                "2026-11-27 21:40 Europe/Vienna' to the post, or a time to the reply"
            )
        category = self.category or OTHER_CATEGORY
        post: dict[str, Any] = {
            "id": POST_ID,
            "sentiment": self.sentiment,
            "category": OTHER_CATEGORY if category == NO_CATEGORY else category,
            "author_reach": self.reach if self.reach is not None else 0,
            "received_at": received,
            "labels": list(self.post_labels),
        }
        if self.post_text is not None:
            post["text"] = self.post_text
        return post

    def _reply_time(self) -> datetime:
        if self.after_received is not None:
            if self.received_at is None:
                raise StepProblem(
                    "'… after it was received' needs the time the post was received: add "
                    "', received at 2026-11-27 21:40 Europe/Vienna' to the post"
                )
            try:
                return self.received_at + self.after_received
            except OverflowError:
                raise StepProblem(
                    "the reply would be published after 9999-12-31, the last date a request "
                    "can carry"
                ) from None
        if self.at is not None:
            return self.at
        if self.received_at is not None:
            return self.received_at
        raise StepProblem(
            "the scenario never says when the reply is published: write e.g. "
            "'When alice replies at 2026-11-27 21:50 Europe/Vienna'"
        )


def _timestamp_text(value: object) -> str:
    # json.dumps meets datetimes only: every time a step wrote carries its zone's offset.
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
