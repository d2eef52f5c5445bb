"""`replygate diff BASE HEAD`: what a policy change does to rules, authority and decisions.

Each side is a git revision (`main`, `v1.2`, a sha, `HEAD~1`), the literal `WORKTREE` (the
policy files on disk in `--repo`, saved but not committed), or a folder or file path written
with a leading `/`, `./` or `../` (no git needed; a ref name can never start that way).
Exit codes: 0 reviewed, 1 `--fail-on widening` and a decision widens, 2 bad input (an unknown
revision, a side that does not compile, an unreadable request source).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from replygate.cli.common import counted, fail

WORKTREE = "WORKTREE"
FOLDER_PREFIXES = ("/", "./", "../")


class _BadInput(Exception):
    """A problem already worth exit code 2; the message is printed as `replygate: error: …`."""


def _examples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the number of examples cannot be negative")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    side_help = (
        "a revision (branch, tag, sha, main~1), WORKTREE for the files on disk, "
        "or a folder path starting with /, ./ or ../"
    )
    parser.add_argument("base", metavar="BASE", help=f"the version before: {side_help}")
    parser.add_argument("head", metavar="HEAD", help=f"the version after: {side_help}")
    parser.add_argument("--repo", default=".", help="the git repository (default: .)")
    parser.add_argument(
        "--policy-dir",
        metavar="DIR",
        help="the policy folder inside the repository (default: policies/ when there, "
        "else every .policy file)",
    )
    parser.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="default: text"
    )
    parser.add_argument(
        "--fail-on",
        choices=("widening",),
        help="exit 1 when any decision becomes more permissive (a CI gate for sign-off)",
    )
    parser.add_argument(
        "--features", metavar="DIR", help="also decide the scenarios in this features folder"
    )
    parser.add_argument(
        "--decision-log", metavar="URL", help="also decide the requests in this decision log"
    )
    parser.add_argument(
        "--examples",
        type=_examples,
        default=3,
        metavar="N",
        help="concrete examples shown per group of changed decisions (default: 3)",
    )
    parser.add_argument(
        "--coverage-from",
        metavar="T",
        help="start of the coverage comparison (default: this week's Monday 00:00, 4 weeks)",
    )


# ---- the coverage section (issue 9): gaps opened and closed, appended to any format ----------------


def _with_coverage(args: argparse.Namespace, review: Any, rendered: str) -> tuple[str, bool]:
    """The rendered review with the coverage section, and whether a gap was opened."""
    import json
    from datetime import UTC, datetime, timedelta

    from replygate.cli.coverage import outside_window, window_time
    from replygate.engine.models import OutOfRange
    from replygate.engine.review.coverage import (
        WEEKS,
        coverage_json,
        coverage_markdown,
        coverage_text,
        gap_headline,
        review_coverage,
    )

    start = None
    if args.coverage_from:
        try:
            start = window_time("--coverage-from", args.coverage_from, "--coverage-from")
        except ValueError as error:
            raise _BadInput(str(error)) from None
        try:
            end = start + timedelta(weeks=WEEKS)
        except OverflowError:
            # A start in the last weeks Python can count to (9999-12): far past the window, and
            # refused in its words like any other late start, not with a traceback.
            end = datetime.max.replace(tzinfo=UTC)
        outside = outside_window("--coverage-from", start, end)
        if outside:
            raise _BadInput(outside)
    try:
        diff = review_coverage(review.base.policy, review.head.policy, start)
    except (OutOfRange, OverflowError):
        raise _BadInput(
            "--coverage-from: the response deadlines of posts arriving in the weeks reviewed "
            "reach past 9999-12-31T23:59:59.999999Z"
        ) from None
    if diff is None:
        return rendered, False
    if args.format == "json":
        document = json.loads(rendered)
        document["coverage"] = coverage_json(diff)
        # An opened gap widens what the change does (the gate fails on it): the summary says
        # so, as the review page's does, so a reader sees why `--fail-on widening` failed.
        if diff.opened:
            document["summary"]["widens"] = True
        return json.dumps(document, indent=2, ensure_ascii=False), diff.opened
    section = coverage_markdown(diff) if args.format == "markdown" else coverage_text(diff)
    rendered = f"{rendered.rstrip()}\n\n{section}"
    if diff.opened and not review.widens:
        # The gate fails on the gap alone: the headline says so, not only the section at the
        # end (a pull-request comment read "NARROWING" above a failed check).
        title, _, rest = rendered.partition("\n")
        rendered = f"{title}\n\n{gap_headline(args.format)}\n{rest}"
    return rendered, diff.opened


# ---- the two sides ------------------------------------------------------------------------------


class _Sides:
    """Each side as a `PolicySource`; the repository is opened once, on first need."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._repo: Any = None

    def source(self, spec: str) -> Any:
        """The policy source a side names: WORKTREE, a folder path, or a revision."""
        from replygate.engine.source import PolicySource

        if spec == WORKTREE:
            return PolicySource.worktree(self.args.repo, self.args.policy_dir)
        if spec.startswith(FOLDER_PREFIXES) or spec in (".", ".."):
            return PolicySource.folder(spec)
        return PolicySource.git(self.args.repo, spec, policy_dir=self.args.policy_dir)

    def read(self, spec: str) -> tuple[str | None, dict[str, str]]:
        """(commit or None, sources keyed by repo-relative path) for one side."""
        source = self.source(spec)
        if source.is_git and self._repo is None:
            self._repo = source.open(blame=False)
        commit: str | None
        sources: dict[str, str]
        commit, sources = source.read(self._repo if source.is_git else None)
        return commit, sources

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()


