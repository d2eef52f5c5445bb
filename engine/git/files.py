"""Which files of a commit are the policy, read from git objects only (never the work tree)."""

from __future__ import annotations

from git.objects import Blob, Tree

from replygate.engine.source import DEFAULT_POLICY_DIR, clean_policy_dir
from replygate.policy_dsl.files import POLICY_SUFFIX, misnamed, policy_text
from replygate.policy_dsl.source import Diagnostic, PolicyError, Span

_REGULAR_FILE_MODES = (0o100644, 0o100755)
_SYMBOLIC_LINK_MODE = 0o120000


class PolicyFiles:
    """The policy files of a tree: under `policy_dir`, else `policies/` when there, else all."""

    def __init__(self, policy_dir: str | None) -> None:
        self.policy_dir = clean_policy_dir(policy_dir)

    def read(self, tree: Tree) -> dict[str, str]:
        """Path -> text of every policy file; `PolicyError` when there is none, one is not UTF-8,
        or one is a symbolic link."""
        folder = self.linked_folder(tree)
        if folder is not None:
            # git reads the link as a file, and the folder fell back to the whole repository:
            # every .policy file anywhere was served, while a checkout reads the link's target.
            raise PolicyError(
                [
                    Diagnostic(
                        "symlink",
                        f"the policy folder {folder} is a symbolic link in the commit, which git "
                        "does not follow though a folder would: commit the folder itself, or name "
                        "the real one with --policy-dir",
                        Span(folder, 1, 1, 1, 1),
                    )
                ]
            )
        linked = self.linked(tree)
        if linked:
            # A commit is read without following links; a checkout served as a folder follows
            # them. Skipped here, the link's rules were served from the folder while `diff`
            # (and its gate) never saw them: refused, as every other unreadable file is.
            raise PolicyError(
                [
                    Diagnostic(
                        "symlink",
                        "a policy file that is a symbolic link in the commit is not read from "
                        "git, though a folder would follow it: commit the file itself",
                        Span(path, 1, 1, 1, 1),
                    )
                    for path in linked
                ]
            )
        blobs = self.blobs(tree)
        if not blobs:
            where = self.policy_dir or "the repository"
            raise PolicyError(
                [
                    Diagnostic(
                        "no-policy",
                        f"no {POLICY_SUFFIX} files in {where} at this commit",
                        Span(self.policy_dir or ".", 1, 1, 1, 1),
                    )
                ]
            )
        sources: dict[str, str] = {}
        problems: list[Diagnostic] = []
        shown: dict[str, str] = {}  # an unreadable file as far as it can be quoted
        for path, blob in blobs:
            named = misnamed(path)
            if named is not None:
                problems.append(named)
                continue
            try:
                sources[path] = policy_text(blob.data_stream.read(), path)
            except PolicyError as error:
                problems.extend(error.diagnostics)
                shown.update(error.sources)
        if problems:
            raise PolicyError(problems, shown)
        return sources

    def blobs(self, tree: Tree) -> list[tuple[str, Blob]]:
        """The policy files under the configured folder, sorted by path; symlinks are skipped."""
        root = self.root(tree)
        if root is None:
            return []
        if isinstance(root, Blob):
            return [(str(root.path), root)] if _is_policy_file(root) else []
        found = [
            (str(item.path), item)
            for item in root.traverse()
            if isinstance(item, Blob) and _is_policy_file(item)
        ]
        return sorted(found, key=lambda pair: pair[0])

    def linked(self, tree: Tree) -> list[str]:
        """The paths of policy files that are symbolic links (mode 120000), sorted."""
        root = self.root(tree)
        items = [root] if isinstance(root, Blob) else list(root.traverse()) if root else []
        return sorted(
            str(item.path)
            for item in items
            if isinstance(item, Blob)
            and str(item.path).endswith(POLICY_SUFFIX)
            and item.mode == _SYMBOLIC_LINK_MODE
        )

    def linked_folder(self, tree: Tree) -> str | None:
        """The policy folder's path when the commit holds it as a symbolic link, else None."""
        name = self.policy_dir or DEFAULT_POLICY_DIR
        try:
            found = tree / name
        except KeyError:
            return None
        return name if isinstance(found, Blob) and found.mode == _SYMBOLIC_LINK_MODE else None

    def root(self, tree: Tree) -> Tree | Blob | None:
        """The folder (or file) holding the policy in `tree`, or None when it is missing or a
        symbolic link (see `linked_folder`)."""
        if self.linked_folder(tree) is not None:
            return None
        if self.policy_dir is None:
            try:
                folder = tree / DEFAULT_POLICY_DIR
            except KeyError:
                return tree
            return folder if isinstance(folder, Tree) else tree
        try:
            found = tree / self.policy_dir
        except KeyError:
            return None
        return found if isinstance(found, Tree | Blob) else None


def _is_policy_file(blob: Blob) -> bool:
    return str(blob.path).endswith(POLICY_SUFFIX) and blob.mode in _REGULAR_FILE_MODES
