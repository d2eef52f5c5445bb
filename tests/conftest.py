"""Shared fixtures: the bundled example policy, compiled once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def example_policy() -> CompiledPolicy:
    return load_policy(ROOT / "policies")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many engine/reference pairs the differential test compared (also under xdist)."""
    pairs = sum(
        value
        for report in terminalreporter.getreports("passed")
        for name, value in report.user_properties
        if name == "reference_pairs"
    )
    if pairs:
        terminalreporter.write_line(
            f"reference interpreter: {pairs:,} engine/reference pairs compared, all agree"
        )
