"""Decision-log URLs as shown to people: a password never reaches a banner, a log or an error."""

from __future__ import annotations

import re

__all__ = ["shown_url", "without_passwords"]


def shown_url(url: str) -> str:
    """A decision-log URL fit for a banner, a log line or an error: its password replaced by ***.

    A PostgreSQL URL may carry the password in its user part or as a `password=` parameter;
    neither belongs in a terminal, a CI log or a service's journal.
    """
    return without_passwords(url, url)


def without_passwords(text: str, url: str) -> str:
    """`text` (a message about `url`, say a driver's error) with the URL's passwords masked.

    Found by pattern rather than by a URL parser, which refuses the malformed URLs whose
    errors quote them.
    """
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> list[str]:
    found = []
    authority = re.match(r"[^:/?#]+://([^/?#]*)", url)
    if authority is not None:
        user, at, _host = authority[1].rpartition("@")
        if at and ":" in user:
            found.append(user.split(":", 1)[1])
    found += re.findall(r"[?&]password=([^&#]*)", url, re.IGNORECASE)
    return [secret for secret in found if secret]
