"""`replygate test`: run the Gherkin scenarios against a policy and print a readable summary.

The scenarios run through pytest (in this process) with the `scenarios.plugin` step library,
so `replygate test` and a plain `pytest` run give the same results; this command only chooses
the policy source, turns coverage on, and prints results for people instead of pytest's log.
Exit codes: 0 all scenarios pass (and coverage is high enough), 1 a scenario fails or coverage
is below `--min-coverage`, 2 bad input (no features, a policy that does not compile, a bad
feature file, an unknown revision).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from replygate.cli.common import counted, fail

PLUGIN_MODULE = "replygate.scenarios.plugin"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "features",
        nargs="*",
        metavar="FEATURES",
        help="feature files or folders (default: features)",
    )
    parser.add_argument(
        "--policy",
        metavar="PATH",
        help="policy folder or file (default: the policies/ folder next to the features)",
    )
    parser.add_argument("--repo", metavar="PATH", help="git repository holding the policy")
    parser.add_argument(
        "--ref",
        metavar="REF",
        help="revision of --repo (branch, tag or commit; default repository: the current one)",
    )
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="list the rules and rule branches no scenario exercised",
    )
    parser.add_argument(
        "--min-coverage",
        metavar="N",
        type=float,
        help="exit 1 when rule coverage is below N percent",
    )
    parser.add_argument("--junit-xml", metavar="FILE", help="also write JUnit XML for CI systems")
    parser.add_argument(
        "-k", dest="keyword", metavar="EXPRESSION", help="run only scenarios whose name matches"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every scenario, not only failures"
    )


class _Results:
    """A pytest plugin object that keeps what this command prints."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str, str, str]] = []  # file, name, outcome, report
        self.collect_errors: list[str] = []
        self.coverage: list[Any] = []
        self.below: list[Any] = []

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.collect_errors.append(report.longreprtext.strip())

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" and not report.failed:
            return
        path, _, name = report.nodeid.partition("::")
        self.outcomes.append((path, name, report.outcome, report.longreprtext))

    def pytest_sessionfinish(self, session: Any) -> None:
        from replygate.scenarios.plugin import below_minimum, coverage_reports

        self.coverage = coverage_reports(session.config)
        self.below = below_minimum(session.config)


def run(args: argparse.Namespace) -> int:
    features = [Path(f) for f in (args.features or ["features"])]
    try:
        problem = _check_arguments(args, features)
        if problem is not None:
            return fail(problem)
        code = _check_policies(args, features)
    except OSError as error:  # a folder on a path's way that may not be entered
        return fail(f"cannot read '{error.filename}': {error.strerror or error}")
    if code:
        return code

    import pytest

    results = _Results()
    started = time.perf_counter()
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):  # pytest's own log; the summary below replaces it
            exit_code = pytest.main(_pytest_arguments(args, features), plugins=[results])
    except Exception as error:  # pytest refusing its configuration must not show a traceback
        return fail(f"cannot run the scenarios: {error}")
    if exit_code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        print(log.getvalue(), end="", file=sys.stderr)
    elapsed = time.perf_counter() - started
    return _summarise(args, features, results, int(exit_code), elapsed)


def _check_arguments(args: argparse.Namespace, features: list[Path]) -> str | None:
    for path in features:
        if not path.exists():
            return f"no feature file or folder at '{path}'"
    if args.policy and (args.repo or args.ref):
        return "--policy and --repo/--ref name two policies: use one"
    if args.min_coverage is not None and not 0 <= args.min_coverage <= 100:
        return "--min-coverage must be between 0 and 100"
    if args.policy and not Path(args.policy).exists():
        return f"no policy file or folder at '{args.policy}'"
    if args.junit_xml:
        report = Path(args.junit_xml)
        if report.is_dir():
            return f"--junit-xml: '{report}' is a folder: name the file to write"
        if not report.parent.is_dir():
            return f"--junit-xml: no folder '{report.parent}' to write '{report.name}' in"
        problem = _unwritable(report)
        if problem is not None:
            return f"--junit-xml: cannot write '{report}': {problem}"
    return None


def _unwritable(path: Path) -> str | None:
    """Why `path` cannot be written, or None. Tried for real (permission bits say nothing
    for root, or in /proc), so pytest does not fail on it after every scenario has run."""
    import os

    try:
        if path.exists():
            with path.open("a"):  # "a": an existing report is not emptied before the run
                pass
        else:
            with path.open("x"):
                pass
            os.unlink(path)  # created only to try: a run refused later leaves no empty report
    except OSError as error:
        return error.strerror or str(error)
    return None


