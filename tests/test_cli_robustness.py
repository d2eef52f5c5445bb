"""The command line where the machine fails it: output that cannot be written, standard streams
closed at start, Ctrl-C during start-up, a disk that fills while `fmt` writes, keys files that
are endless or not text, anchors aimed at a branch, dates at the end of time.

Each case runs as a user runs it (a real process where descriptors, signals or limits are what
matters) and checks what the user sees: the exit code, the text on stderr, the file left.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from gitrepo import commit_policies, example_sources, make_repo

from replygate.cli.main import main
from replygate.decision_log import open_decision_log
from tests.test_cli import POLICY, REQUEST
from tests.test_decision_log import record, written

UNFORMATTED = 'role agent\nrule x { allow on reply by agent message "m" }\n'
KEY = b"k" * 32
FULL_DISK = "replygate: error: cannot write the output: No space left on device\n"
CLOSED = "replygate: error: cannot write the output: Bad file descriptor\n"


def replygate(
    args: list[str], *, redirect: str = "", stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    """`replygate ARGS` in a process of its own; `redirect` is shell redirection (`>&-`)."""
    command = [sys.executable, "-m", "replygate.cli.main", *args]
    if redirect:
        command = ["sh", "-c", f'exec "$@" {redirect}', "sh", *command]
    return subprocess.run(
        command,
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=300,
    )


def to_full_disk(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    with open("/dev/full", "wb") as full:
        return replygate(args, stdout=full.fileno())


@pytest.fixture
def request_file(tmp_path: Path) -> str:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(REQUEST), encoding="utf-8")
    return str(path)


@pytest.fixture
def route_file(tmp_path: Path) -> str:
    path = tmp_path / "route.json"
    path.write_text(json.dumps({k: v for k, v in REQUEST.items() if k != "actor"}), "utf-8")
    return str(path)


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with open_decision_log(url, writer_id="w-1") as log:
        written(log, [record(minute) for minute in range(3)])
    return url


# ---- 1. output that cannot be written: an error (exit 2), never a finding or a traceback -------


@pytest.mark.parametrize(
    "command",
    [
        ["lint", "--format", "json", POLICY],
        ["route", "--policy", POLICY, "--request", "{route}"],
        # Exit 1 of audit verify means "a record was altered": a full disk must not say that.
        ["audit", "verify", "--decision-log", "{log}"],
        ["replay", "--decision-log", "{log}", "--policy", POLICY],
        ["diff", POLICY, POLICY],
        ["fmt", "--diff", "{unformatted}"],
        ["--version"],
        ["lint", "--help"],
    ],
    ids=["lint", "route", "audit-verify", "replay", "diff", "fmt-diff", "version", "help"],
)
def test_output_on_a_full_disk_is_an_error_not_a_result(
    command: list[str], log_url: str, route_file: str, tmp_path: Path
) -> None:
    """`replygate lint policies/ >/dev/full` was a traceback and exit 1; `--version` exit 0."""
    unformatted = tmp_path / "u.policy"
    unformatted.write_text(UNFORMATTED, encoding="utf-8")
    names = {"log": log_url, "route": route_file, "unformatted": str(unformatted)}
    done = to_full_disk([argument.format(**names) for argument in command])
    assert (done.returncode, done.stderr.decode()) == (2, FULL_DISK)


def test_a_closed_stdout_is_a_failed_write_not_silent_success(route_file: str) -> None:
    """`route … >&-` printed nothing and exited 0."""
    done = replygate(["route", "--policy", POLICY, "--request", route_file], redirect=">&-")
    assert (done.returncode, done.stderr.decode()) == (2, CLOSED)


def test_check_with_a_closed_stdout_says_its_answers_were_not_written(request_file: str) -> None:
    """`check … >&-`: AttributeError ('NoneType' object has no attribute 'write')."""
    done = replygate(["check", "--policy", POLICY, "--request", request_file], redirect=">&-")
    assert done.returncode == 2
    assert (
        done.stderr.decode() == "replygate: error: cannot write the answers: Bad file descriptor\n"
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["check", "--request", "-"], "--request: cannot read '-': Bad file descriptor"),
        (["check", "--requests", "-"], "--requests: cannot read '-': Bad file descriptor"),
        (["route", "--request", "-"], "cannot read the request: [Errno 9] Bad file descriptor"),
    ],
)
def test_a_closed_stdin_is_a_read_error(command: list[str], message: str) -> None:
    """`check --request - <&-`: AttributeError ('NoneType' object has no attribute 'buffer')."""
    done = replygate([*command, "--policy", POLICY], redirect="<&-")
    assert (done.returncode, done.stderr.decode()) == (2, f"replygate: error: {message}\n")
    assert done.stdout == b""


def test_with_stderr_closed_errors_never_land_on_stdout(tmp_path: Path) -> None:
    """print(file=sys.stderr) with no stderr writes to stdout: an error read as the output."""
    done = replygate(["lint", str(tmp_path / "missing")], redirect="2>&-")
    assert (done.returncode, done.stdout) == (2, b"")


# ---- 2. Ctrl-C while the commands are imported ----------------------------------------------------

INTERRUPTED_AT_START = """
import signal, sys
import replygate.cli.main as cli

