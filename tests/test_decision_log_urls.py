"""A decision-log URL's password never reaches what people read: banners, logs, errors."""

from __future__ import annotations

import pytest

from replygate.api.settings import Settings, SettingsError
from replygate.decision_log import open_backend, shown_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///var/lib/replygate/decisions.db", "sqlite:///var/lib/replygate/decisions.db"),
        ("postgresql://rg@db:5432/audit", "postgresql://rg@db:5432/audit"),
        ("postgresql://rg:s3cret@db:5432/audit", "postgresql://rg:***@db:5432/audit"),
        # An unencoded @ in the password: the host is after the last one.
        ("postgresql://rg:p@ss@db/audit", "postgresql://rg:***@db/audit"),
        ("postgresql://:s3cret@db/audit", "postgresql://:***@db/audit"),
        # libpq reads `#` and `?` in the user part as the password's, not a fragment or query.
        ("postgresql://rg:ab#cd@db/audit", "postgresql://rg:***@db/audit"),
        (
            "postgresql://rg:ab?cd@db/audit?sslmode=require",
            "postgresql://rg:***@db/audit?sslmode=require",
        ),
        ("postgresql://rg:p%40ss@db/audit", "postgresql://rg:***@db/audit"),
        (
            "postgres://db/audit?sslmode=require&Password=s3cret",
            "postgres://db/audit?sslmode=require&Password=***",
        ),
        (
            "postgresql:///audit?host=/run/pg&password=s3cret",
            "postgresql:///audit?host=/run/pg&password=***",
        ),
    ],
)
def test_a_shown_url_keeps_everything_but_the_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://rg:s3cret@[::1/audit",  # the driver quotes the whole URL back
        "postgresql://rg:s3 cret@db/audit",  # the driver quotes the password back
        "postgresql://db/audit?password=s3cret&sslmode",
    ],
)
def test_a_malformed_postgresql_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL") as refused:
        open_backend(url, readonly=True)
    assert "s3cret" not in str(refused.value) and "s3 cret" not in str(refused.value)


def test_a_url_of_no_known_kind_is_named_without_its_password() -> None:
    with pytest.raises(SettingsError, match=r"'mysql://rg:\*\*\*@db/audit' is neither") as refused:
        Settings(decision_log="mysql://rg:s3cret@db/audit")
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://svc:Tr0ub4dor@horse-battery-staple@127.0.0.1:5432/svcdb",
        "postgresql://svc:a@b@c@db.example/x?sslmode=require",
    ],
)
def test_an_unencoded_at_in_the_password_is_refused_before_libpq_misreads_it(url: str) -> None:
    """libpq ends the user part at the first `@`: the rest of the password became the host,
    quoted in every connection error."""
    with pytest.raises(ValueError, match="write it as %40") as refused:
        open_backend(url, readonly=True)
    assert "horse" not in str(refused.value) and "Tr0ub4dor" not in str(refused.value)


def test_a_short_password_is_masked_where_it_stands_not_inside_words() -> None:
    from replygate.decision_log.urls import without_passwords

    url = "postgresql://svc:p@db.example/x"
    text = "missing separator near p; password p was refused"
    assert without_passwords(text, url) == "missing separator near ***; password *** was refused"
