"""A seeded generator of realistic check requests for the benchmarks and the agreement tests.

    .venv/bin/python -m bench.requests_gen 10000 [--seed 7] > requests.jsonl

The mix follows a customer-care desk: mostly agents answering posts, marketing posting, a few
outsiders, and the cases where policies break: author reach exactly at 9,999 and 10,000,
deadlines hit to the second, office hours opening and closing, holidays, the two daylight-saving
changes of 2026, "guarantee" spelled as a whole word and inside other words, approvals that
count and approvals that must be ignored. Every timestamp carries an offset, written in Vienna
time, UTC or a far-away zone. The same seed always yields the same requests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.peers.facts import HOLIDAYS, respond_by

VIENNA = ZoneInfo("Europe/Vienna")
ELSEWHERE = (ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo"), ZoneInfo("Asia/Kolkata"))

# (actor id, directory groups, weight): the team, directory members of care-team, outsiders.
ACTORS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("alice", (), 10),
    ("alice", ("care-team",), 6),
    ("bob", (), 12),
    ("carol", (), 12),
    ("dave", (), 6),
    ("dave", ("care-team",), 1),
    ("erin", (), 3),
    ("frank", (), 8),
    ("frank", ("care-team",), 1),
    ("grace", (), 5),
    ("grace", ("care-team",), 1),
    ("heidi", (), 7),
    ("kim", ("care-team",), 6),
    ("lee", ("care-team", "night-shift"), 3),
    ("zoe", (), 2),
    ("mallory", ("press-office",), 2),
    ("intern-7", ("night-shift",), 1),
)
ACCOUNTS = {
    "twitter": ("@acme_help", "@acme"),
    "facebook": ("AcmeSupport",),
    "instagram": ("@acme.official",),
    "linkedin": ("acme-corp",),
}
CHANNELS = tuple(ACCOUNTS)
# Category -> weight and how its sentiments lean (positive, neutral, negative weights).
CATEGORIES: dict[str, tuple[int, tuple[int, int, int]]] = {
    "question": (30, (2, 6, 2)),
    "complaint": (25, (1, 2, 7)),
    "praise": (15, (8, 2, 0)),
    "feature_request": (18, (3, 5, 2)),
    "crisis": (8, (0, 2, 8)),
    "other": (4, (3, 6, 1)),  # a category without a response-time rule
}
SENTIMENTS = ("positive", "neutral", "negative")
PLAIN_TEXTS = (
    "Thanks for reaching out! We're looking into it.",
    "Sorry to hear that. Could you DM us your order number?",
    "Great idea, we've passed it on to the product team.",
    "Our new collection is out today. Have a look!",
    "Prices for the premium plan start at 9 EUR a month.",
    "We're on it and will update this thread within the hour.",
    "Danke für die Nachricht! Wir melden uns gleich. 🙂",
)
PROMISE_TEXTS = (  # whole-word "guarantee"/"guaranteed" in any case: denied
    "We guarantee a full refund.",
    "Delivery is GUARANTEED by Friday.",
    "Guarantee: it works or your money back",
    "This is our no-guarantee policy, sorry.",
    "(guaranteed)",
)
NEAR_MISS_TEXTS = (  # the letters without the word: allowed
    "See our guarantees page for details.",
    "We are guaranteeing nothing here.",
    "Ref guarantee_id 42 is noted.",
    "Warranty terms apply; no promises.",
)
CONTENT_LABELS = (
    ((), 62),
    (("mentions_price",), 14),
    (("legal_claim",), 8),
    (("mentions_price", "legal_claim"), 4),
    (("emoji",), 8),
    (("mentions_price", "emoji"), 4),
)
POST_LABELS = (((), 80), (("mentions_price",), 8), (("promo",), 6), (("contains_link",), 6))
# Local times where office hours open and close, and a few around the daylight-saving jumps.
EDGE_TIMES = (
    time(7, 59, 59),
    time(8, 0),
    time(8, 0, 1),
    time(11, 59),
    time(13, 30),
    time(17, 59),
    time(17, 59, 59),
    time(18, 0),
    time(18, 0, 1),
    time(23, 59, 59),
    time(0, 0),
    time(2, 0),
    time(2, 30),
    time(3, 0),
)
DST_DAYS = (date(2026, 3, 29), date(2026, 10, 25))
SPECIAL_DAYS = (
    *HOLIDAYS,
    *DST_DAYS,
    date(2026, 3, 27),  # the Friday before spring forward: office deadlines run into it
    date(2026, 3, 30),
    date(2026, 10, 23),  # the Friday before fall back
    date(2026, 10, 26),
    date(2026, 11, 27),  # the contract example's day
    date(2026, 12, 7),  # the Monday before the holiday of 8 December
    date(2026, 12, 23),
    date(2026, 12, 31),
    date(2027, 1, 5),
)
FIRST_DAY = date(2026, 3, 16)
DAYS = (date(2027, 1, 20) - FIRST_DAY).days
REACH_EDGES = (0, 9_999, 10_000, 10_001)


def _weighted(rng: random.Random, options: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([value for value, _ in options], [weight for _, weight in options])[0]


def _instant(rng: random.Random) -> datetime:
    """A moment in UTC: often on a holiday, a DST day or an office-hours edge, else anywhere."""
    day = (
        rng.choice(SPECIAL_DAYS)
        if rng.random() < 0.35
        else FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    )
    if rng.random() < 0.35:
        wall = rng.choice(EDGE_TIMES)
    else:
        seconds = rng.randrange(24 * 3600)
        if rng.random() < 0.7:
            seconds -= seconds % 60
        wall = time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    # fold picks the first or second 02:30 on the autumn day; a spring 02:30 maps forward.
    local = datetime.combine(day, wall, tzinfo=VIENNA).replace(fold=rng.randrange(2))
    return local.astimezone(UTC)


def _stamp(rng: random.Random, moment: datetime) -> str:
    """The moment written with an offset: usually Vienna time, sometimes UTC or elsewhere."""
    roll = rng.random()
    if roll < 0.7:
        return moment.astimezone(VIENNA).isoformat()
    if roll < 0.8:
        return moment.isoformat()
    if roll < 0.85:
        return moment.isoformat().replace("+00:00", "Z")
    return moment.astimezone(rng.choice(ELSEWHERE)).isoformat()


def _reach(rng: random.Random) -> int:
    if rng.random() < 0.15:
        return rng.choice(REACH_EDGES)
    return int(10 ** rng.uniform(0.5, 6.7))


def _reply_time(rng: random.Random, category: str, received: datetime) -> datetime:
    """When the reply is attempted: before, exactly at, just after or long after the deadline."""
    due = respond_by(category, received)
    roll = rng.random()
    if due is not None and roll < 0.35:
        return due + timedelta(seconds=rng.choice((-60, -1, 0, 0, 1, 60)))
    if roll < 0.45:
        return received
    if roll < 0.9:
        return received + timedelta(seconds=rng.randrange(3 * 3600))
    return received + timedelta(seconds=rng.randrange(5 * 24 * 3600))


def _approvals(rng: random.Random, actor: str) -> list[dict[str, str]]:
    """Approvals already obtained: valid ones, the actor's own, and ones by people without the role."""
    pool = ("dave", "erin", "heidi", actor, "bob", "carol", "zoe", "kim")
    return [{"by": by} for by in rng.sample(pool, rng.choice((1, 1, 1, 2)))]


