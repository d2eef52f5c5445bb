"""The floor of the HTTP stack: FastAPI validating the same check body, answering a constant.

`uvicorn bench.floor_app:app --loop uvloop --http httptools` serves it exactly as `replygate
serve` serves the real API. It reads the body and validates it the same fast way as the API
(`CheckRequest.model_validate_json` on the bytes), through FastAPI's full stack: a route,
its middleware and the request/response wrappers. The API's check endpoints skip those layers
(`api/hot_path.py`), so the ratio between the two is what the policy engine, the
authentication and the decision log cost on top of the stack, less what the hot path saves;
the floor is what a plain FastAPI endpoint doing a check's parsing answers, not the most this
server could.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from replygate.engine.models import CheckRequest, Decision, PolicyVersion

CONSTANT = Decision(decision="allow", policy=PolicyVersion(files=["floor"])).model_dump_json()

# FastAPI's OpenTelemetry hooks are off, as in the API: the floor is the best this stack does.
app = FastAPI(
    title="replygate floor",
    openapi_url=None,
    docs_url=None,
    redoc_url=None,
    telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
)


@app.post("/v1/check")
async def check(request: Request) -> Response:
    """Validate the body as a CheckRequest and answer the same decision every time."""
    CheckRequest.model_validate_json(await request.body())
    return Response(CONSTANT, media_type="application/json")


@app.get("/readyz")
async def readyz() -> Response:
    """Ready as soon as it runs."""
    return Response('{"status":"ready"}', media_type="application/json")
