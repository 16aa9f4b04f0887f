"""The sandbox Gmail mailboxes: generated per address, deterministic, with a history.

**Generated mail.** A mailbox is a pure function of its address and its *anchor* (the instant
the sandbox first saw the mailbox, kept in Redis): 60-90 messages spread over the 30 months
before the anchor. The address seeds everything (senders, subjects, line items, files); the
anchor only places the mail in time (dates, and the ids and dated documents that follow from
them), so `newer_than:2y` keeps meaning "the last two years" however old the sandbox is, and
the same address and anchor give the same mailbox, byte for byte, in every process. The mail is what
an Amazon seller's inbox holds: supplier invoices (PDF, PDF sent as octet-stream, CSV next to a
PDF, XLSX), scanned receipts (PNG), purchase orders, payment reminders in the invoice's
thread, Seller Central notifications, shipping notices with a packing list (an attachment that
is not an invoice), newsletters, personal mail with a photo, the seller's own replies, an
"overdue invoice" in SPAM and a deleted invoice in TRASH.

**History.** Every message's arrival is a `messageAdded` record; mail the seller has read also
has a later `labelRemoved` (UNREAD) record. Records get increasing ids with random gaps, as
Gmail's do, and a message's `historyId` is the id of the last record that touched it. Records
older than `HISTORY_RETENTION` before now are gone: a `startHistoryId` before the oldest one kept
is answered 404 (the client must then sync in full).

**Added mail.** `Mailbox.merged` lays the messages a tester added through the admin endpoint
(stored in Redis, see `store.py`) over the generated ones.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from opside_hub.sandbox.google import documents
from opside_hub.sandbox.google.documents import InvoiceDocument, LineItem
from opside_hub.sandbox.google.search import Searchable, words

HISTORY_RETENTION = timedelta(days=7)
SPAN = timedelta(days=900)
USER_LABELS = {"Label_1": "Suppliers", "Label_2": "Accounting"}
MIME_PDF = "application/pdf"
MIME_CSV = "text/csv"
MIME_PNG = "image/png"
MIME_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIME_OCTET = "application/octet-stream"


@dataclass(frozen=True)
class Attachment:
    filename: str
    mime_type: str
    content: bytes


@dataclass(frozen=True)
class MailMessage:
    id: str
    thread_id: str
    internal_ms: int
    label_ids: tuple[str, ...]
    sender: str
    to: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    cc: str = ""
    message_id_header: str = ""
    in_reply_to: str = ""
    history_id: int = 0

    def searchable(self) -> Searchable:
        return Searchable(
            subject=words(self.subject),
            sender=words(self.sender),
            recipients=words(self.to),
            cc=words(self.cc),
            body=words(self.text),
            filenames=tuple(words(a.filename) for a in self.attachments),
            labels=frozenset(self.label_ids),
            user_labels=frozenset(
                USER_LABELS[label].casefold() for label in self.label_ids if label in USER_LABELS
            ),
            internal_ms=self.internal_ms,
            size=len(self.text) + sum(len(a.content) for a in self.attachments),
            message_id=self.message_id_header,
        )


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    at_ms: int
    kind: str  # messageAdded | labelRemoved
    message_id: str
    label_ids: tuple[str, ...] = ()  # the labels removed, for labelRemoved


@dataclass(frozen=True)
class Mailbox:
    email: str
    messages: tuple[MailMessage, ...]  # newest first
    events: tuple[HistoryEvent, ...]  # by id
    history_floor: int = 0  # set by the admin "expire history"
    by_id: dict[str, MailMessage] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_id.update({message.id: message for message in self.messages})

    @property
    def history_id(self) -> int:
        return self.events[-1].id if self.events else 0

    @property
    def threads_total(self) -> int:
        return len({message.thread_id for message in self.messages})

    def oldest_start(self, now_ms: int) -> int:
        """The smallest startHistoryId still answered: records older than the retention are
        gone, and with them every start before the newest of them."""
        horizon = now_ms - int(HISTORY_RETENTION.total_seconds() * 1000)
        expired = [event.id for event in self.events if event.at_ms < horizon]
        return max(expired[-1] if expired else 0, self.history_floor)

    def merged(self, added: Iterable[tuple[MailMessage, int, int]], history_floor: int) -> Mailbox:
        """This mailbox with messages added later: (message, historyId, added-at ms)."""
        extra = sorted(added, key=lambda item: item[1])
        if not extra and not history_floor:
            return self
        events = list(self.events)
        messages = list(self.messages)
        for message, history_id, at_ms in extra:
            messages.append(replace(message, history_id=history_id))
            events.append(HistoryEvent(history_id, at_ms, "messageAdded", message.id))
        messages.sort(key=lambda m: (m.internal_ms, m.id), reverse=True)
        return Mailbox(self.email, tuple(messages), tuple(events), history_floor)


# -- generation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Supplier:
    name: str
    address: str  # the sender's mailbox
    postal: str
    currency: str
    files: str  # pdf | pdf+csv | xlsx | octet-pdf | png | po-pdf


SUPPLIERS = (
    Supplier(
        "Acme Supplies Ltd",
        "billing@acme-supplies.example",
        "12 Harbour Road, Oakland CA 94607, USA",
        "USD",
        "pdf+csv",
    ),
    Supplier(
        "Shenzhen Bright Packaging Co., Ltd.",
        "accounts@brightpack.example",
        "88 Bao'an Avenue, Shenzhen 518101, China",
        "USD",
        "pdf",
    ),
    Supplier(
        "Northwind Components GmbH",
        "rechnung@northwind-components.example",
        "Hafenstrasse 4, 20457 Hamburg, Germany",
        "EUR",
        "xlsx",
    ),
    Supplier(
        "Globex Manufacturing",
        "invoices@globex.example",
        "400 Industrial Pkwy, Dayton OH 45402, USA",
        "USD",
        "octet-pdf",
    ),
    Supplier(
        "Blue River Imports",
        "receipts@blueriver.example",
        "5 Quay Street, Vancouver BC V6B 1A1, Canada",
        "CAD",
        "png",
    ),
    Supplier(
        "Kestrel Print & Pack",
        "ar@kestrelprint.example",
        "Unit 7, Mill Lane, Leeds LS1 4AP, UK",
        "GBP",
        "pdf",
    ),
    Supplier(
        "Yiwu Sunrise Trading",
        "sales@yiwu-sunrise.example",
        "1 Futian Road, Yiwu 322000, China",
        "USD",
        "po-pdf",
    ),
    Supplier(
        "Osaka Precision Parts",
        "billing@osaka-precision.example",
        "3-1 Umeda, Kita-ku, Osaka 530-0001, Japan",
        "JPY",
        "pdf",
    ),
)
PRODUCTS = (
    ("BOTTLE-500ML", "Insulated bottle 500 ml"),
    ("YOGA-MAT-BLU", "Yoga mat, blue, 6 mm"),
    ("LED-STRIP-5M", "LED strip 5 m, warm white"),
    ("BOX-MAILER-S", "Corrugated mailer box, small"),
    ("CABLE-USBC-2M", "USB-C cable 2 m"),
    ("MUG-CERAMIC-11", "Ceramic mug 11 oz"),
    ("BAG-TOTE-NAT", "Cotton tote bag, natural"),
    ("KNIFE-SET-6", "Kitchen knife set, 6 pieces"),
)
AMAZON = "Amazon Seller Central <seller-notification@amazon.example>"
CARRIER = "Oceanic Freight Forwarding <ops@oceanic-freight.example>"
NEWSLETTER = "Seller Weekly <news@sellerweekly.example>"
FRIEND = "Jamie Rivera <jamie.rivera@mail.example>"
SPAMMER = "Accounts Dept <billing@paypa1-secure.example>"

_KINDS = (
    ("invoice", 36),
    ("receipt", 8),
    ("purchase_order", 7),
    ("amazon", 10),
    ("shipping", 8),
    ("newsletter", 13),
    ("personal", 7),
    ("sent", 5),
    ("spam", 3),
    ("trash", 3),
)


def message_id_for(internal_ms: int, suffix: int) -> str:
    """Gmail ids are 16 hex digits that grow with time."""
    return f"{internal_ms:011x}{suffix & 0xFFFFF:05x}"


def _seed(email: str) -> int:
    return int.from_bytes(hashlib.sha256(f"gmail-mailbox:{email}".encode()).digest()[:8], "big")


def _display(email: str) -> str:
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part)


def invoice_items(rng: random.Random, currency: str) -> tuple[LineItem, ...]:
    count = rng.randint(1, 4)
    picked = rng.sample(PRODUCTS, count)
    # Unit costs of $0.80-$24.00; yen have no minor unit (1 JPY is about 1.5 US cents here).
    scale = 1.5 if currency == "JPY" else 1.0
    return tuple(
        LineItem(
            sku,
            name,
            rng.choice((50, 100, 200, 250, 500, 1000)),
            int(rng.randint(80, 2400) * scale),
        )
        for sku, name in picked
    )


def invoice_attachments(
    supplier: Supplier, doc: InvoiceDocument, rng: random.Random
) -> tuple[Attachment, ...]:
    if supplier.files == "pdf+csv":
        return (
            Attachment(f"Invoice {doc.number}.pdf", MIME_PDF, documents.invoice_pdf(doc)),
            Attachment(f"{doc.number}-lines.csv", MIME_CSV, documents.invoice_csv(doc)),
        )
    if supplier.files == "xlsx":
        month = ("Jan", "Feb", "März", "Apr", "Mai", "Jun")[rng.randrange(6)]
        return (
            Attachment(
                f"Rechnung_{doc.number}_{month}.xlsx", MIME_XLSX, documents.invoice_xlsx(doc)
            ),
        )
    if supplier.files == "octet-pdf":  # some mailers label every file application/octet-stream
        return (Attachment(f"{doc.number}.PDF", MIME_OCTET, documents.invoice_pdf(doc)),)
    if supplier.files == "png":
        return (
            Attachment(f"SCAN_{doc.number[-4:]}.PNG", MIME_PNG, documents.receipt_png(doc.number)),
        )
    return (Attachment(f"{doc.number}.pdf", MIME_PDF, documents.invoice_pdf(doc)),)


def _invoice(
    rng: random.Random, email: str, supplier: Supplier, issued: datetime, title: str, number: str
) -> tuple[str, str, tuple[Attachment, ...]]:
    doc = InvoiceDocument(
        number=number,
        title=title,
        supplier=supplier.name,
        supplier_address=supplier.postal,
        bill_to=f"{_display(email)} <{email}>",
        issued_at=issued,
        currency=supplier.currency,
        items=invoice_items(rng, supplier.currency),
    )
    total = documents.money(doc.total, doc.currency)
    if title == "PURCHASE ORDER":
        subject = f"Purchase order {number} confirmed"
        text = (
            f"Hello,\n\nWe confirm purchase order {number} for {total}. The signed purchase "
            f"order is attached; production starts on receipt of the deposit.\n\n"
            f"Best regards,\n{supplier.name}"
        )
    elif title == "RECEIPT":
        subject = f"Receipt for your payment #{number}"
        text = (
            f"Thank you for your payment of {total}. A scan of your receipt is attached.\n\n"
            f"{supplier.name}"
        )
    else:
        subject = rng.choice(
            (
                f"Invoice {number} from {supplier.name}",
                f"{supplier.name}: invoice {number}",
                f"Your invoice {number} is ready",
            )
        )
        text = (
            f"Dear customer,\n\nPlease find attached invoice {number} dated {issued:%Y-%m-%d} "
            f"for {total}, payable within 30 days.\n\nKind regards,\n{supplier.name} "
            f"accounts team"
        )
    return subject, text, invoice_attachments(supplier, doc, rng)


def _from(supplier: Supplier) -> str:
    return f"{supplier.name} <{supplier.address}>"


@lru_cache(maxsize=64)
def generate(email: str, anchor_ms: int) -> Mailbox:
    """The generated mail of `email`, placed before `anchor_ms`."""
    rng = random.Random(_seed(email))  # noqa: S311 - sandbox data, not secrets
    count = 60 + rng.randrange(31)
    kinds = [kind for kind, _ in _KINDS]
    weights = [weight for _, weight in _KINDS]
    span_ms = int(SPAN.total_seconds() * 1000)
    # Offsets before the anchor, oldest first; the last messages arrive within days of it.
    offsets = sorted((rng.randrange(span_ms) for _ in range(count)), reverse=True)
    # The newest three arrive in the last days: one read since, two unread, so the history
    # still kept (a week) holds both messageAdded and labelRemoved records.
    day = 86_400_000
    offsets[-3:] = [2 * day + rng.randrange(day), rng.randrange(day), rng.randrange(day)]
    offsets.sort(reverse=True)
    messages: list[MailMessage] = []
    invoices: list[MailMessage] = []
    for index, offset in enumerate(offsets):
        internal_ms = anchor_ms - offset - 60_000
        suffix = rng.getrandbits(20)
        kind = rng.choices(kinds, weights)[0]
        if index >= count - 3:  # the newest: invoices around a notification
            kind = "amazon" if index == count - 2 else "invoice"
        if kind == "sent" and not invoices:
            kind = "invoice"  # nothing to reply to yet
        issued = datetime.fromtimestamp(internal_ms / 1000, UTC)
        message = _generate_one(rng, email, kind, index, internal_ms, suffix, issued, invoices)
        messages.append(message)
        if kind == "invoice":
            invoices.append(message)
    return _with_history(email, rng, messages, anchor_ms)


def _generate_one(
    rng: random.Random,
    email: str,
    kind: str,
    index: int,
    internal_ms: int,
    suffix: int,
    issued: datetime,
    invoices: Sequence[MailMessage],
) -> MailMessage:
    message_id = message_id_for(internal_ms, suffix)
    header_id = f"<{message_id}.{index}@mail.sandbox.example>"
    labels: list[str] = ["INBOX", "CATEGORY_UPDATES"]
    thread_id, in_reply_to = message_id, ""
    attachments: tuple[Attachment, ...] = ()
    sender, to, cc = "", email, ""
    year = issued.year
    if kind in ("invoice", "trash", "receipt", "purchase_order"):
        if kind == "receipt":
            supplier = SUPPLIERS[4]
            title, number = "RECEIPT", f"R{year}-{rng.randint(1000, 9999)}"
        elif kind == "purchase_order":
            supplier = SUPPLIERS[6]
            title, number = "PURCHASE ORDER", f"PO-{rng.randint(10000, 99999)}"
        else:
            supplier = rng.choice([s for s in SUPPLIERS if s.files not in ("png", "po-pdf")])
            title, number = "INVOICE", f"INV-{year}-{rng.randint(1000, 9999)}"
        subject, text, attachments = _invoice(rng, email, supplier, issued, title, number)
        sender = _from(supplier)
        if rng.random() < 0.3:
            labels.append("Label_1")
        if rng.random() < 0.2:
            labels.append("IMPORTANT")
        if kind == "trash":
            labels = ["TRASH"]
    elif kind == "sent":
        original = invoices[-1]  # the seller answers the latest invoice
        sender, to = f"{_display(email)} <{email}>", original.sender
        subject = "Re: " + original.subject
        text = "Thanks, paid today. Remittance advice to follow.\n\nBest,\n" + _display(email)
        thread_id, in_reply_to = original.thread_id, original.message_id_header
        labels = ["SENT"]
    elif kind == "amazon":
        case = rng.randint(10_000_000, 99_999_999)
        subject = rng.choice(
            (
                f"Your FBA reimbursement for case {case}",
                "Action required: your inventory performance index",
                f"Update on your Seller Support case {case}",
            )
        )
        text = (
            f"Hello,\n\nThis is an update about your selling account (case {case}). "
            "Sign in to Seller Central for details.\n\nAmazon Services"
        )
        sender = AMAZON
    elif kind == "shipping":
        shipment = f"SHP-{rng.randint(100000, 999999)}"
        subject = f"Shipment {shipment} has departed Shenzhen"
        text = f"Your shipment {shipment} (12 cartons) left the port today. Packing list attached."
        sender = CARRIER
        attachments = (
            Attachment(
                f"packing-list-{shipment}.pdf",
                MIME_PDF,
                documents.invoice_pdf(
                    InvoiceDocument(
                        shipment,
                        "PACKING LIST",
                        "Oceanic Freight Forwarding",
                        "Pier 9, Long Beach CA",
                        email,
                        issued,
                        "USD",
                        (LineItem("CARTON", "Carton, 40x30x30 cm", 12, 0),),
                    )
                ),
            ),
        )
    elif kind == "newsletter":
        subject = rng.choice(
            (
                "This week in e-commerce: 5 ways to cut returns",
                "Q4 planning checklist for FBA sellers",
                "Webinar: keeping receipts that win reimbursement claims",
            )
        )
        text = (
            "Top stories this week for marketplace sellers. Keep every receipt and invoice "
            "from your suppliers: they are your proof of cost.\n\nUnsubscribe any time."
        )
        sender = NEWSLETTER
        labels = ["INBOX", "CATEGORY_PROMOTIONS"]
    elif kind == "personal":
        subject = rng.choice(("Photos from Saturday", "Dinner on Friday?", "Re: hiking trip"))
        text = "Hi! Great seeing you. A photo from the weekend is attached :)"
        sender = FRIEND
        labels = ["INBOX", "CATEGORY_PERSONAL"]
        attachments = (
            Attachment(
                f"IMG_{rng.randint(1000, 9999)}.png", MIME_PNG, documents.receipt_png(header_id)
            ),
        )
    else:  # spam
        number = f"{rng.randint(1000, 9999)}"
        subject = f"URGENT: overdue invoice {number} - pay now"
        text = "Your account will be suspended. Open the attached invoice and pay immediately."
        sender = SPAMMER
        labels = ["SPAM"]
        attachments = (Attachment(f"invoice_{number}.pdf", MIME_PDF, b"%PDF-1.4\n%%EOF\n"),)
    if kind != "sent" and labels[0] == "INBOX" and rng.random() < 0.2:
        cc = "bookkeeping@" + email.split("@", 1)[1]
    return MailMessage(
        id=message_id,
        thread_id=thread_id,
        internal_ms=internal_ms,
        label_ids=tuple(labels),
        sender=sender,
        to=to,
        cc=cc,
        subject=subject,
        text=text,
        attachments=attachments,
        message_id_header=header_id,
        in_reply_to=in_reply_to,
    )


def _with_history(
    email: str, rng: random.Random, messages: list[MailMessage], anchor_ms: int
) -> Mailbox:
    """Arrival records, and a later "read" record for what the seller has read (the newest
    mail stays unread). Ids grow with time, with gaps."""
    recent = anchor_ms - 86_400_000
    raw_events: list[tuple[int, str, str, tuple[str, ...]]] = []
    finished: list[MailMessage] = []
    for message in messages:
        raw_events.append((message.internal_ms, "messageAdded", message.id, ()))
        in_inbox = "INBOX" in message.label_ids
        read_at = message.internal_ms + rng.randint(1, 20) * 3_600_000
        if in_inbox and message.internal_ms < recent and read_at < anchor_ms:
            raw_events.append((read_at, "labelRemoved", message.id, ("UNREAD",)))
            finished.append(message)
        elif in_inbox:
            finished.append(replace(message, label_ids=(*message.label_ids, "UNREAD")))
        else:
            finished.append(message)
    raw_events.sort()
    next_id = 1_000_000 + rng.randrange(9_000_000)
    events: list[HistoryEvent] = []
    last: dict[str, int] = {}
    for at_ms, kind, message_id, label_ids in raw_events:
        next_id += rng.randint(1, 57)
        events.append(HistoryEvent(next_id, at_ms, kind, message_id, label_ids))
        last[message_id] = next_id
    final = [replace(message, history_id=last[message.id]) for message in finished]
    final.sort(key=lambda m: (m.internal_ms, m.id), reverse=True)
    return Mailbox(email, tuple(final), tuple(events))


def new_invoice(
    email: str, sequence: int, at: datetime
) -> tuple[str, str, str, tuple[Attachment, ...]]:
    """A fresh supplier invoice for the admin endpoint's defaults: sender, subject, text, files."""
    rng = random.Random(_seed(email) ^ sequence)  # noqa: S311 - sandbox data
    supplier = SUPPLIERS[sequence % len(SUPPLIERS)]
    if supplier.files in ("png", "po-pdf"):
        supplier = SUPPLIERS[0]
    number = f"INV-{at.year}-{rng.randint(1000, 9999)}"
    subject, text, attachments = _invoice(rng, email, supplier, at, "INVOICE", number)
    return _from(supplier), subject, text, attachments
