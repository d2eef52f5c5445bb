"""`replygate check` and `replygate lint` as a user runs them: output, errors, exit codes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from replygate.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies")
REQUEST = {
    "actor": {"id": "carol"},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "t-1",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 25000,
        "received_at": "2026-11-27T21:40:00+01:00",
    },
    "at": "2026-11-27T21:50:00+01:00",
}


def run(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    stdin: str | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), "utf-8"))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_check_one_request_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        ["check", "--policy", POLICY, "--request", "-"], capsys, json.dumps(REQUEST), monkeypatch
    )
    decision = json.loads(out)
    assert code == 0
    assert decision["decision"] == "approval_required"
    assert decision["approvers"] == ["comms_lead"]
    assert decision["respond_by"] == "2026-11-27T21:10:00Z"
    assert decision["reasons"][0]["source"]["file"].endswith("care.policy")


def test_naive_timestamp_names_the_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = json.loads(json.dumps(REQUEST))
    bad["post"]["received_at"] = "2026-11-27T21:40:00"
    code, out, err = run(
        ["check", "--policy", POLICY, "--request", "-"], capsys, json.dumps(bad), monkeypatch
    )
    assert code == 2
    assert out == ""
    assert err.strip() == "post.received_at: timestamp needs a time-zone offset"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("post"), "post: a reply needs the post it answers"),
        (lambda r: r.update(action="publish"), "action: Input should be 'reply' or 'post'"),
        (
            lambda r: r["post"].update(sentiment="angry"),
            "post.sentiment: Input should be 'positive', 'neutral' or 'negative'",
        ),
        (lambda r: r.update(colour="red"), "colour: is not a known field"),
        (lambda r: r["actor"].pop("id"), "actor.id: is required"),
        (lambda r: r.update(at="tomorrow"), "at: is not a timestamp"),
    ],
)
def test_bad_requests_name_the_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, mutate, message: str
) -> None:  # type: ignore[no-untyped-def]
    bad = json.loads(json.dumps(REQUEST))
    mutate(bad)
    code, _, err = run(
        ["check", "--policy", POLICY, "--request", "-"], capsys, json.dumps(bad), monkeypatch
    )
    assert code == 2
    assert err.startswith(message)


@pytest.mark.parametrize("command", ["check", "route"])
def test_invalid_json(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both in the same words (route said pydantic's "Invalid JSON")."""
    code, _, err = run(
        [command, "--policy", POLICY, "--request", "-"], capsys, "{not json", monkeypatch
    )
    assert code == 2
    assert err.startswith("request: not valid JSON: ")


def test_requests_file_keeps_order_and_reports_bad_lines_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = json.dumps(REQUEST)
    naive = json.dumps({**REQUEST, "at": "2026-11-27T21:50:00"})
    lines = tmp_path / "requests.jsonl"
    lines.write_text(f"{good}\n{naive}\nnot json\n{good}\n", encoding="utf-8")
    code, out, err = run(["check", "--policy", POLICY, "--requests", str(lines)], capsys)
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 2  # any rejected line fails the run; the good lines are still decided
    assert "2 request line(s) rejected" in err
    assert [r.get("decision") for r in results] == [
        "approval_required",
        None,
        None,
        "approval_required",
    ]
    assert results[1]["error"]["fields"] == [
        {"field": "at", "message": "timestamp needs a time-zone offset"}
    ]
    assert results[2]["error"]["line"] == 3


@pytest.mark.parametrize("option", ["--request", "--requests"])
def test_a_request_file_from_a_windows_tool_with_a_byte_order_mark_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    """PowerShell 5 writes UTF-8 with a BOM; it was "not valid JSON at line 1 column 1"."""
    written = tmp_path / "request.json"
    written.write_bytes(b"\xef\xbb\xbf" + json.dumps(REQUEST).encode() + b"\r\n")
    code, out, err = run(["check", "--policy", POLICY, option, str(written)], capsys)
    assert code == 0, err
    decided = json.loads(out) if option == "--request" else json.loads(out.splitlines()[0])
    assert decided["decision"] == "approval_required"


