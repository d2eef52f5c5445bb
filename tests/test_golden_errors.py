"""Golden files for what authors read: each bad policy in tests/golden/errors/ and its rendered errors.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_golden_errors.py`
and review the diff like any other change to user-facing text.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from replygate.engine.loader import check_sources

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "errors"


def render(policy: Path) -> str:
    name = str(policy.relative_to(ROOT))
    text = policy.read_text(encoding="utf-8")
    _, diagnostics = check_sources({name: text})
    return "\n".join(d.render({name: text}) for d in diagnostics) + "\n"


@pytest.mark.parametrize("policy", sorted(GOLDEN.glob("*.policy")), ids=lambda p: p.stem)
def test_rendered_errors_match_golden_file(policy: Path) -> None:
    expected_file = policy.with_suffix(".err")
    actual = render(policy)
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(actual, encoding="utf-8")
    assert actual == expected_file.read_text(encoding="utf-8")
