"""The bundled example policy decides as the README describes: cases are data (tests/cases)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import CheckRequest

CASES = Path(__file__).parent / "cases" / "example_policy.yaml"


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` into a copy of `base`; a None value removes the key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_cases() -> list[Any]:
    data = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    return [
        pytest.param(merge(data["defaults"], case["request"]), case["want"], id=case["note"])
        for case in data["cases"]
    ]


@pytest.mark.parametrize(("request_data", "want"), load_cases())
def test_example_policy_decides(
    example_policy: CompiledPolicy, request_data: dict[str, Any], want: dict[str, Any]
) -> None:
    decision = example_policy.decide(CheckRequest.model_validate(request_data))
    got = decision.model_dump(mode="json")
    for key in ("decision", "approvers", "escalate_to", "respond_by", "sla_breached"):
        if key in want:
            assert got[key] == want[key], f"{key}: {got}"
    if "rule" in want:
        assert got["reasons"][0]["rule"] == want["rule"], got["reasons"]
    if "code" in want:
        assert got["reasons"][0]["code"] == want["code"], got["reasons"]
    if "codes" in want:
        assert [r["code"] for r in got["reasons"]] == want["codes"], got["reasons"]
