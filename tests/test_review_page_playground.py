"""The playground's round trips: what a form or a link carries comes back as it was sent."""

from __future__ import annotations

import html
import json
import re

from fastapi.testclient import TestClient
from test_review_page import client, sign_in  # noqa: F401  (the fixture)

REQUEST = {
    "actor": {"id": "carol"},
    "action": "reply",
    "channel": "twitter",
    "at": "2026-12-02T10:00:00+01:00",
    "post": {
        "id": "p1",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 100,
        "received_at": "2026-12-02T09:55:00+01:00",
    },
    "context": {"crisis": True},
}


def textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None, name
    return html.unescape(found.group(1))


def fields(page: str) -> dict[str, str]:
    """The form's fields as a browser submits them (the first newline of a textarea dropped)."""
    found = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input id="[^"]+" name="([^"]+)"[^>]*value="([^"]*)"', page)
    }
    for name in ("text", "context"):
        value = textarea(page, name)
        found[name] = value[1:] if value.startswith("\n") else value
    for name in ("action", "channel", "sentiment"):
        select = re.search(rf'<select id="{name}".*?</select>', page, re.S)
        assert select is not None
        chosen = re.search(r'<option(?: value="([^"]*)")? selected>([^<]*)<', select.group(0))
        assert chosen is not None, name
        found[name] = html.unescape(chosen.group(1) or chosen.group(2))
    return found


def test_a_json_request_s_context_survives_the_form(client: TestClient) -> None:  # noqa: F811
    """The form had no field for `context`: resubmitting it dropped the crisis flag."""
    sign_in(client)
    first = client.get("/playground", params={"mode": "json", "json": json.dumps(REQUEST)}).text
    assert json.loads(textarea(first, "context").strip()) == {"crisis": True}
    again = client.get("/playground", params={**fields(first), "mode": "form"}).text
    assert json.loads(textarea(again, "json"))["context"] == {"crisis": True}


def test_an_undeclared_channel_is_shown_as_asked(client: TestClient) -> None:  # noqa: F811
    """A link with channel=tiktok decided tiktok (deny) while the select showed facebook."""
    sign_in(client)
    page = client.get("/playground", params={"mode": "form", "actor": "carol", "channel": "tiktok"})
    assert '<option value="tiktok" selected>tiktok (not declared)</option>' in page.text
    assert fields(page.text)["channel"] == "tiktok"


def test_the_text_keeps_its_line_breaks_and_a_leading_newline(client: TestClient) -> None:  # noqa: F811
    """A browser sends CRLF (the JSON said "\\r\\n"), and HTML ate the text's first newline."""
    sign_in(client)
    sent = {"mode": "form", "actor": "carol", "text": "\nfirst\r\nsecond"}
    page = client.get("/playground", params=sent).text
    assert json.loads(textarea(page, "json"))["content"]["text"] == "\nfirst\nsecond"
    assert fields(page)["text"] == "\nfirst\nsecond"


def test_an_unencoded_plus_offset_is_read_as_every_page_reads_it(client: TestClient) -> None:  # noqa: F811
    """`at=2026-12-02T10:00:00+01:00` typed into the address arrives with a space: refused."""
    sign_in(client)
    address = "/playground?mode=form&actor=carol&at=2026-12-02T10:00:00+01:00&received_at=2026-12-02T09:55:00+01:00"
    page = client.get(address).text
    assert 'class="error"' not in page
    assert 'data-decision="' in page
