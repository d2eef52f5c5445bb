"""The HTTP server's own refusals in the API's error shape.

uvicorn answers a request it cannot parse (a malformed request line, `Content-Length: abc`, a
header name or value that is not HTTP, a broken chunk) by itself, before the app sees it, with
`400 Invalid HTTP request received.` as plain text. `replygate serve` runs uvicorn with this
protocol: uvicorn's httptools protocol with that one answer written as the API's JSON error
instead; everything else is uvicorn's. What uvicorn still answers in its own words is listed in
docs/api.md ("Errors the server answers itself").

It also bounds how long a request may take to arrive. uvicorn times out an idle keep-alive
connection only after a response; a connection that never finishes its request (nothing sent,
headers a byte a second, half a body) was held for ever, and 20,000 of them took every file
descriptor, so no client could connect. From the first byte of a request (or from the
connection, for the first one) to its last, at most `request_timeout` seconds may pass; then a
request still without its headers is answered 408 in the API's error shape and the connection
closed, and one whose body is late is closed (the app sees the client gone). The cut comes
between one and one and a half timeouts after the request began.

The same bound holds for answers the client does not take. uvicorn has no send timeout: a
client that pipelines requests and never reads (no key needed, `GET /openapi.json` will do)
held its connection, the parsed requests and the unsent answers for ever, about half a
megabyte each, and the memory stayed with the process after the clients left. When an answer
waits for the client to read (the transport's buffer past its high-water mark) and the client
takes nothing that lets it resume for a whole timeout, the connection is aborted: the unsent
bytes are dropped and the answer's task sees the client gone. A client that reads, however
slowly, resumes the writing each time the buffer falls to its low-water mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import struct

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from replygate.api.errors import error_body

# uvicorn's `--http` option takes this as "module:Class" (each worker process imports it).
NAME = "replygate.api.protocol:JsonErrorsProtocol"

BAD_HTTP = (
    error_body(
        "bad_request",
        "the request is not valid HTTP/1.1 (its request line, a header or Content-Length cannot "
        "be read); nothing was decided",
    )
    .model_dump_json(exclude_none=True)
    .encode()
)


TOO_SLOW = (
    error_body(
        "request_timeout",
        "the request did not arrive in time (its headers and body must arrive within "
        "--request-timeout seconds); nothing was decided",
    )
    .model_dump_json(exclude_none=True)
    .encode()
)
DEFAULT_REQUEST_TIMEOUT = 30.0


def _request_timeout() -> float:
    # Workers are new interpreters: `replygate serve` passes its settings as REPLYGATE_*.
    try:
        value = float(os.environ.get("REPLYGATE_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT))
    except ValueError:
        return DEFAULT_REQUEST_TIMEOUT
    return value if math.isfinite(value) and value > 0 else DEFAULT_REQUEST_TIMEOUT


class JsonErrorsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose own answers are in the API's error shape, and which
    closes a connection whose request does not arrive within `request_timeout` seconds."""

    request_timeout = _request_timeout()
    # Nothing per request (a timer made and cancelled for every request cost ~3.5 µs of CPU,
    # and hooks on every request ~2 µs: `bench.bench_ab`). A timer per connection looks every
    # half timeout at uvicorn's own state instead: the same request cycle seen three times in
    # a row while the request has not arrived whole means it has been arriving for at least
    # the timeout (at most one and a half).
    _arrival: asyncio.TimerHandle | None = None
    _seen: tuple[object, ...] = ()
    # Writing: how often the client let a paused write resume, and the checks in a row that
    # found writing paused with that count unchanged.
    _resumed = 0
    _stalled: tuple[int, ...] = ()
    # The pipelined request whose answer is being written. uvicorn tells only its newest
    # request (`self.cycle`) that the client left, so a pipelined one woken from waiting to
    # write wrote to the closed connection: a traceback per cut.
    _started: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arrival = self.loop.call_later(self.request_timeout / 2, self._check_arrival)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None
        started = self._started
        if isinstance(started, RequestResponseCycle) and not started.response_complete:
            started.disconnected = True
            started.message_event.set()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        if self.pipeline:
            self._started = self.pipeline[-1][0]  # uvicorn starts it next
        super().on_response_complete()

    def _check_arrival(self) -> None:
        self._arrival = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        # Arriving: no headers yet; a body not yet whole; or, after a response, a next request
        # begun. A connection idle since its response is not arriving: uvicorn's keep-alive
        # timer (armed after the response, cancelled by the next byte) closes it silently in
        # 5 s, and a shorter --request-timeout must not answer 408 to a client that asked
        # nothing.
        idle = cycle is not None and self.timeout_keep_alive_task is not None
        arriving = not idle and (cycle is None or cycle.response_complete or cycle.more_body)
        self._seen = (*self._seen[-2:], cycle) if arriving else ()
        if len(self._seen) == 3 and all(seen is cycle for seen in self._seen):
            self._too_slow()
            return
        paused = self.flow is not None and self.flow.write_paused
        self._stalled = (*self._stalled[-2:], self._resumed) if paused else ()
        if len(self._stalled) == 3 and len(set(self._stalled)) == 1:
            self._drop()
            return
        self._arrival = self.loop.call_later(self.request_timeout / 2, self._check_arrival)

    def _drop(self) -> None:
        """Reset the connection: the client reads nothing, so what it never took is dropped,
        by the kernel too (a plain close would keep the unsent bytes queued to a client that
        does not read, in an orphaned socket, for minutes)."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def resume_writing(self) -> None:
        self._resumed += 1
        super().resume_writing()

    def _too_slow(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._answer(b"408 Request Timeout", TOO_SLOW)  # no answer is being written
        else:
            self.transport.close()  # the app is reading the body: it sees the client gone

    def send_400_response(self, msg: str) -> None:
        self._answer(b"400 Bad Request", BAD_HTTP)

    def _answer(self, status: bytes, body: bytes) -> None:
        # The same answer uvicorn writes (status, its default headers, then close), in JSON.
        content = [b"HTTP/1.1 " + status + b"\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
