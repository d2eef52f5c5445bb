"""Anchors: the chain heads of a verified log, signed with the log key, kept outside the database.

    anchor = make_anchor(result.heads, key, log.where)      # after verify_log(...) passed
    save_anchor(anchor, "anchors.json")                     # a file the team keeps elsewhere
    save_anchor(anchor, "refs/replygate/anchors", repo=".")  # or a commit on a git ref
    heads = load_anchor("anchors.json", key)                 # AnchorMismatch if not genuine

An anchor says "at this time chain W had reached seq N with hash H". A later verification with
the anchor finds a chain cut below N, a chain removed, or a chain recomputed (its record N no
longer has hash H). The signature (HMAC-SHA256 with the log key over the canonical JSON of the
rest) means whoever can rewrite the log and the anchor's copy still cannot forge a new anchor.
On a git ref every anchor is a new commit whose parent is the previous one, so the history of
anchors is kept, and pushing the ref to a remote the database's owners cannot write is enough.
"""

from __future__ import annotations

import hmac
import json
import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replygate.decision_log.chain import canonical
from replygate.decision_log.keys import fingerprint, sign
from replygate.decision_log.records import format_time
from replygate.decision_log.verify import Head

__all__ = ["ANCHOR_FILE", "AnchorMismatch", "load_anchor", "make_anchor", "save_anchor"]

FORMAT = 1
ANCHOR_FILE = "anchors.json"  # its name inside the commit on a git ref


class AnchorMismatch(ValueError):
    """The anchor's signature does not verify: it was altered, or signed with another key."""


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


def save_anchor(anchor: Mapping[str, Any], target: str, repo: str = ".") -> str:
    """Write the anchor to a file, or commit it on a git ref of `repo`; what was written."""
    text = json.dumps(anchor, indent=2, sort_keys=True) + "\n"
    if not is_ref(target):
        try:
            Path(target).write_text(text)
        except OSError as error:
            raise ValueError(f"cannot write {target}: {error.strerror or error}") from None
        return target
    blob = _git(repo, "hash-object", "-w", "--stdin", input=text)
    tree = _git(repo, "mktree", input=f"100644 blob {blob}\t{ANCHOR_FILE}\n")
    parent = _git(repo, "rev-parse", "--verify", "-q", f"{target}^{{commit}}", check=False)
    message = f"replygate audit anchor: {len(anchor.get('heads', {}))} chains, {anchor['created']}"
    commit = _git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)
    # Compare-and-swap: two anchors written at once cannot lose one of them silently.
    _git(repo, "update-ref", target, commit, parent or "0" * 40)
    return f"{target} ({commit[:12]}) in {repo}"


def load_anchor(source: str, key: bytes | None, repo: str = ".") -> dict[str, Any]:
    """The anchored heads ({writer_id: {seq, hash, …}}) of a file or a git ref.

    A signed anchor needs the key that signed it (AnchorMismatch otherwise); an unsigned heads
    file of `audit verify --save-heads` is read as it is. ValueError when it cannot be read.
    """
    if is_ref(source):
        text = _git(repo, "show", f"{source}:{ANCHOR_FILE}")
    else:
        try:
            text = Path(source).read_text()
        except OSError as error:
            raise ValueError(f"anchors {source}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"anchors {source}: not JSON ({error})") from None
    if isinstance(data, dict) and "signature" in data:
        _check_signature(data, key, source)
    heads = data.get("heads", data) if isinstance(data, dict) else None
    if not isinstance(heads, dict) or not all(
        isinstance(head, dict) and "seq" in head and "hash" in head for head in heads.values()
    ):
        raise ValueError(f"anchors {source}: not an anchor of `replygate audit anchor`")
    return heads


def _check_signature(data: dict[str, Any], key: bytes | None, source: str) -> None:
    if key is None:
        raise ValueError(
            f"anchors {source}: the anchor is signed; verifying it needs the log key "
            "(--log-key-file or $REPLYGATE_LOG_KEY)"
        )
    payload = {name: value for name, value in data.items() if name != "signature"}
    if payload.get("key") != fingerprint(key):
        raise AnchorMismatch(
            f"anchors {source}: signed with another key (fingerprint {payload.get('key')}, "
            f"this key is {fingerprint(key)})"
        )
    expected = sign(key, canonical(payload).encode())
    if not hmac.compare_digest(expected, str(data["signature"])):
        raise AnchorMismatch(f"anchors {source}: the signature does not match: it was altered")


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
