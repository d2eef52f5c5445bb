"""`policy.digest`: the version of a policy that decided, for a folder (which has no commit)
as for a commit. Found by a consistency probe: a folder's decisions and log records named no
version at all, so no auditor could tell which text had decided."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gitrepo import commit_policies, example_sources, make_repo
from test_api import REQUEST, auth, make_settings

from replygate.api.app import create_app
from replygate.engine.models import CheckRequest, policy_digest
from replygate.engine.source import PolicySource

ROOT = Path(__file__).resolve().parent.parent


def test_the_digest_is_the_texts_and_names_in_name_order() -> None:
    sources = {"p/b.policy": "unit b\n", "p/a.policy": "unit a\n"}
    assert policy_digest(sources) == policy_digest(dict(reversed(sources.items())))
    assert policy_digest(sources).startswith("sha256:") and len(policy_digest(sources)) == 71
    changed = [
        {**sources, "p/b.policy": "unit c\n"},  # one character
        {"p/b.policy": "unit b\n", "p/a.policy2": "unit a\n"},  # a name
        {"p/a.policy": "unit a\n"},  # a file fewer
        # The same bytes, cut between the files elsewhere: lengths keep them apart.
        {"p/a.policy": "unit a\nunit b\n", "p/b.policy": ""},
    ]
    assert len({policy_digest(s) for s in changed} | {policy_digest(sources)}) == 5


def test_a_folder_and_the_commit_of_the_same_files_have_one_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path)
    sha = commit_policies(repo, example_sources(), "the example policy")
    request = CheckRequest.model_validate(REQUEST)
    monkeypatch.chdir(repo.working_tree_dir)
    folder = PolicySource.folder("policies").load().decide(request)
    commit = PolicySource.git(".", sha).load().decide(request)
    assert folder.policy.commit is None and commit.policy.commit == sha
    assert folder.policy.digest == commit.policy.digest == policy_digest(example_sources())


def test_a_served_folders_decisions_and_log_name_its_digest(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    sources = PolicySource.folder(str(folder)).read()[1]
    with TestClient(create_app(make_settings(tmp_path, policy=str(folder)))) as client:
        answer = client.post("/v1/check", json=REQUEST, headers=auth("auditor"))
        assert answer.status_code == 200, answer.text
        digest = answer.json()["policy"]["digest"]
        assert digest == policy_digest(sources)
        logged = client.get(
            f"/v1/decisions/{answer.json()['decision_id']}", headers=auth("auditor")
        )
        assert logged.json()["decision"]["policy"]["digest"] == digest
        status = client.get("/v1/policy", headers=auth("auditor")).json()
        assert status["digest"] == digest
    os.utime(folder / "care.policy")  # touched, not changed: the same version
    assert PolicySource.folder(str(folder)).load().version.digest == digest
