"""Reading the small files the audit tools are given (log keys, anchors) with a size bound.

    data = read_bounded(path, MAX_KEY_FILE_BYTES, "log key file")

A key file or an anchor is small; a path to something endless (`/dev/zero`, a FIFO left open,
a log file named by mistake) must not be read into memory until it runs out. Every such file
is read here, at most `limit` bytes; a file that holds more is an error naming it and the limit.
"""

from __future__ import annotations

__all__ = ["read_bounded"]


def read_bounded(path: str, limit: int, what: str) -> bytes:
    """At most `limit` bytes of the file at `path`; ValueError naming `what` and the path.

    Raised when the file cannot be read or holds more than `limit` bytes.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise ValueError(f"{what} {path}: {error.strerror or error}") from None
    if len(data) > limit:
        raise ValueError(f"{what} {path}: larger than {_size(limit)}, the most it may hold")
    return data


def _size(limit: int) -> str:
    if limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit} bytes"
