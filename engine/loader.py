"""Policy sources to a compiled policy: read, parse, check, compile.

A source set is a mapping of file path to text, so a folder on disk and a commit in git go
through the same code. Every error of every file is collected before anything is reported.
`compile_set` is the one compile path: the folder loader, the git store (and so `serve --repo`
and its follower), `engine.source.PolicySource` and the review's sides all call it, so all of
them compile with the garbage collector paused and fail with a `PolicyError`, never a crash.
"""

from __future__ import annotations

import gc
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from replygate.engine.compiler import Annotate, compile_checked
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import PolicyVersion, policy_digest
from replygate.policy_dsl import ast
from replygate.policy_dsl.checker import CheckResult, check
from replygate.policy_dsl.files import (
    POLICY_SUFFIX,
    misnamed,
    not_a_policy,
    policy_files,
    policy_text,
    shown_name,
)
from replygate.policy_dsl.limits import file_too_large, set_too_large, utf8_size
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import Diagnostic, PolicyError, Span


def read_folder(path: str | Path) -> dict[str, str]:
    """Every `.policy` file under `path` (or the one file `path`), keyed by path, sorted."""
    root = Path(path)
    shown = shown_name(str(path))
    try:
        mode = root.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = 0
    except OSError as error:  # a folder above it that cannot be entered
        message = f"cannot read '{shown}': {error.strerror or error}"
        raise PolicyError([Diagnostic("unreadable", message, Span(shown, 1, 1, 1, 1))]) from None
    if stat.S_ISREG(mode):
        named = misnamed(str(root))
        if named is not None:
            raise PolicyError([named])
        return {str(root): _read(root)}
    if not stat.S_ISDIR(mode):
        message = not_a_policy(mode, shown)
        raise PolicyError([Diagnostic("no-policy", message, Span(shown, 1, 1, 1, 1))])
    files = policy_files(root)
    if not files:
        raise PolicyError(
            [
                Diagnostic(
                    "no-policy",
                    f"'{shown}' holds no {POLICY_SUFFIX} files",
                    Span(shown, 1, 1, 1, 1),
                )
            ]
        )
    too_large = set_too_large({str(p): p.stat().st_size for p in files})
    if too_large is not None:  # refused before reading a byte
        raise PolicyError([too_large])
    return {str(p): _read(p) for p in files}


def _read(path: Path) -> str:
    where = Span(str(path), 1, 1, 1, 1)
    too_large = file_too_large(str(path), path.stat().st_size)
    if too_large is not None:  # refused before reading, let alone parsing
        raise PolicyError([too_large])
    try:
        data = path.read_bytes()
    except OSError as error:
        message = f"cannot read the file: {error.strerror or error}"
        raise PolicyError([Diagnostic("unreadable", message, where)]) from None
    return policy_text(data, str(path))


@lru_cache(maxsize=64)
def _parse_cached(text: str, path: str) -> ast.PolicyFile:
    # Successive commits mostly repeat files, and a policy's tree is immutable: parse each
    # (path, text) once. Only successes are cached; a broken file is parsed again to report it.
    return parse_policy(text, path)


def parse_sources(sources: Mapping[str, str]) -> tuple[list[ast.PolicyFile], list[Diagnostic]]:
    """Parse every file; syntax errors of all files are collected, not just the first file's."""
    files: list[ast.PolicyFile] = []
    problems: list[Diagnostic] = []
    too_large = set_too_large({path: utf8_size(text) for path, text in sources.items()})
    if too_large is not None:
        return files, [too_large]
    # In sorted path order whatever order the caller gives: which escalation is named when
    # several match depends on it (README, "Decision semantics").
    for path, text in sorted(sources.items()):
        try:
            files.append(_parse_cached(text, path))
        except PolicyError as error:
            problems.extend(error.diagnostics)
    return files, problems


def check_sources(sources: Mapping[str, str]) -> tuple[CheckResult | None, list[Diagnostic]]:
    """Parse and check; the check result is None when a file does not even parse."""
    files, problems = parse_sources(sources)
    if problems:
        return None, problems
    result = check(files)
    return result, result.diagnostics


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled source set, with the checker's result (the review reads its symbols)."""

    result: CheckResult
    policy: CompiledPolicy


def compile_set(
    sources: Mapping[str, str],
    version: PolicyVersion | None = None,
    annotator: Callable[[CheckResult], Annotate | None] | None = None,
) -> Compiled:
    """The one compile path: parse, check and compile with the collector paused.

    Raises `PolicyError` with every error (warnings do not stop it). `annotator`, given the
    checked result, returns how to annotate each rule's source (the git store adds blame).
    """
    sources = dict(sorted(sources.items()))
    with _collector_paused():
        try:
            result, diagnostics = check_sources(sources)
            if result is None or result.errors:
                raise PolicyError(diagnostics, dict(sources))
            annotate = annotator(result) if annotator is not None else None
            digest = policy_digest(sources)
            version = (version or PolicyVersion(files=list(sources))).model_copy(
                update={"digest": digest}
            )
            policy = compile_checked(result, version, annotate, dict(sources))
        except RecursionError:
            # The last line of defence behind the checker's limits: a structure nested beyond
            # what the interpreter's stack holds fails closed, as an error of the policy.
            raise PolicyError([_too_deep(sources)], dict(sources)) from None
    return Compiled(result, policy)


def compile_sources(
    sources: Mapping[str, str],
    version: PolicyVersion | None = None,
    annotate: Annotate | None = None,
) -> CompiledPolicy:
    """Compile a source set or raise `PolicyError` with every error (warnings do not stop it)."""
    return compile_set(sources, version, (lambda _: annotate) if annotate else None).policy


def _too_deep(sources: Mapping[str, str]) -> Diagnostic:
    first = min(sources, default="<policy>")
    return Diagnostic(
        "too-deep",
        "the policy nests too deeply to compile (roles inheriting through too many levels, "
        "or conditions nested too deeply)",
        Span(first, 1, 1, 1, 1),
        help="flatten the chain: inherit from fewer levels, or split the condition",
    )


class _CollectorPause:
    """Pauses the cyclic collector while any thread compiles; the last one out resumes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiling = 0
        self._resume = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        # Building a large tree allocates millions of objects that all survive: the cyclic
        # collector would rescan them again and again (half the load time at 10,000 rules) and
        # find nothing. Counted, so two threads compiling at once (the follower and an audit
        # check) do not resume it under each other.
        with self._lock:
            if self._compiling == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._compiling += 1
        try:
            yield
        finally:
            with self._lock:
                self._compiling -= 1
                if self._compiling == 0 and self._resume:
                    gc.enable()


_collector_paused = _CollectorPause()


def load_policy(path: str | Path) -> CompiledPolicy:
    """Compile the policy set in a folder (or one file) on disk."""
    return compile_sources(read_folder(path))
