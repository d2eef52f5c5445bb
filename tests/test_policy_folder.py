"""A policy folder is read whole or not at all: a subfolder that cannot be listed is an error in
every command that reads the folder, never a folder without rules (its deny would vanish)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from replygate.cli.main import main
from replygate.engine.loader import read_folder
from replygate.policy_dsl.source import PolicyError

BASE = """\
channel twitter
role agent
person alice is agent

rule allow-all {
    allow
    on any
    by agent
    message "ok"
}
"""
FREEZE = """\
rule block-all {
    deny
    on any
    by anyone
    message "frozen"
}
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A policy whose deny rule sits in a subfolder the process may not list (as after
    `chmod 000` for a user without CAP_DAC_OVERRIDE: the tests may run as root)."""
    root = tmp_path / "policy"
    (root / "deny").mkdir(parents=True)
    (root / "base.policy").write_text(BASE, encoding="utf-8")
    (root / "deny" / "freeze.policy").write_text(FREEZE, encoding="utf-8")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path).name == "deny":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return root


def test_an_unreadable_subfolder_is_an_error_not_an_empty_folder(folder: Path) -> None:
    with pytest.raises(PolicyError) as raised:
        read_folder(folder)
    (problem,) = raised.value.diagnostics
    assert problem.code == "unreadable"
    assert problem.span.file == str(folder / "deny")
    assert problem.message == "cannot read the folder: Permission denied"


def test_lint_check_and_fmt_refuse_the_folder(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "request.json"
    request.write_text(
        '{"actor": {"id": "alice"}, "action": "post", "channel": "twitter", '
        '"at": "2026-11-27T10:00:00Z"}',
        encoding="utf-8",
    )
    assert main(["lint", str(folder)]) == 2
    assert f"{folder / 'deny'}:1:1: error: cannot read the folder" in capsys.readouterr().err
    assert main(["check", "--policy", str(folder), "--request", str(request)]) == 2
    assert "cannot read the folder" in capsys.readouterr().err
    assert main(["fmt", "--check", str(folder)]) != 0
    assert "cannot read the folder" in capsys.readouterr().err


def test_a_readable_folder_is_read_whole(tmp_path: Path) -> None:
    root = tmp_path / "policy"
    (root / "deny").mkdir(parents=True)
    (root / "base.policy").write_text(BASE, encoding="utf-8")
    (root / "deny" / "freeze.policy").write_text(FREEZE, encoding="utf-8")
    (root / "notes.txt").write_text("not a policy", encoding="utf-8")
    assert list(read_folder(root)) == [str(root / "base.policy"), str(root / "deny/freeze.policy")]


def test_a_file_is_read_as_its_bytes_as_git_reads_it(tmp_path: Path) -> None:
    # Newlines are not translated: a CR inside a message stays a CR, CRLF stays CRLF, exactly
    # the text `--repo` reads from a commit of the same file (engine/git/files.py).
    raw = BASE.replace('message "ok"', 'message "o\rk"').replace("\n", "\r\n").encode()
    path = tmp_path / "crlf.policy"
    path.write_bytes(raw)
    assert read_folder(path) == {str(path): raw.decode("utf-8")}
    # CRLF line ends are fine; the CR in the message is not (`unwanted-character`).
    assert main(["lint", str(path)]) == 1
    path.write_bytes(BASE.replace("\n", "\r\n").encode())
    assert main(["lint", str(path)]) == 0


def test_a_byte_order_mark_at_the_start_is_not_a_syntax_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bom.policy"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert main(["lint", str(path)]) == 0
    path.write_bytes(b"\xef\xbb\xbf" + b"channel twitter x\n")
    assert main(["lint", str(path)]) == 1
    assert f"{path}:1:18: error: unexpected 'x'" in capsys.readouterr().out


def test_a_file_name_cannot_forge_lines_of_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A name from a commit may hold a newline: it would print a made-up first line.
    root = tmp_path / "policy"
    root.mkdir()
    (root / "base.policy").write_text(BASE, encoding="utf-8")
    forged = root / "a.policy:1:1: ok\ncommit deadbeef: x.policy"
    forged.write_text("rule broken {\n", encoding="utf-8")
    assert main(["lint", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{root}/a.policy:1:1: ok\\ncommit deadbeef: x.policy:1:14: error:" in out
    assert not any(line.startswith("commit deadbeef") for line in out.splitlines())


# ---- what a folder holds besides plain files -------------------------------------------------


def _request(tmp_path: Path) -> Path:
    request = tmp_path / "request.json"
    request.write_text(
        '{"actor": {"id": "alice"}, "action": "post", "channel": "twitter", '
        '"at": "2026-11-27T10:00:00Z"}',
        encoding="utf-8",
    )
    return request


def test_a_policy_file_that_is_a_broken_link_is_an_error_not_a_missing_deny(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The deny's file moved away behind a link: it was skipped, and the request allowed."""
    root = tmp_path / "policy"
    root.mkdir()
    (root / "base.policy").write_text(BASE, encoding="utf-8")
    (root / "freeze.policy").symlink_to(tmp_path / "moved" / "freeze.policy")
    assert main(["check", "--policy", str(root), "--request", str(_request(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert (
        f"{root / 'freeze.policy'}:1:1: error: a symbolic link to a file that does not exist" in err
    )
    assert main(["lint", str(root)]) == 2


def test_a_linked_file_that_exists_is_read(tmp_path: Path) -> None:
    root = tmp_path / "policy"
    root.mkdir()
    (tmp_path / "shared.policy").write_text(FREEZE, encoding="utf-8")
    (root / "base.policy").write_text(BASE, encoding="utf-8")
    (root / "freeze.policy").symlink_to(tmp_path / "shared.policy")
    assert list(read_folder(root)) == [str(root / "base.policy"), str(root / "freeze.policy")]


def test_a_linked_folder_of_policy_files_is_refused(tmp_path: Path) -> None:
    """Its rules vanished without a word (os.walk does not follow links)."""
    root = tmp_path / "policy"
    root.mkdir()
    (root / "base.policy").write_text(BASE, encoding="utf-8")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "freeze.policy").write_text(FREEZE, encoding="utf-8")
    (root / "deny").symlink_to(tmp_path / "shared")
    (tmp_path / "notes").mkdir()
    (root / "notes").symlink_to(tmp_path / "notes")  # no policy in it: nothing to lose
    with pytest.raises(PolicyError) as raised:
        read_folder(root)
    (problem,) = raised.value.diagnostics
    assert (problem.code, problem.span.file) == ("symlink", str(root / "deny"))


def test_a_file_name_that_is_not_utf8_is_refused_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` crashed serializing the rule's file name (PydanticSerializationError)."""
    root = tmp_path / "policy"
    root.mkdir()
    (root / os.fsdecode(b"base\xff.policy")).write_text(BASE, encoding="utf-8")
    assert main(["check", "--policy", str(root), "--request", str(_request(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert f"{root}/base\\xff.policy:1:1: error: the file's name is not UTF-8 text" in err
    assert "Traceback" not in err


def test_a_folder_above_the_policy_that_cannot_be_entered_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`Path.is_file` raised PermissionError for `/root/x` (a traceback, exit 1)."""
    hidden = tmp_path / "private" / "policy"
    real_stat = Path.stat

    def stat(self: Path, **options: Any) -> Any:
        if self == hidden:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, **options)

    monkeypatch.setattr(Path, "stat", stat)
    assert main(["check", "--policy", str(hidden), "--request", str(_request(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert f"cannot read '{hidden}': Permission denied" in err
    assert "Traceback" not in err
