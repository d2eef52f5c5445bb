"""Schemathesis over the OpenAPI document: no server errors, every response as documented.

Requests are generated from the schema (valid and invalid ones), sent in-process through ASGI
with a key that holds every scope, and each response is checked against the documented status
codes, content types and schemas. Examples are bounded so the whole run stays well under a
minute.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi

from replygate.api.app import create_app
from replygate.api.auth import inline_keys
from replygate.api.settings import Settings

ROOT = Path(__file__).absolute().parent.parent
KEY = "rg_schemathesis_key"
_folder = Path(tempfile.mkdtemp(prefix="replygate-schemathesis-"))

app = create_app(
    Settings(
        policy=str(ROOT / "policies"),
        decision_log=f"sqlite:///{_folder / 'decisions.db'}",
        api_keys=inline_keys([("schemathesis", KEY, ["check", "audit", "admin"])]),
        batch_limit=20,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

# What the issue asks for: no 5xx, and every response as the document says. Schemathesis's
# `positive_data_acceptance` is left out on purpose: a schema-valid request may still be refused
# with a 422 for reasons a JSON schema cannot state (a reply without its post, a ref name git
# refuses, history asked of a server that serves a folder).
CHECKS = [
    not_a_server_error,
    openapi.status_code_conformance,
    openapi.content_type_conformance,
    openapi.response_headers_conformance,
    openapi.response_schema_conformance,
    openapi.negative_data_rejection,
]
# A batch answers 200 even when an item is invalid: that item gets its error in place, by design.
BATCH_CHECKS = [check for check in CHECKS if check is not openapi.negative_data_rejection]


@schema.parametrize()
# Derandomised: the same 25 cases each run. A random run once drew a "negative" request whose
# only faults were a missing Authorization header (which this test supplies) and an extra query
# parameter the URL could not carry, so a valid request was counted as accepted bad data.
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_error_and_responses_match_the_schema(case: schemathesis.Case[Any]) -> None:
    checks = BATCH_CHECKS if case.operation.path == "/v1/check/batch" else CHECKS
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=checks)