def test_a_line_that_is_not_utf8_is_refused_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = json.dumps(REQUEST).encode()
    latin1 = json.dumps({**REQUEST, "actor": {"id": "zoë"}}, ensure_ascii=False).encode("latin-1")
    lines = tmp_path / "requests.jsonl"
    lines.write_bytes(good + b"\n" + latin1 + b"\n" + good + b"\n")
    for source in (str(lines), "-"):
        if source == "-":  # the same bytes through standard input
            monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines.read_bytes())))
        code = main(["check", "--policy", POLICY, "--requests", source])
        out, err = capsys.readouterr()
        results = [json.loads(line) for line in out.splitlines()]
        assert code == 2
        assert [r.get("decision") for r in results] == [
            "approval_required",
            None,
            "approval_required",
        ]
        (error,) = results[1]["error"]["fields"]
        assert error["field"] == "request"
        assert error["message"].startswith("not UTF-8 text (byte ")
        assert "1 request line(s) rejected" in err


def test_explain_lists_candidates_and_conditions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        ["check", "--policy", POLICY, "--request", "-", "--explain"],
        capsys,
        json.dumps(REQUEST),
        monkeypatch,
    )
    assert code == 0
    assert "MATCHED  viral-negative-needs-comms-lead" in out
    assert "skipped  negative-post-goes-to-senior-agent" in out
    assert "fails  unless actor is senior_agent  (actor holds agent, senior_agent)" in out
    assert "holds  post.author_reach >= 10000  (post.author_reach is 25000)" in out
    # The index keeps it from the decision (it wants other sentiments); the trace still shows it.
    assert "skipped  agents-reply-to-positive-and-neutral" in out
    assert out.rstrip().endswith(
        "(viral-negative-needs-comms-lead)\n  because: the response time comes from:"
        " respond to complaint within 30m during always (response_time)"
    )
    assert "decision: approval_required from comms_lead" in out


def test_broken_policy_reports_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.policy").write_text(
        "role agent\nrule r { allow on reply by agnet }\n", encoding="utf-8"
    )
    (tmp_path / "b.policy").write_text("role x extends y\n", encoding="utf-8")
    code, out, err = run(
        ["check", "--policy", str(tmp_path), "--request", "-"],
        capsys,
        json.dumps(REQUEST),
        monkeypatch,
    )
    assert code == 2
    assert out == ""
    assert f"{tmp_path}/a.policy:2:28: error: unknown role 'agnet' [unknown-role]" in err
    assert f"{tmp_path}/b.policy:1:16: error: unknown role 'y' [unknown-role]" in err
    assert "Traceback" not in err


def test_missing_policy_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(
        ["check", "--policy", "/nonexistent", "--request", "-"], capsys, "{}", monkeypatch
    )
    assert code == 2
    assert "no policy file or folder at '/nonexistent'" in err


