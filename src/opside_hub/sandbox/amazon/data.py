"""The sandbox seller's Amazon data: deterministic, generated on demand, streamable.

Everything a seller has — catalog, reimbursements, inventory ledger, financial events,
inventory — is a pure function of the `selling_partner_id` and the sizes, so every API process
serves the same data without storing any, and tests know the truth by calling the same code
(`expected_reimbursements(...)` and friends) instead of reading it back from the server.

**Time.** Each dataset is an endless stream of events over absolute time: event `k` happens at
`EPOCH + k·spacing + jitter(k)` with `spacing = 540 days / size`, so any 540-day span holds about
`size` events and the data rolls forward with the clock, like a real account's. Event times never
decrease with `k`, so the events of a window are the index range found by arithmetic (no scan):
a report of a window costs what its rows cost, an empty window is known for free, and a window
of millions of rows is generated a line at a time. Amazon keeps 18 months of report data;
`served_window` clips what a request may see to `[day_floor(now) - 550 days, now)`.

**Hard cases** (each on purpose, each deterministic): reimbursement reversals (a later row with
its own reimbursement-id whose original-reimbursement-id points at an earlier cash
reimbursement, negative amount and quantities); five currencies, JPY without decimals (an NA
account would see USD and CAD only; EUR, GBP and JPY are there for the parsers' sake: the
reports are account-wide, `marketplaceIds` is validated, not used to filter); cash,
inventory and mixed reimbursements; one reimbursement-id over several SKUs; product names with
`"` (inches), `&`, commas, accents and CJK (UTF-8); SKUs with spaces, `/` and `+`; FNSKUs equal to
the ASIN (commingled stock); identical ledger rows; identical subscription fees (a ServiceFeeEvent
has neither date nor id). The same catalog feeds reimbursements, ledger, finances and inventory,
so SKUs, FNSKUs and ASINs link across them (an adjustment's TransactionNumber is the
reimbursement-id it pays).

Sizes (`DataSizes`, from the `SANDBOX_AMAZON_*` settings) count events per 540 days; a
multi-SKU reimbursement is one event of several rows, so a report has ~1.3 rows per event.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Protocol

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_EPOCH_US = int(EPOCH.timestamp()) * 1_000_000
DENSITY_SPAN = timedelta(days=540)  # a dataset's size is its number of events in this span
RETENTION_DAYS = 550  # what a report may reach back, counted from today's midnight (UTC)
PACIFIC = timezone(timedelta(hours=-8))  # the ledger's local time (Seller Central's, as PST)

REIMBURSEMENTS_REPORT = "GET_FBA_REIMBURSEMENTS_DATA"
LEDGER_REPORT = "GET_LEDGER_DETAIL_VIEW_DATA"

REIMBURSEMENT_COLUMNS = (
    "approval-date",
    "reimbursement-id",
    "case-id",
    "amazon-order-id",
    "reason",
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "currency-unit",
    "amount-per-unit",
    "amount-total",
    "quantity-reimbursed-cash",
    "quantity-reimbursed-inventory",
    "quantity-reimbursed-total",
    "original-reimbursement-id",
    "original-reimbursement-type",
)
LEDGER_COLUMNS = (
    "Date",
    "FNSKU",
    "ASIN",
    "MSKU",
    "Title",
    "Event Type",
    "Reference ID",
    "Quantity",
    "Fulfillment Center",
    "Disposition",
    "Reason",
    "Country",
    "Reconciled Quantity",
    "Unreconciled Quantity",
    "Date and Time",
)


@dataclass(frozen=True)
class Marketplace:
    id: str
    name: str
    country_code: str
    currency: str
    language: str
    domain: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "countryCode": self.country_code,
            "defaultCurrencyCode": self.currency,
            "defaultLanguageCode": self.language,
            "domainName": self.domain,
        }


US = Marketplace("ATVPDKIKX0DER", "Amazon.com", "US", "USD", "en_US", "www.amazon.com")
CA = Marketplace("A2EUQ1WTGCTBG2", "Amazon.ca", "CA", "CAD", "en_CA", "www.amazon.ca")
MX = Marketplace("A1AM78C64UM0Y8", "Amazon.com.mx", "MX", "MXN", "es_MX", "www.amazon.com.mx")
BR = Marketplace("A2Q3Y263D00KWC", "Amazon.com.br", "BR", "BRL", "pt_BR", "www.amazon.com.br")
# The North America endpoint's marketplaces (what a sandbox request may name).
MARKETPLACES = {m.id: m for m in (US, CA, MX, BR)}

# Minor-unit exponent and the price of 100 US cents in the currency's minor units.
CURRENCIES: dict[str, tuple[int, int]] = {
    "USD": (2, 100),
    "CAD": (2, 136),
    "EUR": (2, 92),
    "GBP": (2, 79),
    "JPY": (0, 150),
}
_FULFILLMENT_CENTERS = {
    "US": ("PHX7", "ONT8", "MDW2", "BFI4", "TPA1", "CLT2", "AVP1", "LGB8"),
    "CA": ("YYZ4", "YVR2", "YYC1", "YOW3"),
}


@dataclass(frozen=True)
class DataSizes:
    """Events per 540 days of each stream, and the catalog size (= inventory SKUs)."""

    reimbursements: int = 300
    ledger_events: int = 600
    inventory_skus: int = 120
    financial_events: int = 200

    @classmethod
    def from_settings(cls, settings: _SizeSettings) -> DataSizes:
        return cls(
            reimbursements=settings.sandbox_amazon_reimbursements,
            ledger_events=settings.sandbox_amazon_ledger_events,
            inventory_skus=settings.sandbox_amazon_inventory_skus,
            financial_events=settings.sandbox_amazon_financial_events,
        )


class _SizeSettings(Protocol):
    sandbox_amazon_reimbursements: int
    sandbox_amazon_ledger_events: int
    sandbox_amazon_inventory_skus: int
    sandbox_amazon_financial_events: int


@dataclass(frozen=True)
class Product:
    sku: str
    fnsku: str
    asin: str
    name: str
    price_cents: int  # in USD
    in_canada: bool


@dataclass(frozen=True)
class FinancialEvent:
    """One event of listFinancialEvents: its list (`AdjustmentEventList`, ...), when it was
    posted (ServiceFeeEvents do not show it, but windows select by it) and its JSON."""

    list_name: str
    posted_at: datetime
    body: dict[str, Any]


# -- deterministic randomness ----------------------------------------------------------------


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()


def _int(*parts: object) -> int:
    return int.from_bytes(_digest(*parts), "big")


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) from the parts."""
    return _int(*parts) / 2**128


