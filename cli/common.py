"""What several commands share: loading a policy and printing its errors for a person."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replygate.engine.evaluator import CompiledPolicy


def fail(message: str, code: int = 2) -> int:
    """Print `replygate: error: …` on stderr and return the exit code."""
    print(f"replygate: error: {message}", file=sys.stderr)
    return code


def load_or_report(path: str | Path) -> CompiledPolicy | None:
    """Compile the policy at `path`, or print every error in it and return None."""
    from replygate.engine.loader import load_policy
    from replygate.policy_dsl.source import PolicyError

    try:
        return load_policy(path)
    except PolicyError as error:
        print(error.render(), file=sys.stderr)
        return None
    except OSError as error:
        fail(f"cannot read policy: {error}")
        return None
