"""Blame, rule history and revisions on commits that git accepts but that are out of the
ordinary: Unicode line breaks in policy text and author names, dates past 9999, odd offsets,
commits in a legacy encoding. None may forge an attribution or end in a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from git import Repo
from gitrepo import commit_policies, make_repo

from replygate.cli.main import main
from replygate.engine.errors import GitError, UnknownRevision
from replygate.engine.git import PolicyRepo
from replygate.engine.git.blame import parse_blame
from replygate.engine.git.history import RuleChange, authorship
from replygate.engine.git.times import EARLIEST, LATEST, commit_date, describe
from replygate.engine.models import CheckRequest

ALICE = ("Alice", "alice@example.com")
BOB = ("Bob", "bob@example.com")
FIRST = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
SECOND = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
THIRD = datetime(2026, 10, 9, 9, 0, tzinfo=UTC)
FORGED = "f" * 40
YEAR_10000 = 253402300800  # 10000-01-01T00:00:00Z: git takes it, `datetime` cannot hold it

POLICY = """\
role agent
person alice is agent
channel twitter
rule agents-reply {
    allow
    on reply
    by agent
    message "ok"
}
"""
RULE = "agents-reply"
REFORMATTED = POLICY.replace("    allow", "  allow")  # one changed line, a rev to ignore
# What `str.splitlines` takes for a line end and git does not.
BREAKS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]


def with_comment(comment: str) -> str:
    """The policy with a comment inside the rule: a change to the rule's lines."""
    return POLICY.replace('    message "ok"\n', f'    message "ok"\n    # {comment}\n')


def with_message(message: str) -> str:
    """The policy with the rule's message changed: a change of the rule's meaning."""
    return POLICY.replace('"ok"', f'"{message}"')


def forged_header(brk: str, committer_time: str = "4102444800") -> str:
    """A comment that, split at `brk`, reads as a porcelain entry of a commit nobody made."""
    return brk.join(
        ["note", f"{FORGED} 1 5 1", "author Mallory", f"committer-time {committer_time}"]
    )


def request() -> CheckRequest:
    return CheckRequest.model_validate(
        {
            "actor": {"id": "alice"},
            "action": "reply",
            "channel": "twitter",
            "post": {
                "id": "t-1",
                "sentiment": "positive",
                "category": "question",
                "author_reach": 120,
                "received_at": "2026-11-27T10:00:00+01:00",
            },
            "at": "2026-11-27T10:20:00+01:00",
        }
    )


def git(repo: Repo, *args: str | bytes, env: dict[bytes, bytes] | None = None) -> str:
    """`git ARGS` in the repository, isolated from the machine's configuration."""
    full_env: dict[bytes, bytes] = {
        **os.environb,
        b"GIT_CONFIG_GLOBAL": os.devnull.encode(),
        b"GIT_CONFIG_NOSYSTEM": b"1",
        **(env or {}),
    }
    done = subprocess.run(
        ["git", "-C", str(repo.working_tree_dir), *args],
        env=full_env,
        check=True,
        capture_output=True,
    )
    return done.stdout.decode("utf-8", errors="replace").strip()


def commit_raw(repo: Repo, text: str, message: bytes, env: dict[bytes, bytes], *args: str) -> str:
    """Commit POLICY-like `text` with identity, dates and message exactly as given (bytes)."""
    path = Path(str(repo.working_tree_dir)) / "policies" / "p.policy"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    message_file = Path(str(repo.git_dir)) / "MESSAGE"
    message_file.write_bytes(message)
    git(repo, "add", "--", "policies/p.policy")
    git(repo, *args, "commit", "--quiet", "--no-verify", "-F", str(message_file), env=env)
    return git(repo, "rev-parse", "HEAD")


def identity(name: bytes, date: str) -> dict[bytes, bytes]:
    return {
        b"GIT_AUTHOR_NAME": name,
        b"GIT_AUTHOR_EMAIL": b"someone@example.com",
        b"GIT_COMMITTER_NAME": name,
        b"GIT_COMMITTER_EMAIL": b"someone@example.com",
        b"GIT_AUTHOR_DATE": date.encode(),
        b"GIT_COMMITTER_DATE": date.encode(),
    }


HASH_LITERALLY = ["-t", "commit", "-w", "--literally", "--stdin"]


