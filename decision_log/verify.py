"""`verify_log(url)`: walk every hash chain and report the first record altered, removed or inserted.

Per chain, in seq order, each record must have seq = previous + 1 (1 for the first), carry the
previous record's hash as `prev_hash` (64 zeros for the first), and hash to its stored `hash`.
The columns the queries filter on (actor, outcome) and the rule index must agree with the
hashed content, so an edit that would hide a decision from a search is found too. Where the
database keeps the JSON text as written (SQLite), that text must be the canonical text that was
hashed, byte for byte: other text for the same values (a key repeated, which SQLite's JSON
functions read first-wins) or a BLOB in its place is an edit too.

Keyed chains (written with a log key, hashes `hmac-sha256:…`) are checked with the keys given:
a chain recomputed without them fails. A chain keeps one key from its first record to its last,
and after a rotation the log holds chains of several keys, so each chain is checked under the
key its first keyed records verify under (up to `PROBE_RECORDS` of them are tried against every
key). A chain none of whose first records verifies under any key is one finding ("written with
another key, or recomputed"), not one per record: a wrong key says so. Without a key a keyed
chain cannot be checked and is reported so. With a key, an unkeyed chain is a problem unless
`allow_unkeyed` (a log written before a key was configured): it could have been recomputed by
anyone who can write the database; with anchors too, an unkeyed chain they do not list still is.

What a chain alone cannot show: the newest records of a chain cut off, or a whole chain removed,
or (unkeyed) a chain rewritten from some record on by someone who recomputed every later hash.
For that, keep the chain heads (`replygate audit anchor`, signed with the key) somewhere the
database's owners cannot write, and pass them back as `anchors`: every anchored record must
still be there, with the same hash. See docs/decision-log.md for the threat model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from replygate.decision_log.backend import (
    COLUMNS,
    RawRow,
    SchemaDamaged,
    SqlBackend,
    UnreadableRow,
    show,
)
from replygate.decision_log.chain import GENESIS, is_keyed
from replygate.decision_log.keys import fingerprint
from replygate.decision_log.log import open_backend
from replygate.decision_log.records import DecisionLogError, actor_of, outcome_of

__all__ = ["MAX_FINDINGS", "PROBE_RECORDS", "Head", "VerifyResult", "verify_log"]

MAX_FINDINGS = 100  # findings kept word for word; `problems` counts them all
# How many keyed records of a chain are tried against every key before the chain is reported
# as written with none of them: one altered first record must not hide the chain's key.
PROBE_RECORDS = 8
COLUMNS_OF_JSON = ("request", "decision", "redacted")  # in the order of RawRow.texts


@dataclass(frozen=True)
class Head:
    """The last record of one chain: keep it elsewhere to detect a cut-off or rewritten tail."""

    seq: int
    hash: str
    decision_id: str


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a verification: counts, and the first problem found (if any)."""

    ok: bool
    records: int
    chains: int
    first_problem: str | None = None
    problem_record: str | None = None
    problems: int = 0
    heads: dict[str, Head] = field(default_factory=dict)
    keyed_chains: int = 0
    unkeyed_chains: int = 0
    findings: tuple[str, ...] = ()  # the first MAX_FINDINGS problems, in the order found
    # What was not checked and why (no finding: a schema-1 log has no positions yet).
    notes: tuple[str, ...] = ()
    # {writer_id: the fingerprint of the key its chain verified under}, keyed chains only.
    chain_keys: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, heads as {writer_id: {seq, hash, decision_id}}."""
        return {
            "ok": self.ok,
            "records": self.records,
            "chains": self.chains,
            "keyed_chains": self.keyed_chains,
            "unkeyed_chains": self.unkeyed_chains,
            "problems": self.problems,
            "first_problem": self.first_problem,
            "problem_record": self.problem_record,
            "findings": list(self.findings),
            "notes": list(self.notes),
            "chain_keys": dict(sorted(self.chain_keys.items())),
            "heads": {
                writer: {"seq": head.seq, "hash": head.hash, "decision_id": head.decision_id}
                for writer, head in sorted(self.heads.items())
            },
        }


def verify_log(
    url: str,
    anchors: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    key: bytes | None = None,
    keys: Sequence[bytes] = (),
    allow_unkeyed: bool = False,
    anchored_by_current_key: bool = False,
) -> VerifyResult:
    """Verify every chain of the decision log at `url` (read-only: it never migrates the log).

    `anchors` are heads of an earlier verification ({writer_id: {"seq": n, "hash": h}}).
    `keys` (and `key`, the one-key form, tried first) are log keys: each keyed chain is checked
    under the one it was written with, and unkeyed chains are then a problem unless
    `allow_unkeyed`. With keys and `allow_unkeyed`, anchors are taken as checked (`read_anchor`
    with those keys): an unkeyed chain they do not list is then a problem too.
    A row whose columns cannot be read (NULL, text or a fraction for a seq, JSON nested beyond
    reading), a position missing, shared or not a whole number from 1, a schema_version that is
    not a number and a table that is gone are findings. A log of schema 1 (before positions) is verified as it is; its
    positions are not checked (a note says so).
    `anchored_by_current_key`: the anchors' signature verified under the first key given (the
    current one). A chain under any other key (rotated out) must then be listed in them and end
    at its anchored head: past it, it was written with the old key after the anchor (a leaked
    key's forgery, or a writer still on the old key).
    Raises ValueError for a bad URL, DecisionLogError when the log cannot be read.
    """
    given = [key] if key is not None else []
    given += [other for other in keys if other not in given]
    backend = open_backend(url, readonly=True)
    walk = _Walk(anchors or {}, given, allow_unkeyed)
    try:
        missing: frozenset[str] = frozenset()
        version: int | None
        try:
            version = backend.check_schema()
        except SchemaDamaged as damage:
            for finding in damage.findings:
                walk.problem(finding, None)
            missing, version = damage.missing, damage.version
        with backend.snapshot() as conn:
            for finding in backend.structure_findings(conn):
                walk.problem(finding, None)
            read_from = backend.structure_notes(conn)
            if "decisions" not in missing:
                walk.chains(backend, conn)
            walk.missing_anchors()
            if anchored_by_current_key and given:
                walk.retired_chains(fingerprint(given[0]))
            if walk.problems == 0:
                walk.rule_index(backend, conn)
            if "decisions" not in missing and version == 1:
                # Schema 1 had no position column; the first writer to open the log numbers
                # its rows (a reader must not: verification never changes the evidence).
                walk.notes.append(
                    "the log is of schema 1 (before positions): the order of its audit pages "
                    "is not checked; positions are assigned when a writer next opens it"
                )
            elif "decisions" not in missing:
                walk.positions(backend, conn)
            if "decisions" not in missing and walk.records == 0:
                walk.notes.append(
                    "the log holds no records, so nothing was verified (a copy of an SQLite log "
                    "made without its -wal file holds only what was checkpointed into it; "
                    "anchors tell an emptied log from a new one)"
                )
            walk.notes += read_from
    except backend.driver_errors as error:
        raise DecisionLogError(
            f"cannot read the decision log {backend.where}: {backend.explain(error)}"
        ) from None
    finally:
        backend.close()
    return VerifyResult(
        ok=walk.problems == 0,
        records=walk.records,
        chains=walk.chain_count,
        first_problem=walk.first,
        problem_record=walk.first_record,
        problems=walk.problems,
        heads=walk.heads,
        keyed_chains=len(walk.keyed),
        unkeyed_chains=len(walk.unkeyed),
        findings=tuple(walk.findings),
        notes=tuple(walk.notes),
        chain_keys=walk.chain_keys,
    )


class _Walk:
    def __init__(
        self, anchors: Mapping[str, Mapping[str, Any]], keys: list[bytes], allow_unkeyed: bool
    ) -> None:
        self.keys = keys
        self.allow_unkeyed = allow_unkeyed
        self.notes: list[str] = []
        self.chain_keys: dict[str, str] = {}
        self.keyed: set[str] = set()
        self.unkeyed: set[str] = set()
        self.anchors = {writer: (int(a["seq"]), str(a["hash"])) for writer, a in anchors.items()}
        self.anchors_seen: set[str] = set()
        self.records = 0
        self.chain_count = 0
        self.problems = 0
        self.first: str | None = None
        self.first_record: str | None = None
        self.findings: list[str] = []
        self.heads: dict[str, Head] = {}
        # Where the walk stands in the current chain: its last seq, hash (None: unknown, the
        # record could not be read) and decision id.
        self.writer: str | None = None
        self.seq, self.prev_id = 0, ""
        self.prev: str | None = GENESIS
        # The current chain's key: None until one of its records verifies under one of the
        # keys. `held`: its keyed records that verified under none before that, as (where,
        # decision id); `unknown`: it verified under none for PROBE_RECORDS records, so its
        # records are not checked one by one (one finding says so).
        self.key: bytes | None = None
        self.held: list[tuple[str, str]] = []
        self.unknown = False

    def problem(self, message: str, decision_id: str | None) -> None:
        self.problems += 1
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(message)
        if self.first is None:
            self.first, self.first_record = message, decision_id

    # ---- the chains ------------------------------------------------------------------------
    def chains(self, backend: SqlBackend, conn: Any) -> None:
        sql = f"SELECT {backend.select(*COLUMNS)} FROM decisions ORDER BY writer_id, seq"
        for values in backend.stream(conn, sql):
            self.records += 1
            try:
                row = backend.row(tuple(values))
            except UnreadableRow as error:
                self.unreadable(tuple(values), error)
                continue
            self.enter(row.writer_id)
            where = f"record {row.decision_id} (chain {row.writer_id}, seq {row.seq})"
            self.check_link(row, where)
            self.check_content(row, where)
            self.check_anchor(row, where)
            self.seq, self.prev, self.prev_id = row.seq, row.hash, row.decision_id
            self.heads[row.writer_id] = Head(row.seq, row.hash, row.decision_id)
        self.settle_key()

    def enter(self, writer: str) -> None:
        """Rows come ordered by chain: a new writer id starts a new chain."""
        if writer != self.writer:
            self.settle_key()
            self.writer, self.seq, self.prev, self.prev_id = writer, 0, GENESIS, ""
            self.key, self.held, self.unknown = None, [], False
            self.chain_count += 1

    def unreadable(self, values: tuple[Any, ...], error: UnreadableRow) -> None:
        """A row whose columns do not hold what replygate writes: altered in the database."""
        decision_id, writer, seq = values[0], values[9], values[10]
        shown_id = decision_id if isinstance(decision_id, str) else show(decision_id)
        shown_writer = writer if isinstance(writer, str) else show(writer)
        self.problem(
            f"altered: record {shown_id} (chain {shown_writer}, seq {show(seq)}) cannot be "
            f"read: {error}",
            decision_id if isinstance(decision_id, str) else None,
        )
        if not isinstance(writer, str):
            return  # in no chain: its own chain, if any, reports the gap it left
        self.enter(writer)
        if isinstance(seq, int) and not isinstance(seq, bool):
            # It holds its place: the next record is checked against its seq, not its hash.
            self.seq, self.prev, self.prev_id = seq, None, shown_id

    def check_link(self, row: RawRow, where: str) -> None:
        seq, prev, prev_id = self.seq, self.prev, self.prev_id
        if row.seq < 1:
            self.problem(f"inserted: {where} has a seq below 1; chains start at 1", row.decision_id)
        elif row.seq == seq:
            self.problem(
                f"inserted: {where} repeats seq {seq} of record {prev_id}: one of them does not "
                "belong to the chain",
                row.decision_id,
            )
        elif row.seq > seq + 1:
            missing = f"seq {seq + 1}" if row.seq == seq + 2 else f"seq {seq + 1} to {row.seq - 1}"
            self.problem(
                f"removed: chain {row.writer_id} has no {missing}; the next record present is "
                f"{where}",
                row.decision_id,
            )
        elif prev is not None and row.prev_hash != prev:
            before = f"record {prev_id} (seq {seq})" if prev_id else "the start of the chain"
            self.problem(
                f"inserted or replaced: {where} does not follow {before}: its prev_hash is not "
                "that record's hash",
                row.decision_id,
            )

    def check_mode(self, row: RawRow, where: str) -> bool:
        """Whether the record's hash can be checked; problems for a chain of the wrong kind."""
        keyed = is_keyed(row.hash)
        mine, other = (self.keyed, self.unkeyed) if keyed else (self.unkeyed, self.keyed)
        first = row.writer_id not in mine
        mine.add(row.writer_id)
        if first and row.writer_id in other:
            self.problem(
                f"replaced: {where} is {'keyed' if keyed else 'unkeyed'} in a chain whose other "
                "records are not: part of the chain was recomputed",
                row.decision_id,
            )
            return False
        if keyed and not self.keys:
            if first:
                self.problem(
                    f"unverifiable: chain {row.writer_id} is keyed (HMAC): verify needs the log "
                    "key (--log-key-file, $REPLYGATE_LOG_KEY_FILE or $REPLYGATE_LOG_KEY)",
                    row.decision_id,
                )
            return False
        if keyed or not self.keys or not first:
            return True
        if not self.allow_unkeyed:
            self.problem(
                f"unkeyed: chain {row.writer_id} is not keyed, so anyone who can write the "
                "database could have recomputed it (--allow-unkeyed accepts chains written "
                "before the log had a key)",
                row.decision_id,
            )
        elif self.anchors and row.writer_id not in self.anchors:
            # The chains of the time before the key are in the anchors made since; a new
            # unkeyed chain is one nobody can vouch for.
            self.problem(
                f"unkeyed: chain {row.writer_id} (from {where}) is not keyed and not in the "
                "anchors: started after they were made, or fabricated (--allow-unkeyed accepts "
                "only the unkeyed chains the anchors list)",
                row.decision_id,
            )
        return True

    def check_content(self, row: RawRow, where: str) -> None:
        if not self.check_mode(row, where):
            return
        try:
            texts = row.hashed_texts()
            matches = self.check_hash(row, texts, where)
        except RecursionError:
            self.problem(f"altered: {where} cannot be hashed (nested too deeply)", row.decision_id)
            return
        except (ValueError, TypeError) as error:
            self.problem(f"altered: {where} cannot be hashed ({error})", row.decision_id)
            return
        if matches is False:
            return
        if row.texts is not None and row.texts != texts:
            # The writer stores exactly the text it hashed. Other text for the same values (a
            # key repeated, which SQL's JSON functions read first-wins, or reordered) is an edit.
            column = next(
                name
                for name, stored, hashed in zip(COLUMNS_OF_JSON, row.texts, texts, strict=True)
                if stored != hashed
            )
            self.problem(
                f"altered: {where}: its {column} column is not the JSON text that was hashed "
                "(the same values written another way: a key repeated, reordered or spaced), so "
                "what SQL reads from it may differ from what was logged",
                row.decision_id,
            )
            return
        for column, stored, hashed in (
            ("actor", row.actor, actor_of(row.request)),
            ("outcome", row.outcome, outcome_of(row.decision)),
        ):
            if stored != hashed:
                self.problem(
                    f"altered: {where}: its {column} column reads {json.dumps(stored)} but its "
                    f"hashed content says {json.dumps(hashed)}",
                    row.decision_id,
                )

    def check_hash(self, row: RawRow, texts: tuple[str, str, str], where: str) -> bool | None:
        """Whether the record hashes to its stored hash; None when that cannot be told (its
        chain's key is not among those given). A mismatch is a finding, or held while the
        chain's key is still being looked for."""
        if not is_keyed(row.hash):
            if row.digest(texts, None) == row.hash:
                return True
            self.altered(where, row.decision_id)
            return False
        if self.key is not None:
            if row.digest(texts, self.key) == row.hash:
                return True
            self.altered(where, row.decision_id)
            return False
        if self.unknown:
            return None
        for key in self.keys:
            if row.digest(texts, key) == row.hash:
                self.key = key
                self.chain_keys[row.writer_id] = fingerprint(key)
                # The chain's key is known now: those before that did not verify were altered.
                for held_where, held_id in self.held:
                    self.altered(held_where, held_id)
                self.held = []
                return True
        self.held.append((where, row.decision_id))
        if len(self.held) >= PROBE_RECORDS:
            self.settle_key()
        return False

    def altered(self, where: str, decision_id: str) -> None:
        self.problem(
            f"altered: {where} does not match its hash: its content was changed after it was "
            "written",
            decision_id,
        )

    def settle_key(self) -> None:
        """The chain's first keyed records verified under none of the keys: one finding."""
        if not self.held:
            return
        (where, decision_id), count = self.held[0], len(self.held)
        records = (
            f"{where} verifies" if count == 1 else f"{where} and the {count - 1} after it verify"
        )
        prints = ", ".join(fingerprint(key) for key in self.keys)
        self.problem(
            f"unverifiable: chain {self.writer}: {records} under none of the keys given "
            f"(fingerprint{'s' if len(self.keys) > 1 else ''} {prints}): the chain was written "
            "with another key, or recomputed; its records are not checked one by one",
            decision_id,
        )
        self.held, self.unknown = [], True

    def check_anchor(self, row: RawRow, where: str) -> None:
        anchored = self.anchors.get(row.writer_id)
        if anchored is None or anchored[0] != row.seq:
            return
        self.anchors_seen.add(row.writer_id)
        if anchored[1] != row.hash:
            self.problem(
                f"altered: {where} is not the record anchored earlier (hash {anchored[1][:16]}…): "
                "the chain was rewritten",
                row.decision_id,
            )

    def missing_anchors(self) -> None:
        for writer, (seq, _digest) in sorted(self.anchors.items()):
            if writer not in self.anchors_seen:
                reached = self.heads.get(writer)
                now = f"it ends at seq {reached.seq}" if reached else "it is gone"
                self.problem(f"removed: chain {writer} was anchored at seq {seq} but {now}", None)

    def retired_chains(self, current: str) -> None:
        """Chains under a rotated-out key, against anchors signed with the current key."""
        for writer, used in sorted(self.chain_keys.items()):
            if used == current:
                continue
            anchored, head = self.anchors.get(writer), self.heads.get(writer)
            if anchored is None:
                self.problem(
                    f"retired: chain {writer} was written with the rotated-out key {used}, and "
                    f"the anchors signed with the current key {current} do not list it: it was "
                    "started after they were made, or forged by whoever holds the old key",
                    None,
                )
            elif head is not None and head.seq > anchored[0]:
                self.problem(
                    f"retired: chain {writer}, under the rotated-out key {used}, goes on past "
                    f"its anchored seq {anchored[0]} to seq {head.seq}: written with the old "
                    "key after the anchor signed with the current one",
                    head.decision_id,
                )

    # ---- the rule index --------------------------------------------------------------------
    def positions(self, backend: SqlBackend, conn: Any) -> None:
        """Every record has a position of its own, a whole number from 1: without one (or
        sharing one) it is left out of the audit pages, which follow `position`; with any other
        value the walk through the pages breaks there (a cursor holds only such numbers). Not
        hashed, so checked here."""
        for (decision_id,) in backend.stream(
            conn, "SELECT decision_id FROM decisions WHERE position IS NULL ORDER BY decision_id"
        ):
            self.problem(
                f"altered: record {decision_id} has no position, which hides it from "
                "GET /v1/decisions",
                str(decision_id),
            )
        for decision_id, position in backend.stream(
            conn,
            f"SELECT decision_id, position FROM decisions WHERE {backend.misplaced_position} "
            "ORDER BY decision_id",
        ):
            shown_id = decision_id if isinstance(decision_id, str) else show(decision_id)
            self.problem(
                f"altered: record {shown_id} has position {show(position)}, which is not a whole "
                "number from 1: a walk through the pages of GET /v1/decisions breaks there",
                decision_id if isinstance(decision_id, str) else None,
            )
        for position, count in backend.stream(
            conn,
            "SELECT position, count(*) FROM decisions WHERE position IS NOT NULL "
            "GROUP BY position HAVING count(*) > 1 ORDER BY position",
        ):
            self.problem(
                f"altered: {count} records share position {position}, so pages skip all but one",
                None,
            )
        # Writers number each commit's records after the highest position, in one transaction,
        # and no record is ever deleted: a log of N records holds positions 1 to N. One past
        # that was edited (or a record before it removed); near 2^63 it also stops every later
        # write, since the next number no longer fits.
        ((total,),) = list(backend.stream(conn, "SELECT count(*) FROM decisions"))
        for decision_id, position in backend.stream(
            conn,
            f"SELECT decision_id, position FROM decisions WHERE position > {int(total)} "
            "ORDER BY position",
        ):
            if isinstance(position, int) and not isinstance(position, bool):
                self.problem(
                    f"altered: record {decision_id} has position {position}, past the "
                    f"{int(total):,} records of the log (numbered 1 to {int(total):,}): a "
                    "position was edited or a record removed",
                    str(decision_id),
                )

    def rule_index(self, backend: SqlBackend, conn: Any) -> None:
        """The rule index must list exactly the rules each decision's reasons name."""
        decisions = backend.stream(
            conn,
            f"SELECT decision_id, {backend.select('decision')} FROM decisions ORDER BY decision_id",
        )
        index = _grouped(
            self.text_entries(
                backend.stream(
                    conn, "SELECT decision_id, rule FROM decision_rules ORDER BY decision_id, rule"
                )
            )
        )
        pending = next(index, None)
        for decision_id, decision in decisions:
            while pending is not None and pending[0] < decision_id:
                self.orphan(pending)
                pending = next(index, None)
            listed: tuple[str, ...] = ()
            if pending is not None and pending[0] == decision_id:
                listed = pending[1]
                pending = next(index, None)
            wanted = SqlBackend.rules_of(backend.row_json(decision))
            if listed != wanted:
                self.problem(
                    f"altered: the rule index lists {list(listed)} for record {decision_id}, "
                    f"whose reasons name {list(wanted)}",
                    decision_id,
                )
        while pending is not None:
            self.orphan(pending)
            pending = next(index, None)

    def text_entries(self, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[str, str]]:
        """The rule index's rows; one that is not two texts is a finding, and left out."""
        for decision_id, rule in rows:
            if isinstance(decision_id, str) and isinstance(rule, str):
                yield decision_id, rule
            else:
                self.problem(
                    f"altered: the rule index holds a row ({show(rule)}, {show(decision_id)}) "
                    "that names no rule and record",
                    None,
                )

    def orphan(self, entry: tuple[str, tuple[str, ...]]) -> None:
        self.problem(
            f"removed: the rule index lists record {entry[0]} (rules {', '.join(entry[1])}), "
            "which is not in the log",
            entry[0],
        )


def _grouped(rows: Iterator[tuple[str, str]]) -> Iterator[tuple[str, tuple[str, ...]]]:
    current: str | None = None
    rules: list[str] = []
    for decision_id, rule in rows:
        if decision_id != current:
            if current is not None:
                yield current, tuple(rules)
            current, rules = decision_id, []
        rules.append(rule)
    if current is not None:
        yield current, tuple(rules)
