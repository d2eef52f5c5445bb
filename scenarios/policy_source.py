"""Which policy a scenario runs against, compiled once per test session.

The default is the `policies/` folder next to the features folder (searched upwards from the
feature file), or what `--replygate-policy PATH` / `--replygate-repo PATH --replygate-ref REF`
name. `Given the policy at "main"` switches one scenario to a revision of the git repository
(the `--replygate-repo`, else the repository the feature file lives in).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from replygate.engine.errors import PolicyError, SourceError
from replygate.engine.source import PolicySource

if TYPE_CHECKING:
    from replygate.engine.evaluator import CompiledPolicy
    from replygate.engine.git import PolicyRepo

POLICY_FOLDER = "policies"

# Where a scenario's policy comes from: the engine's one source type, under the name the step
# library has always used.
PolicySpec = PolicySource


class PolicyUnavailable(Exception):
    """The policy cannot be used (no folder, a compile error, an unknown revision): says why."""


def relative(path: Path, root: Path | None) -> str:
    """`path` relative to `root` when it lies inside it, else as it is."""
    if root is not None:
        try:
            return str(path.relative_to(root)) or "."
        except ValueError:
            pass
    return str(path)


def find_policy_folder(start: Path) -> Path | None:
    """The nearest `policies/` folder beside `start` or one of its parents.

    The search stops at the top of the git repository holding `start` (a folder with `.git`),
    so a checkout never picks up a policy from outside itself.
    """
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / POLICY_FOLDER
        if candidate.is_dir():
            return candidate
        if (folder / ".git").exists():
            break
    return None


def find_repository(start: Path) -> Path | None:
    """The working tree of the git repository that holds `start`, if any."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


class PolicyProvider:
    """Resolves and compiles policy sources; each is compiled at most once (errors included)."""

    def __init__(
        self,
        root: Path,
        policy: Path | None = None,
        repo: Path | None = None,
        ref: str | None = None,
    ) -> None:
        self.root = root.resolve()
        self.policy = policy.resolve() if policy is not None else None
        self.repo = repo.resolve() if repo is not None else None
        self.ref = ref
        self._compiled: dict[PolicySpec, CompiledPolicy | PolicyUnavailable] = {}
        self._repos: dict[tuple[Path, str | None], PolicyRepo] = {}
        self._defaults: dict[Path, PolicySpec] = {}

    # ---- which source -------------------------------------------------------------------------
    def default_for(self, feature_file: Path) -> PolicySpec:
        """The policy a feature file runs against unless a scenario says otherwise."""
        known = self._defaults.get(feature_file)
        if known is None:
            known = self._defaults[feature_file] = self._default_for(feature_file)
        return known

    def _default_for(self, feature_file: Path) -> PolicySpec:
        if self.policy is not None:
            return PolicySpec.folder(self.policy, root=self.root)
        if self.repo is not None or self.ref is not None:
            repo = self.repo or find_repository(feature_file.parent) or self.root
            return self._at(repo, self.ref or "HEAD", feature_file)
        found = find_policy_folder(feature_file.parent)
        if found is None:
            raise PolicyUnavailable(
                f"no {POLICY_FOLDER}/ folder next to {feature_file.parent}: put the policy there, "
                "or name it with --policy PATH (replygate test) or --replygate-policy PATH (pytest)"
            )
        return PolicySpec.folder(found, root=self.root)

    def at_ref(self, feature_file: Path, ref: str) -> PolicySpec:
        """The policy at revision `ref` of the repository (for `Given the policy at "…"`)."""
        repo = self.repo or find_repository(feature_file.parent)
        if repo is None:
            raise PolicyUnavailable(
                f"'the policy at \"{ref}\"' needs a git repository, and {feature_file} is not "
                "in one (name one with --repo PATH or --replygate-repo PATH)"
            )
        return self._at(repo, ref, feature_file)

    def _at(self, repo: Path, ref: str, feature_file: Path) -> PolicySpec:
        try:
            return PolicySpec.git(repo, ref, policy_dir=self._policy_dir_in(repo, feature_file))
        except PolicyError as error:
            raise PolicyUnavailable(f"cannot load the policy at {ref} in {repo}: {error}") from None

    def _policy_dir_in(self, repo: Path, feature_file: Path) -> str | None:
        """The policy folder next to the features, relative to the repository (None: default)."""
        folder = self.policy or find_policy_folder(feature_file.parent)
        if folder is None:
            return None
        try:
            relative = folder.resolve().relative_to(repo)
        except ValueError:
            return None
        text = relative.as_posix()
        return None if text in ("", ".", POLICY_FOLDER) else text

    # ---- compiling ----------------------------------------------------------------------------
    def load(self, spec: PolicySpec) -> CompiledPolicy:
        """The compiled policy of `spec`; raises `PolicyUnavailable` with the reason."""
        known = self._compiled.get(spec)
        if known is None:
            try:
                known = self._compile(spec)
            except PolicyUnavailable as problem:
                known = problem
            self._compiled[spec] = known
        if isinstance(known, PolicyUnavailable):
            raise known
        return known

    def _compile(self, spec: PolicySpec) -> CompiledPolicy:
        try:
            return spec.load(self._repo(spec) if spec.is_git else None)
        except SourceError as error:
            raise PolicyUnavailable(
                f"cannot load the policy at {spec.label(self.root)}: {error}"
            ) from None
        except PolicyError as error:
            raise PolicyUnavailable(
                f"the policy at {spec.label(self.root)} does not compile:\n{error.render()}"
            ) from None

    def _repo(self, spec: PolicySpec) -> PolicyRepo:
        key = (spec.path, spec.policy_dir)
        repo = self._repos.get(key)
        if repo is None:
            # Scenarios check decisions, not blame: skipping `git blame` keeps them fast.
            repo = self._repos[key] = spec.open(blame=False)
        return repo

    def close(self) -> None:
        """Stop the git helper processes of every repository opened."""
        for repo in self._repos.values():
            repo.close()
        self._repos.clear()
