"""`fmt` on generated valid policies: the tree survives formatting, and formatting is idempotent.

The policies come from `tests/reference/strategies.py` (the differential test's generator),
written in a layout of their own with comments here and there, so `fmt` has work to do.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from replygate.policy_dsl.formatter import format_source
from replygate.policy_dsl.parser import parse_policy
from tests.reference.strategies import GeneratedPolicy, RandomChooser, make_policy, policies


def assert_fmt_keeps_meaning(policy: GeneratedPolicy) -> None:
    for path, text in policy.sources.items():
        formatted = format_source(text, path)
        assert parse_policy(formatted, path) == parse_policy(text, path), formatted
        assert format_source(formatted, path) == formatted, formatted


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(policy=policies())
def test_fmt_keeps_the_tree_and_is_idempotent(policy: GeneratedPolicy) -> None:
    assert_fmt_keeps_meaning(policy)


@pytest.mark.parametrize("block", range(2))
def test_fmt_on_a_seeded_sweep_of_policies(block: int) -> None:
    """Many more policies than hypothesis draws in the time, from the fast seeded generator."""
    # 65 a block: the policies grew rosters, lists and response-time conditions (issue 11),
    # and the sweep keeps its former duration.
    for number in range(block * 65, (block + 1) * 65):
        assert_fmt_keeps_meaning(make_policy(RandomChooser(f"fmt/{number}")))
