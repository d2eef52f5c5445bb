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
