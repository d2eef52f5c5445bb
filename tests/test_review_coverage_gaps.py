"""Coverage gaps opened and closed by a change: the interval arithmetic under them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from replygate.engine.review.coverage import _minus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Interval = tuple[datetime, datetime]


def _minutes(found: list[Interval]) -> set[int]:
    """Each minute an interval list covers (minute m is [m, m+1))."""
    return {
        minute
        for start, end in found
        for minute in range(
            int((start - T0).total_seconds() // 60), int((end - T0).total_seconds() // 60)
        )
    }


intervals = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 300)).map(
        lambda p: (T0 + timedelta(minutes=min(p)), T0 + timedelta(minutes=max(p)))
    ),
    max_size=15,
)


@settings(max_examples=500, deadline=None)
@given(intervals, intervals)
def test_a_gap_opened_is_what_lies_in_one_side_and_not_the_other(
    a: list[Interval], b: list[Interval]
) -> None:
    found = _minus(a, b)
    assert _minutes(found) == _minutes(a) - _minutes(b)
    # Sorted, disjoint, not touching, none empty: each gap is reported once.
    assert all(start < end for start, end in found)
    assert all(first[1] < second[0] for first, second in itertools.pairwise(found))
