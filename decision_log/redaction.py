"""Redaction: request fields dropped or replaced by their hash before a record is stored.

    Redactor({"content.text": "hash", "post.text": "drop"}).apply(request)

Fields are named with dots as in the request JSON; a list on the way applies the rest of the
name to each item (`approvals.by`). Names are checked against the request model when the log
opens, so a typo (`content.txt`) is an error instead of a field that silently stays in the log.
A hashed value reads `sha256:<hex>`: of the UTF-8 text for a string, of the canonical JSON
otherwise, so an auditor holding the original can confirm it without the log revealing it.
Unsalted: a short or guessable value can be found by trying candidates; drop what must not be
recoverable.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from replygate.decision_log.chain import canonical
from replygate.engine.models import CheckRequest

__all__ = ["MODES", "Redactor", "hashed"]

MODES = ("drop", "hash")


def hashed(value: Any) -> str:
    """`sha256:<hex>` of a value: the UTF-8 of a string, the canonical JSON of anything else."""
    data = value if isinstance(value, str) else canonical(value)
    return "sha256:" + hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


class Redactor:
    """The redaction rules of one decision log, checked against the request model."""

    def __init__(self, rules: Mapping[str, str] | None = None) -> None:
        self.rules: dict[str, str] = {}
        self._paths: list[tuple[str, tuple[str, ...], str]] = []
        for name, mode in (rules or {}).items():
            if mode not in MODES:
                raise ValueError(f"redact: {name}={mode}: the mode is drop or hash")
            parts = tuple(name.split("."))
            _check_path(parts)
            self.rules[name] = mode
            self._paths.append((name, parts, mode))

    def __bool__(self) -> bool:
        return bool(self._paths)

    def apply(self, request: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """A copy of `request` with the fields redacted, and `name=mode` of each one redacted.

        Only the dicts on a redacted path are copied; the caller's request is never changed.
        """
        done: list[str] = []
        for name, parts, mode in self._paths:
            request, changed = _redact(request, parts, mode)
            if changed:
                done.append(f"{name}={mode}")
        return request, done


def _redact(node: Any, parts: tuple[str, ...], mode: str) -> tuple[Any, bool]:
    if isinstance(node, list):
        changed = False
        items = []
        for item in node:
            new, hit = _redact(item, parts, mode)
            items.append(new)
            changed = changed or hit
        return (items, True) if changed else (node, False)
    if not isinstance(node, dict) or parts[0] not in node:
        return node, False
    key, rest = parts[0], parts[1:]
    if rest:
        inner, changed = _redact(node[key], rest, mode)
        if not changed:
            return node, False
        return {**node, key: inner}, True
    copy = dict(node)
    if mode == "drop":
        del copy[key]
    elif copy[key] is not None:
        copy[key] = hashed(copy[key])
    else:
        return node, False
    return copy, True


def _check_path(parts: tuple[str, ...]) -> None:
    """Raise ValueError unless `parts` names a field of the request (or a key under `context`)."""
    model: type[BaseModel] | None = CheckRequest
    walked: list[str] = []
    for part in parts:
        if not part:
            raise ValueError(f"redact: '{'.'.join(parts)}' has an empty part")
        if model is None:
            if walked and walked[-1] == "context" and len(walked) == 1:
                walked.append(part)
                continue
            raise ValueError(
                f"redact: '{'.'.join(parts)}': {'.'.join(walked)} has no fields below it"
            )
        fields = model.model_fields
        if part not in fields:
            where = ".".join(walked) or "the request"
            raise ValueError(
                f"redact: '{'.'.join(parts)}' names no request field "
                f"({where} has: {', '.join(sorted(fields))})"
            )
        walked.append(part)
        model = _inner_model(fields[part].annotation)


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, looking through Optional and list; None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None
