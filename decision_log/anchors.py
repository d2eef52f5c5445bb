"""Anchors: the chain heads of a verified log, signed with the log key, kept outside the database.

    anchor = make_anchor(result.heads, key, log.where)      # after verify_log(...) passed
    save_anchor(anchor, "anchors.json")                     # a file the team keeps elsewhere
    save_anchor(anchor, "refs/replygate/anchors", repo=".")  # or a commit on a git ref
    heads = load_anchor("anchors.json", key)                 # AnchorMismatch if not genuine
    anchor = read_anchor("anchors.json", [new_key, old_key]) # the same, and the signature's state

An anchor says "at this time chain W had reached seq N with hash H". A later verification with
the anchor finds a chain cut below N, a chain removed, or a chain recomputed (its record N no
longer has hash H). The signature (HMAC-SHA256 with the log key over the canonical JSON of the
rest) means whoever can rewrite the log and the anchor's copy still cannot forge a new anchor.
On a git ref every anchor is a new commit whose parent is the previous one, so the history of
anchors is kept, and pushing the ref to a remote the database's owners cannot write is enough.

Read with the key, an anchor without a signature is refused like an altered one: removing the
signature is the easiest forgery. Read without the key, nothing can be checked; `Anchor`
carries that (`signature` "unsigned" or "not checked") so the report can say it. Read with
several keys (after a rotation), it is checked under the one whose fingerprint it names.
"""

from __future__ import annotations

import hmac
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from replygate.decision_log.chain import canonical
from replygate.decision_log.files import read_bounded
from replygate.decision_log.keys import fingerprint, sign
from replygate.decision_log.records import format_time
from replygate.decision_log.verify import Head

__all__ = [
    "ANCHOR_FILE",
    "ANCHOR_REF",
    "MAX_ANCHOR_BYTES",
    "Anchor",
    "AnchorMismatch",
    "AnchorUnsigned",
    "check_anchor_ref",
    "load_anchor",
    "make_anchor",
    "read_anchor",
    "save_anchor",
]

FORMAT = 1
ANCHOR_FILE = "anchors.json"  # its name inside the commit on a git ref
ANCHOR_REF = "refs/replygate/anchors"  # the ref anchors are meant for (any refs/… of their own)
# About 200 bytes a chain head: room for some 300,000 chains, never a runaway read.
MAX_ANCHOR_BYTES = 64 << 20

Signature = Literal["valid", "unsigned", "not checked"]


class AnchorMismatch(ValueError):
    """The anchor's signature does not verify: it was altered, or signed with another key.

    Its message is a finding of `audit verify` (`altered: …`, `unsigned: …`).
    """


class AnchorUnsigned(AnchorMismatch):
    """An anchor without a signature, read with the log key: it may have been stripped."""


@dataclass(frozen=True)
class Anchor:
    """Anchored heads as read, and how far their origin is known.

    `signature` is `valid` (checked with the log key), `unsigned` (no signature, no key: the
    heads of `audit verify --save-heads`), or `not checked` (signed, but read without the key).
    """

    source: str
    heads: dict[str, Any]
    signature: Signature
    # `valid` under the first key given (the current one), not under a rotated-out key.
    by_current_key: bool = False
    signed_by: str | None = None  # the fingerprint of the key it verified under

    def describe(self) -> str:
        """One line for `audit verify`'s report."""
        chains = "1 chain head" if len(self.heads) == 1 else f"{len(self.heads)} chain heads"
        how = {
            "valid": "signature valid under the log key"
            if self.by_current_key
            else f"signature valid under an older key given ({self.signed_by}), not the current "
            "one: whoever still holds that key could have signed it",
            "unsigned": "not signed, so whoever can write that file could have written them",
            "not checked": "signed, but the signature was not checked: no log key was given",
        }[self.signature]
        return f"Anchors {self.source}: {chains}; {how}"


def make_anchor(heads: Mapping[str, Head], key: bytes, where: str) -> dict[str, Any]:
    """The signed anchor of these chain heads."""
    payload: dict[str, Any] = {
        "replygate_anchor": FORMAT,
        "created": format_time(datetime.now(UTC)),
        "log": where,
        "key": fingerprint(key),
        "heads": {
            writer: {"seq": head.seq, "hash": head.hash, "decision_id": head.decision_id}
            for writer, head in sorted(heads.items())
        },
    }
    return {**payload, "signature": sign(key, canonical(payload).encode())}


def is_ref(target: str) -> bool:
    """A git ref (`refs/…`) rather than a file."""
    return target.startswith("refs/")


