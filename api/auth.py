"""Bearer API keys: who is calling, and may they do this?

Keys are stored only as SHA-256 hashes, each with a client name and scopes (`check`, `audit`,
`admin`; independent of each other). A presented key is hashed and compared with every stored
hash in constant time. A missing or unknown key is a 401 with `WWW-Authenticate: Bearer`; a
known key without the scope is a 403.

Keys file (TOML, or the same structure as JSON; `REPLYGATE_API_KEYS` holds the JSON form):

    [[keys]]
    client = "publisher"
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    scopes = ["check"]

`python -m replygate.api.auth CLIENT --scopes check,audit` (or `replygate serve --hash-key CLIENT`) makes a
new key and prints the entry to paste.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replygate.api.errors import ApiError
from replygate.api.settings import Settings, SettingsError
from replygate.decision_log.files import read_bounded

SCOPES = ("check", "audit", "admin", "review")
# Some 200 bytes a key: room for 20,000 clients, never a runaway read.
MAX_KEYS_FILE_BYTES = 4 << 20
DEVELOPMENT_CLIENT = "development"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One client's key, known only by its hash."""

    client: str
    digest: bytes
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, as the keys file stores it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(prefix: str = "rg_") -> str:
    """A fresh random key (256 bits)."""
    return prefix + secrets.token_urlsafe(32)


def parse_keys(data: Any, origin: str) -> list[ApiKey]:
    """Validate a keys document (`{"keys": [...]}` or a bare list); errors name the entry."""
    entries = data.get("keys") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise SettingsError(f"{origin}: expected a list of keys under 'keys'")
    found = []
    for number, entry in enumerate(entries):
        where = f"{origin}: keys[{number}]"
        if not isinstance(entry, dict):
            raise SettingsError(f"{where}: expected a table with client, sha256 and scopes")
        unknown = set(entry) - {"client", "sha256", "scopes"}
        if unknown:
            raise SettingsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        client, digest, scopes = entry.get("client"), entry.get("sha256"), entry.get("scopes")
        if not isinstance(client, str) or not client:
            raise SettingsError(f"{where}.client: a client name is required")
        if not isinstance(digest, str) or len(digest) != 64:
            raise SettingsError(f"{where}.sha256: expected the 64 hex digits of a SHA-256 hash")
        try:
            raw = bytes.fromhex(digest)
        except ValueError:
            raise SettingsError(f"{where}.sha256: not hexadecimal") from None
        if not isinstance(scopes, list) or not scopes:
            raise SettingsError(f"{where}.scopes: list one or more of {', '.join(SCOPES)}")
        bad = [scope for scope in scopes if scope not in SCOPES]
        if bad:
            raise SettingsError(
                f"{where}.scopes: unknown scope {bad[0]!r} (known: {', '.join(SCOPES)})"
            )
        found.append(ApiKey(client, raw, frozenset(scopes)))
    return found


