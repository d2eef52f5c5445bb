"""Which policy a scenario runs against, compiled once per test session.

The default is the `policies/` folder next to the features folder (searched upwards from the
feature file), or what `--replygate-policy PATH` / `--replygate-repo PATH --replygate-ref REF`
name. `Given the policy at "main"` switches one scenario to a revision of the git repository
(the `--replygate-repo`, else the repository the feature file lives in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replygate.policy_dsl.source import PolicyError

if TYPE_CHECKING:
    from replygate.engine.evaluator import CompiledPolicy

POLICY_FOLDER = "policies"


class PolicyUnavailable(Exception):
    """The policy cannot be used (no folder, a compile error, an unknown revision): says why."""


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """Where a policy comes from: a folder (or file) on disk, or a revision of a git repository."""

    path: Path
    ref: str | None = None
    policy_dir: str | None = None

    @property
    def is_git(self) -> bool:
        return self.ref is not None

    def label(self, root: Path | None = None) -> str:
        """How reports name this policy: a path, or `REF in REPO`."""
        shown = relative(self.path, root)
        if self.ref is None:
            return shown
        inside = f" ({self.policy_dir})" if self.policy_dir else ""
        return f"{self.ref} in {shown}{inside}"


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
        self._repos: dict[tuple[Path, str | None], Any] = {}
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
            return PolicySpec(self.policy)
        if self.repo is not None or self.ref is not None:
            repo = self.repo or find_repository(feature_file.parent) or self.root
            return PolicySpec(repo, self.ref or "HEAD", self._policy_dir_in(repo, feature_file))
        found = find_policy_folder(feature_file.parent)
        if found is None:
            raise PolicyUnavailable(
                f"no {POLICY_FOLDER}/ folder next to {feature_file.parent}: put the policy there, "
                "or name it with --policy PATH (replygate test) or --replygate-policy PATH (pytest)"
            )
        return PolicySpec(found)

    def at_ref(self, feature_file: Path, ref: str) -> PolicySpec:
        """The policy at revision `ref` of the repository (for `Given the policy at "…"`)."""
        repo = self.repo or find_repository(feature_file.parent)
        if repo is None:
            raise PolicyUnavailable(
                f"'the policy at \"{ref}\"' needs a git repository, and {feature_file} is not "
                "in one (name one with --repo PATH or --replygate-repo PATH)"
            )
        return PolicySpec(repo, ref, self._policy_dir_in(repo, feature_file))

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
        if spec.ref is None:
            from replygate.engine.loader import compile_sources, read_folder

            try:
                # Keyed relative to the project, so reasons read `policies/care.policy:28`.
                sources = read_folder(spec.path)
                return compile_sources(
                    {relative(Path(p), self.root): t for p, t in sources.items()}
                )
            except PolicyError as error:
                raise PolicyUnavailable(
                    f"the policy at {spec.label(self.root)} does not compile:\n{error.render()}"
                ) from None
            except OSError as error:
                raise PolicyUnavailable(f"cannot read the policy: {error}") from None
        return self._compile_revision(spec)

    def _compile_revision(self, spec: PolicySpec) -> CompiledPolicy:
        from replygate.engine import store

        assert spec.ref is not None
        try:
            repo = self._repo(spec.path, spec.policy_dir)
            return repo.load(spec.ref)  # type: ignore[no-any-return]
        except PolicyError as error:
            raise PolicyUnavailable(
                f"the policy at {spec.label(self.root)} does not compile:\n{error.render()}"
            ) from None
        except (store.InvalidRef, store.UnknownRevision, store.NotARepository, store.GitError) as e:
            raise PolicyUnavailable(
                f"cannot load the policy at {spec.label(self.root)}: {e}"
            ) from None
        except ValueError as error:
            raise PolicyUnavailable(
                f"cannot load the policy at {spec.label(self.root)}: {error}"
            ) from None

    def _repo(self, path: Path, policy_dir: str | None) -> Any:
        from replygate.engine.store import PolicyRepo

        key = (path, policy_dir)
        repo = self._repos.get(key)
        if repo is None:
            # Scenarios check decisions, not blame: skipping `git blame` keeps them fast.
            repo = PolicyRepo(path, policy_dir, blame=False)
            self._repos[key] = repo
        return repo

    def close(self) -> None:
        """Stop the git helper processes of every repository opened."""
        for repo in self._repos.values():
            repo.close()
        self._repos.clear()
