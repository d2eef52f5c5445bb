"""replygate: governance as code for social-media publishing.

The installed distribution is this one package. Its subpackages live at the top of the
repository (`policy_dsl/`, `engine/`, `decision_log/`, `api/`, `cli/`, `scenarios/`) and are
mapped under `replygate.` by `pyproject.toml`, so nothing generic lands in site-packages.
"""

__version__ = "0.2.0"
