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


# The policy-source boundary (docs/policy-sources.md): only engine/git/ talks to git, and the
# adapters reach policies through engine.source, never the store or the compile functions.
ADAPTERS = ("api", "cli", "scenarios", "decision_log")
BEHIND_THE_SOURCE = ("replygate.engine.store", "replygate.engine.git.")
COMPILERS = {"replygate.engine.loader": {"cli/lint.py"}}  # lint collects diagnostics, loads nothing


def test_only_the_git_store_imports_gitpython() -> None:
    offenders = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if any(name == "git" or name.startswith("git.") for name in imported_modules(path))
        and not path.is_relative_to(ROOT / "engine" / "git")
    }
    assert offenders == set()


def test_adapters_load_policies_through_the_policy_source() -> None:
    offenders = {}
    for package in ADAPTERS:
        for path in (ROOT / package).rglob("*.py"):
            where = str(path.relative_to(ROOT))
            names = {
                name
                for name in imported_modules(path)
                if name.startswith(BEHIND_THE_SOURCE) or where not in COMPILERS.get(name, {where})
            }
            if names:
                offenders[where] = sorted(names)
    assert offenders == {}