build = cli.build_parser

def interrupted():
    signal.raise_signal(signal.SIGINT)  # Ctrl-C while the commands are being imported
    return build()

cli.build_parser = interrupted
sys.exit(cli.main(["lint"]))
"""


def test_ctrl_c_during_start_up_exits_130_without_a_traceback() -> None:
    """`timeout -s INT 0.1 replygate lint` printed a KeyboardInterrupt traceback."""
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_AT_START], capture_output=True, check=False, timeout=300
    )
    assert (done.returncode, done.stderr.decode()) == (130, "")


# ---- 3. fmt replaces a file whole or not at all ---------------------------------------------------


def _big_unformatted(path: Path) -> bytes:
    """A policy of some 20 KiB whose formatted text differs (one-line rules)."""
    rules = "".join(f'rule r{n} {{ allow on reply by agent message "m{n}" }}\n' for n in range(400))
    path.write_text("role agent\n" + rules, encoding="utf-8")
    return path.read_bytes()


def test_fmt_on_a_disk_that_fills_leaves_the_policy_whole(tmp_path: Path) -> None:
    """A write that failed midway (`ulimit -f`, a full disk) left the file cut short: rules lost."""
    policy = tmp_path / "big.policy"
    before = _big_unformatted(policy)
    assert len(before) > 8 * 1024
    script = "trap '' XFSZ; ulimit -f 8; exec \"$@\""  # 8 KiB: any larger write fails (EFBIG)
    command = [sys.executable, "-m", "replygate.cli.main", "fmt", str(policy)]
    done = subprocess.run(
        ["bash", "-c", script, "bash", *command], capture_output=True, check=False, timeout=300
    )
    assert done.returncode == 2
    assert done.stderr.decode() == (
        f"replygate: error: cannot write {policy}: File too large\n1 file: 0 reformatted, 1 failed\n"
    )
    assert policy.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["big.policy"]  # no temporary


def test_fmt_keeps_the_permission_bits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "a.policy"
    policy.write_text(UNFORMATTED, encoding="utf-8")
    policy.chmod(0o640)
    assert main(["fmt", str(policy)]) == 0
    assert stat.S_IMODE(policy.stat().st_mode) == 0o640
    assert policy.read_text(encoding="utf-8") != UNFORMATTED
    assert capsys.readouterr().err == "1 file: 1 reformatted\n"


def test_fmt_formats_what_a_symbolic_link_points_to_and_keeps_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "care.policy"
    target.write_text(UNFORMATTED, encoding="utf-8")
    link = tmp_path / "care.policy"
    link.symlink_to(target)
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text(encoding="utf-8") != UNFORMATTED
    assert sorted(path.name for path in shared.iterdir()) == ["care.policy"]
    capsys.readouterr()


# ---- 4. serve --keys: bounded, and text --------------------------------------------------------


def _serve_keys(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["serve", "--keys", str(path), "--port", "18110"])
    return code, capsys.readouterr().err


def test_a_keys_file_that_is_not_utf8_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`printf '\\xff\\xfe' >k.json; replygate serve --keys k.json`: UnicodeDecodeError traceback."""
    keys = tmp_path / "k.json"
    keys.write_bytes(b"\xff\xfe")
    assert _serve_keys(keys, capsys) == (
        2,
        f"replygate: error: keys file {keys}: not UTF-8 text (byte 1 cannot be decoded)\n",
    )


