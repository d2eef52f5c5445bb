"""The HTTP server's own refusals in the API's error shape.

uvicorn answers a request it cannot parse (a malformed request line, `Content-Length: abc`, a
header name or value that is not HTTP, a broken chunk) by itself, before the app sees it, with
`400 Invalid HTTP request received.` as plain text. `replygate serve` runs uvicorn with this
protocol: uvicorn's httptools protocol with that one answer written as the API's JSON error
instead; everything else is uvicorn's. What uvicorn still answers in its own words is listed in
docs/api.md ("Errors the server answers itself").
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class JsonErrorsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose parse-error answer is `{"code": "bad_request", …}`."""

    def send_400_response(self, msg: str) -> None:
        # The same answer uvicorn writes (status, its default headers, then close), in JSON.
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(BAD_HTTP)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                BAD_HTTP,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
