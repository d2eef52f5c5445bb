"""`audit verify --anchors`: an anchor counts only when it is genuine (docs/decision-log.md).

With the log key, an anchor must carry a valid signature under it: one whose signature was
removed (the easiest forgery: truncate the log, strip the signature, move the head back) is a
finding, exit 1. An anchors file that is not an anchor (`{}`, no heads, heads of the wrong
shape) is an error naming the problem, exit 2. Without the key the signature cannot be checked,
and the report says so.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from replygate.cli.main import main
from replygate.decision_log import open_decision_log
from replygate.decision_log.anchors import AnchorUnsigned, load_anchor, read_anchor
from tests.test_decision_log import record, written
from tests.test_decision_log_tamper import KEY, WRITER, truncated


@pytest.fixture
def anchored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], Path]:
    """A keyed log of 5 records anchored at seq 5: the common options and the anchor file."""
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with open_decision_log(url, writer_id=WRITER, key=KEY) as log:
        written(log, [record(minute) for minute in range(5)])
    key_file = tmp_path / "log.key"
    key_file.write_bytes(KEY + b"\n")
    common = ["audit", "verify", "--decision-log", url, "--log-key-file", str(key_file)]
    anchor = tmp_path / "anchor.json"
    assert main(["audit", "anchor", *common[2:], "--out", str(anchor)]) == 0
    capsys.readouterr()
    return common, anchor


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def forge(anchor: Path, tmp_path: Path) -> Path:
    """Truncate the log to seq 3, then rewrite the anchor to match, without the signature."""
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        truncated(conn)
        seq, digest, decision_id = conn.execute(
            "SELECT seq, hash, decision_id FROM decisions ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    data = json.loads(anchor.read_text())
    del data["signature"]
    data["heads"][WRITER] = {"seq": seq, "hash": digest, "decision_id": decision_id}
    forged = tmp_path / "anchor_forged.json"
    forged.write_text(json.dumps(data))
    return forged


def test_a_genuine_anchor_verifies_and_says_its_signature_is_valid(
    anchored: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, anchor = anchored
    code, out, _ = run(capsys, *common, "--anchors", str(anchor))
    assert code == 0
    assert out.splitlines() == [
        "OK: 5 records in 1 chain verified (keyed)",
        f"Anchors {anchor}: 1 chain head; signature valid under the log key",
    ]
    code, out, _ = run(capsys, *common, "--anchors", str(anchor), "--format", "json")
    assert json.loads(out)["anchors"] == {"source": str(anchor), "chains": 1, "signature": "valid"}


def test_an_anchor_with_its_signature_removed_is_a_finding_with_the_key(
    tmp_path: Path, anchored: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, anchor = anchored
    forged = forge(anchor, tmp_path)
    code, out, err = run(capsys, *common, "--anchors", str(forged))
    assert (code, err) == (1, "")
    assert out.startswith(f"FAILED: unsigned: anchors {forged} carry no signature")
    code, out, _ = run(capsys, *common, "--anchors", str(forged), "--format", "json")
    report = json.loads(out)
    assert (code, report["ok"], report["anchors"]["signature"]) == (1, False, None)
    assert report["first_problem"].startswith("unsigned: ")
    with pytest.raises(AnchorUnsigned):
        load_anchor(str(forged), KEY)
    # The genuine anchor still finds the truncation.
    code, out, _ = run(capsys, *common, "--anchors", str(anchor))
    assert code == 1
    assert f"FAILED: removed: chain {WRITER} was anchored at seq 5 but it ends at seq 3" in out


def test_heads_are_not_saved_unsigned_for_a_keyed_log(
    tmp_path: Path, anchored: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Every later `--anchors` check with the key would refuse them: say so now, not then.
    common, anchor = anchored
    heads = tmp_path / "heads.json"
    code, _, err = run(capsys, *common, "--save-heads", str(heads))
    assert code == 2 and "use `replygate audit anchor`" in err
    assert not heads.exists()
    unsigned = json.loads(anchor.read_text())
    del unsigned["signature"]
    heads.write_text(json.dumps(unsigned))
    code, out, _ = run(capsys, *common, "--anchors", str(heads))
    assert code == 1 and out.startswith("FAILED: unsigned: ")


def test_an_altered_anchor_is_a_finding_that_names_it(
    anchored: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common, anchor = anchored
    data = json.loads(anchor.read_text())
    data["heads"][WRITER]["seq"] = 2
    anchor.write_text(json.dumps(data))
    code, out, _ = run(capsys, *common, "--anchors", str(anchor))
    assert code == 1
    assert out.startswith(f"FAILED: altered: anchors {anchor}: the signature does not match")


def test_without_the_key_the_report_says_the_signature_was_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An unkeyed log whose anchor was signed by the auditors' key: verified without the key,
    # the heads are checked, and the report says the signature was not.
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with open_decision_log(url, writer_id=WRITER) as log:
        written(log, [record(minute) for minute in range(3)])
    key_file = tmp_path / "log.key"
    key_file.write_bytes(KEY)
    anchor = tmp_path / "anchor.json"
    assert main(["audit", "anchor", "--decision-log", url, "--log-key-file", str(key_file),
                 "--allow-unkeyed", "--out", str(anchor)]) == 0  # fmt: skip
    capsys.readouterr()
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url, "--anchors", str(anchor))
    assert code == 0
    assert out.splitlines()[1] == (
        f"Anchors {anchor}: 1 chain head; signed, but the signature was not checked: no log key "
        "was given"
    )
    assert read_anchor(str(anchor), None).signature == "not checked"
    data = json.loads(anchor.read_text())
    del data["signature"]
    anchor.write_text(json.dumps(data))
    assert read_anchor(str(anchor), None).signature == "unsigned"
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url, "--anchors", str(anchor))
    assert code == 0
    assert "not signed, so whoever can write that file could have written them" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({}, 'no "heads": not an anchor'),
        ([], "not an anchor of `replygate audit anchor`"),
        ({"heads": {}}, '"heads" names no chain'),
        ({"heads": []}, '"heads" names no chain'),
        ({"heads": {WRITER: {"seq": 3}}}, f"the head of chain {WRITER} has no hash"),
        (
            {"heads": {WRITER: {"seq": None, "hash": None}}},
            f"the head of chain {WRITER} has no seq",
        ),
        ({"heads": {WRITER: {"seq": "3", "hash": "x"}}}, f"the head of chain {WRITER} has no seq"),
        ({"heads": {WRITER: {"seq": True, "hash": "x"}}}, f"the head of chain {WRITER} has no seq"),
        ({"heads": {WRITER: 5}}, f"the head of chain {WRITER} has no seq"),
        ({"replygate_anchor": 7, "heads": {WRITER: {"seq": 1, "hash": "x"}}}, "anchor format 7"),
        # Found by probing the log: a traceback, printing the chain id or the key's fingerprint.
        ({"heads": {"\ud800": {"seq": 1, "hash": "x"}}}, "holds a lone surrogate (\\ud800)"),
        (
            {"heads": {WRITER: {"seq": 1, "hash": "x"}}, "key": "\udfff", "signature": "x"},
            "holds a lone surrogate (\\udfff), which is not a character",
        ),
    ],
)
def test_an_anchors_file_that_is_no_anchor_is_an_error_naming_the_problem(
    tmp_path: Path,
    anchored: tuple[list[str], Path],
    capsys: pytest.CaptureFixture[str],
    content: Any,
    message: str,
) -> None:
    common, _ = anchored
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    for argv in (common, common[:4]):  # with and without the key
        code, out, err = run(capsys, *argv, "--anchors", str(path))
        assert (code, out) == (2, "")
        assert err.startswith(f"replygate: error: anchors {path}: ")
        assert message in err


def test_an_anchors_file_with_a_number_too_long_to_read_is_an_error_naming_it(
    tmp_path: Path, anchored: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Python refuses to read an integer of more than 4300 digits, with advice for programmers.
    common, _ = anchored
    path = tmp_path / "long.json"
    path.write_text(f'{{"heads": {{"{WRITER}": {{"seq": {"9" * 5000}, "hash": "x"}}}}}}')
    code, out, err = run(capsys, *common, "--anchors", str(path))
    assert (code, out) == (2, "")
    assert err == (
        f"replygate: error: anchors {path}: holds a number of more than 4300 digits, which no "
        "anchor has\n"
    )


def test_an_empty_log_is_not_anchored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    open_decision_log(url).close()
    key_file = tmp_path / "log.key"
    key_file.write_bytes(KEY)
    out_file = tmp_path / "anchor.json"
    code, _, err = run(capsys, "audit", "anchor", "--decision-log", url, "--log-key-file",
                       str(key_file), "--out", str(out_file))  # fmt: skip
    assert code == 2 and "nothing to anchor" in err
    assert not out_file.exists()
