"""Key and anchor files are read with a bound (decision_log/files.py): a path to something
endless (`/dev/zero`) or huge is an error naming the file and the limit, never a runaway read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from replygate.cli.main import main
from replygate.decision_log import open_decision_log
from replygate.decision_log.anchors import MAX_ANCHOR_BYTES, load_anchor
from replygate.decision_log.files import read_bounded
from replygate.decision_log.keys import MAX_KEY_FILE_BYTES, load_key

KEY = b"k" * 32


def test_a_key_file_up_to_the_bound_is_read(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    path.write_bytes(KEY + b" " * (MAX_KEY_FILE_BYTES - len(KEY) - 1) + b"\n")
    assert load_key(str(path), {}) == KEY


def test_a_key_file_beyond_the_bound_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    path.write_bytes(b"k" * (MAX_KEY_FILE_BYTES + 1))
    with pytest.raises(ValueError, match=f"log key file {path}: larger than 4 KiB"):
        load_key(str(path), {})


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_as_a_key_or_an_anchor_is_refused_without_reading_it_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    open_decision_log(url).close()
    for option in ("--log-key-file", "--anchors"):
        assert main(["audit", "verify", "--decision-log", url, option, "/dev/zero"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("replygate: error: ")
        assert "/dev/zero: larger than" in err
    with pytest.raises(ValueError, match="larger than 64 MiB"):
        load_anchor("/dev/zero", KEY)
    assert MAX_ANCHOR_BYTES == 64 << 20


def test_read_bounded_names_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"log key file {tmp_path}: Is a directory"):
        read_bounded(str(tmp_path), 10, "log key file")
    with pytest.raises(ValueError, match="No such file"):
        read_bounded(str(tmp_path / "nothing"), 10, "anchors file")