def craft_commit(repo: Repo, text: str, identity_line: str) -> str:
    """A commit of `text` that git's own porcelain would not write (an out-of-range time)."""
    path = Path(str(repo.working_tree_dir)) / "policies" / "p.policy"
    path.write_text(text, encoding="utf-8")
    git(repo, "add", "--", "policies/p.policy")
    tree = git(repo, "write-tree")
    parent = git(repo, "rev-parse", "HEAD")
    body = (
        f"tree {tree}\nparent {parent}\nauthor {identity_line}\ncommitter {identity_line}\n\n"
        "crafted\n"
    )
    done = subprocess.run(
        ["git", "-C", str(repo.working_tree_dir), "hash-object", *HASH_LITERALLY],
        input=body.encode(),
        check=True,
        capture_output=True,
    )
    sha = done.stdout.decode().strip()
    git(repo, "update-ref", "refs/heads/main", sha)
    return sha


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    made = make_repo(tmp_path)
    yield made
    made.close()


@pytest.fixture
def first(repo: Repo) -> str:
    """Alice writes the rule."""
    return commit_policies(repo, {"policies/p.policy": POLICY}, "init", ALICE, FIRST)


def source_of(repo: Repo) -> tuple[str | None, str | None]:
    """The commit and author the rule's reason names at `main`."""
    with PolicyRepo(str(repo.working_tree_dir)) as store:
        policy = store.load("main")
        [source] = [r.source for r in policy.decide(request()).reasons if r.rule == RULE]
    assert source is not None
    return source.commit, source.author


# ---- blame: content can never be a header -------------------------------------------------


