"""What `pip install replygate` puts on a machine: one `replygate` package, nothing generic.

A publishing tool that installs replygate keeps its own `api`, `cli` or `engine` package; the
wheel is built from this checkout and installed into a fresh virtual environment to prove it.
Every third-party module the code imports is a declared dependency (runtime code: of the
runtime; tests and benchmarks: of an extra).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("policy_dsl", "engine", "decision_log", "api", "cli", "scenarios")
PIP = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Modules that only an optional extra brings ({file: {module}}); none today.
OPTIONAL_MODULES: dict[str, set[str]] = {}
# Test helpers import each other by bare name (`gitrepo`, `test_decision_log`).
LOCAL_MODULES = {
    path.stem if path.suffix == ".py" else path.name
    for folder in ("tests", "bench", "editors")
    for path in (ROOT / folder).rglob("*")
    if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists())
}


def normalise(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def declared(*extras: str) -> set[str]:
    project = PYPROJECT["project"]
    found = {normalise(r) for r in project["dependencies"]}
    for extra in extras:
        found |= {normalise(r) for r in project["optional-dependencies"][extra]}
    return found


def third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    local = {"replygate", "tests", "bench", *PACKAGES, *LOCAL_MODULES}
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def distributions_of(module: str) -> set[str]:
    """The distributions that provide a module; one not installed here (a fuzz-only tool) is
    taken to come from the distribution of its own name."""
    found = packages_distributions().get(module) or [module]
    return {re.sub(r"[-_.]+", "-", d).lower() for d in found}


def undeclared(paths: list[Path], allowed: set[str]) -> dict[str, list[str]]:
    missing: dict[str, list[str]] = {}
    for path in paths:
        relative = path.relative_to(ROOT).as_posix()
        for module in sorted(third_party_imports(path) - OPTIONAL_MODULES.get(relative, set())):
            owners = distributions_of(module)
            if not owners & allowed:
                missing.setdefault(relative, []).append(f"{module} ({', '.join(owners) or '?'})")
    return missing


def test_runtime_code_imports_only_runtime_dependencies() -> None:
    paths = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    assert undeclared(paths, declared()) == {}


def test_tests_and_benchmarks_import_only_declared_dependencies() -> None:
    extras = tuple(PYPROJECT["project"]["optional-dependencies"])
    paths = [p for folder in ("tests", "bench") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert undeclared(paths, declared(*extras)) == {}


def test_development_tools_stay_out_of_the_runtime() -> None:
    runtime = declared()
    for tool in ("hypothesis", "ruff", "mypy", "pytest-xdist", "schemathesis", "cedarpy"):
        assert tool not in runtime


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("replygate-*.whl")
    return built


def test_the_wheel_holds_only_the_replygate_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_text = archive.read(entry_points).decode()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"replygate"}
    for package in PACKAGES:
        assert f"replygate/{package}/__init__.py" in names
    assert "replygate/policy_dsl/grammar.lark" in names
    assert "replygate = replygate.cli.main:main" in entry_text
    assert "replygate = replygate.scenarios.plugin" in entry_text
    assert "replygate = replygate.policy_dsl.highlight:ReplygateLexer" in entry_text


def test_a_fresh_environment_with_its_own_api_package_imports_both(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), *PIP[1:], "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # The publishing tool's own top-level `api` package, installed beside replygate.
    (site / "api").mkdir()
    (site / "api" / "__init__.py").write_text('OWNER = "publishing-tool"\n', encoding="utf-8")
    # replygate's dependencies come from this test run's environment, after the fresh one.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = (
        "import api, importlib.util, replygate.api.app, replygate.cli.main\n"
        "assert api.OWNER == 'publishing-tool', api.__file__\n"
        f"assert replygate.__file__.startswith({str(site)!r}), replygate.__file__\n"
        "assert replygate.api.app.__file__.startswith(replygate.__path__[0])\n"
        "for generic in ('engine', 'cli', 'scenarios', 'policy_dsl', 'decision_log'):\n"
        "    assert importlib.util.find_spec(generic) is None, generic\n"
        "print(replygate.__version__)\n"
    )
    result = subprocess.run(
        [str(python), "-I", "-c", probe], check=False, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == PYPROJECT_VERSION()
    lint = subprocess.run(
        [str(env / "bin" / "replygate"), "lint", str(ROOT / "policies")],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert lint.returncode == 0, lint.stderr
    assert "0 errors" in lint.stdout + lint.stderr


def PYPROJECT_VERSION() -> str:
    text = (ROOT / "replygate" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'__version__ = "([^"]+)"', text)
    assert found is not None
    return found.group(1)
