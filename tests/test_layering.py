"""Dependencies flow one way: cli/scenarios -> api -> decision_log -> engine -> policy_dsl.

Every subpackage is installed under `replygate.`; an import of a bare `engine` or `api` would
work in this checkout by accident and fail once installed, so it is refused too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("policy_dsl", "engine", "decision_log", "api", "cli", "scenarios")
FORBIDDEN = {
    "policy_dsl": {"engine", "decision_log", "api", "cli", "scenarios"},
    "engine": {"decision_log", "api", "cli", "scenarios"},
    "decision_log": {"api", "cli", "scenarios"},
    "api": {"cli", "scenarios"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def imported_packages(path: Path) -> set[str]:
    """The replygate subpackages a file imports (`replygate.engine.x` -> `engine`)."""
    return {
        name.split(".")[1]
        for name in imported_modules(path)
        if name.startswith("replygate.") and name.count(".") >= 1
    }


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downstream(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def python_files() -> list[Path]:
    return [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")] + [
        path for folder in ("tests", "bench") for path in (ROOT / folder).rglob("*.py")
    ]


def test_no_file_imports_a_subpackage_by_its_bare_name() -> None:
    bare = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in PACKAGES
        )
        for path in python_files()
    }
    assert {k: v for k, v in bare.items() if v} == {}


def test_the_replygate_package_links_every_subpackage() -> None:
    for package in PACKAGES:
        link = ROOT / "replygate" / package
        assert link.is_symlink(), link
        assert link.resolve() == (ROOT / package).resolve()
