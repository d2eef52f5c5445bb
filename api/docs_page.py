"""`/docs`: Swagger UI for the API, as locked down as the review pages it shares an origin with.

FastAPI's own page loads `swagger-ui-dist@5` (whatever version that is today) from a CDN with
no integrity check and no Content-Security-Policy: a script the CDN served would run with the
review pages' origin, read their CSRF tokens and fetch the decision log with a signed-in
reviewer's cookie. Here one version is pinned, each file carries its Subresource Integrity hash
(the browser refuses any other bytes), and the page's policy allows those two files and its own
inline start-up script only. `/redoc` (another CDN script) is not served.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

# swagger-ui-dist 5.35.0 from the npm registry: sha384 of the files as published
# (`openssl dgst -sha384 -binary FILE | base64`). A new version needs both hashes anew.
_DIST = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"
_SCRIPT = f"{_DIST}/swagger-ui-bundle.js"
_STYLE = f"{_DIST}/swagger-ui.css"
_INTEGRITY = {
    _SCRIPT: "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
    _STYLE: "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def mount(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve `/docs` (the app must be made with `docs_url=None, redoc_url=None`)."""
    html = _pinned(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_SCRIPT,
            swagger_css_url=_STYLE,
            swagger_favicon_url="data:,",  # no request to another site for an icon
        ).body.decode("utf-8")
    )
    inline = [
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html)
    ]
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {_SCRIPT} {' '.join(inline)}; "
            # Swagger UI sets style attributes as it renders.
            f"style-src {_STYLE} 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)


def _pinned(html: str) -> str:
    """The page with each CDN file's integrity hash; RuntimeError if FastAPI's page changed
    so that one is no longer where it was (the page would load unchecked code)."""
    for url, digest in _INTEGRITY.items():
        attribute = "src" if url.endswith(".js") else "href"
        written = f'{attribute}="{url}"'
        if html.count(written) != 1:
            raise RuntimeError(f"/docs: FastAPI's Swagger UI page no longer loads {url} once")
        html = html.replace(written, f'{written} integrity="{digest}" crossorigin="anonymous"')
    return html