# An anchor commit holds one file, anchors.json: on a branch it would delete every policy file
# (a server following the branch would lose its policy), on a tag it would move the release to
# it, and on a remote-tracking ref the next fetch would overwrite it. Anchors go on a ref of
# their own.
FOREIGN_REFS = {
    "refs/heads/": "a branch: its policy files would be replaced by",
    "refs/tags/": "a tag: its release would be moved to a commit of only",
    "refs/remotes/": "a remote-tracking ref: the next fetch would overwrite",
}


def check_anchor_ref(target: str, repo: str = ".") -> None:
    """ValueError when anchors must not be committed on the ref `target` of `repo`: a branch,
    a tag, a remote-tracking ref, the ref HEAD names, or a symbolic ref to one of those (git
    would write through it); a name git refuses; or a name that shadows another, since git
    looks `x` up as refs/x before refs/heads/x and refs/tags/x (`refs/HEAD` makes every
    `HEAD` ambiguous)."""
    _git(repo, "rev-parse", "--git-dir")  # a missing repository is named as such, not the ref
    if _git(repo, "check-ref-format", "--normalize", target, check=False) != target:
        raise ValueError(f"{target} is not a valid git ref name (see git check-ref-format)")
    short = target.removeprefix("refs/")
    if "/" not in short:
        raise ValueError(
            f"{target} is directly under refs/, where git looks `{short}` up before branches "
            f"and tags, so `{short}` would become ambiguous; keep anchors on a ref of their own, "
            f"such as {ANCHOR_REF}"
        )
    for prefix in FOREIGN_REFS:
        if _git(repo, "rev-parse", "-q", "--verify", f"{prefix}{short}", check=False):
            raise ValueError(
                f"{target} would shadow {prefix}{short}: git reads `{short}` as {target} first; "
                f"keep anchors on a ref of their own, such as {ANCHOR_REF}"
            )
    names = [target]
    pointed = _git(repo, "symbolic-ref", "-q", target, check=False)
    if pointed:
        names.append(pointed)
    head = _git(repo, "symbolic-ref", "-q", "HEAD", check=False)
    for name in names:
        what = next((why for prefix, why in FOREIGN_REFS.items() if name.startswith(prefix)), "")
        if not what and name == head:
            what = "the ref HEAD names: the files checked out would be replaced by"
        if what:
            shown = target if name == target else f"{target} (a symbolic ref to {name})"
            raise ValueError(
                f"{shown} is {what} {ANCHOR_FILE}; keep anchors on a ref of their own, such as "
                f"{ANCHOR_REF}"
            )


def save_anchor(anchor: Mapping[str, Any], target: str, repo: str = ".") -> str:
    """Write the anchor to a file, or commit it on a git ref of `repo`; what was written."""
    text = json.dumps(anchor, indent=2, sort_keys=True) + "\n"
    if not is_ref(target):
        try:
            Path(target).write_text(text)
        except OSError as error:
            raise ValueError(f"cannot write {target}: {error.strerror or error}") from None
        return target
    check_anchor_ref(target, repo)
    blob = _git(repo, "hash-object", "-w", "--stdin", input=text)
    tree = _git(repo, "mktree", input=f"100644 blob {blob}\t{ANCHOR_FILE}\n")
    parent = _git(repo, "rev-parse", "--verify", "-q", f"{target}^{{commit}}", check=False)
    message = f"replygate audit anchor: {len(anchor.get('heads', {}))} chains, {anchor['created']}"
    commit = _git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)
    # Compare-and-swap: two anchors written at once cannot lose one of them silently.
    _git(repo, "update-ref", target, commit, parent or "0" * 40)
    return f"{target} ({commit[:12]}) in {repo}"


Keys = bytes | Sequence[bytes] | None


def load_anchor(source: str, key: Keys, repo: str = ".") -> dict[str, Any]:
    """The anchored heads ({writer_id: {seq, hash, …}}) of a file or a git ref (`read_anchor`)."""
    return read_anchor(source, key, repo).heads


