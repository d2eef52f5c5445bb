"""Decision-log URLs as shown to people: a password never reaches a banner, a log or an error."""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["shown_url", "without_passwords"]

# The user part ends at the last `@` before the first `/`: libpq's reading, in which a `#` or a
# `?` in a password is no fragment or query.
_AUTHORITY = re.compile(r"[^:/?#]+://([^/]*)")
_PASSWORD_PARAMETER = re.compile(r"([?&]password=)([^&#]*)", re.IGNORECASE)


def shown_url(url: str) -> str:
    """A decision-log URL fit for a banner, a log line or an error: its password replaced by ***.

    A PostgreSQL URL may carry the password in its user part or as a `password=` parameter;
    neither belongs in a terminal, a CI log or a service's journal.
    """
    shown = _PASSWORD_PARAMETER.sub(r"\1***", url)
    authority = _AUTHORITY.match(shown)
    if authority is None:
        return shown
    user, at, _host = authority[1].rpartition("@")
    if not at or ":" not in user:
        return shown
    start = authority.start(1) + user.index(":") + 1
    return shown[:start] + "***" + shown[authority.start(1) + len(user) :]


def without_passwords(text: str, url: str) -> str:
    """`text` (a message about `url`, say a driver's error) with the URL's passwords masked.

    The passwords are found as libpq reads them when it can (a `#` or `?` in a password is
    fine to libpq, not to a URL parser), and by pattern in what it refuses, since the errors
    about a malformed URL quote it.
    """
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> set[str]:
    found: set[str] = set()
    authority = _AUTHORITY.match(url)
    if authority is not None:
        user, at, _host = authority[1].rpartition("@")
        if at and ":" in user:
            found.add(user.split(":", 1)[1])
    found.update(found[2] for found in _PASSWORD_PARAMETER.finditer(url))
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        try:
            parsed = psycopg.conninfo.conninfo_to_dict(url).get("password")
        except psycopg.ProgrammingError:
            parsed = None
        if isinstance(parsed, str):
            # As written in the URL too: percent-encoded, in either case of hex digits.
            found.update({parsed, quote(parsed, safe=""), quote(parsed, safe="").lower()})
    return {secret for secret in found if secret}
