"""Scaled policies: the bundled example policy plus N generated rules that a request rarely hits.

Real policy sets grow by grants: per-account publishing rights, per-person exceptions, extra
categories, roles for other teams. The generated rules mix those shapes so that the index, not
luck, keeps a decision's cost flat as the rule count grows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = ("twitter", "facebook", "instagram", "linkedin")


def _rule(number: int) -> str:
    channel = CHANNELS[number % len(CHANNELS)]
    shape = number % 4
    if shape == 0:
        return (
            f"rule grant-account-{number} {{\n    allow\n    on post\n    via {channel}\n    by agent\n"
            f'    when account == "@brand-{number}"\n    message "Agents may post for brand {number}."\n}}\n'
        )
    if shape == 1:
        return (
            f"rule person-exception-{number} {{\n    allow\n    on reply\n    by anyone\n"
            f'    when actor.id == "contractor-{number}" and post.sentiment != negative\n'
            f'    message "Contractor {number} may answer non-negative posts."\n}}\n'
        )
    if shape == 2:
        return (
            f"rule category-{number} {{\n    require approval from legal\n    on reply\n    by agent\n"
            f"    when post.category == topic-{number}\n"
            f'    message "Posts about topic {number} need legal."\n}}\n'
        )
    return (
        f"rule team-{number} {{\n    allow\n    on reply, post\n    via {channel}\n    by team_{number}\n"
        f"    when post.author_reach < {1000 + number}\n"
        f'    message "Team {number} may answer small accounts."\n}}\n'
    )


def generated_sources(extra_rules: int) -> dict[str, str]:
    """The example policy's files plus `generated.policy` holding `extra_rules` rules."""
    sources = {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "policies").glob("*.policy"))
    }
    roles = "".join(f"role team_{n}\n" for n in range(3, extra_rules, 4))
    # The example policy declares its categories: the extra ones are declared here.
    topics = [f"topic-{n}" for n in range(2, extra_rules, 4)]
    categories = f"category {', '.join(topics)}\n" if topics else ""
    rules = "\n".join(_rule(n) for n in range(extra_rules))
    sources["policies/generated.policy"] = roles + categories + "\n" + rules
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rules", type=int)
    parser.add_argument("out", type=Path, help="folder to write the policy set into")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in generated_sources(args.rules).items():
        (args.out / Path(name).name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
