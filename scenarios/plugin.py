"""pytest plugin: runs policy scenarios written in Gherkin, with no Python from their authors.

Registered through the `pytest11` entry point, so a policy repository with `features/*.feature`
and `policies/*.policy` runs its scenarios with plain `pytest`. The plugin collects `.feature`
files itself (one pytest item per Scenario and per Examples row of a Scenario Outline), reads
them with pytest-bdd's Gherkin parser and runs the steps through the phrase catalogue of
`scenarios.steps`. docs/scenarios.md explains why it does not generate pytest-bdd test
functions.

A `.feature` file is collected when it lies in a folder named `features` (at any depth), under
a folder given with `--replygate-features`, or when it (or a folder holding it) is named on the
command line. `-p no:replygate` turns the plugin off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from replygate.scenarios.coverage import CoverageRecorder, CoverageReport, render
from replygate.scenarios.features import FEATURE_SUFFIX, FeatureProblem, ScenarioCase, load_feature
from replygate.scenarios.policy_source import PolicyProvider, PolicyUnavailable
from replygate.scenarios.runner import ScenarioFailed, ScenarioRun

FEATURES_FOLDER = "features"


class ReplygateSession:
    """What one pytest session shares: where policies come from, and the coverage so far."""

    def __init__(self, config: pytest.Config) -> None:
        option = config.option
        self.root = Path(str(config.rootpath))
        self.invocation = Path(str(config.invocation_params.dir))
        self.provider = PolicyProvider(
            self.root,
            policy=_path(option.replygate_policy, self.invocation),
            repo=_path(option.replygate_repo, self.invocation),
            ref=option.replygate_ref,
        )
        self.coverage_wanted = bool(option.replygate_coverage) or (
            option.replygate_min_coverage is not None
        )
        self.minimum: float | None = option.replygate_min_coverage
        self.recorder = CoverageRecorder() if self.coverage_wanted else None
        self.feature_roots = [
            p for p in (_path(f, self.invocation) for f in option.replygate_features or []) if p
        ]
        self.named = _named_paths(config, self.invocation)
        self.reports: list[CoverageReport] = []

    def selects(self, path: Path) -> bool:
        """Whether a `.feature` file belongs to this run (see the module docstring)."""
        resolved = path.resolve()
        if FEATURES_FOLDER in resolved.parent.parts:
            return True
        return any(_within(resolved, root) for root in (*self.feature_roots, *self.named))

    def watch_default(self, feature_file: Path) -> None:
        """Count the feature's default policy in the coverage even before anything is decided."""
        if self.recorder is None:
            return
        try:
            spec = self.provider.default_for(feature_file)
            policy = self.provider.load(spec)
        except PolicyUnavailable:
            return  # every scenario of the file fails and says why
        self.recorder.watch(spec, policy, spec.label(self.root))


def _path(value: str | None, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path


def _within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _named_paths(config: pytest.Config, base: Path) -> list[Path]:
    """Files and folders named on the command line, except the bare project folder."""
    found = []
    for arg in config.args:
        path = _path(arg.split("::", 1)[0], base)
        if path is None or not path.exists():
            continue
        resolved = path.resolve()
        if resolved.is_dir() and resolved in (base.resolve(), Path(str(config.rootpath))):
            continue  # `pytest .` means "the usual tests", not "every .feature file"
        found.append(resolved)
    return found


SESSION_KEY = pytest.StashKey[ReplygateSession]()


# ---- options -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("replygate", "replygate policy scenarios (.feature files)")
    group.addoption(
        "--replygate-policy",
        metavar="PATH",
        help="policy folder or file the scenarios run against "
        "(default: the policies/ folder next to the features folder)",
    )
    group.addoption(
        "--replygate-repo",
        metavar="PATH",
        help="git repository to take the policy from (with --replygate-ref)",
    )
    group.addoption(
        "--replygate-ref",
        metavar="REF",
        help="revision of --replygate-repo (default repository: the one holding the features)",
    )
    group.addoption(
        "--replygate-features",
        metavar="DIR",
        action="append",
        help="also collect .feature files under DIR (may be repeated)",
    )
    group.addoption(
        "--replygate-coverage",
        action="store_true",
        help="report the rules and rule branches no scenario exercised",
    )
    group.addoption(
        "--replygate-min-coverage",
        metavar="N",
        type=float,
        help="fail the run when rule coverage is below N percent",
    )


def pytest_configure(config: pytest.Config) -> None:
    option = config.option
    if option.replygate_policy and (option.replygate_repo or option.replygate_ref):
        raise pytest.UsageError(
            "--replygate-policy and --replygate-repo/--replygate-ref name two policies: use one"
        )
    minimum = option.replygate_min_coverage
    if minimum is not None and not 0 <= minimum <= 100:
        raise pytest.UsageError("--replygate-min-coverage must be between 0 and 100")
    config.stash[SESSION_KEY] = ReplygateSession(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.provider.close()


# ---- collection ----------------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> FeatureFile | None:
    if file_path.suffix != FEATURE_SUFFIX:
        return None
    session = parent.config.stash.get(SESSION_KEY, None)
    if session is None or not session.selects(file_path):
        return None
    if not _within(file_path.resolve(), parent.config.rootpath.resolve()):
        # pytest names a file outside the root folder with an empty node id: a failure would
        # then be reported without its file. Name it by its absolute path instead.
        return FeatureFile.from_parent(parent, path=file_path, nodeid=str(file_path.resolve()))
    return FeatureFile.from_parent(parent, path=file_path)


class FeatureFile(pytest.File):
    """A `.feature` file: one item per scenario and per Examples row."""

    def collect(self) -> list[ScenarioItem]:
        try:
            cases = load_feature(self.path)
        except FeatureProblem as problem:
            raise self.CollectError(str(problem)) from None
        session = self.config.stash[SESSION_KEY]
        session.watch_default(self.path)
        return [ScenarioItem.from_parent(self, name=case.title, case=case) for case in cases]


class ScenarioItem(pytest.Item):
    """One scenario run: its steps against the policy, failing with a readable report."""

    def __init__(self, *, case: ScenarioCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        # Tags (@crisis) select scenarios with -k, like any keyword.
        self.extra_keyword_matches.update(case.tags)

    def runtest(self) -> None:
        session = self.config.stash[SESSION_KEY]
        run = ScenarioRun(self.case, session.provider, session.recorder, root=session.root)
        run.run()

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.report
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"Scenario: {self.case.title}"


# ---- coverage --------------------------------------------------------------------------------------


def coverage_reports(config: pytest.Config) -> list[CoverageReport]:
    """The coverage reports of this session (empty unless coverage was asked for)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None or session.recorder is None:
        return []
    if not session.reports:
        session.reports = session.recorder.reports()
    return session.reports


def below_minimum(config: pytest.Config) -> list[CoverageReport]:
    """The policies whose coverage is under `--replygate-min-coverage`."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None or session.minimum is None:
        return []
    return [r for r in coverage_reports(config) if not r.meets(session.minimum)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if below_minimum(session.config) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.coverage_wanted:
        return
    reports = coverage_reports(config)
    if not reports:
        return
    terminalreporter.section("replygate rule coverage")
    for report in reports:
        terminalreporter.write_line(render(report))
    for report in below_minimum(config):
        terminalreporter.write_line(
            f"FAIL: rule coverage of {report.policy} is {report.percent_text()}, "
            f"below --replygate-min-coverage {session.minimum:g}%"
        )
