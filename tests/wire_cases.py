"""Bad requests of every kind, one field at a time, shared by the tests of each entry point.

Each case is a valid reply with one value replaced; it must be refused, naming that field, by
the engine's parser, the API (check and batch), `replygate check` and the scenario builder
alike. `ACCEPTED` are look-alikes that must pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

VALID: dict[str, Any] = {
    "actor": {"id": "carol", "groups": ["care-team"]},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "t-1",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 25000,
        "received_at": "2026-11-27T21:40:00+01:00",
        "labels": ["promo"],
        "text": "Where is my refund?",
    },
    "content": {"labels": [], "text": "We are sorry - we will call you today."},
    "context": {"crisis": False, "note": "vip"},
    "approvals": [{"by": "dave", "groups": ["leads"]}],
    "at": "2026-11-27T21:50:00+01:00",
}

# Fields that hold a name (an id, a label, a channel …) and fields that hold free text.
NAME_FIELDS = (
    "actor.id",
    "actor.groups.0",
    "channel",
    "account",
    "post.id",
    "post.category",
    "post.labels.0",
    "content.labels.0",
    "approvals.0.by",
    "approvals.0.groups.0",
)
TEXT_FIELDS = ("content.text", "post.text", "context.note")
TIMESTAMP_FIELDS = ("at", "post.received_at")
CONTEXT_KEY = "context.<key>"

# C0, DEL, C1, bidirectional controls, lone surrogates (high, low).
NAME_REFUSED = (
    "\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f",
    "\u202a", "\u202e", "\u2066", "\u2069", "\ud800", "\udbff", "\udc00", "\udfff",
)  # fmt: skip
TEXT_REFUSED = (
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f", "\x7f",
    "\ud800", "\udbff", "\udc00", "\udfff",
)  # fmt: skip
NAME_ACCEPTED = ("é", "日本", "😀", "\u200d", "\u00a0", "a-b_c.d")
TEXT_ACCEPTED = ("\t", "\n", "\r", "\x85", "\x9f", "\u2028", "\u202e", "😀", "\u200d", "\ufeff")

TIMESTAMP_REFUSED: tuple[Any, ...] = (
    1700000000,
    1700000000.5,
    "1700000000",
    "1700000000.5",
    True,
    None,
    [],
    {},
    "",
    "now",
    "2026-11-27",
    "2026-11-27T21:40:00",  # no offset
    "2026-13-01T00:00:00Z",
    "2026-11-27T25:00:00Z",
    "2026-11-27T21:40:00+24:00",
    "2026-11-27T21:40:00+01",
    "2026-11-27T21:40:00+01:00:30",
    "2026-11-27T21:40:00+01:00 ",
    "2026-W48-5T21:40:00Z",
    "2026-11-27X21:40:00Z",
    "\u0662\u0660\u0662\u0666-11-27T21:40:00Z",
    "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:30:00-01:00",  # after year 9999 in UTC
    "9999-12-31T23:00:00-14:00",
    "9999-12-31T23:59:59.999999-00:01",
    # Digits past the sixth were cut off: a reply 999 ns after its deadline was on time.
    "2026-11-27T21:40:00.1234567+01:00",
    "2026-11-27T21:10:00.000000999Z",
    "2026-12-31T23:59:60Z",  # a leap second: datetime has no second 60
    # Offset minutes past 59: read as the next hour (+00:99 as +01:39), a different instant.
    "2026-11-27T21:40:00+00:99",
    "2026-11-27T21:40:00+01:60",
    "2026-11-27T21:40:00+0199",
    "2026-11-27T21:40:00-05:75",
)
TIMESTAMP_ACCEPTED = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T01:00:00+01:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T22:59:59-01:00",
    "2026-11-27T21:40:00.123456+05:45",
    "2026-11-27 21:40:00Z",
    "2026-11-27t21:40:00z",
    "2026-11-27T21:40Z",
    "2026-11-27T21:40:00.123456000+01:00",  # nanoseconds, exactly a microsecond
    "2026-11-27T21:40:00,5-03:30",
)
INTEGER_REFUSED: tuple[Any, ...] = (
    True,
    False,
    "25000",
    25000.0,
    2.5e4,
    25000.5,
    "2.5e4",
    -1,
    None,
    [],
    {},
)
LITERAL_REFUSED: dict[str, tuple[Any, ...]] = {
    "action": (1, True, "Reply", "", None),
    "post.sentiment": ("NEGATIVE", 0, False, None, ["negative"]),
}
SHAPE_REFUSED: dict[str, tuple[Any, ...]] = {
    "actor": ("carol", 1, None, []),
    "actor.id": (1, True, None, [], ""),
    "actor.groups": ("care-team", 1, {}),
    "channel": (1, False, None, ["twitter"], ""),
    "post": ("t-1", 1, [], None),  # None: a reply without the post it answers
    "content": ("text", []),
    "content.labels": ("billing", 1),
    "context": ([], "crisis", 1),
    "context.note": ([1], {"a": 1}),
    "approvals": ({"by": "dave"}, "dave"),
    "approvals.0.by": (1, None, ""),
}


@dataclass(frozen=True)
class Case:
    """One bad value in one field, and the field an error must name."""

    path: str
    value: Any
    field: str

    def request(self) -> dict[str, Any]:
        """The valid request with this value in place."""
        return with_value(VALID, self.path, self.value)

    def text(self) -> str:
        """The request as JSON text; lone surrogates become `\\ud800` escapes, as on the wire."""
        return json.dumps(self.request())

    def __str__(self) -> str:
        return f"{self.path}={self.value!r}"


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `base` with `value` at dotted `path` (`context.<key>` sets a key)."""
    copy: dict[str, Any] = json.loads(json.dumps(base))
    if path == CONTEXT_KEY:
        copy["context"] = {value: True}
        return copy
    *parents, last = path.split(".")
    target: Any = copy
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        index = int(last)
        target[index : index + 1] = [value]  # sets, or appends to an empty list
    else:
        target[last] = value
    return copy


