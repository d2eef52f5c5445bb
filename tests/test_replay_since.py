"""`replay --since`: a time or a span back from now; one out of range is an error naming the
limit (`replygate: error: --since: …`, exit 2), never an overflow traceback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from replygate.cli.main import main
from replygate.cli.replay import MAX_SPAN_DAYS, since_time


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("99999999999d", f"'99999999999d' reaches back more than {MAX_SPAN_DAYS} days (at most "),
        ("999999d", "(at most 36500d)"),
        ("36501d", "(at most 36500d)"),
        ("876001h", "(at most 876000h)"),
        ("52560001m", "(at most 52560000m)"),
        ("9" * 5000 + "m", "reaches back more than"),
        ("0001-01-01T00:00:00+01:00", "is out of range: write a time after 0001-01-02"),
        # Past the upper end the advice must point back, not to the lower end.
        ("9999-12-31T23:59:59-01:00", "is out of range: write a time before 9999-12-31"),
        ("yesterday", "'yesterday' is not a time"),
        ("2026-11-27T08:00:00", "the time needs a time-zone offset"),
    ],
)
def test_a_since_out_of_range_is_an_error_naming_the_limit(
    capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code = main(["replay", "--policy", "policies", "--since", text])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("replygate: error: --since: ")
    assert message in err
    assert "Traceback" not in err and len(err) < 400


def test_a_since_within_the_limit_is_a_time_back_from_now() -> None:
    now = datetime.now(UTC)
    assert abs(since_time(f"{MAX_SPAN_DAYS}d") - (now - timedelta(days=MAX_SPAN_DAYS))) < timedelta(
        minutes=1
    )
    assert abs(since_time("0030m") - (now - timedelta(minutes=30))) < timedelta(minutes=1)
    offset = since_time("2026-11-27T08:00:00+01:00")
    assert offset == datetime(2026, 11, 27, 7, tzinfo=UTC)


def test_a_change_in_the_year_one_is_written_with_four_digits() -> None:
    """glibc's %Y wrote a logged time of year 1 as `1-01-01 …`."""
    import argparse

    from replygate.cli.replay import _text
    from replygate.decision_log.replay import Change, Replay
    from replygate.engine.models import PolicyVersion

    change = Change(
        "d-1", datetime(1, 1, 1, 0, 30, tzinfo=UTC), "carol", "reply", "twitter",
        "deny", "allow", "widening", "a", "b",
    )  # fmt: skip
    result = Replay(PolicyVersion(files=["p.policy"]), replayed=1, changes=[change])
    args = argparse.Namespace(policy="policies", ref=None, since=None)
    assert "  d-1  0001-01-01 00:30:00Z  carol reply on twitter" in _text(result, args)
