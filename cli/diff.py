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

from replygate.cli.common import fail

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


# ---- the two sides ------------------------------------------------------------------------------


class _Sides:
    """Reads each side's sources: from git (opened once, on first need), the disk or a folder."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._repo: Any = None

    def repo(self) -> Any:
        if self._repo is None:
            from replygate.engine.store import NotARepository, PolicyRepo

            try:
                self._repo = PolicyRepo(self.args.repo, self.args.policy_dir, blame=False)
            except NotARepository as error:
                raise _BadInput(str(error)) from None
            except ValueError as error:
                raise _BadInput(str(error)) from None
        return self._repo

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()

    def read(self, spec: str) -> tuple[str | None, dict[str, str]]:
        """(commit or None, sources keyed by repo-relative path) for one side."""
        if spec == WORKTREE:
            return None, self._worktree()
        if spec.startswith(FOLDER_PREFIXES) or spec in (".", ".."):
            return None, self._folder(spec)
        return self._revision(spec)

    def _folder(self, path: str) -> dict[str, str]:
        from replygate.engine.loader import read_folder

        try:
            return read_folder(path)
        except OSError as error:
            raise _BadInput(f"cannot read policy: {error}") from None
        except UnicodeDecodeError:
            raise _BadInput(f"{_undecodable(Path(path))}: not UTF-8 text") from None

    def _worktree(self) -> dict[str, str]:
        root = Path(self.args.repo)
        if self.args.policy_dir:
            folder = root / self.args.policy_dir
        elif (root / "policies").is_dir():
            folder = root / "policies"
        else:
            folder = root
        sources = self._folder(str(folder))
        # Keys as git names them, so a file on disk and the same file in a commit match up.
        return {_relative(name, root): text for name, text in sources.items()}

    def _revision(self, rev: str) -> tuple[str, dict[str, str]]:
        from replygate.engine.gitrefs import InvalidRef, split_ancestry
        from replygate.engine.store import GitError, UnknownRevision

        try:
            split_ancestry(rev)  # refuses hostile names before anything reaches git
            repo = self.repo()
            sha: str = repo.resolve(rev)
            sources: dict[str, str] = repo.sources_at(sha)
        except (InvalidRef, UnknownRevision, GitError) as error:
            raise _BadInput(str(error)) from None
        return sha, sources


def _undecodable(root: Path) -> Path:
    """The first policy file under `root` that is not UTF-8 (read_folder does not say which)."""
    for path in [root] if root.is_file() else sorted(root.rglob("*.policy")):
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return path
    return root


def _relative(name: str, root: Path) -> str:
    try:
        return Path(name).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return name


def _load(args: argparse.Namespace, sides: _Sides) -> tuple[Any, Any] | None:
    """Both sides compiled, or None after printing every error of every side."""
    from replygate.engine.review import SideError, load_side
    from replygate.policy_dsl.source import PolicyError

    loaded = []
    broken = False
    for name, spec in (("base", args.base), ("head", args.head)):
        try:
            commit, sources = sides.read(spec)
            loaded.append(load_side(name, spec, sources, commit))
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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _named(args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    from replygate.engine.review import NamedRequest, RequestSource

    named: list[NamedRequest] = []
    sources: list[RequestSource] = []
    wanted = [
        ("scenario", args.features, "replygate.scenarios.corpus", "scenario_requests"),
        ("decision-log", args.decision_log, "replygate.decision_log", "iter_requests"),
    ]
    for source, location, module, function in wanted:
        if location is None:
            continue
        if source == "scenario" and not Path(location).is_dir():
            raise _BadInput(f"--features {location}: no such folder")
        hook = _hook(module, function)
        if hook is None:
            note = f"{module}.{function} is not available in this installation"
            sources.append(RequestSource(source, location, "skipped", 0, note))
            continue
        problems: list[str] = []
        try:
            if "errors" in inspect.signature(hook).parameters:
                pairs = hook(location, errors=problems)  # type: ignore[call-arg]
            else:
                pairs = hook(location)
            # A decision-log item also carries its redacted fields (name, request, redacted).
            found = [NamedRequest(name, source, *rest) for name, *rest in pairs]
        except Exception as error:
            # Another component's failure must reach the user as an error line, not a traceback.
            raise _BadInput(f"cannot read {source} requests from {location}: {error}") from None
        named += found
        note = None
        if problems:
            note = f"{_plural(len(problems), 'item')} could not be read, e.g. {problems[0]}"
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
    print(render(review, args.format))
    return 1 if args.fail_on == "widening" and review.widens else 0