def test_a_named_pipe_is_not_a_missing_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lint` said "no policy file or folder at" a pipe `ls` shows; it is never opened, since
    reading a pipe without a writer would block."""
    pipe = tmp_path / "care.policy"
    os.mkfifo(pipe)
    code, out, err = run(["lint", str(pipe)], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(
        f"{pipe}:1:1: error: '{pipe}' is a named pipe, not a policy file or folder [no-policy]"
    )


def test_missing_request_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check", "--policy", POLICY, "--request", "/nonexistent.json"], capsys)
    assert code == 2
    assert err == (
        "replygate: error: --request: cannot read '/nonexistent.json': No such file or directory\n"
    )
    code, _, err = run(["check", "--policy", POLICY, "--requests", POLICY], capsys)
    assert code == 2
    assert err == f"replygate: error: --requests: cannot read '{POLICY}': Is a directory\n"


def test_lint_bundled_policy_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["lint", POLICY], capsys)
    assert (code, out) == (0, "")
    assert err.endswith(": 0 errors, 0 warnings\n")


def test_lint_counts_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.policy").write_text("role agent\nperson nr\n", encoding="utf-8")
    code, _, err = run(["lint", str(tmp_path)], capsys)
    assert code == 1
    assert err == "1 file: 1 error, 0 warnings\n"  # it said "1 files: 1 errors"


def test_lint_reports_errors_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.policy").write_text(
        'role agent\nrule r { allow on reply by agent when post.author_reach > "x" }\n',
        encoding="utf-8",
    )
    code, out, _ = run(["lint", str(tmp_path), "--format", "json"], capsys)
    report = json.loads(out)
    assert code == 1
    assert report["errors"] == 1
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert [(d["code"], d["location"]["line"], d["location"]["column"]) for d in errors] == [
        ("type-mismatch", 2, 59)
    ]


def test_lint_strict_fails_on_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.policy").write_text(
        "role agent\nrule r { allow on reply by agent }\n", encoding="utf-8"
    )
    assert run(["lint", str(tmp_path)], capsys)[0] == 0
    assert run(["lint", str(tmp_path), "--strict"], capsys)[0] == 1


def test_sample_requests_all_decide(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["check", "--policy", POLICY, "--requests", str(ROOT / "examples" / "requests.jsonl")],
        capsys,
    )
    outcomes = [json.loads(line)["decision"] for line in out.splitlines()]
    assert code == 0
    assert outcomes == [
        "allow",
        "escalate",
        "approval_required",
        "allow",
        "allow",
        "deny",
        "allow",
        "deny",
        "allow",
        "deny",
        "deny",
    ]


def test_policy_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.policy").write_bytes(b"role agent\nunit \xff\n")
    code, out, _ = run(["lint", str(tmp_path)], capsys)
    assert code == 1  # a finding about the file, as docs/limits.md says of every such bound
    assert (
        f"{tmp_path}/a.policy:2:6: error: not UTF-8 text: the byte 0xff here cannot be decoded "
        "[not-utf8]\n  unit \ufffd\n       ^\n" in out
    )


# An unset shell variable arrives as '': read as "not given" it skipped the anchor check,
# formatted every policy file under `.` (`fmt ''`) or followed HEAD instead of the ref meant.
@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["fmt", ""], "PATH"),
        (["lint", " "], "path"),
        (["check", "--policy", "", "--request", "r.json"], "--policy"),
        (["check", "--repo", ".", "--ref", "", "--request", "r.json"], "--ref"),
        (["audit", "verify", "--anchors", ""], "--anchors"),
        (["audit", "verify", "--decision-log", ""], "--decision-log"),
        (["serve", "--ref", ""], "--ref"),
        (["test", "--junit-xml", ""], "--junit-xml"),
        (["log", "some-rule", "--policy-dir", ""], "--policy-dir"),
    ],
)
def test_an_empty_option_is_refused_by_name(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert (
        capsys.readouterr().err
        == f"replygate: error: {named}: is empty; give a value or leave it out\n"
    )


def test_a_reader_that_goes_away_never_turns_findings_into_success(tmp_path: Path) -> None:
    """`replygate lint BAD | head -1` under `pipefail` exited 0: a failed lint passed CI."""
    import os
    import subprocess
    import sys

    bad = tmp_path / "bad.policy"
    rules = "".join(f'rule r{i} {{ allow on reply by agnt message "m" }}\n' for i in range(3000))
    bad.write_text("role agent\n" + rules, encoding="utf-8")
    read, write = os.pipe()
    os.close(read)  # nobody will read what lint prints
    try:
        done = subprocess.run(
            [sys.executable, "-m", "replygate.cli.main", "lint", str(bad)],
            stdout=write,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141
    assert b"Traceback" not in done.stderr


# ---- fmt, lint and check: names shown safely, and write failures said as such -------------------

UNFORMATTED = 'role agent\nrule x { allow on reply by agent message "m" }\n'


def test_fmt_shows_a_file_name_with_a_newline_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newline in a file name printed raw forged a second line of `fmt --check`'s report."""
    (tmp_path / "a\nb.policy").write_text(UNFORMATTED, encoding="utf-8")
    (tmp_path / "c\nd.policy").write_bytes(b"role \xff\n")
    shown = f"{tmp_path}/a\\nb.policy"
    assert main(["fmt", "--check", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == f"{shown}\n"
    assert f"{tmp_path}/c\\nd.policy:1:6: error: not UTF-8 text: the byte 0xff" in err
    assert main(["fmt", "--diff", str(tmp_path)]) == 2
    out, _ = capsys.readouterr()
    assert out.startswith(f"--- {shown}\n+++ {shown} (formatted)\n@@ ")
    assert "\nb.policy" not in out


def test_fmt_does_not_count_a_file_it_could_not_write_as_reformatted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    policy = tmp_path / "a.policy"
    policy.write_text(UNFORMATTED, encoding="utf-8")

    def refuse(*_: object, **__: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(Path, "write_text", refuse)
    assert main(["fmt", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"replygate: error: cannot write {policy}: Operation not permitted\n" in err
    assert err.endswith("1 file: 0 reformatted, 1 failed\n")


def test_lint_json_names_a_file_that_is_not_utf8_without_a_lone_surrogate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    name = tmp_path / os.fsdecode(b"c\xff.policy")
    name.write_text('rule x {\n  allow on reply by agnt message "m"\n}\n', encoding="utf-8")
    assert main(["lint", "--format", "json", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "\\ud" not in out  # JSON's way of writing a surrogate, which strict readers refuse
    [diagnostic] = json.loads(out)["diagnostics"]
    assert diagnostic["location"]["file"] == f"{tmp_path}/c\\xff.policy"


class _FullDisk(io.StringIO):
    """A stdout on a full disk (`> /dev/full`)."""

    def write(self, text: str) -> int:
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("option", ["--request", "--requests"])
def test_check_says_a_failed_write_is_a_write_failure(
    option: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`check … > /dev/full` said "cannot read requests": the request was read; the answer
    could not be written."""
    request = tmp_path / "r.json"
    request.write_text(json.dumps(REQUEST) + "\n", encoding="utf-8")
    monkeypatch.setattr("sys.stdout", _FullDisk())
    code = main(["check", "--policy", POLICY, option, str(request)])
    assert code == 2
    assert capsys.readouterr().err == (
        "replygate: error: cannot write the answers: No space left on device\n"
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["check", "--request"], "the request is larger than 1,048,576 bytes"),
        (["route", "--request"], "the request is larger than 1,048,576 bytes"),
        (["check", "--requests"], "line 2 is longer than 1,048,576 bytes"),
    ],
)
def test_a_request_larger_than_the_api_takes_is_refused_before_it_is_read_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str], message: str
) -> None:
    """`--request /dev/zero` read until the memory ran out, then a MemoryError traceback."""
    padded = {**REQUEST, "context": {"note": "x" * 1_048_576}}
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps(REQUEST) + "\n" + json.dumps(padded) + "\n", encoding="utf-8")
    if command[1] == "--request":
        big.write_text(json.dumps(padded), encoding="utf-8")
    code, out, err = run([*command, str(big), "--policy", POLICY], capsys)
    assert code == 2
    assert err == f"replygate: error: {big}: {message}\n"
    if command[1] == "--requests":  # the lines before it are answered
        assert json.loads(out)["decision"] == "approval_required"


def test_a_first_line_too_long_behind_a_byte_order_mark_is_refused_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mark was stripped after the size-limited read: the line came out in two pieces."""
    from replygate.engine.models import MAX_REQUEST_BYTES

    lines = tmp_path / "requests.jsonl"
    lines.write_bytes(b"\xef\xbb\xbf" + b"x" * (MAX_REQUEST_BYTES + 1) + b"\n")
    code, out, err = run(["check", "--policy", POLICY, "--requests", str(lines)], capsys)
    assert code == 2
    assert f"line 1 is longer than {MAX_REQUEST_BYTES:,} bytes" in out + err
    assert out.count("\n") <= 1
