"""Decision-log URLs as shown to people: a password never reaches a banner, a log or an error."""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["shown_url", "unencoded_at", "without_passwords"]

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
    found = _user_password(shown)
    return shown if found is None else shown[: found[0]] + "***" + shown[found[1] :]


def _user_password(url: str) -> tuple[int, int] | None:
    """Where the password of the URL's user part lies, if it has one."""
    authority = _AUTHORITY.match(url)
    if authority is None:
        return None
    user, at, _host = authority[1].rpartition("@")
    if not at or ":" not in user:
        return None
    return authority.start(1) + user.index(":") + 1, authority.start(1) + len(user)


def unencoded_at(url: str) -> bool:
    """Whether the URL's user part holds a second `@`, which libpq would take as its end."""
    authority = _AUTHORITY.match(url)
    return authority is not None and "@" in authority[1].rpartition("@")[0]


def without_passwords(text: str, url: str) -> str:
    """`text` (a message about `url`, say a driver's error) with the URL's passwords masked.

    The passwords are found as libpq reads them when it can (a `#` or `?` in a password is
    fine to libpq, not to a URL parser), and by pattern in what it refuses, since the errors
    about a malformed URL quote it.
    """
    for secret in sorted(_passwords(url), key=len, reverse=True):
        # Whole where it stands: a one-letter password must not turn "separator" into
        # "se***arator".
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
    return text


def _passwords(url: str) -> set[str]:
    found = {parameter[2] for parameter in _PASSWORD_PARAMETER.finditer(url)}
    user_password = _user_password(url)
    if user_password is not None:
        found.add(url[user_password[0] : user_password[1]])
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