def _load(args: argparse.Namespace, sides: _Sides) -> tuple[Any, Any] | None:
    """Both sides compiled, or None after printing every error of every side."""
    from replygate.engine.errors import PolicyError, SourceError
    from replygate.engine.review import SideError, load_side

    loaded = []
    broken = False
    for name, spec in (("base", args.base), ("head", args.head)):
        try:
            commit, sources = sides.read(spec)
            loaded.append(load_side(name, spec, sources, commit))
        except SourceError as error:  # git, a revision: nothing to review
            raise _BadInput(f"{error} [{error.code}]") from None
        except PolicyError as error:  # a folder or commit without readable policy files
            _report(name, spec, error.render())
            broken = True
        except SideError as error:
            _report(name, spec, error.error.render())
            broken = True
    return None if broken else (loaded[0], loaded[1])


def _report(name: str, spec: str, rendered: str) -> None:
    print(f"replygate: error: {name.upper()} ({spec}) does not compile:", file=sys.stderr)
    print(rendered, file=sys.stderr)


# ---- named requests: scenarios and the decision log ------------------------------------------


def _hook(module: str, function: str) -> Callable[[str], Iterable[tuple[str, Any]]] | None:
    """A request source provided by another part of replygate, or None when it is not installed."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and (module + ".").startswith(error.name + "."):
            return None
        raise _BadInput(f"cannot load {module}: {error}") from None
    hook: Callable[[str], Iterable[tuple[str, Any]]] | None = getattr(found, function, None)
    return hook


def _named_request(source: str, item: tuple[Any, ...]) -> Any:
    """A named request from a hook's item: (name, request, expectation) from scenarios,
    (name, request, redacted fields) from the decision log."""
    from replygate.engine.review import NamedRequest

    if source == "decision-log":
        redacted = tuple(item[2]) if len(item) > 2 else ()
        return NamedRequest(item[0], source, item[1], redacted=redacted)
    return NamedRequest(item[0], source, item[1], _expectation(item))


def _expectation(item: tuple[Any, ...]) -> Any:
    """A scenario's expected outcome (plain data from the corpus) as the engine's Expectation."""
    from replygate.engine.review import Expectation

    if len(item) < 3 or not item[2]:
        return None
    data = item[2]
    return Expectation(
        str(data["decision"]),
        tuple(data.get("roles", ())),
        bool(data.get("negated", False)),
        data.get("where"),
    )


def _named(args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    from replygate.engine.review import NamedRequest, RequestSource

    named: list[NamedRequest] = []
    sources: list[RequestSource] = []
    # Each source: where it is, and its hooks, best first (`scenario_checks` adds expectations).
    wanted = [
        (
            "scenario",
            args.features,
            "replygate.scenarios.corpus",
            ("scenario_checks", "scenario_requests"),
        ),
        ("decision-log", args.decision_log, "replygate.decision_log", ("iter_requests",)),
    ]
    for source, location, module, functions in wanted:
        if location is None:
            continue
        if source == "scenario" and not Path(location).is_dir():
            raise _BadInput(f"--features {location}: no such folder")
        hooks = [_hook(module, function) for function in functions]
        hook = next((h for h in hooks if h is not None), None)
        function = functions[-1]
        if hook is None:
            note: str | None = f"{module}.{function} is not available in this installation"
            sources.append(RequestSource(source, location, "skipped", 0, note))
            continue
        problems: list[str] = []
        try:
            if "errors" in inspect.signature(hook).parameters:
                pairs = hook(location, errors=problems)  # type: ignore[call-arg]
            else:
                pairs = hook(location)
            # A scenario item may carry its expectation; a decision-log item its redacted fields.
            found = [_named_request(source, tuple(item)) for item in pairs]
        except Exception as error:
            # Another component's failure must reach the user as an error line, not a traceback.
            raise _BadInput(f"cannot read {source} requests from {location}: {error}") from None
        named += found
        note = None
        if problems:
            note = f"{counted(len(problems), 'item')} could not be read, e.g. {problems[0]}"
        sources.append(RequestSource(source, location, "used", len(found), note))
    return named, sources


# ---- the command ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from replygate.engine.review import compare, render

    sides = _Sides(args)
    try:
        loaded = _load(args, sides)
        if loaded is None:
            return 2
        named, sources = _named(args)
    except _BadInput as error:
        return fail(str(error))
    finally:
        sides.close()
    review = compare(loaded[0], loaded[1], named, examples=args.examples, sources=sources)
    try:
        rendered, opened = _with_coverage(args, review, render(review, args.format))
    except (_BadInput, ValueError) as error:
        return fail(str(error))
    print(rendered)
    return 1 if args.fail_on == "widening" and (review.widens or opened) else 0
