"""The hash chain that makes the decision log tamper-evident.

Each writing process keeps its own chain (`writer_id`), numbered 1, 2, 3, … (`seq`), so
replicas writing to one database need no global lock. A record's hash covers its content and
the previous record's hash:

    hash = sha256(canonical JSON of [writer_id, seq, decision_id, time, client, request,
                                     decision, commit, ref, latency_ms, redacted] + prev_hash)

with `prev_hash` = 64 zeros for seq 1. With a log key (keys.py) the hash is an HMAC instead,
written `hmac-sha256:<hex>`: whoever can write the database but does not hold the key cannot
recompute a chain that verifies under the key. Canonical JSON is `json.dumps` with sorted keys, no
spaces, UTF-8 (not ASCII-escaped), no NaN. Whatever is stored is made to survive a round trip
through PostgreSQL's JSONB unchanged (see `storable`), so `verify` can recompute every hash
from what the database gives back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

import orjson
from pydantic_core import from_json

__all__ = [
    "GENESIS",
    "KEYED",
    "Chain",
    "Prepared",
    "StoredRow",
    "canonical",
    "is_keyed",
    "parse_json",
    "parse_request",
    "record_hash",
    "storable",
    "storable_without_floats",
]

GENESIS = "0" * 64
KEYED = "hmac-sha256:"  # the prefix of a keyed record's hash
_LARGEST_PLAIN_FLOAT = 1e16  # from here on repr() uses an exponent and every float is integral
_LONGEST_INT_BITS = 10_000
_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical(value: Any) -> str:
    """The one JSON text of `value` that hashes are computed over."""
    return _dumps(value)


def storable(value: Any) -> str:
    """Canonical JSON of `value`, cleaned where needed so it survives storage unchanged.

    PostgreSQL's JSONB refuses NUL characters and lone surrogates and rewrites large floats as
    integers (`1e+16` comes back as `10000000000000000`); NaN and infinity are not JSON at all.
    Such values are rewritten once, before hashing: NUL and lone surrogates become U+FFFD and
    `?`, non-finite numbers their name as text, large floats integers, -0.0 becomes 0.0.
    """
    try:
        text = _dumps(value)
    except (ValueError, TypeError):
        return _dumps(_clean(value))
    # Cheap tests that can only err on the safe side: the slow path changes nothing needless.
    if "\\u0000" in text or "e+" in text or "-0.0" in text:
        return _dumps(_clean(value))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _dumps(_clean(value))
    return text


def parse_json(text: str | bytes) -> Any:
    """JSON text as the Python values `json.loads` gives, about twice as fast.

    pydantic-core's parser, not orjson's: orjson turns integers beyond 64 bits into floats.
    json for what it refuses (escaped lone surrogates).
    """
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


def storable_without_floats(value: Any) -> str:
    """`storable(value)` for a value with no float in it, about ten times faster.

    orjson with sorted keys writes the same bytes as the canonical encoder for strings,
    integers, booleans and null (tests/test_decision_log_fast_json.py compares the two on
    generated values); its floats differ (`1e-05` against `0.00001`), hence the restriction.
    What `storable` would rewrite (NUL, lone surrogates, huge integers) takes the slow path.
    """
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # lone surrogates, integers beyond 64 bits, non-string keys
        return storable(value)
    if b"\\u0000" in data:
        return storable(value)
    return data.decode()


# A number with a fraction or an exponent, or NaN/Infinity (the request parser accepts them),
# where a JSON value starts. It may also match inside a string: that only costs the slow path.
_FLOAT_TOKEN = re.compile(rb"[:,\[]\s*-?(?:\d+[.eE]|NaN|Infinity)")


def parse_request(body: bytes | str | Any) -> tuple[Any, Callable[[Any], str]]:
    """A request as a JSON value, and the encoder that writes its canonical (storable) JSON.

    `body` is the request's JSON text as the client sent it, or a value already parsed (a batch
    item). The encoder is the fast one (`storable_without_floats`) unless the request may hold a
    float, whose spelling only the canonical encoder gets right: this is the one place that
    knows how floats are spelt (tests/test_decision_log_fast_json.py compares the two).
    """
    if isinstance(body, bytes | str):
        data = body.encode() if isinstance(body, str) else body
        floats = _FLOAT_TOKEN.search(data) is not None
        return parse_json(body), storable if floats else storable_without_floats
    return body, storable if _has_float(body) else storable_without_floats


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_float(item) for item in value)
    return False


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        # Beyond ~3,000 digits Python refuses to print an int (int_max_str_digits).
        return value if value.bit_length() <= _LONGEST_INT_BITS else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= _LARGEST_PLAIN_FLOAT:
            return int(value)
        return 0.0 if value == 0 else value
    if isinstance(value, dict):
        return {_clean(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return _clean(str(value))


def _text(value: str | None) -> str:
    # What the canonical encoder writes for a string or None, without building an encoder.
    return "null" if value is None else encode_basestring(value)


def record_hash(
    writer_id: str,
    seq: int,
    decision_id: str,
    time: str,
    client: str,
    request_json: str,
    decision_json: str,
    commit: str | None,
    ref: str | None,
    latency_ms: float,
    redacted_json: str,
    prev_hash: str,
    key: bytes | None = None,
) -> str:
    """The hash of one record; `request_json`, `decision_json`, `redacted_json` are canonical.

    Without `key`, hex SHA-256; with it, `hmac-sha256:` and the hex HMAC-SHA256 under the key.

    Assembled from the already-canonical parts instead of dumping the whole list again: the
    writer thread shares the interpreter with the decisions, so every microsecond counts.
    tests/test_decision_log.py keeps this equal to `canonical([...])`.
    """
    body = ",".join(
        (
            encode_basestring(writer_id),
            str(int(seq)),
            encode_basestring(decision_id),
            encode_basestring(time),
            encode_basestring(client),
            request_json,
            decision_json,
            _text(commit),
            _text(ref),
            repr(float(latency_ms)),
            redacted_json,
        )
    )
    message = f"[{body}]{prev_hash}".encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return KEYED + hmac.new(key, message, hashlib.sha256).hexdigest()


def is_keyed(digest: str) -> bool:
    """Whether a stored hash is an HMAC (written with a log key)."""
    return digest.startswith(KEYED)


@dataclass(slots=True)
class Prepared:
    """A record redacted and serialised, waiting for its place in the chain."""

    decision_id: str
    time: str
    when: datetime  # `time` as a datetime, for drivers that want one
    client: str
    request_json: str
    decision_json: str
    commit: str | None
    ref: str | None
    latency_ms: float
    redacted_json: str
    # Copies of stored content the query filters index; derived, so verify checks them.
    actor: str | None
    outcome: str | None
    rules: tuple[str, ...]


@dataclass(slots=True)
class StoredRow:
    """A prepared record with its chain position: exactly what a backend stores."""

    record: Prepared
    writer_id: str
    seq: int
    prev_hash: str
    hash: str

    def columns(self, time: Any) -> tuple[Any, ...]:
        """The decisions table's columns in order; `time` as the backend stores timestamps."""
        item = self.record
        return (
            item.decision_id,
            time,
            item.client,
            item.request_json,
            item.decision_json,
            item.commit,
            item.ref,
            item.latency_ms,
            item.redacted_json,
            self.writer_id,
            self.seq,
            self.prev_hash,
            self.hash,
            item.actor,
            item.outcome,
        )


class Chain:
    """One writer's chain head; `link` numbers and hashes a batch without moving the head."""

    def __init__(
        self, writer_id: str, seq: int = 0, head: str = GENESIS, key: bytes | None = None
    ) -> None:
        self.writer_id = writer_id
        self.seq = seq
        self.head = head
        self.key = key

    def link(self, batch: list[Prepared]) -> list[StoredRow]:
        """The batch chained after the current head; `advance` once it is stored."""
        seq, prev = self.seq, self.head
        rows = []
        for item in batch:
            seq += 1
            digest = record_hash(
                self.writer_id,
                seq,
                item.decision_id,
                item.time,
                item.client,
                item.request_json,
                item.decision_json,
                item.commit,
                item.ref,
                item.latency_ms,
                item.redacted_json,
                prev,
                self.key,
            )
            rows.append(StoredRow(item, self.writer_id, seq, prev, digest))
            prev = digest
        return rows

    def advance(self, rows: list[StoredRow]) -> None:
        """Move the head past rows that are now stored."""
        if rows:
            self.seq, self.head = rows[-1].seq, rows[-1].hash
