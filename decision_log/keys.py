"""The log key: the secret that makes chain hashes HMACs and signs anchors.

    key = load_key(key_file, os.environ)      # serve: --log-key-file FILE, else $REPLYGATE_LOG_KEY
    keys = load_keys(key_files, os.environ)   # audit: every --log-key-file, else
                                              # $REPLYGATE_LOG_KEY_FILE, else $REPLYGATE_LOG_KEY

The key is never stored in the log or sent anywhere; the server needs it to write, `audit
verify` to check keyed chains and anchors, `audit anchor` to sign. It is the file's content (or
the variable's value) with surrounding whitespace removed, used as bytes: `openssl rand -hex 32`
makes a good one; a key file is read up to `MAX_KEY_FILE_BYTES` (files.py), so a path to
`/dev/zero` is an error, not an endless read. Its fingerprint (a hash of a hash, safe to show)
names it in anchors and messages, so a verification with the wrong key says so instead of
reporting every record.

A server writes with one key; an audit may need several: after a rotation the older chains
stay under the older key (a chain keeps one key), so `audit` takes every key it is given and
checks each chain under the one it was written with.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from replygate.decision_log.files import read_bounded

__all__ = [
    "KEY_FILE_VARIABLE",
    "KEY_VARIABLE",
    "MAX_KEY_FILE_BYTES",
    "MIN_KEY_BYTES",
    "fingerprint",
    "load_key",
    "load_keys",
    "sign",
]

KEY_VARIABLE = "REPLYGATE_LOG_KEY"
KEY_FILE_VARIABLE = "REPLYGATE_LOG_KEY_FILE"
MIN_KEY_BYTES = 16
# A key is a few dozen bytes; a bigger file is a mistake (or /dev/zero), not a key to read whole.
MAX_KEY_FILE_BYTES = 4096


def load_key(key_file: str | None, environ: Mapping[str, str]) -> bytes | None:
    """The server's log key: from `key_file`, else from $REPLYGATE_LOG_KEY; None when neither.

    ValueError naming the source when the file cannot be read, holds more than
    `MAX_KEY_FILE_BYTES`, or the key is too short.
    """
    if key_file:
        return _from_file(key_file)
    if environ.get(KEY_VARIABLE):
        return _from_variable(environ[KEY_VARIABLE])
    return None


def load_keys(key_files: Sequence[str] | None, environ: Mapping[str, str]) -> list[bytes]:
    """The log keys an audit is given, in order, each once; empty when none is.

    From `key_files` (every `--log-key-file`), else the file $REPLYGATE_LOG_KEY_FILE names,
    else $REPLYGATE_LOG_KEY. The first is the current key (`audit anchor` signs with it).
    ValueError naming the source, as `load_key`.
    """
    if key_files:
        found = [_from_file(path) for path in key_files]
    elif environ.get(KEY_FILE_VARIABLE):
        found = [_from_file(environ[KEY_FILE_VARIABLE], f"${KEY_FILE_VARIABLE}: ")]
    elif environ.get(KEY_VARIABLE):
        found = [_from_variable(environ[KEY_VARIABLE])]
    else:
        return []
    # The same key given twice would be tried twice and listed twice in messages.
    return list({fingerprint(key): key for key in found}.values())


def _from_file(path: str, prefix: str = "") -> bytes:
    key = read_bounded(path, MAX_KEY_FILE_BYTES, f"{prefix}log key file").strip()
    return _long_enough(key, f"{prefix}log key file {path}")


def _from_variable(value: str) -> bytes:
    try:
        # os.environ decodes bytes that are not UTF-8 as lone surrogates (surrogateescape):
        # encoding them back gives the bytes that were set, as a key file would hold them.
        key = value.strip().encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError(
            f"${KEY_VARIABLE}: holds characters that are not text (lone surrogates); put the key "
            f"in a file and give it with --log-key-file or ${KEY_FILE_VARIABLE}"
        ) from None
    return _long_enough(key, f"${KEY_VARIABLE}")


def _long_enough(key: bytes, source: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"{source}: the key has {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(e.g. `openssl rand -hex 32`)"
        )
    return key


def fingerprint(key: bytes) -> str:
    """A short public name of the key: which key signed an anchor, without revealing it."""
    return hashlib.sha256(b"replygate-log-key:" + key).hexdigest()[:16]


def sign(key: bytes, message: bytes) -> str:
    """`hmac-sha256:<hex>` of a message under the key (anchors)."""
    return "hmac-sha256:" + hmac.new(key, message, hashlib.sha256).hexdigest()
