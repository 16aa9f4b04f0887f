"""Drive the sandbox consent pages as a browser would: read the form, press a button."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from tests.conftest import LiveServer


@dataclass
class Form:
    action: str = ""
    method: str = ""
    inputs: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value)
    labels: dict[str, str] = field(default_factory=dict)  # for= → text


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form = Form()
        self._label_for: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.form.action, self.form.method = a.get("action", ""), a.get("method", "")
        elif tag == "input":
            self.form.inputs.append((a.get("type", "text"), a["name"], a.get("value", "")))
        elif tag == "button":
            self.form.buttons.append((a.get("name", ""), a.get("value", "")))
        elif tag == "label":
            self._label_for = a.get("for")

    def handle_data(self, data: str) -> None:
        if self._label_for is not None and data.strip():
            self.form.labels[self._label_for] = data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None


def parse_form(html: str) -> Form:
    parser = _FormParser()
    parser.feed(html)
    return parser.form


async def press(
    http: httpx2.AsyncClient,
    live: LiveServer,
    page: httpx2.Response,
    decision: str,
    account: str | None = None,
) -> httpx2.Response:
    """Submit the consent form of `page` with its `decision` button, as a browser would (every
    field of the form, the account field retyped when `account` is given)."""
    assert page.status_code == 200, page.text
    form = parse_form(page.text)
    assert form.method == "post"
    assert (("decision", decision)) in form.buttons
    fields = [
        (name, account if account is not None and kind != "hidden" else value)
        for kind, name, value in form.inputs
    ]
    fields.append(("decision", decision))
    return await http.post(
        form.action,
        content=urlencode(fields),
        # What Chromium sends for the page's own form under its no-referrer policy.
        headers={
            "Origin": "null",
            "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def without_query(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