def _check_policies(args: argparse.Namespace, features: list[Path]) -> int:
    """Compile each policy the features will use, so a broken one is reported once, up front."""
    from replygate.scenarios.features import feature_files
    from replygate.scenarios.policy_source import PolicyProvider, PolicyUnavailable

    files = [file for path in features for file in feature_files(path)]
    if not files:
        return fail("no .feature files in " + ", ".join(str(p) for p in features))
    provider = PolicyProvider(
        Path.cwd(),
        policy=Path(args.policy) if args.policy else None,
        repo=Path(args.repo) if args.repo else None,
        ref=args.ref,
    )
    try:
        seen = set()
        for file in files:
            spec = provider.default_for(file)
            if spec in seen:
                continue
            seen.add(spec)
            provider.load(spec)
    except PolicyUnavailable as problem:
        return fail(str(problem))
    finally:
        provider.close()
    return 0


def _pytest_arguments(args: argparse.Namespace, features: list[Path]) -> list[str]:
    # A path that starts with `@` would be read by pytest as a file of arguments.
    arguments = [f"./{path}" if str(path).startswith("@") else str(path) for path in features]
    arguments += ["--rootdir", str(Path.cwd()), "--continue-on-collection-errors"]
    # Only the step library (and pytest-bdd, whose ini options a project may set): loading
    # every installed pytest plugin costs seconds and adds nothing to a scenario run. Nothing
    # here needs assert rewriting (it would warn about modules this command imported first).
    arguments += ["--disable-plugin-autoload", "-p", "pytest_bdd.plugin", "-p", PLUGIN_MODULE]
    arguments += ["-p", "no:cacheprovider", "--assert=plain", "-q"]
    # Scenario authors write .feature files, never Python (docs/scenarios.md): a conftest.py
    # beside them, or a pytest.ini whose `addopts` loads a module, ran code on `replygate test`
    # of a pull request. Neither is read.
    arguments += ["--noconftest", "-c", os.devnull]
    arguments += ["-W", "ignore::pytest.PytestConfigWarning"]
    for path in features:
        if path.is_dir():
            arguments += ["--replygate-features", str(path)]
    if args.policy:
        arguments.append(f"--replygate-policy={args.policy}")
    if args.repo:
        arguments.append(f"--replygate-repo={args.repo}")
    if args.ref:
        arguments.append(f"--replygate-ref={args.ref}")
    if args.coverage:
        arguments.append("--replygate-coverage")
    if args.min_coverage is not None:
        arguments.append(f"--replygate-min-coverage={args.min_coverage}")
    if args.junit_xml:
        arguments.append(f"--junitxml={args.junit_xml}")
    if args.keyword:
        # Tags are written with `@` in feature files; pytest's -k knows them without it. Every
        # value goes in `--option=value` form: pytest reads a lone argument `@name` as a file
        # of further arguments.
        arguments.append("-k=" + re.sub(r"@(?=\w)", "", args.keyword))
    return arguments


def _summarise(
    args: argparse.Namespace, features: list[Path], results: _Results, code: int, elapsed: float
) -> int:
    from replygate.scenarios.coverage import render

    for error in results.collect_errors:
        print(f"ERROR {error}\n")
    by_file: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for path, name, outcome, report in results.outcomes:
        by_file[path].append((name, outcome, report))
    for path, outcomes in by_file.items():
        counts = _counts(outcome for _, outcome, _ in outcomes)
        print(f"{path}: {counts}")
        if args.verbose:
            for name, outcome, _ in outcomes:
                print(f"  {'ok  ' if outcome == 'passed' else 'FAIL'}  {name}")
    failures = [(p, n, r) for p, n, o, r in results.outcomes if o == "failed"]
    for path, name, report in failures:
        print(f"\n---- FAILED {path}: {name}")
        print(report.rstrip())
    total = len(results.outcomes)
    print(
        f"\n{counted(total, 'scenario')}: {_counts(o for _, _, o, _ in results.outcomes)} "
        f"in {elapsed:.2f} s"
    )

    for report in results.coverage:
        print()
        print(render(report) if args.coverage else render(report).splitlines()[0])
    if args.junit_xml:
        print(f"JUnit XML written to {args.junit_xml}")

    if results.collect_errors or code in (2, 3, 4):
        return 2
    if code == 5 or total == 0:
        where = ", ".join(str(p) for p in features)
        if args.keyword:
            from replygate.policy_dsl.source import shown_path

            return fail(f"no scenario in {where} matches -k '{shown_path(args.keyword)}'")
        return fail("no scenarios found in " + where)
    if failures or (code == 1 and not results.below):
        return 1
    for report in results.below:
        fail(
            f"rule coverage of {report.policy} is {report.percent_text()}, "
            f"below --min-coverage {args.min_coverage:g}",
            1,
        )
    return 1 if results.below else 0


def _counts(outcomes: Any) -> str:
    tally: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        tally[outcome] += 1
    order = ("passed", "failed", "skipped")
    parts = [f"{tally[o]} {o}" for o in order if tally[o]]
    return ", ".join(parts) or "none"