def read_anchor(source: str, key: Keys, repo: str = ".") -> Anchor:
    """The anchor in a file or on a git ref, its signature checked when there is a key.

    `key` is the log key, or the keys an audit was given (none: an empty list or None). With
    a key, an anchor must carry a valid signature under the key whose fingerprint it names:
    AnchorMismatch when it is unsigned (a removed signature looks just like that), signed with
    a key not given, or altered. Without a key nothing can be checked: the heads are read and
    the result says so.
    ValueError when it cannot be read or is not an anchor (no heads, heads of the wrong shape).
    """
    keys = [key] if isinstance(key, bytes) else list(key or ())
    data = _parse(_read(source, repo), source)
    heads = _heads(data, source)
    if not keys:
        return Anchor(source, heads, "not checked" if "signature" in data else "unsigned")
    if "signature" not in data:
        raise AnchorUnsigned(
            f"unsigned: anchors {source} carry no signature: with the log key only signed "
            "anchors (`replygate audit anchor`) count, since whoever can write the file could "
            "have written these heads or removed the signature"
        )
    signed_by = fingerprint(_check_signature(data, keys, source))
    return Anchor(source, heads, "valid", signed_by == fingerprint(keys[0]), signed_by)


def _read(source: str, repo: str) -> str:
    if is_ref(source):
        return _git(repo, "show", f"{source}:{ANCHOR_FILE}")
    data = read_bounded(source, MAX_ANCHOR_BYTES, "anchors file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"anchors {source}: not UTF-8 text") from None


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"anchors {source}: not JSON ({error})") from None
    except ValueError:
        # An integer longer than Python converts (int_max_str_digits): its own message advises
        # sys.set_int_max_str_digits() and names no file. No seq of an anchor is that long.
        raise ValueError(
            f"anchors {source}: holds a number of more than {sys.get_int_max_str_digits()} "
            "digits, which no anchor has"
        ) from None
    try:
        # `"\ud800"` decodes to a lone surrogate, which no anchor holds and no report can print.
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError as error:
        raise ValueError(
            f"anchors {source}: holds a lone surrogate (\\u{ord(error.object[error.start]):04x}), "
            "which is not a character: not an anchor replygate wrote"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"anchors {source}: not an anchor of `replygate audit anchor` (a JSON object with "
            '"heads")'
        )
    version = data.get("replygate_anchor", FORMAT)
    if version != FORMAT:
        raise ValueError(
            f"anchors {source}: anchor format {json.dumps(version)}; this replygate reads "
            f"format {FORMAT}"
        )
    return data


def _heads(data: dict[str, Any], source: str) -> dict[str, Any]:
    if "heads" not in data:
        raise ValueError(
            f'anchors {source}: no "heads": not an anchor of `replygate audit anchor` or '
            "`replygate audit verify --save-heads`"
        )
    heads = data["heads"]
    if not isinstance(heads, dict) or not heads:
        raise ValueError(
            f'anchors {source}: "heads" names no chain ({{writer_id: {{"seq": …, "hash": '
            "…}}}} expected), so there is nothing to check the log against"
        )
    for writer, head in heads.items():
        seq = head.get("seq") if isinstance(head, dict) else None
        digest = head.get("hash") if isinstance(head, dict) else None
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise ValueError(
                f"anchors {source}: the head of chain {writer} has no seq (a whole number "
                f"from 1): {json.dumps(head)[:200]}"
            )
        if not isinstance(digest, str) or not digest:
            raise ValueError(
                f"anchors {source}: the head of chain {writer} has no hash: "
                f"{json.dumps(head)[:200]}"
            )
    return heads


def _check_signature(data: dict[str, Any], keys: list[bytes], source: str) -> bytes:
    """The key the anchor's signature verifies under; AnchorMismatch when none does."""
    payload = {name: value for name, value in data.items() if name != "signature"}
    by_print = {fingerprint(key): key for key in keys}
    named = payload.get("key")
    key = by_print.get(named) if isinstance(named, str) else None
    if key is None:
        shown = named if isinstance(named, str) else json.dumps(named)[:80]
        given = ", ".join(by_print)
        given = f"this key is {given}" if len(by_print) == 1 else f"the keys given are {given}"
        raise AnchorMismatch(
            f"altered: anchors {source}: signed with another key (fingerprint {shown}, {given})"
        )
    expected = sign(key, canonical(payload).encode())
    if not hmac.compare_digest(expected, str(data["signature"])):
        raise AnchorMismatch(
            f"altered: anchors {source}: the signature does not match: it was altered"
        )
    return key


def _git(repo: str, *args: str, input: str | None = None, check: bool = True) -> str:
    env = {
        **os.environ,
        # commit-tree needs an identity: a fixed one unless GIT_* variables name another.
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "replygate audit anchor"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "replygate@localhost"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "replygate audit anchor"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "replygate@localhost"),
    }
    try:
        done = subprocess.run(
            ["git", "-C", repo, *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except OSError as error:
        raise ValueError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        if not check:
            return ""
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise ValueError(f"git {args[0]} in {repo}: {message}")
    return done.stdout.strip() if args[0] != "show" else done.stdout
