"""The sandbox providers' HTML: a consent page with Approve/Deny, and an error page.

Small, static, accessible pages (one labelled field, real buttons, no script). Every value
echoed into them is escaped. They carry their own Content-Security-Policy: the app's default
(`form-action 'self'`) would block the approval, whose redirect chain leaves this origin for the
client's redirect URI.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action *; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}

PROVIDER_NAMES = {
    "amazon": "Amazon Seller Central (sandbox)",
    "google": "Google Account (sandbox)",
    "stripe": "Stripe (sandbox)",
    "sandbox": "Sandbox provider",
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.5;color:#1b1b1b;
background:#f6f7f9;margin:0}
main{max-width:34rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;
border:1px solid #d8dbe0}
.note{background:#fff4ce;border:1px solid #d9b84a;border-radius:4px;padding:.5rem .75rem;
margin:0 0 1rem}
h1{font-size:1.4rem;margin:.25rem 0 1rem}h2{font-size:1.05rem;margin:1.25rem 0 .25rem}
label{display:block;font-weight:600;margin-top:1.25rem}
input{box-sizing:border-box;width:100%;font-size:1rem;padding:.55rem;margin-top:.25rem;
border:1px solid #767676;border-radius:4px}
.hint{color:#4a4a4a;font-size:.9rem;margin:.25rem 0 0}
.error{color:#b3261e;font-weight:600;margin:.25rem 0 0}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{font-size:1rem;padding:.6rem 1.4rem;border-radius:4px;cursor:pointer;
border:1px solid #1b1b1b;background:#fff;color:#1b1b1b}
button.primary{background:#0b57d0;border-color:#0b57d0;color:#fff}
:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
code,output{overflow-wrap:anywhere;font-family:ui-monospace,monospace}
dt{font-weight:600;margin-top:.5rem}dd{margin:0}
"""


@dataclass(frozen=True)
class AccountField:
    """The one thing the person types: who they are at the provider."""

    name: str
    label: str
    value: str
    hint: str
    input_type: str = "text"
    autocomplete: str = "off"


def consent_page(
    *,
    provider: str,
    heading: str,
    intro: str,
    permissions: Sequence[str],
    action: str,
    hidden: Iterable[tuple[str, str]],
    account: AccountField,
    redirect_uri: str,
    error: str | None = None,
) -> HTMLResponse:
    """The consent form; `error` re-shows it with a message about the typed account."""
    hidden_inputs = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden
    )
    items = "\n".join(f"<li>{escape(item)}</li>" for item in permissions)
    destination = urlsplit(redirect_uri).netloc or redirect_uri
    described_by = "account-error account-hint" if error else "account-hint"
    error_html = (
        f'<p class="error" id="account-error" role="alert">{escape(error)}</p>' if error else ""
    )
    invalid = ' aria-invalid="true"' if error else ""
    body = f"""
<p class="note" role="note">{escape(PROVIDER_NAMES.get(provider, provider))}: a stand-in for
the real provider. No real account or data is involved.</p>
<h1>{escape(heading)}</h1>
<p>{escape(intro)}</p>
<h2 id="permissions">Requested access</h2>
<ul aria-labelledby="permissions">
{items}
</ul>
<form method="post" action="{escape(action)}">
{hidden_inputs}
<label for="account">{escape(account.label)}</label>
<input id="account" name="{escape(account.name)}" type="{escape(account.input_type)}"
 value="{escape(account.value)}" required autocomplete="{escape(account.autocomplete)}"
 aria-describedby="{described_by}"{invalid}>
{error_html}
<p class="hint" id="account-hint">{escape(account.hint)}</p>
<div class="actions">
<button type="submit" name="decision" value="approve" class="primary">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>
<p class="hint">Either way you will be sent back to <code>{escape(destination)}</code>.</p>
"""
    return _page(heading, body, 400 if error else 200)


def result_page(provider: str, title: str, params: Sequence[tuple[str, str]]) -> HTMLResponse:
    """An authorization response shown rather than redirected (no redirect URI to go to);
    each value sits in an `<output>` whose id is its parameter name."""
    rows = "\n".join(
        f'<dt>{escape(name)}</dt><dd><output id="{escape(name)}">{escape(value)}</output></dd>'
        for name, value in params
        if value
    )
    body = f"""
<p class="note" role="note">{escape(PROVIDER_NAMES.get(provider, provider))}</p>
<h1>{escape(title)}</h1>
<dl>
{rows}
</dl>
<p class="hint">Hand these values to the application that opened this window.</p>
"""
    return _page(title, body, 200)


def error_page(provider: str, code: str, message: str, status_code: int) -> HTMLResponse:
    title = f"Error {status_code}: {code}"
    body = f"""
<p class="note" role="note">{escape(PROVIDER_NAMES.get(provider, provider))}</p>
<h1>{escape(title)}</h1>
<p role="alert">{escape(message)}</p>
<p class="hint">The application that sent you here made an invalid request. Nothing was
authorized.</p>
"""
    return _page(title, body, status_code)


def _page(title: str, body: str, status_code: int) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""
    return HTMLResponse(document, status_code=status_code, headers=PAGE_HEADERS)
