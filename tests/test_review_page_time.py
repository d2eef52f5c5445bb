"""The Time page: one zone for "this week" everywhere, and rosters across daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_review_page import app_for, sign_in

KIRITIMATI = """
role agent
person a is agent
channel twitter
category complaint
respond to complaint within 15m
roster islands { members a zone "Pacific/Kiritimati" open mon-sun 07:00-23:00 }
"""


class _Sunday(datetime):
    """Sunday 6 Dec 2026 12:00 UTC: already Monday 7 Dec 02:00 in Kiritimati (UTC+14)."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        return datetime(2026, 12, 6, 12, 0, tzinfo=UTC).astimezone(tz)


def test_this_week_is_the_policy_zone_s_week_for_rosters_and_coverage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roster grid took the UTC date (week of 30 Nov), the coverage the roster zone's (7 Dec)."""
    from replygate.api.review_page import pages

    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "p.policy").write_text(KIRITIMATI, encoding="utf-8")
    monkeypatch.setattr(pages, "datetime", _Sunday)
    with app_for(tmp_path, policy=str(folder)) as client:
        sign_in(client)
        page = client.get("/time").text
    assert "week of 07 Dec 2026" in page
    assert "week of 30 Nov 2026" not in page


LOS_ANGELES = """
role agent
person a is agent
channel twitter
roster nights { members a zone "America/Los_Angeles" open mon-sun 00:00-06:00 }
"""


def test_the_hour_daylight_saving_skips_has_nobody_on_duty() -> None:
    """02:00 on Sun 14 Mar 2027 does not exist in Los Angeles: the grid showed `a` on duty."""
    from datetime import date

    from replygate.api.review_page.views import roster_weeks
    from replygate.engine.loader import compile_sources

    (week,) = roster_weeks(compile_sources({"p.policy": LOS_ANGELES}), date(2027, 3, 8))
    day, hours = week.days[6]
    assert day == "Sun 14 Mar"
    assert hours[2] == ((), False, True)  # skipped
    assert hours[1] == (("a",), False, False) and hours[3] == (("a",), False, False)
    assert all(not skipped for _, hours in week.days[:6] for _, _, skipped in hours)