stable_fraction = _unit  # for the API's own deterministic choices (empty pages, ...)


def _rng(*parts: object) -> random.Random:
    return random.Random(_int(*parts))  # noqa: S311 - sandbox data, not secrets


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    values, cumulative = _cumulative(choices)
    return values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


@lru_cache(maxsize=64)
def _cumulative(choices: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    return tuple(c for c, _ in choices), tuple(itertools.accumulate(w for _, w in choices))


def _code(
    rng: random.Random, length: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _digits(rng: random.Random, length: int) -> str:
    return f"{rng.randrange(10**length):0{length}d}"


def _order_id(rng: random.Random) -> str:
    return f"{rng.choice(('111', '112', '113', '114'))}-{_digits(rng, 7)}-{_digits(rng, 7)}"


# -- money and time formats ------------------------------------------------------------------


def convert(cents_usd: int, currency: str) -> int:
    """A USD price in `currency`'s minor units (fixed sandbox rates)."""
    exponent, per_dollar = CURRENCIES[currency]
    minor = cents_usd * per_dollar / 100
    return round(minor / 100) if exponent == 0 else round(minor)


def format_amount(minor: int, currency: str) -> str:
    """Minor units as the report writes them: '12.34', '-5.00', JPY '1500'."""
    exponent = CURRENCIES.get(currency, (2, 0))[0]
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{cents:0{exponent}d}"


def json_amount(minor: int, currency: str) -> int | float:
    """Minor units as Finances' `BigDecimal` (a JSON number)."""
    exponent = CURRENCIES.get(currency, (2, 0))[0]
    return minor if exponent == 0 else round(minor / 10**exponent, exponent)


def iso(value: datetime) -> str:
    """`2024-01-31T18:04:05+00:00`, the instant format of Amazon's reports and APIs."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def day_floor(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def utc_now() -> datetime:
    return datetime.now(UTC)


def served_window(
    start: datetime, end: datetime, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """What of `[start, end)` Amazon still has: nothing older than 18 months (and a little),
    nothing after now. May come back empty (start >= end)."""
    now = now or utc_now()
    floor = day_floor(now) - timedelta(days=RETENTION_DAYS)
    return max(start, floor), min(end, now)


# -- event streams ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stream:
    """Events `k` of one dataset of one seller, at non-decreasing whole seconds."""

    seller: str
    name: str
    size: int

    @property
    def spacing_us(self) -> int:
        return max(1, int(DENSITY_SPAN.total_seconds() * 1_000_000) // self.size)

    def second(self, k: int) -> int:
        """Unix second of event `k`."""
        jitter = _int(self.seller, self.name, "t", k) % self.spacing_us
        return (_EPOCH_US + k * self.spacing_us + jitter) // 1_000_000

    def at(self, k: int) -> datetime:
        return datetime.fromtimestamp(self.second(k), UTC)

    def first_at_or_after(self, moment: datetime) -> int:
        """The smallest `k` whose time is >= `moment`."""
        target = -(-int(moment.timestamp() * 1_000_000) // 1_000_000)  # ceil to a second
        k = (target * 1_000_000 - _EPOCH_US) // self.spacing_us - 1
        while self.second(k) >= target:
            k -= 1
        while self.second(k) < target:
            k += 1
        return k

    def indices(self, start: datetime, end: datetime) -> range:
        if self.size <= 0 or start >= end:
            return range(0)
        return range(self.first_at_or_after(start), self.first_at_or_after(end))


# -- the seller ------------------------------------------------------------------------------

_ADJECTIVES = (
    "Bamboo", "Stainless", "Organic", "Foldable", "Magnetic", "Ceramic", "Waterproof", "Vintage",
    "Compact", "Insulated", "Ergonomic", "Silicone",
)  # fmt: skip
_NOUNS = (
    "Cutting Board", "Water Bottle", "Desk Lamp", "Yoga Mat", "Phone Stand", "Spice Rack",
    "Tea Kettle", "Garden Hose", "Backpack", "Pet Bowl", "Shower Caddy", "Bike Light",
)  # fmt: skip
_COLORS = ("Black", "White", "Red", "Blue", "Green", "Grey", "Teal", "Sand")
# Names a real catalog has and naive parsers trip over.
_SPECIAL_NAMES = (
    'Steel Ruler 12" (2-Pack)',
    "Café Crème Brûlée Torch Set",
    "抹茶 Matcha Whisk Set, Bamboo",
    "Salt & Pepper Grinder, Refillable",
    'Monitor Riser 24" x 9", Walnut',
)
_CONDITIONS = (("NewItem", 92), ("UsedLikeNew", 4), ("UsedVeryGood", 2), ("UsedGood", 2))
_REIMBURSEMENT_REASONS = (
    ("Lost_Warehouse", 30),
    ("Damaged_Warehouse", 25),
    ("CustomerReturn", 12),
    ("Lost_Inbound", 10),
    ("CustomerServiceIssue", 8),
    ("FeeCorrection", 5),
    ("Damaged_Inbound", 5),
    ("Removal_Order_Lost", 5),
)
_CASE_REASONS = frozenset(
    {"Lost_Inbound", "CustomerServiceIssue", "FeeCorrection", "Damaged_Inbound"}
)
_ORDER_REASONS = frozenset({"CustomerReturn", "CustomerServiceIssue"})
_CURRENCY_MIX = (("USD", 60), ("CAD", 14), ("EUR", 9), ("GBP", 9), ("JPY", 8))
REVERSAL_SHARE = 0.07
_ADJUSTMENT_TYPES = {
    "Lost_Warehouse": "WAREHOUSE_LOST",
    "Damaged_Warehouse": "WAREHOUSE_DAMAGE",
    "Lost_Inbound": "MISSING_FROM_INBOUND",
    "Damaged_Inbound": "INBOUND_CARRIER_DAMAGE",
    "CustomerServiceIssue": "CS_ERROR_ITEMS",
    "CustomerReturn": "CUSTOMER_RETURN_REIMBURSEMENT",
    "FeeCorrection": "FEE_CORRECTION",
    "Removal_Order_Lost": "REMOVAL_ORDER_LOST",
    "Reimbursement_Reversal": "REVERSAL_REIMBURSEMENT",
}


@dataclass(frozen=True)
class _Line:
    """One SKU of a reimbursement, before formatting."""

    product: Product
    condition: str
    quantity_cash: int
    quantity_inventory: int
    per_unit: int  # minor units of the event's currency


@dataclass(frozen=True)
class _Reimbursement:
    k: int
    at: datetime
    reimbursement_id: str
    case_id: str
    order_id: str
    reason: str
    currency: str
    lines: tuple[_Line, ...]
    original: _Reimbursement | None = None  # set on reversals

    @property
    def cash_lines(self) -> tuple[_Line, ...]:
        return tuple(line for line in self.lines if line.quantity_cash)


@dataclass
class SellerData:
    """One selling partner's sandbox account. Cheap to build; the catalog is memoized."""

    seller_id: str
    sizes: DataSizes = field(default_factory=DataSizes)

    def __post_init__(self) -> None:
        self._reimbursements = _Stream(self.seller_id, "reimbursements", self.sizes.reimbursements)
        self._ledger = _Stream(self.seller_id, "ledger", self.sizes.ledger_events)
        self._finances = _Stream(self.seller_id, "finances", self.sizes.financial_events)
        self._id_offset = _int(self.seller_id, "reimbursement-id") % 10**10

    # -- account -----------------------------------------------------------------------------

    def marketplaces(self) -> list[Marketplace]:
        """US always; Canada for about 60% of sellers."""
        return [US, CA] if _unit(self.seller_id, "ca") < 0.6 else [US]

    def participations(self, store_name: str | None = None) -> list[dict[str, Any]]:
        """getMarketplaceParticipations' payload."""
        store = store_name or f"Sandbox Store {self.seller_id[-4:]}"
        return [
            {
                "marketplace": marketplace.to_json(),
                "participation": {"isParticipating": True, "hasSuspendedListings": False},
                "storeName": store,
            }
            for marketplace in self.marketplaces()
        ]

    @property
    def catalog(self) -> tuple[Product, ...]:
        return _catalog(self.seller_id, max(1, self.sizes.inventory_skus))

    def _product(self, rng: random.Random) -> Product:
        catalog = self.catalog
        # Skewed: the first SKUs (the best sellers) get more of the events.
        return catalog[int(len(catalog) * rng.random() ** 1.7)]

    def _country(self, rng: random.Random) -> str:
        countries = [m.country_code for m in self.marketplaces()]
        return "CA" if "CA" in countries and rng.random() < 0.2 else "US"

    # -- reimbursements (GET_FBA_REIMBURSEMENTS_DATA) ----------------------------------------

    def _is_reversal(self, k: int) -> bool:
        return _unit(self.seller_id, "reversal", k) < REVERSAL_SHARE

    def _reimbursement_id(self, k: int) -> str:
        # k ↦ id is a bijection mod 10^10 (7919 is prime to 10): ids never repeat.
        return f"{(self._id_offset + k * 7_919) % 10**10:010d}"

    def _base_reimbursement(self, k: int) -> _Reimbursement:
        rng = _rng(self.seller_id, "reimbursement", k)
        reason = _weighted(rng, _REIMBURSEMENT_REASONS)
        currency = _weighted(rng, _CURRENCY_MIX)
        count = 1 if rng.random() < 0.8 else rng.choice((2, 3))
        products: list[Product] = []
        while len(products) < min(count, len(self.catalog)):
            product = self._product(rng)
            if product not in products:
                products.append(product)
        lines = []
        for product in products:
            quantity = 1 if rng.random() < 0.7 else rng.randint(2, 6)
            mode = rng.random()  # cash, inventory, or both (some units of each)
            if mode < 0.65 or (mode >= 0.9 and quantity == 1):
                cash = quantity
            elif mode < 0.9:
                cash = 0
            else:
                cash = rng.randint(1, quantity - 1)
            per_unit = convert(int(product.price_cents * rng.uniform(0.55, 1.0)), currency)
            lines.append(
                _Line(
                    product=product,
                    condition=_weighted(rng, _CONDITIONS),
                    quantity_cash=cash,
                    quantity_inventory=quantity - cash,
                    per_unit=per_unit if cash else 0,
                )
            )
        return _Reimbursement(
            k=k,
            at=self._reimbursements.at(k),
            reimbursement_id=self._reimbursement_id(k),
            case_id=_digits(rng, 11) if reason in _CASE_REASONS else "",
            order_id=_order_id(rng) if reason in _ORDER_REASONS else "",
            reason=reason,
            currency=currency,
            lines=tuple(lines),
        )

    def _original_of(self, k: int) -> _Reimbursement | None:
        """The earlier cash reimbursement a reversal at `k` takes back (None: none close)."""
        for back in range(1 + _int(self.seller_id, "reversal-of", k) % 8, 60):
            if not self._is_reversal(k - back):
                candidate = self._base_reimbursement(k - back)
                if candidate.cash_lines:
                    return candidate
        return None

    def _reimbursement(self, k: int) -> _Reimbursement:
        if self._is_reversal(k) and (original := self._original_of(k)) is not None:
            return _Reimbursement(
                k=k,
                at=self._reimbursements.at(k),
                reimbursement_id=self._reimbursement_id(k),
                case_id=original.case_id,
                order_id=original.order_id,
                reason="Reimbursement_Reversal",
                currency=original.currency,
                lines=tuple(
                    _Line(line.product, line.condition, -line.quantity_cash, 0, line.per_unit)
                    for line in original.cash_lines
                ),
                original=original,
            )
        return self._base_reimbursement(k)

    def reimbursements(self, start: datetime, end: datetime) -> Iterator[dict[str, str]]:
        """The report's rows for approval dates in `[start, end)`, in order, as header→value."""
        for k in self._reimbursements.indices(start, end):
            event = self._reimbursement(k)
            for line in event.lines:
                yield {
                    "approval-date": iso(event.at),
                    "reimbursement-id": event.reimbursement_id,
                    "case-id": event.case_id,
                    "amazon-order-id": event.order_id,
                    "reason": event.reason,
                    "sku": line.product.sku,
                    "fnsku": line.product.fnsku,
                    "asin": line.product.asin,
                    "product-name": line.product.name,
                    "condition": line.condition,
                    "currency-unit": event.currency,
                    "amount-per-unit": format_amount(line.per_unit, event.currency),
                    "amount-total": format_amount(
                        line.per_unit * line.quantity_cash, event.currency
                    ),
                    "quantity-reimbursed-cash": str(line.quantity_cash),
                    "quantity-reimbursed-inventory": str(line.quantity_inventory),
                    "quantity-reimbursed-total": str(line.quantity_cash + line.quantity_inventory),
                    "original-reimbursement-id": (
                        event.original.reimbursement_id if event.original else ""
                    ),
                    "original-reimbursement-type": event.original.reason if event.original else "",
                }

    # -- inventory ledger (GET_LEDGER_DETAIL_VIEW_DATA) --------------------------------------

    def _ledger_rows(self, k: int) -> list[dict[str, str]]:
        rng = _rng(self.seller_id, "ledger", k)
        at = self._ledger.at(k)
        product = self._product(rng)
        country = self._country(rng)
        event_type = _weighted(
            rng,
            (
                ("Shipments", 45),
                ("CustomerReturns", 12),
                ("Receipts", 15),
                ("Adjustments", 18),
                ("WhseTransfers", 6),
                ("VendorReturns", 4),
            ),
        )
        disposition, reason, reconciled, unreconciled = "SELLABLE", "", "0", "0"
        if event_type == "Shipments":
            quantity, reference = -rng.choice((1, 1, 1, 2, 3)), _order_id(rng)
        elif event_type == "CustomerReturns":
            quantity, reference = 1, _order_id(rng)
            disposition = _weighted(
                rng, (("SELLABLE", 70), ("CUSTOMER_DAMAGED", 20), ("DEFECTIVE", 10))
            )
        elif event_type == "Receipts":
            quantity, reference = rng.randint(6, 60), "FBA" + _code(rng, 9)
        elif event_type == "Adjustments":
            reason = _weighted(rng, (("M", 35), ("F", 20), ("E", 25), ("D", 10), ("Q", 10)))
            quantity = 1 if reason == "F" else -1
            reference = _digits(rng, 11)
            if reason == "E":
                disposition = "WAREHOUSE_DAMAGED"
            if reason in ("M", "F"):
                done = rng.random() < 0.6
                reconciled, unreconciled = ("1", "0") if done else ("0", "1")
        elif event_type == "WhseTransfers":
            quantity, reference = rng.choice((-1, 1)) * rng.randint(1, 12), _digits(rng, 10)
        else:
            quantity, reference = -rng.randint(1, 5), _code(rng, 10, "0123456789ABCDEF")
        local = at.astimezone(PACIFIC)
        row = {
            "Date": local.strftime("%m/%d/%Y"),
            "FNSKU": product.fnsku,
            "ASIN": product.asin,
            "MSKU": product.sku,
            "Title": product.name,
            "Event Type": event_type,
            "Reference ID": reference,
            "Quantity": str(quantity),
            "Fulfillment Center": rng.choice(_FULFILLMENT_CENTERS[country]),
            "Disposition": disposition,
            "Reason": reason,
            "Country": country,
            "Reconciled Quantity": reconciled,
            "Unreconciled Quantity": unreconciled,
            "Date and Time": local.isoformat(),
        }
        # Now and then Amazon writes the very same movement twice (two units, two rows).
        return [row, dict(row)] if rng.random() < 0.03 else [row]

    def ledger_events(self, start: datetime, end: datetime) -> Iterator[dict[str, str]]:
        """The report's rows for events in `[start, end)`, in order, as header→value."""
        for k in self._ledger.indices(start, end):
            yield from self._ledger_rows(k)

    # -- finances (listFinancialEvents) ------------------------------------------------------

    def _financial_event(self, k: int) -> FinancialEvent:
        rng = _rng(self.seller_id, "finances", k)
        at = self._finances.at(k)
        if rng.random() < 0.55 and self.sizes.reimbursements > 0:
            event = self._adjustment(at, rng)
            if event is not None:
                return FinancialEvent("AdjustmentEventList", at, event)
        return FinancialEvent("ServiceFeeEventList", at, self._service_fee(rng))

    def _adjustment(self, at: datetime, rng: random.Random) -> dict[str, Any] | None:
        """The posting of the cash reimbursement approved last before `at`."""
        k = self._reimbursements.first_at_or_after(at) - 1
        for back in range(20):
            event = self._reimbursement(k - back)
            if event.cash_lines:
                break
        else:
            return None
        currency = event.currency
        items = [
            {
                "Quantity": str(line.quantity_cash),
                "PerUnitAmount": _currency(line.per_unit, currency),
                "TotalAmount": _currency(line.per_unit * line.quantity_cash, currency),
                "SellerSKU": line.product.sku,
                "FnSKU": line.product.fnsku,
                "ProductDescription": line.product.name,
                "ASIN": line.product.asin,
                "TransactionNumber": event.reimbursement_id,
            }
            for line in event.cash_lines
        ]
        total = sum(line.per_unit * line.quantity_cash for line in event.cash_lines)
        return {
            "AdjustmentType": _ADJUSTMENT_TYPES.get(event.reason, "FBAInventoryReimbursement"),
            "PostedDate": iso_z(at),
            "AdjustmentAmount": _currency(total, currency),
            "AdjustmentItemList": items,
        }

    def _service_fee(self, rng: random.Random) -> dict[str, Any]:
        kind = _weighted(
            rng,
            (
                ("Subscription", 8),
                ("FBAInboundTransportationFee", 30),
                ("FBADisposalFee", 22),
                ("FBARemovalFee", 20),
                ("FBALongTermStorageFee", 20),
            ),
        )
        if kind == "Subscription":
            # Every month the same fee, to the cent: nothing tells two of them apart.
            return {
                "FeeReason": "Subscription Fee",
                "FeeList": [{"FeeType": "Subscription", "FeeAmount": _currency(-3999, "USD")}],
                "FeeDescription": "Professional seller subscription",
            }
        product = self._product(rng)
        units = rng.randint(1, 40)
        per_unit = {"FBAInboundTransportationFee": 31, "FBADisposalFee": 104}.get(kind, 97)
        event: dict[str, Any] = {
            "FeeReason": kind,
            "FeeList": [{"FeeType": kind, "FeeAmount": _currency(-per_unit * units, "USD")}],
            "SellerSKU": product.sku,
            "FnSKU": product.fnsku,
            "FeeDescription": f"{kind} ({units} units)",
            "ASIN": product.asin,
        }
        if kind == "FBARemovalFee":
            event["AmazonOrderId"] = _code(rng, 10, "0123456789ABCDEF")
        return event

    def financial_event_indices(self, posted_after: datetime, posted_before: datetime) -> range:
        return self._finances.indices(posted_after, posted_before)

    def financial_event(self, k: int) -> FinancialEvent:
        return self._financial_event(k)

    def financial_events(
        self, posted_after: datetime, posted_before: datetime
    ) -> Iterator[FinancialEvent]:
        """Events posted in `[posted_after, posted_before)`, in order."""
        for k in self.financial_event_indices(posted_after, posted_before):
            yield self._financial_event(k)

    # -- inventory (getInventorySummaries) ---------------------------------------------------

    def inventory(
        self, marketplace_id: str, now: datetime | None = None, *, details: bool = True
    ) -> list[dict[str, Any]]:
        """Every summary of a marketplace as of `now`, in catalog order. A SKU changes once
        every 1-7 days, at its own hour; `lastUpdatedTime` is its last change."""
        return self.inventory_page(marketplace_id, now, details=details)[0]

    def inventory_page(
        self,
        marketplace_id: str,
        now: datetime | None = None,
        *,
        details: bool = True,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of `inventory` and the total: only the page's summaries are computed."""
        now = now or utc_now()
        if self.sizes.inventory_skus <= 0 or marketplace_id not in {
            m.id for m in self.marketplaces()
        }:
            return [], 0
        products = [
            product for product in self.catalog if marketplace_id != CA.id or product.in_canada
        ]
        end = len(products) if limit is None else offset + limit
        page = [self._summary(p, marketplace_id, now, details) for p in products[offset:end]]
        return page, len(products)

    def _summary(
        self, product: Product, marketplace_id: str, now: datetime, details: bool
    ) -> dict[str, Any]:
        period = 86_400 * (1 + _int(self.seller_id, product.sku, "period") % 7)
        phase = _int(self.seller_id, product.sku, "phase") % period
        tick = (int(now.timestamp()) - phase) // period
        updated_at = datetime.fromtimestamp(tick * period + phase, UTC)
        rng = _rng(self.seller_id, product.sku, marketplace_id, tick)
        fulfillable = rng.randint(0, 400) if rng.random() < 0.9 else 0
        inbound = [rng.randint(0, 60) if rng.random() < 0.3 else 0 for _ in range(3)]
        reserved = [rng.randint(0, 8), rng.randint(0, 5), rng.randint(0, 3)]
        researching = [rng.randint(0, 2) if rng.random() < 0.2 else 0 for _ in range(3)]
        unfulfillable = [rng.randint(0, 3) if rng.random() < 0.25 else 0 for _ in range(6)]
        total = fulfillable + sum(inbound) + sum(reserved) + sum(researching) + sum(unfulfillable)
        summary: dict[str, Any] = {
            "asin": product.asin,
            "fnSku": product.fnsku,
            "sellerSku": product.sku,
            "condition": "NewItem",
            "lastUpdatedTime": iso_z(updated_at),
            "productName": product.name,
            "totalQuantity": total,
        }
        if details:
            summary["inventoryDetails"] = {
                "fulfillableQuantity": fulfillable,
                "inboundWorkingQuantity": inbound[0],
                "inboundShippedQuantity": inbound[1],
                "inboundReceivingQuantity": inbound[2],
                "reservedQuantity": {
                    "totalReservedQuantity": sum(reserved),
                    "pendingCustomerOrderQuantity": reserved[0],
                    "pendingTransshipmentQuantity": reserved[1],
                    "fcProcessingQuantity": reserved[2],
                },
                "researchingQuantity": {
                    "totalResearchingQuantity": sum(researching),
                    "researchingQuantityBreakdown": [
                        {"name": name, "quantity": quantity}
                        for name, quantity in zip(
                            (
                                "researchingQuantityInShortTerm",
                                "researchingQuantityInMidTerm",
                                "researchingQuantityInLongTerm",
                            ),
                            researching,
                            strict=True,
                        )
                    ],
                },
                "unfulfillableQuantity": {
                    "totalUnfulfillableQuantity": sum(unfulfillable),
                    "customerDamagedQuantity": unfulfillable[0],
                    "warehouseDamagedQuantity": unfulfillable[1],
                    "distributorDamagedQuantity": unfulfillable[2],
                    "carrierDamagedQuantity": unfulfillable[3],
                    "defectiveQuantity": unfulfillable[4],
                    "expiredQuantity": unfulfillable[5],
                },
            }
        return summary

    # -- reports -----------------------------------------------------------------------------

    def report_rows(
        self, report_type: str, start: datetime, end: datetime
    ) -> Iterator[dict[str, str]]:
        if report_type == REIMBURSEMENTS_REPORT:
            return self.reimbursements(start, end)
        if report_type == LEDGER_REPORT:
            return self.ledger_events(start, end)
        raise ValueError(f"unsupported report type {report_type}")

    def report_has_rows(self, report_type: str, start: datetime, end: datetime) -> bool:
        stream = self._reimbursements if report_type == REIMBURSEMENTS_REPORT else self._ledger
        return len(stream.indices(start, end)) > 0

    def report_lines(self, report_type: str, start: datetime, end: datetime) -> Iterator[str]:
        """The report document's text, a line at a time: a header row, then tab-separated rows
        (`\\n`-terminated, no quoting: Amazon writes fields as they are)."""
        columns = REPORT_COLUMNS[report_type]
        yield "\t".join(columns) + "\n"
        for row in self.report_rows(report_type, start, end):
            yield "\t".join(row[column] for column in columns) + "\n"


REPORT_COLUMNS = {REIMBURSEMENTS_REPORT: REIMBURSEMENT_COLUMNS, LEDGER_REPORT: LEDGER_COLUMNS}
REPORT_TYPES = frozenset(REPORT_COLUMNS)


def _currency(minor: int, currency: str) -> dict[str, Any]:
    return {"CurrencyCode": currency, "CurrencyAmount": json_amount(minor, currency)}


@lru_cache(maxsize=256)
def _catalog(seller_id: str, size: int) -> tuple[Product, ...]:
    products = []
    for index in range(size):
        rng = _rng(seller_id, "product", index)
        adjective, noun, color = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_COLORS)
        word = noun.split()[0].upper()[:4]
        if index % 17 == 3:
            sku = f"{word} {color[:3].upper()} {index:04d}"  # spaces
        elif index % 29 == 5:
            sku = f"{word}/{color[:2].upper()}+{index:04d}"  # '/' and '+' (URL-encoding traps)
        else:
            sku = f"OPS-{word}-{color[:3].upper()}-{index:04d}"
        asin = "B0" + _code(rng, 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        # Commingled stock is labelled with the ASIN itself.
        fnsku = (
            asin
            if index % 23 == 11
            else "X00" + _code(rng, 7, "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
        )
        if index % 13 == 6:
            name = _SPECIAL_NAMES[(index // 13) % len(_SPECIAL_NAMES)]
        else:
            name = f"{adjective} {noun}, {color}"
        products.append(
            Product(
                sku=sku,
                fnsku=fnsku,
                asin=asin,
                name=name,
                price_cents=rng.randint(499, 8999),
                in_canada=rng.random() < 0.5,
            )
        )
    return tuple(products)


# -- the truth, for tests and benchmarks -----------------------------------------------------


def seller_data(seller_id: str, sizes: DataSizes | None = None) -> SellerData:
    return SellerData(seller_id, sizes or DataSizes())


def expected_reimbursements(
    seller_id: str,
    start: datetime,
    end: datetime,
    sizes: DataSizes | None = None,
    *,
    now: datetime | None = None,
) -> Iterator[dict[str, str]]:
    """The rows a GET_FBA_REIMBURSEMENTS_DATA report of `[start, end)` contains."""
    served_start, served_end = served_window(start, end, now)
    return seller_data(seller_id, sizes).reimbursements(served_start, served_end)


def expected_ledger_events(
    seller_id: str,
    start: datetime,
    end: datetime,
    sizes: DataSizes | None = None,
    *,
    now: datetime | None = None,
) -> Iterator[dict[str, str]]:
    """The rows a GET_LEDGER_DETAIL_VIEW_DATA report of `[start, end)` contains."""
    served_start, served_end = served_window(start, end, now)
    return seller_data(seller_id, sizes).ledger_events(served_start, served_end)


def expected_financial_events(
    seller_id: str,
    posted_after: datetime,
    posted_before: datetime,
    sizes: DataSizes | None = None,
) -> Iterator[FinancialEvent]:
    """The events listFinancialEvents returns for `[posted_after, posted_before)`."""
    return seller_data(seller_id, sizes).financial_events(posted_after, posted_before)


def expected_inventory(
    seller_id: str,
    marketplace_id: str,
    sizes: DataSizes | None = None,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every inventory summary (details=true) of a marketplace as of `now`."""
    return seller_data(seller_id, sizes).inventory(marketplace_id, now)
