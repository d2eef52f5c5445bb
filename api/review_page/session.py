"""Signing in to the review pages with an API key: a signed session cookie and CSRF tokens.

The page never stores the key. Signing in proves it once; the cookie then carries the key's
client name and a fingerprint of its hash, signed with the session secret and stamped with the
time. Every request looks the key up again by that fingerprint, so removing a key from the keys
file (and restarting) ends its sessions, and scopes are always the key's current ones.

Each cookie names a random session id; signing out keeps the id among the ended sessions
(`ended.py`) until the cookie would have expired, so a copied cookie stops working too.

Cookies are HttpOnly; the session's is SameSite=Lax (a link from a review comment opens the page
signed in; pages reached by GET only read), the sign-in form's Strict. POST forms also carry a
CSRF token derived from the session (or, before sign-in, from a random cookie set with the
form), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from replygate.api.auth import ApiKey, KeyRing
from replygate.api.review_page.ended import EndedSessions
from replygate.api.settings import Settings, SettingsError
from replygate.decision_log.files import read_bounded

SESSION_COOKIE = "replygate_session"
FORM_COOKIE = "replygate_form"
SECRET_FILE = "session-secret"
_SALT = "replygate.review.session"


# A secret is one line of some 64 characters: a file of more is not one (`/dev/zero`).
MAX_SECRET_BYTES = 4 << 10


def read_secret(path: str | Path, what: str) -> str:
    """The session secret in a file (one line, at least 32 characters); `SettingsError`
    naming `what` and the file otherwise (unreadable, too large, not UTF-8, too short)."""
    try:
        data = read_bounded(str(path), MAX_SECRET_BYTES, what)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SettingsError(f"{what} {path}: not UTF-8 text") from None
    if len(text) < 32:
        raise SettingsError(f"{what} {path}: holds fewer than 32 characters")
    return text


def session_secret(settings: Settings) -> str | None:
    """The configured secret: the setting, else a `session-secret` file beside the keys file."""
    if settings.session_secret:
        return settings.session_secret
    if settings.keys:
        beside = Path(settings.keys).with_name(SECRET_FILE)
        if beside.is_file():
            return read_secret(beside, "session secret file")
    return None


def new_secret() -> str:
    """A fresh secret (256 bits), for a server started without one."""
    return secrets.token_hex(32)


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who is signed in: the key's client and its current scopes."""

    client: str
    scopes: frozenset[str]
    token: str  # the cookie value: CSRF tokens derive from it

    def may(self, scope: str) -> bool:
        # As on the API: scopes are independent, and `admin` (refreshing the policy) is not
        # a reading of the decision log.
        return scope in self.scopes


class Sessions:
    """Issues and reads session cookies and CSRF tokens for one secret and key ring."""

    def __init__(
        self, secret: str, keys: KeyRing, hours: float, ended: EndedSessions | None = None
    ) -> None:
        self._secret = secret.encode("utf-8")
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._keys = keys
        self._ended = ended if ended is not None else EndedSessions()
        self.max_age = max(1, round(hours * 3600))

    # ---- signing in ----------------------------------------------------------------------------
    def sign_in(self, key_text: str) -> tuple[ApiKey | None, str | None]:
        """The key and a new cookie value when `key_text` is a valid key, else (None, None)."""
        key = self._keys.identify(f"Bearer {key_text.strip()}")
        if key is None:
            return None, None
        session = {"c": key.client, "f": _fingerprint(key), "s": secrets.token_urlsafe(18)}
        return key, self._serializer.dumps(session)

    def sign_out(self, cookie: str | None) -> None:
        """End the cookie's session on the server (OSError when the ended sessions' folder
        refuses); a cookie that is not a valid session needs nothing."""
        try:
            data, signed = self._serializer.loads(
                cookie or "", max_age=self.max_age, return_timestamp=True
            )
        except (BadSignature, SignatureExpired):
            return
        if isinstance(data, dict) and isinstance(data.get("s"), str):
            self._ended.end(data["s"], signed.timestamp() + self.max_age)

    def visitor(self, cookie: str | None) -> Visitor | None:
        """The signed-in visitor of a cookie; None when absent, forged, expired or revoked."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict):
            return None
        session = data.get("s")
        if not isinstance(session, str) or self._ended.ended(session):
            return None
        for key in self._keys.keys:
            if key.client == data.get("c") and hmac.compare_digest(
                _fingerprint(key), str(data.get("f", ""))
            ):
                return Visitor(key.client, key.scopes, cookie)
        return None

    # ---- CSRF ----------------------------------------------------------------------------------
    def csrf_token(self, bound_to: str) -> str:
        """The token a form posted by this session (or this pre-sign-in cookie) must carry."""
        return hmac.new(self._secret, b"csrf:" + bound_to.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, bound_to: str | None, token: str | None) -> bool:
        if not bound_to or not token:
            return False
        return hmac.compare_digest(self.csrf_token(bound_to), token)


def _fingerprint(key: ApiKey) -> str:
    return hashlib.sha256(b"session:" + key.digest).hexdigest()[:32]


def new_form_nonce() -> str:
    """The random value of the cookie a sign-in form's CSRF token is bound to."""
    return secrets.token_urlsafe(24)