def test_a_keys_file_is_read_up_to_4_mib(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--keys /dev/zero` read until the memory ran out: a keys file is bounded (4 MiB)."""
    keys = tmp_path / "k.json"
    keys.write_bytes(b" " * (4 * 1024 * 1024 + 1))
    assert _serve_keys(keys, capsys) == (
        2,
        f"replygate: error: keys file {keys}: larger than 4 MiB, the most it may hold\n",
    )


@pytest.mark.parametrize(
    ("name", "text"), [("k.json", "[" * 100_000), ("k.toml", "a=" + "[" * 100_000)]
)
def test_a_keys_file_nested_absurdly_deep_is_an_error(
    name: str, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / name
    keys.write_text(text, encoding="utf-8")
    assert _serve_keys(keys, capsys) == (
        2,
        f"replygate: error: {keys}: nested too deeply to be a keys file\n",
    )


# ---- 5. audit anchor never commits onto a branch ----------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def policy_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path, "policy")
    commit_policies(repo, example_sources(), "Example policy")
    _git(tmp_path / "policy", "tag", "v1")
    return tmp_path / "policy"


@pytest.mark.parametrize(
    ("out", "setup", "what"),
    [
        (
            "refs/heads/main",
            (),
            "refs/heads/main is a branch: its policy files would be replaced by",
        ),
        (
            "refs/heads/other",
            (),
            "refs/heads/other is a branch: its policy files would be replaced by",
        ),
        (
            "refs/tags/v1",
            (),
            "refs/tags/v1 is a tag: its release would be moved to a commit of only",
        ),
        (
            "refs/remotes/origin/main",
            (),
            "refs/remotes/origin/main is a remote-tracking ref: the next fetch would overwrite",
        ),
        (
            "refs/replygate/alias",
            ("symbolic-ref", "refs/replygate/alias", "refs/heads/main"),
            "refs/replygate/alias (a symbolic ref to refs/heads/main) is a branch: its policy "
            "files would be replaced by",
        ),
        (
            "refs/replygate/checked-out",
            ("symbolic-ref", "HEAD", "refs/replygate/checked-out"),
            "refs/replygate/checked-out is the ref HEAD names: the files checked out would be "
            "replaced by",
        ),
    ],
)
def test_audit_anchor_refuses_a_branch_a_tag_or_heads_ref(
    out: str,
    setup: tuple[str, ...],
    what: str,
    policy_repo: Path,
    log_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`audit anchor --out refs/heads/main` committed a tree of only anchors.json onto main:
    every policy file deleted, and a server following main lost its policy."""
    if setup:
        _git(policy_repo, *setup)
    refs = _git(policy_repo, "for-each-ref", "--format=%(refname) %(objectname)")
    key = tmp_path / "log.key"
    key.write_bytes(KEY)
    args = ["--decision-log", log_url, "--log-key-file", str(key), "--repo", str(policy_repo)]
    assert main(["audit", "anchor", *args, "--allow-unkeyed", "--out", out]) == 2
    assert capsys.readouterr().err == (
        f"replygate: error: --out: {what} anchors.json; keep anchors on a ref of their own, "
        "such as refs/replygate/anchors\n"
    )
    assert _git(policy_repo, "for-each-ref", "--format=%(refname) %(objectname)") == refs
    assert "policies/care.policy" in _git(policy_repo, "ls-tree", "-r", "--name-only", "main")


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("refs/HEAD", "refs/HEAD is directly under refs/, where git looks `HEAD` up before"),
        ("refs/main", "refs/main is directly under refs/, where git looks `main` up before"),
        ("refs/release/v1", "refs/release/v1 would shadow refs/heads/release/v1: git reads"),
        ("refs/a..b", "refs/a..b is not a valid git ref name"),
        ("refs//anchors", "refs//anchors is not a valid git ref name"),
        ("refs/replygate/anchors.lock", "refs/replygate/anchors.lock is not a valid git ref"),
    ],
)
def test_audit_anchor_refuses_a_ref_git_would_confuse(
    out: str,
    says: str,
    policy_repo: Path,
    log_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--out refs/HEAD` was accepted, and afterwards every git command warned that `HEAD` is
    ambiguous; `refs/main` would have made `main` name the anchors instead of the branch."""
    _git(policy_repo, "branch", "release/v1")
    refs = _git(policy_repo, "for-each-ref", "--format=%(refname) %(objectname)")
    key = tmp_path / "log.key"
    key.write_bytes(KEY)
    args = ["--decision-log", log_url, "--log-key-file", str(key), "--repo", str(policy_repo)]
    assert main(["audit", "anchor", *args, "--allow-unkeyed", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"replygate: error: --out: {says}"), err
    assert _git(policy_repo, "for-each-ref", "--format=%(refname) %(objectname)") == refs
    assert _git(policy_repo, "rev-parse", "main") == _git(policy_repo, "rev-parse", "HEAD")


def test_audit_anchor_still_writes_a_ref_of_its_own(
    policy_repo: Path, log_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "log.key"
    key.write_bytes(KEY)
    args = ["--decision-log", log_url, "--log-key-file", str(key), "--repo", str(policy_repo)]
    out = "refs/replygate/anchors"
    assert main(["audit", "anchor", *args, "--allow-unkeyed", "--out", out]) == 0
    assert "Anchored 1 chain (3 records) in refs/replygate/anchors" in capsys.readouterr().out
    assert _git(policy_repo, "ls-tree", "--name-only", out) == "anchors.json"


def test_save_anchor_refuses_a_branch_too(policy_repo: Path) -> None:
    from replygate.decision_log.anchors import save_anchor

    head = _git(policy_repo, "rev-parse", "main")
    with pytest.raises(ValueError, match="refs/heads/main is a branch"):
        save_anchor({"heads": {}, "created": "now"}, "refs/heads/main", str(policy_repo))
    assert _git(policy_repo, "rev-parse", "main") == head


# ---- 6. diff --coverage-from at the end of time ----------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        "9999-11-01T00:00:00Z",
        "9999-12-04T00:00:00Z",
        "9999-12-31T23:00:00-05:00",
        "9999-12-31T23:59:59.999999-23:59",
    ],
)
def test_diff_coverage_from_near_the_end_of_time_gets_the_range_message(
    start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--coverage-from 9999-12-04T00:00:00Z`: OverflowError traceback (four weeks later is
    past the last date Python knows)."""
    assert main(["diff", POLICY, POLICY, "--coverage-from", start]) == 2
    assert capsys.readouterr().err == (
        "replygate: error: --coverage-from must lie between 0001-01-15 and 9999-10-18: who is on "
        "duty is not computed closer to the ends of time\n"
    )


def test_the_standard_streams_are_restored_after_main(capsys: pytest.CaptureFixture[str]) -> None:
    """main() runs in-process (tests, the pre-commit hook): its stand-in stdout must not stay."""
    before = (sys.stdin, sys.stdout, sys.stderr)
    assert main(["lint", POLICY]) == 0
    assert (sys.stdin, sys.stdout, sys.stderr) == before
    capsys.readouterr()


# ---- a locale that cannot encode every character -----------------------------------------------


@pytest.mark.parametrize(
    "environment",
    [{"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "latin-1"}],
)
def test_output_a_locale_cannot_encode_is_written_as_utf8_not_a_traceback(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    """`diff` always prints `→`; under ISO-8859-1 or ASCII every command that printed one (or
    a message in another script) ended in a UnicodeEncodeError traceback, exit 1."""
    import os

    policy = tmp_path / "p.policy"
    policy.write_text(
        "role agent\nperson carol is agent\nchannel twitter\n"
        'rule r { allow on reply by agent message "Отвечаем → сразу" }\n',
        encoding="utf-8",
    )
    request = json.dumps({**REQUEST, "actor": {"id": "carol"}})
    env = {**os.environ, **environment, "PYTHONUTF8": "0"}
    for argv, stdin in (
        (["check", "--policy", str(tmp_path), "--request", "-"], request),
        (["diff", str(tmp_path), str(tmp_path)], None),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "replygate.cli.main", *argv],
            input=stdin.encode() if stdin else None,
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
        assert b"Traceback" not in done.stderr
        text = done.stdout.decode("utf-8")
        assert "→" in text
