"""The sandbox's Gmail search syntax: each operator, OR, negation, quotes, groups, together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from opside_hub.sandbox.google.mailbox import Attachment, MailMessage
from opside_hub.sandbox.google.search import Context, QueryError, parse_query, words
from tests.conftest import LiveServer
from tests.sandbox.gmail import add_message, gmail, list_all, token_for
from tests.sandbox.test_google import assert_google_error

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
OWNER = "seller@example.com"
DAY_MS = 86_400_000


def at(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp() * 1000)


def message(
    key: str,
    *,
    sender: str,
    subject: str,
    days_ago: float,
    to: str = OWNER,
    cc: str = "",
    text: str = "",
    files: tuple[str, ...] = (),
    labels: tuple[str, ...] = ("INBOX",),
    size: int = 100,
) -> MailMessage:
    return MailMessage(
        id=key,
        thread_id=key,
        internal_ms=at(days_ago),
        label_ids=labels,
        sender=sender,
        to=to,
        cc=cc,
        subject=subject,
        text=text,
        attachments=tuple(Attachment(name, "application/pdf", b"x" * size) for name in files),
        message_id_header=f"<{key}@mail.example>",
    )


MAILBOX = [
    message(
        "acme",
        sender="Acme Supplies Ltd <billing@acme-supplies.example>",
        subject="Invoice INV-2026-0147 from Acme Supplies",
        text="Please find attached our invoice.",
        days_ago=10,
        files=("Invoice INV-2026-0147.pdf", "INV-2026-0147-lines.csv"),
        labels=("INBOX", "UNREAD", "Label_1"),
        cc="bookkeeping@example.com",
    ),
    message(
        "globex",
        sender="Globex <invoices@globex.example>",
        subject="Receipt for your payment",
        text="Thank you for your payment.",
        days_ago=400,
        files=("SCAN_0012.PNG",),
        size=5000,
    ),
    message(
        "yiwu",
        sender="Yiwu Sunrise Trading <sales@yiwu-sunrise.example>",
        subject="Purchase order PO-7731 confirmed",
        text="We confirm your purchase order.",
        days_ago=800,
        files=("PO-7731.pdf",),
    ),
    message(
        "news",
        sender="Seller Weekly <news@sellerweekly.example>",
        subject="Weekly news: order tips",
        text="Keep every invoice and receipt, and order early for Q4.",
        days_ago=3,
        labels=("INBOX", "CATEGORY_PROMOTIONS"),
    ),
    message(
        "reply",
        sender="Seller <seller@example.com>",
        to="Acme Supplies Ltd <billing@acme-supplies.example>",
        subject="Re: Invoice INV-2026-0147 from Acme Supplies",
        text="Paid today.",
        days_ago=9,
        labels=("SENT",),
    ),
]
IDS = {m.id: m for m in MAILBOX}


def search(query: str) -> list[str]:
    parsed = parse_query(query)
    context = Context(owner=words(OWNER), now_ms=at(0))
    return [m.id for m in MAILBOX if parsed.matches(m.searchable(), context)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # bare words match whole words anywhere: subject, sender, recipients, body, file names
        ("invoice", ["acme", "news", "reply"]),
        ("INVOICE", ["acme", "news", "reply"]),
        ("invoic", []),
        ("acme", ["acme", "reply"]),
        ("lines", ["acme"]),
        ("purchase order", ["yiwu"]),
        ("order", ["yiwu", "news"]),
        # quoted phrases: consecutive words
        ('"purchase order"', ["yiwu"]),
        ('"order purchase"', []),
        ('"for your payment"', ["globex"]),
        # from:, to:, cc:, subject:
        ("from:acme", ["acme"]),
        ("from:billing@acme-supplies.example", ["acme"]),
        ("from:acme-supplies.example", ["acme"]),
        ('from:"Acme Supplies"', ["acme"]),
        ("from:me", ["reply"]),
        ("to:acme", ["reply"]),
        ("to:me", ["acme", "globex", "yiwu", "news"]),
        ("to:bookkeeping", ["acme"]),
        ("cc:bookkeeping@example.com", ["acme"]),
        ("bcc:anyone", []),
        ("subject:receipt", ["globex"]),
        ("subject:invoice", ["acme", "reply"]),
        ('subject:"purchase order"', ["yiwu"]),
        ("subject:(order tips)", ["news"]),
        ("subject:(receipt OR tips)", ["globex", "news"]),
        # attachments
        ("has:attachment", ["acme", "globex", "yiwu"]),
        ("filename:pdf", ["acme", "yiwu"]),
        ("filename:png", ["globex"]),
        ("filename:csv", ["acme"]),
        ("filename:PO-7731.pdf", ["yiwu"]),
        ("filename:scan_0012.png", ["globex"]),
        ("has:drive", []),
        # dates: relative and absolute (midnight Pacific), and Unix seconds
        ("newer_than:2y", ["acme", "globex", "news", "reply"]),
        ("older_than:1y", ["globex", "yiwu"]),
        ("newer_than:5d", ["news"]),
        ("newer_than:1m", ["acme", "news", "reply"]),
        ("older_than:12m", ["globex", "yiwu"]),
        ("after:2026/06/01", ["acme", "news", "reply"]),
        ("after:2026-06-06 before:2026/06/07", ["reply"]),
        ("before:06/01/2026", ["globex", "yiwu"]),
        (f"after:{at(9.5) // 1000}", ["news", "reply"]),
        (f"older:{at(9.5) // 1000}", ["acme", "globex", "yiwu"]),
        # labels and states
        ("is:unread", ["acme"]),
        ("is:read", ["globex", "yiwu", "news", "reply"]),
        ("in:sent", ["reply"]),
        ("in:inbox", ["acme", "globex", "yiwu", "news"]),
        ("label:suppliers", ["acme"]),
        ("label:Label_1", ["acme"]),
        ("has:userlabels", ["acme"]),
        ("category:promotions", ["news"]),
        ("larger:1K", ["globex"]),
        ("smaller:1000", ["acme", "yiwu", "news", "reply"]),
        ("rfc822msgid:<yiwu@mail.example>", ["yiwu"]),
        # OR (binds tighter than AND), |, {}, AND
        ("receipt OR tips", ["globex", "news"]),
        ("receipt | tips", ["globex", "news"]),
        ("{receipt tips}", ["globex", "news"]),
        ("receipt or tips", []),  # lower-case "or" is a word
        ("subject:invoice OR subject:receipt has:attachment", ["acme", "globex"]),
        ("invoice AND has:attachment", ["acme"]),
        # negation
        ("-has:attachment", ["news", "reply"]),
        ("invoice -from:me", ["acme", "news"]),
        ('-"purchase order" has:attachment', ["acme", "globex"]),
        ("-(invoice OR receipt)", ["yiwu"]),
        ("-{from:acme from:globex} has:attachment", ["yiwu"]),
        # parentheses and combinations
        ('has:attachment (invoice OR receipt OR "purchase order")', ["acme", "globex", "yiwu"]),
        (
            'has:attachment (invoice OR receipt OR "purchase order") newer_than:2y',
            ["acme", "globex"],
        ),
        ("(from:acme OR from:yiwu) filename:pdf -is:unread", ["yiwu"]),
        ("((invoice))", ["acme", "news", "reply"]),
        # unknown operators are words, as in Gmail
        ("re:invoice", ["reply"]),
        ("", ["acme", "globex", "yiwu", "news", "reply"]),
    ],
)
def test_operators(query: str, expected: list[str]) -> None:
    assert search(query) == [m.id for m in MAILBOX if m.id in expected], query


@pytest.mark.parametrize(
    "query",
    [
        "newer_than:2x",
        "newer_than:y",
        "older_than:-1d",
        "after:2026/13/45",
        "before:yesterday",
        "larger:big",
        "(invoice",
        "invoice)",
        "{invoice",
        "subject:(invoice",
        "from:",
        "x" * 5000,
    ],
)
def test_invalid_queries(query: str) -> None:
    with pytest.raises(QueryError):
        parse_query(query)


def test_spam_and_trash_only_when_named() -> None:
    assert not parse_query("invoice has:attachment").reaches_spam_trash
    assert parse_query("in:spam").reaches_spam_trash
    assert parse_query("in:anywhere invoice").reaches_spam_trash
    assert parse_query("label:trash").reaches_spam_trash
    assert parse_query("-in:trash").reaches_spam_trash


async def test_search_over_http(http: httpx2.AsyncClient, live_server: LiveServer) -> None:
    """The operators reach the API: messages added with unusual words, found by them."""
    address = "search-test@example.com"
    token = await token_for(http, live_server, address)
    now = datetime.now(UTC)

    def days_ago(days: int) -> int:
        return int((now - timedelta(days=days)).timestamp() * 1000)

    quartz = await add_message(
        http,
        address,
        subject="Quartzite invoice Q-1",
        internalDate=days_ago(3),
        **{"from": "Quartz <q@quartz.example>"},
    )
    zinc = await add_message(
        http,
        address,
        subject="Zincite receipt",
        attachments=[],
        internalDate=days_ago(2),
        **{"from": "Zinc <z@zinc.example>"},
    )
    ancient = await add_message(
        http, address, subject="Quartzite invoice Q-0", internalDate=days_ago(1000)
    )
    spam = await add_message(
        http,
        address,
        subject="Quartzite invoice overdue",
        labelIds=["SPAM"],
        internalDate=days_ago(1),
    )

    async def ids(q: str, **params: str) -> list[str]:
        return await list_all(http, token, q=q, **params)

    assert await ids("quartzite") == [quartz["id"], ancient["id"]]
    assert await ids("quartzite", includeSpamTrash="true") == [
        spam["id"],
        quartz["id"],
        ancient["id"],
    ]
    assert await ids("quartzite in:spam") == [spam["id"]]
    assert await ids("quartzite newer_than:2y") == [quartz["id"]]
    assert await ids("from:zinc.example OR from:quartz.example") == [zinc["id"], quartz["id"]]
    assert await ids("(quartzite OR zincite) -has:attachment") == [zinc["id"]]
    assert await ids('subject:"invoice Q-1"') == [quartz["id"]]
    assert await ids("has:attachment quartzite", maxResults="1") == [quartz["id"], ancient["id"]]
    assert_google_error(
        await gmail(http, token, "/messages", {"q": "quartzite)"}), 400, "INVALID_ARGUMENT"
    )