def _cases() -> list[Case]:
    found = []
    for path in NAME_FIELDS:
        found += [Case(path, f"a{bad}b", path) for bad in NAME_REFUSED]
        if "" not in SHAPE_REFUSED.get(path, ()):
            found.append(Case(path, "", path))  # `"account": ""` alone was accepted
    found += [Case(CONTEXT_KEY, f"a{bad}b", "context") for bad in NAME_REFUSED]
    for path in TEXT_FIELDS:
        found += [Case(path, f"a{bad}b", path) for bad in TEXT_REFUSED]
    for path in TIMESTAMP_FIELDS:
        found += [Case(path, value, path) for value in TIMESTAMP_REFUSED]
    found += [Case("post.author_reach", value, "post.author_reach") for value in INTEGER_REFUSED]
    for table in (LITERAL_REFUSED, SHAPE_REFUSED):
        for path, values in table.items():
            found += [Case(path, value, path) for value in values]
    return found


CASES = _cases()


def _accepted() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for path in NAME_FIELDS:
        found += [(path, f"a{good}b") for good in NAME_ACCEPTED]
    found += [(CONTEXT_KEY, f"a{good}b") for good in NAME_ACCEPTED]
    for path in TEXT_FIELDS:
        found += [(path, f"a{good}b") for good in TEXT_ACCEPTED]
    for path in TIMESTAMP_FIELDS:
        found += [(path, value) for value in TIMESTAMP_ACCEPTED]
    found += [("post.author_reach", value) for value in (0, 1, 2**53, 10**30)]
    return found


ACCEPTED = _accepted()

# Every scalar field of a reply; the property tests put random JSON values into each one.
EVERY_FIELD = (
    *NAME_FIELDS,
    *TEXT_FIELDS,
    *TIMESTAMP_FIELDS,
    "action",
    "post.sentiment",
    "post.author_reach",
    "context.crisis",
    "actor",
    "actor.groups",
    "post",
    "content",
    "context",
    "approvals",
)

_CHARACTERS = st.characters(codec=None)  # every code point, lone surrogates included
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARACTERS, max_size=12)
    | st.sampled_from(NAME_REFUSED + TEXT_ACCEPTED + TIMESTAMP_ACCEPTED)
    | st.sampled_from([v for v in TIMESTAMP_REFUSED if isinstance(v, str)])
    | st.datetimes(timezones=st.timezones()).map(lambda when: when.isoformat())
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(
        st.text(_CHARACTERS, max_size=6), inner, max_size=3
    )


JSON_VALUES = st.recursive(_SCALARS, _containers, max_leaves=6)


def names_the_path(fields: list[str], path: str) -> bool:
    """Whether every error is on `path` or inside it (a reply without post: the request)."""
    allowed = {"request"} if path in ("post", "action") else set()
    return all(f == path or f.startswith(path + ".") or f in allowed for f in fields)
