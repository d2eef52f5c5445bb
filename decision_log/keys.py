"""The log key: the secret that makes chain hashes HMACs and signs anchors.

    key = load_key(key_file, os.environ)   # --log-key-file FILE, else $REPLYGATE_LOG_KEY

The key is never stored in the log or sent anywhere; the server needs it to write, `audit
verify` to check keyed chains and anchors, `audit anchor` to sign. It is the file's content (or
the variable's value) with surrounding whitespace removed, used as bytes: `openssl rand -hex 32`
makes a good one; a key file is read up to `MAX_KEY_FILE_BYTES` (files.py), so a path to
`/dev/zero` is an error, not an endless read. Its fingerprint (a hash of a hash, safe to show) names it in anchors and
messages, so a verification with the wrong key says so instead of reporting every record.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from replygate.decision_log.files import read_bounded

__all__ = [
    "KEY_VARIABLE",
    "MAX_KEY_FILE_BYTES",
    "MIN_KEY_BYTES",
    "fingerprint",
    "load_key",
    "sign",
]

KEY_VARIABLE = "REPLYGATE_LOG_KEY"
MIN_KEY_BYTES = 16
# A key is a few dozen bytes; a bigger file is a mistake (or /dev/zero), not a key to read whole.
MAX_KEY_FILE_BYTES = 4096


def load_key(key_file: str | None, environ: Mapping[str, str]) -> bytes | None:
    """The log key from `key_file`, else from $REPLYGATE_LOG_KEY; None when neither is set.

    ValueError naming the source when the file cannot be read, holds more than
    `MAX_KEY_FILE_BYTES`, or the key is too short.
    """
    if key_file:
        key = read_bounded(key_file, MAX_KEY_FILE_BYTES, "log key file").strip()
        source = f"log key file {key_file}"
    elif environ.get(KEY_VARIABLE):
        key = environ[KEY_VARIABLE].strip().encode()
        source = f"${KEY_VARIABLE}"
    else:
        return None
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