def _request(rng: random.Random, number: int) -> dict[str, Any]:
    actor, groups, _ = rng.choices(ACTORS, [weight for *_, weight in ACTORS])[0]
    posting = rng.random() < (0.85 if actor == "frank" else 0.06)
    channel = rng.choice(CHANNELS)
    labels = _weighted(rng, CONTENT_LABELS)
    roll = rng.random()
    if roll < 0.08:
        text = rng.choice(PROMISE_TEXTS)
    elif roll < 0.14:
        text = rng.choice(NEAR_MISS_TEXTS)
    else:
        text = rng.choice(PLAIN_TEXTS)
    request: dict[str, Any] = {
        "actor": {"id": actor, "groups": list(groups)},
        "action": "post" if posting else "reply",
        "channel": channel,
        "account": rng.choice(ACCOUNTS[channel]),
    }
    if posting:
        at = _instant(rng)
    else:
        category = rng.choices(list(CATEGORIES), [w for w, _ in CATEGORIES.values()])[0]
        sentiment = rng.choices(SENTIMENTS, CATEGORIES[category][1])[0]
        received = _instant(rng)
        at = _reply_time(rng, category, received)
        request["post"] = {
            "id": f"{channel[:2]}-{number}",
            "sentiment": sentiment,
            "category": category,
            "author_reach": _reach(rng),
            "received_at": _stamp(rng, received),
            "labels": list(_weighted(rng, POST_LABELS)),
        }
    request["content"] = {"labels": list(labels), "text": text}
    roll = rng.random()
    if roll < 0.06:
        request["context"] = {"crisis": True}
    elif roll < 0.7:
        request["context"] = {"crisis": False}
    if rng.random() < 0.25:
        request["approvals"] = _approvals(rng, actor)
    request["at"] = _stamp(rng, at)
    return request


def generate(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """`n` request dicts (JSON-serialisable, the /v1/check contract), the same for the same seed."""
    rng = random.Random(seed)
    return [_request(rng, number) for number in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("n", type=int, help="how many requests")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    write = sys.stdout.write
    for request in generate(args.n, args.seed):
        write(json.dumps(request, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