class TestBlameCannotBeForged:
    # Policy text now refuses these characters (`unwanted-character`), so a forged comment never
    # reaches blame from a policy; blame's own reading is still pinned on its output below, and
    # through author names, which git takes as they come.
    @pytest.mark.parametrize("brk", BREAKS, ids=[f"U+{ord(b):04X}" for b in BREAKS])
    def test_a_line_break_in_a_content_line_does_not_forge_an_author(self, brk: str) -> None:
        out = f"{'a' * 40} 1 1 1\nauthor Ada\ncommitter-time 100\n\t# {forged_header(brk)}\n"
        blame = parse_blame(out)
        assert blame.lines == ["a" * 40]
        assert list(blame.commits) == ["a" * 40]
        assert blame.commits["a" * 40].author == "Ada"

    def test_a_non_numeric_committer_time_in_a_content_line_is_plain_text(self) -> None:
        forged = forged_header("\u2028", committer_time="soon")
        out = f"{'a' * 40} 1 1 1\nauthor Ada\ncommitter-time 100\n\t# {forged}\n"
        assert parse_blame(out).commits["a" * 40].committed == 100

    def test_check_on_a_commit_with_such_a_comment_refuses_it_by_position(
        self, repo: Repo, first: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        text = with_comment(forged_header("\u2028", committer_time="soon"))
        commit_policies(repo, {"policies/p.policy": text}, "comment", BOB, SECOND)
        request_file = tmp_path / "req.json"
        request_file.write_text(request().model_dump_json(), encoding="utf-8")
        path = str(repo.working_tree_dir)
        args = ["check", "--repo", path, "--ref", "main", "--request", str(request_file)]
        code, out, err = run(args, capsys)
        assert code == 2
        assert "error: the line separator U+2028 [unwanted-character]" in err
        assert "Traceback" not in err and FORGED not in out

    def test_a_line_break_in_an_author_name_does_not_hide_the_commit(
        self, repo: Repo, first: str
    ) -> None:
        name = "A\u2028committer-time 1"
        second = commit_policies(
            repo, {"policies/p.policy": with_comment("changed")}, "m", (name, "a@x"), SECOND
        )
        assert source_of(repo) == (second, name)

    def test_a_line_break_in_the_ignore_file_does_not_ignore_a_commit(
        self, repo: Repo, first: str
    ) -> None:
        # git reads `.git-blame-ignore-revs` line by line at "\n": the sha after U+2028 is part
        # of the comment, so Bob's commit still counts.
        second = commit_policies(repo, {"policies/p.policy": REFORMATTED}, "reformat", BOB, SECOND)
        ignore = f"# reformat\u2028{second}\n"
        commit_policies(repo, {".git-blame-ignore-revs": ignore}, "ignore", ALICE, THIRD)
        assert source_of(repo) == (second, "Bob")

    def test_an_ignore_file_line_still_ignores_its_commit(self, repo: Repo, first: str) -> None:
        second = commit_policies(repo, {"policies/p.policy": REFORMATTED}, "reformat", BOB, SECOND)
        ignore = f"# reformat\r\n{second}\r\n"
        commit_policies(repo, {".git-blame-ignore-revs": ignore}, "ignore", ALICE, THIRD)
        assert source_of(repo) == (first, "Alice")


ENTRY = (
    f"{'a' * 40} 1 1 1\nauthor Ada\ncommitter-time 100\nfilename p.policy\n\trule x {{\n"
    f"{'a' * 40} 2 2\n\t}}\n"
)


class TestParseBlame:
    def test_a_well_formed_output_is_read(self) -> None:
        blame = parse_blame(ENTRY)
        assert blame.lines == ["a" * 40, "a" * 40]
        assert (blame.commits["a" * 40].author, blame.commits["a" * 40].committed) == ("Ada", 100)

    def test_content_lines_are_never_read_as_headers(self) -> None:
        out = f"{'a' * 40} 1 1 1\nauthor Ada\ncommitter-time 100\n\tauthor Mallory\n"
        assert parse_blame(out).commits["a" * 40].author == "Ada"

    def test_an_empty_file_has_no_lines(self) -> None:
        assert (parse_blame("").lines, parse_blame("").commits) == ([], {})

    @pytest.mark.parametrize(
        ("out", "problem"),
        [
            ("garbage\n", "line 1 is not an entry's first line: 'garbage'"),
            (ENTRY.replace("committer-time 100", "committer-time soon"), "no author or commit"),
            (ENTRY.replace("committer-time 100", "committer-time \u0661"), "no author or commit"),
            (ENTRY.replace("author Ada\n", ""), "has no author"),
            (ENTRY.replace("filename", "File Name"), "line 4 is not a header line"),
            (ENTRY.replace(" 2 2\n", " 1 1\n"), "line 6 is not an entry's first line"),
            (ENTRY.replace(" 2 2\n", " 3 3\n"), "does not name every line"),
            (ENTRY.rsplit("\t", 1)[0], "ends inside an entry"),
            (ENTRY.replace("a" * 40, "A" * 40), "not an entry's first line"),
            (ENTRY.replace(" 2 2\n", " \u0662 \u0662\n"), "not an entry's first line"),
        ],
    )
    def test_unexpected_output_fails_closed_with_a_message(self, out: str, problem: str) -> None:
        with pytest.raises(
            GitError, match="cannot read the output of git blame of p at 1234: "
        ) as e:
            parse_blame(out, "git blame of p at 1234")
        assert problem in str(e.value)
        assert e.value.code == "git_error"


# ---- history and revisions: dates past 9999, odd offsets ------------------------------------


class TestDatesOutOfRange:
    def test_log_shows_a_commit_from_the_year_10000_clamped(
        self, repo: Repo, first: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        future = commit_raw(
            repo, with_message("x"), b"future\n", identity(b"F", f"@{YEAR_10000} +0000")
        )
        path = str(repo.working_tree_dir)
        code, out, err = run(["log", RULE, "--repo", path], capsys)
        assert (code, err) == (0, "")
        assert out.splitlines()[0].startswith(f"{future[:10]}  9999-12-31 23:59 +0000  F ")
        code, out, err = run(["log", RULE, "--repo", path, "--format", "json"], capsys)
        assert (code, err) == (0, "")
        assert json.loads(out)["changes"][0]["date"] == "9999-12-31T23:59:59+00:00"

    def test_log_writes_a_date_in_the_year_one_with_four_digits(
        self,
        repo: Repo,
        first: str,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # glibc's %Y writes year 1 as "1-01-01". git reads no commit time before 1970, so the
        # date (the clamp's lower end, as `commit_date` would give it) is put in by hand.
        old = RuleChange(first, "C", EARLIEST, "crafted", "added")
        monkeypatch.setattr(PolicyRepo, "rule_history", lambda *_: [old])
        code, out, err = run(["log", RULE, "--repo", str(repo.working_tree_dir)], capsys)
        assert (code, err) == (0, "")
        assert out.startswith(f"{first[:10]}  0001-01-01 00:00 +0000  C  added    crafted\n")

    def test_as_of_before_every_commit_is_unknown_revision(
        self, repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        commit_raw(repo, POLICY, b"future\n", identity(b"F", f"@{YEAR_10000} +0000"))
        request_file = tmp_path / "req.json"
        request_file.write_text(request().model_dump_json(), encoding="utf-8")
        args = ["check", "--repo", str(repo.working_tree_dir), "--ref", "main"]
        args += ["--as-of", "2026-01-01T00:00:00Z", "--request", str(request_file)]
        code, out, err = run(args, capsys)
        assert (code, out) == (2, "")
        assert err.startswith("replygate: error: 'main' has no commit at or before 2026-01-01")
        assert f"@{YEAR_10000}, later than 9999-12-31T23:59:59+00:00" in err
        assert err.rstrip().endswith("[unknown_revision]")

    def test_as_of_still_compares_the_times(self, repo: Repo, first: str) -> None:
        commit_raw(repo, with_message("x"), b"future\n", identity(b"F", f"@{YEAR_10000} +0000"))
        with PolicyRepo(str(repo.working_tree_dir)) as store:
            assert store.resolve_as_of("main", SECOND) == first
            assert store.resolve_as_of("main", LATEST) == first
            with pytest.raises(UnknownRevision, match="earliest commit date along its "):
                store.resolve_as_of("main", datetime(2000, 1, 1, tzinfo=UTC))

    def test_an_offset_timezone_cannot_hold_is_shown_in_utc(self, repo: Repo, first: str) -> None:
        # git takes +9959; `datetime.timezone` stops short of 24 hours.
        commit_raw(repo, with_message("x"), b"far east\n", identity(b"E", "@1800000000 +9959"))
        with PolicyRepo(str(repo.working_tree_dir)) as store:
            change = store.rule_history(RULE, "main")[0]
        assert change.date == datetime.fromtimestamp(1800000000, UTC)

    @pytest.mark.parametrize("stamp", ["18446744073709551615", "99999999999999999999999"])
    def test_a_crafted_commit_time_past_any_clock_is_clamped(
        self, repo: Repo, first: str, stamp: str
    ) -> None:
        bob = commit_policies(repo, {"policies/p.policy": with_message("x")}, "x", BOB, SECOND)
        crafted = craft_commit(repo, with_message("y"), f"C <c@x> {stamp} +0000")
        commit_raw(repo, with_message("z"), b"after\n", identity(b"D", "@1900000000 +0000"))
        with PolicyRepo(str(repo.working_tree_dir)) as store:
            history = store.rule_history(RULE, "main")
            assert store.resolve_as_of("main", THIRD) == bob
        assert [(c.commit, c.date) for c in history][1:] == [
            (crafted, LATEST),
            (bob, SECOND),
            (first, FIRST),
        ]

    @pytest.mark.parametrize(
        ("seconds", "want"),
        [
            (0, "1970-01-01T00:00:00+00:00"),
            (YEAR_10000 - 1, "9999-12-31T23:59:59+00:00"),
            (YEAR_10000, "@253402300800, later than 9999-12-31T23:59:59+00:00"),
            (2**64 - 1, "@18446744073709551615, later than 9999-12-31T23:59:59+00:00"),
            (-62135596800, "0001-01-01T00:00:00+00:00"),
            (-62135596801, "@-62135596801, earlier than 0001-01-01T00:00:00+00:00"),
        ],
    )
    def test_times_are_described_as_dates_or_raw(self, seconds: int, want: str) -> None:
        assert describe(seconds) == want
        assert EARLIEST <= commit_date(seconds, -3600) <= LATEST


# ---- history: the commit's own encoding --------------------------------------------------


class TestCommitEncoding:
    def test_log_and_blame_name_a_latin_1_author_alike(
        self, repo: Repo, first: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        sha = commit_raw(
            repo,
            with_message("x"),
            "mé\n".encode("latin-1"),
            identity("Zoë".encode("latin-1"), "@1800000000 +0000"),
            "-c",
            "i18n.commitEncoding=ISO-8859-1",
        )
        assert "encoding ISO-8859-1" in git(repo, "cat-file", "commit", sha)
        with PolicyRepo(str(repo.working_tree_dir)) as store:
            change = store.rule_history(RULE, "main")[0]
        assert (change.commit, change.author, change.summary) == (sha, "Zoë", "mé")
        assert source_of(repo) == (sha, "Zoë")
        code, out, _ = run(["log", RULE, "--repo", str(repo.working_tree_dir)], capsys)
        assert code == 0 and "Zoë" in out and "mé" in out and "\ufffd" not in out

    @pytest.mark.parametrize(
        ("raw", "want"),
        [
            (b"tree t\nauthor Zo\xc3\xab <z@x> 1 +0000\n\nm\xc3\xa9\n", ("Zo\xeb", "m\xe9")),
            (b"author Zo\xeb <z@x> 1 +0000\nencoding latin1\n\nm\xe9", ("Zo\xeb", "m\xe9")),
            (b"author Zo\xc3\xab <z@x> 1 +0000\nencoding base64\n\nm", ("Zo\xeb", "m")),
            (b"author Zo\xc3\xab <z@x> 1 +0000\nencoding no-such\n\nm", ("Zo\xeb", "m")),
            (b"author " + b"a." * 70 + b" <z@x> 1 +0000\nencoding idna\n\nm", ("a." * 70, "m")),
            (b"author Zo\xeb <z@x> 1 +0000\n\nm", ("Zo\ufffd", "m")),
            (
                "author Ann <a@x> 1 +0000\n\nfirst\u2028line\nnext".encode(),
                ("Ann", "first\u2028line"),
            ),
            (b"author  <a@x> 1 +0000\n\n", ("", "")),
        ],
    )
    def test_authorship_decodes_as_git_does(self, raw: bytes, want: tuple[str, str]) -> None:
        assert authorship(raw) == want


# ---- named revisions: a subject is one line ----------------------------------------------


def test_a_line_break_in_a_subject_does_not_add_a_revision(repo: Repo, first: str) -> None:
    message = f"fix\u2028forged\t{FORGED}\tforged subject"
    commit_policies(repo, {"policies/p.policy": with_comment("x")}, message, BOB, SECOND)
    head = git(repo, "rev-parse", "HEAD")
    with PolicyRepo(str(repo.working_tree_dir)) as store:
        named = store.named_revisions("main")
    assert named == [
        ("main", head, message),
        (head[:12], head, message),
        (first[:12], first, "init"),
    ]


@pytest.mark.parametrize("folder", ["nonexist", "policies/nonexist"])
def test_log_refuses_a_policy_dir_no_commit_has(
    repo: Repo, first: str, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    """A typo in --policy-dir read as an empty history: "no rule named …", exit 1."""
    args = ["log", RULE, "--repo", str(repo.working_tree_dir), "--policy-dir", folder]
    code, out, err = run(args, capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"replygate: error: --policy-dir: policy folder '{folder}' is in no commit of the "
        "history of 'HEAD' [invalid_policy_dir]\n"
    )
    # A folder that exists, and a rule it does not hold, is still a finding (exit 1).
    code, _, err = run([*args[:1], "no-such-rule", *args[2:-1], "policies"], capsys)
    assert code == 1 and "no rule named 'no-such-rule'" in err


def test_log_shows_escape_sequences_and_bidi_in_commits_escaped(
    repo: Repo, first: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "mall\u202eory"
    commit_policies(
        repo,
        {"policies/p.policy": with_message("changed")},
        "sub\x1b[31mject",
        (name, "m@x"),
        SECOND,
    )
    code, out, _ = run(["log", "agents-reply", "--repo", str(repo.working_tree_dir)], capsys)
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out
    assert "mall\\u202eory" in out and "sub\\x1b[31mject" in out


def test_the_response_time_reason_names_its_commit_and_author_too(repo: Repo, first: str) -> None:
    """docs/git.md: every reason names the commit and author of its rule; the response time's
    reason named neither."""
    second = commit_policies(
        repo, {"policies/hours.policy": "respond to question within 4h\n"}, "hours", BOB, SECOND
    )
    with PolicyRepo(str(repo.working_tree_dir)) as store:
        reasons = store.load("main").decide(request()).reasons
    sources = {r.code: r.source for r in reasons}
    assert sources["response_time"] is not None
    assert (sources["response_time"].commit, sources["response_time"].author) == (second, "Bob")
    assert (sources["allow"].commit, sources["allow"].author) == (first, "Alice")


@pytest.mark.parametrize("where", ["down its file", "to another file"])
def test_a_moved_rule_keeps_its_author(repo: Repo, first: str, where: str) -> None:
    """A rule moved unchanged was credited to whoever moved it (plain `git blame`), while
    `replygate log` lists no change of it: an auditor asking who wrote it got the mover."""
    header = "role agent\nperson alice is agent\nchannel twitter\n"
    rule = POLICY.removeprefix(header)
    # Longer than the rule, so that git's diff keeps it in place and moves the rule.
    others = "".join(
        f'rule others-{n} {{\n    deny\n    on post\n    by agent\n    message "no {n}"\n}}\n'
        for n in range(3)
    )
    commit_policies(repo, {"policies/p.policy": POLICY + others}, "others", ALICE, SECOND)
    if where == "down its file":
        files = {"policies/p.policy": header + others + rule}
    else:
        files = {"policies/p.policy": header + others, "policies/moved.policy": rule}
    commit_policies(repo, files, "move", BOB, THIRD)
    assert source_of(repo) == (first, "Alice")