def load_keys_file(path: str | Path) -> list[ApiKey]:
    """Read a TOML or JSON keys file (JSON when it ends in `.json`), at most
    `MAX_KEYS_FILE_BYTES`; every problem is a `SettingsError` naming the file."""
    source = Path(path)
    try:
        # Bounded: a path to something endless (`--keys /dev/zero`) is refused, not read
        # until the memory runs out.
        raw = read_bounded(str(path), MAX_KEYS_FILE_BYTES, "keys file")
    except ValueError as error:
        raise SettingsError(str(error)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SettingsError(
            f"keys file {path}: not UTF-8 text (byte {error.start + 1} cannot be decoded)"
        ) from None
    try:
        data = json.loads(text) if source.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: {error}") from None
    except RecursionError:  # `[[[[…` a few thousand deep: no keys file nests like that
        raise SettingsError(f"{path}: nested too deeply to be a keys file") from None
    return parse_keys(data, str(path))


def parse_inline_keys(text: str) -> list[ApiKey]:
    """The keys of `REPLYGATE_API_KEYS` (JSON)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(f"REPLYGATE_API_KEYS: not valid JSON: {error}") from None
    return parse_keys(data, "REPLYGATE_API_KEYS")


def inline_keys(entries: Iterable[tuple[str, str, Sequence[str]]]) -> str:
    """`(client, key, scopes)` triples as the JSON `REPLYGATE_API_KEYS` expects."""
    return json.dumps(
        {
            "keys": [
                {"client": client, "sha256": hash_key(key), "scopes": list(scopes)}
                for client, key, scopes in entries
            ]
        }
    )


def development_keys() -> tuple[str, str]:
    """A generated key with every scope, and its `REPLYGATE_API_KEYS` JSON."""
    key = new_key("rg_dev_")
    return key, inline_keys([(DEVELOPMENT_CLIENT, key, SCOPES)])


class KeyRing:
    """The keys the server accepts; answers who a caller is and whether a scope is theirs."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = tuple(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """Keys from the keys file and from `REPLYGATE_API_KEYS`, together."""
        keys: list[ApiKey] = []
        if settings.keys:
            keys.extend(load_keys_file(settings.keys))
        if settings.api_keys:
            keys.extend(parse_inline_keys(settings.api_keys))
        return cls(keys)

    def identify(self, authorization: str | None) -> ApiKey | None:
        """The key an `Authorization: Bearer …` header presents, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        match = None
        # No early exit: the time taken must not depend on which stored key matched.
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest):
                match = key
        return match

    def require(self, authorization: str | None, scope: str | None) -> ApiKey:
        """The caller's key if it holds `scope` (None: any valid key); else a 401 or 403."""
        key = self.identify(authorization)
        if key is None:
            if authorization:
                raise ApiError(
                    401,
                    "unauthorized",
                    "the API key is not valid",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            raise ApiError(
                401,
                "unauthorized",
                "an API key is required: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope is not None and scope not in key.scopes:
            raise ApiError(
                403,
                "forbidden",
                f"the key of client '{key.client}' lacks the '{scope}' scope",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return key


def key_entry(client: str, scopes: Sequence[str], key: str) -> str:
    """The TOML entry for a keys file."""
    listed = ", ".join(json.dumps(scope) for scope in scopes)
    return (
        f"[[keys]]\nclient = {json.dumps(client)}\n"
        f'sha256 = "{hash_key(key)}"\nscopes = [{listed}]\n'
    )


def parse_scopes(text: str) -> list[str]:
    """`check,audit` as a list, refusing unknown scopes."""
    scopes = [part.strip() for part in text.split(",") if part.strip()]
    bad = [scope for scope in scopes if scope not in SCOPES]
    if bad or not scopes:
        raise SettingsError(f"scopes: list one or more of {', '.join(SCOPES)}")
    return scopes


def print_new_key(client: str, scopes: Sequence[str], key: str | None = None) -> None:
    """Print a key (new unless given) and the keys-file entry that admits it."""
    key = key or new_key()
    print(f"# API key for {client} (give it to the client; it is not stored anywhere): {key}")
    print(key_entry(client, scopes, key), end="")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m replygate.api.auth CLIENT [--scopes check,audit] [--stdin]`: print a keys-file entry."""
    parser = argparse.ArgumentParser(
        prog="python -m replygate.api.auth", description="Make an API key and its keys-file entry."
    )
    parser.add_argument("client", help="the client's name, recorded with each decision")
    parser.add_argument("--scopes", default="check", help="comma-separated: check, audit, admin")
    parser.add_argument(
        "--stdin", action="store_true", help="hash a key read from stdin instead of a new one"
    )
    args = parser.parse_args(argv)
    try:
        scopes = parse_scopes(args.scopes)
    except SettingsError as error:
        print(f"replygate: error: {error}", file=sys.stderr)
        return 2
    key = sys.stdin.readline().strip() if args.stdin else None
    if args.stdin and not key:
        print("replygate: error: no key on stdin", file=sys.stderr)
        return 2
    print_new_key(args.client, scopes, key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
