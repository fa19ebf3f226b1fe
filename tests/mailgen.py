"""Realistic purchase-order mail with ground truth, for accuracy tests, benchmarks and the samples.

``generate(n, seed=..., customers=...)`` returns ``GeneratedMail`` values: the raw RFC 5322 bytes
and what a careful person at the order desk would decide about the message: its status
(linked / unknown / malformed / missing / ambiguous), the canonical PO numbers it is about and the
customer. ``po_records`` gives the PO records that truth assumes are known (some closed).

The mail is meant to look like what an order desk sees, not like what our scanner likes:

* senders from each customer's domains and from unknown domains (whose PO still fits exactly one
  customer's pattern), non-ASCII names and subjects (RFC 2047);
* the PO in the subject, the plain body, an HTML-only body (tables, ``<br>``, entities), a PDF
  invoice only (header block, table cell, label above value, page 2: ``tests/pdfgen.py``);
* the number written in the customer's variants (lower case, spaces or slashes, no leading
  zeros, ``PO#``, ``P.O. No.``, ``Purchase Order:``), next to decoys (invoice numbers, dates,
  phones, IBANs, tracking numbers, P.O. boxes, order confirmations, quote numbers that fit the
  pattern);
* replies with quoted history (``>`` lines, "On ... wrote:", Outlook "From:/Sent:" blocks),
  inline and attached (message/rfc822) forwards, thank-you notes, delivery questions, newsletters;
* malformed numbers (a digit too few or too many, O for 0, I for 1, a department letter missing),
  well-formed numbers that are not in the records, numbers of another customer, two known POs;
* text/plain, text/html and multipart/alternative bodies in utf-8, iso-8859-1 or windows-1252,
  sent as 7bit, 8bit, quoted-printable or base64; bodies of 5-20 KB with signatures,
  disclaimers and line items.

The truth follows the product's definitions (see ``inbox_watcher/triage.py``): the message's own
text counts first; quoted history and forwarded messages count when the new text names no PO.

Every number the generator writes is checked against the customer's own rules when it is made
(a variant must normalize to its canonical number, a malformed one must not be well-formed), so
the truth cannot silently drift from the configuration. Nothing here looks at the extractor.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import html
import random
import tomllib
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.utils import format_datetime
from pathlib import Path
from typing import Literal

import regex

from extractors.rules import CustomerRules
from inbox_watcher.model import PoRecord
from tests.pdfgen import invoice_pdf

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CUSTOMERS_DIR = REPO / "config" / "customers"
DESK_ADDRESS = "po@example.com"
DESK_NAME = "Order Desk"

Status = Literal["linked", "unknown", "malformed", "missing", "ambiguous"]
STATUSES: tuple[Status, ...] = ("linked", "unknown", "malformed", "missing", "ambiguous")
CustomersArg = Path | str | Sequence[CustomerRules]


@dataclass(frozen=True, slots=True)
class GeneratedMail:
    """One message and what a person would decide about it."""

    raw: bytes
    expected_status: Status
    expected_pos: tuple[str, ...]  # canonical numbers the message must be linked to
    customer: str | None  # the customer the message is about (None: no customer's business)
    kind: str  # the scenario, such as "reply_inherits_quoted" or "pdf_only"
    detail: str = ""  # how it was written: body form, charset, encoding, number variants
    message_id: str = ""


# --------------------------------------------------------------------------------------------
# Customers and their numbers


def load_customers(customers: CustomersArg = DEFAULT_CUSTOMERS_DIR) -> tuple[CustomerRules, ...]:
    """Compiled rules from a directory of ``<id>.toml`` files (or rules given as they are)."""
    if not isinstance(customers, (str, Path)):
        return tuple(customers)
    found: list[CustomerRules] = []
    for path in sorted(Path(customers).glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        po = data.get("po", {})
        rules = CustomerRules.compile(
            path.stem,
            name=str(data.get("name", path.stem)),
            senders=list(data.get("senders", [])),
            pattern=str(po.get("pattern", "")),
            format=po.get("format"),
            valid=po.get("valid"),
            labels=po.get("labels"),
        )
        if not isinstance(rules, CustomerRules):
            raise ValueError(f"{path}: " + "; ".join(f"{e.key} {e.message}" for e in rules))
        found.append(rules)
    if not found:
        raise ValueError(f"no customer files (*.toml) in {customers}")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Written:
    """A number as written in a message, and the name of the way it was written."""

    text: str
    style: str


class Scheme:
    """How one customer's PO numbers look, and how people write (and mistype) them."""

    lang = "en"
    company = "Customer"
    labels: tuple[str, ...] = (
        "PO",
        "PO:",
        "PO#",
        "PO #",
        "P.O. No.",
        "PO Number:",
        "Purchase Order:",
        "Purchase Order No.",
        "P.O.",
    )
    unlabelled_ok = True  # whether the bare number reads as a PO to a person

    def new(self, rng: random.Random) -> str:
        raise NotImplementedError

    def variants(self, number: str) -> dict[str, str]:
        raise NotImplementedError

    def malformations(self, number: str) -> dict[str, str]:
        raise NotImplementedError


class WestsideScheme(Scheme):
    """``2023-00125-WS``: year, five-digit sequence (leading zeros optional), department."""

    company = "Westside Tools Ltd"
    labels = (*Scheme.labels, "Order Ref:", "Your ref:", "Our PO", "P.O. Number")
    depts = ("WS", "MT", "EL", "HR", "LG", "PR", "IT", "QA")

    def new(self, rng: random.Random) -> str:
        seq = rng.choice((rng.randint(1, 999), rng.randint(100, 9999), rng.randint(1000, 99999)))
        return f"{rng.randint(2019, 2025)}-{seq:05d}-{rng.choice(self.depts)}"

    def variants(self, number: str) -> dict[str, str]:
        year, seq, dept = number.split("-")
        short = seq.lstrip("0").rjust(3, "0")
        return {
            "canonical": number,
            "lower": number.lower(),
            "slashes": f"{year}/{seq}/{dept}",
            "spaces": f"{year} {seq} {dept}",
            "no_zeros": f"{year}-{short}-{dept}",
            "slash_short_lower": f"{year}/{short}/{dept.lower()}",
            "compact": f"{year}{seq}{dept}",
        }

    def malformations(self, number: str) -> dict[str, str]:
        year, seq, dept = number.split("-")
        out = {
            "dept_letter_missing": f"{year}-{seq}-{dept[0]}",
            "digit_too_many": f"{year}-{seq}{seq[-1]}-{dept}",
            "year_digit_missing": f"{year[0]}{year[2:]}-{seq}-{dept}",
        }
        if "0" in seq:
            out["letter_O_for_0"] = f"{year}-{seq.replace('0', 'O', 2)}-{dept}"
        if "1" in seq:
            out["letter_I_for_1"] = f"{year}-{seq.replace('1', 'I', 1)}-{dept}"
        if "0" in year[1:]:
            out["year_O_for_0"] = f"{year[0]}{year[1:].replace('0', 'O', 1)}-{seq}-{dept}"
        return out


class AcmeScheme(Scheme):
    """``ACME-123456``: six digits, often written with "ACME-PO-" or after a "PO" label alone."""

    company = "Acme Corporation"
    labels = (*Scheme.labels, "Customer PO:", "Order No.:", "Order Number")  # as acme.toml

    def new(self, rng: random.Random) -> str:
        return f"ACME-{rng.randint(100000, 999999)}"

    def variants(self, number: str) -> dict[str, str]:
        digits = number.split("-")[1]
        return {
            "canonical": number,
            "po_infix": f"ACME-PO-{digits}",
            "spaced": f"ACME PO {digits}",
            "compact": f"ACME{digits}",
            "lower": number.lower(),
            "mixed_case": f"Acme-PO-{digits}",
            "digits_only": digits,  # reads as a PO only after a label
        }

    def malformations(self, number: str) -> dict[str, str]:
        digits = number.split("-")[1]
        out = {
            "digit_too_few": f"ACME-{digits[:-1]}",
            "digit_too_many": f"ACME-{digits}{digits[-1]}",
        }
        if "0" in digits:
            out["letter_O_for_0"] = f"ACME-{digits.replace('0', 'O', 1)}"
        if "1" in digits:
            out["letter_I_for_1"] = f"ACME-{digits.replace('1', 'I', 1)}"
        return out


class NordwindScheme(Scheme):
    """``BN-2024-0815``: German mail, "Bestellnummer", "Bestell-Nr.", "Ihre Bestellung"."""

    lang = "de"
    company = "Nordwind Handel GmbH"
    labels = (
        "Bestellnummer:",
        "Bestellnummer",
        "Bestell-Nr.",
        "Bestell-Nr.:",
        "Ihre Bestellung",
        "Bestellung",
        "Unsere Bestellnummer:",
        "PO:",
        "PO",
        "Bestellnr.",
    )

    def new(self, rng: random.Random) -> str:
        return f"BN-{rng.randint(2020, 2025)}-{rng.randint(1, 9999):04d}"

    def variants(self, number: str) -> dict[str, str]:
        _, year, seq = number.split("-")
        return {
            "canonical": number,
            "spaces": f"BN {year} {seq}",
            "slash": f"BN{year}/{seq}",
            "lower": number.lower(),
            "compact": f"BN{year}{seq}",
            "dash_slash": f"BN-{year}/{seq}",
        }

    def malformations(self, number: str) -> dict[str, str]:
        _, year, seq = number.split("-")
        out = {
            "digit_too_few": f"BN-{year}-{seq[1:] if seq[0] == '0' else seq[:-1]}",
            "digit_too_many": f"BN-{year}-{seq}{seq[-1]}",
            "year_O_for_0": f"BN-{year.replace('0', 'O', 1)}-{seq}",
        }
        if "1" in seq:
            out["letter_I_for_1"] = f"BN-{year}-{seq.replace('1', 'I', 1)}"
        if "0" in seq:
            out["letter_O_for_0"] = f"BN-{year}-{seq.replace('0', 'O', 1)}"
        return out


SCHEMES: dict[str, Scheme] = {
    "westside": WestsideScheme(),
    "acme": AcmeScheme(),
    "nordwind": NordwindScheme(),
}


def _normalized(rules: CustomerRules, text: str) -> list[str]:
    """The valid canonical numbers the customer's pattern reads in ``text``."""
    out = []
    for m in rules.pattern.finditer(text):
        number = rules.normalize(m)
        if number is not None and rules.is_valid(number):
            out.append(number)
    return out


def _check_variant(rules: CustomerRules, written: str, number: str) -> None:
    m = rules.pattern.fullmatch(written)
    if m is None or rules.normalize(m) != number:
        raise AssertionError(f"generator bug: {written!r} does not normalize to {number!r}")


@dataclass(frozen=True, slots=True)
class _Customer:
    rules: CustomerRules
    scheme: Scheme
    open: tuple[str, ...]
    closed: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.rules.id

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.open) | frozenset(self.closed)


def _schemes_for(customers: Sequence[CustomerRules]) -> list[tuple[CustomerRules, Scheme]]:
    pairs = [(c, SCHEMES[c.id]) for c in customers if c.id in SCHEMES]
    if not pairs:
        raise ValueError(
            "none of the customers has a number scheme in tests/mailgen.py "
            f"(known: {', '.join(SCHEMES)})"
        )
    return pairs


_BUYERS = (
    "J. Miller",
    "Sarah O'Connor",
    "Priya Natarajan",
    "Jürgen Müller",
    "Anna Kowalska",
    "Tom Baker",
    "Renée Dubois",
    "Kai Schröder",
    "Li Wei",
    "María González",
)


def po_records(
    customers: CustomersArg = DEFAULT_CUSTOMERS_DIR,
    *,
    seed: int = 0,
    per_customer: int = 40,
    closed_share: float = 0.15,
) -> list[PoRecord]:
    """The PO records the generated truth assumes are known: open and some closed ones."""
    rng = random.Random(f"po-records/{seed}")
    records: list[PoRecord] = []
    for rules, scheme in _schemes_for(load_customers(customers)):
        numbers: set[str] = set()
        while len(numbers) < per_customer:
            number = scheme.new(rng)
            if rules.is_valid(number):
                numbers.add(number)
        closed_count = max(1, round(per_customer * closed_share))
        ordered = sorted(numbers)
        rng.shuffle(ordered)
        for i, number in enumerate(ordered):
            currency = "EUR" if scheme.lang == "de" else rng.choice(("GBP", "USD", "EUR"))
            records.append(
                PoRecord(
                    po_number=number,
                    customer=rules.id,
                    status="closed" if i < closed_count else "open",
                    amount=(Decimal(rng.randint(5_000, 2_500_000)) / 100).quantize(Decimal("0.01")),
                    currency=currency,
                    issued_on=dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 900)),
                    buyer=rng.choice(_BUYERS),
                )
            )
    return records


def records_csv(records: Iterable[PoRecord]) -> str:
    """``records`` as the CSV that ``po-watcher pos import`` reads."""
    lines = ["po_number,customer,status,amount,currency,issued_on,buyer"]
    for r in records:
        buyer = (r.buyer or "").replace('"', '""')
        lines.append(
            f"{r.po_number},{r.customer},{r.status},{r.amount if r.amount is not None else ''},"
            f'{r.currency or ""},{r.issued_on.isoformat() if r.issued_on else ""},"{buyer}"'
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Text pools

_FIRST = (
    "James",
    "Sarah",
    "Priya",
    "Tom",
    "Emma",
    "Oliver",
    "Aisha",
    "Michael",
    "Hannah",
    "Raj",
    "Chloé",
    "Zoë",
    "Søren",
    "José",
    "Łukasz",
    "Björn",
    "Siobhán",
    "Ngozi",
    "Wei",
    "Dmitri",
)
_LAST = (
    "Miller",
    "O'Connor",
    "Natarajan",
    "Baker",
    "Clarke",
    "Hughes",
    "Patel",
    "Nguyen",
    "Kowalski",
    "Fernández",
    "Sørensen",
    "Wiśniewski",
    "Øberg",
    "Brennan",
    "Okafor",
)
_DE_FIRST = (
    "Jürgen",
    "Anja",
    "Björn",
    "Sabine",
    "Uwe",
    "Käthe",
    "Matthias",
    "Jörg",
    "Birgit",
    "Günther",
    "Lena",
    "Stefan",
)
_DE_LAST = (
    "Müller",
    "Schröder",
    "Weiß",
    "Hoffmann",
    "Krüger",
    "Bäcker",
    "Groß",
    "Schäfer",
    "Koch",
    "Neumann",
    "Zimmermann",
    "Fuchs",
)
_LOCAL_PARTS = ("purchasing", "orders", "buyer", "procurement", "einkauf", "accounts", "stores")
_UNKNOWN_DOMAINS = (
    "gmail.example",
    "outlook.example",
    "logistik-partner.example",
    "site-office.example",
    "contractor-mail.example",
    "freenet.example",
    "westside-tools-uk.example",
    "acme-subsidiary.example",
)
_LOCAL_PHONES = {
    "westside": ("+44 113 496 0123", "+44 (0)20 7946 0958", "0113 496 0789", "0800 731 4477"),
    "acme": ("+1 (312) 555-0147", "+1 312 555 0199", "(773) 555-0123", "312.555.0181"),
    "nordwind": ("+49 40 123456-0", "+49 (0)201 554433", "040 / 30 20 10 0", "+49 421 98765-12"),
}
_PHONES = (*(p for ps in _LOCAL_PHONES.values() for p in ps), "+31 20 555 1234")
_IBANS = (
    "GB29 NWBK 6016 1331 9268 19",
    "DE89 3704 0044 0532 0130 00",
    "NL91 ABNA 0417 1643 00",
    "GB82 WEST 1234 5698 7654 32",
)
_TRACKING = (
    "1Z999AA10123456784",
    "JJD000390007880121044",
    "00340434161234567890",
    "9400 1000 0000 0000 0000 00",
    "RR123456785GB",
)
_CITIES = (
    "Leeds LS1 4AB",
    "Manchester M1 2WD",
    "Chicago, IL 60601",
    "Hamburg 20095",
    "Bremen 28195",
    "Rotterdam 3011 AA",
)
_ITEMS = (
    ("Hex bolt M8x40 DIN 933 A2", "pcs"),
    ("Cordless drill 18V brushless", "pcs"),
    ("Safety gloves, cut level C, size 9", "pairs"),
    ("Steel bracket 90°, galvanised", "pcs"),
    ("Cable tie 200x4.8 mm black", "packs"),
    ('Hydraulic hose 1/2" 2 m', "pcs"),
    ("Pallet wrap 500 mm x 300 m", "rolls"),
    ("Grinding disc 125 mm", "pcs"),
    ("Ball bearing 6204-2RS", "pcs"),
    ("Threadlocker medium strength 50 ml", "btl"),
    ("Workbench 2000 x 750 mm", "pcs"),
    ("LED panel 600x600 40W", "pcs"),
    ("Copper pipe 15 mm x 3 m", "lengths"),
    ("Nitrile O-ring 32x3", "pcs"),
)
_DE_ITEMS = (
    ("Sechskantschraube M8x40 DIN 933 A2", "Stk"),
    ("Akku-Bohrschrauber 18V", "Stk"),
    ("Schutzhandschuhe Gr. 9", "Paar"),
    ("Winkel 90°, verzinkt", "Stk"),
    ("Kabelbinder 200x4,8 mm schwarz", "VE"),
    ("Schleifscheibe 125 mm", "Stk"),
    ("Rillenkugellager 6204-2RS", "Stk"),
    ("Stretchfolie 500 mm", "Rollen"),
    ("Kupferrohr 15 mm x 3 m", "Stangen"),
    ("Werkbank 2000 x 750 mm", "Stk"),
)

_DISCLAIMERS_EN = (
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and may also be "
    "legally privileged. If you are not the intended recipient, please notify the sender "
    "immediately by return e-mail and delete this message and any attachments from your system. "
    "Any unauthorised copying, disclosure or distribution of the material in this e-mail is "
    "strictly forbidden. We have taken precautions to minimise the risk of transmitting software "
    "viruses, but we advise you to carry out your own virus checks on any attachment to this "
    "message. We cannot accept liability for any loss or damage caused by software viruses.",
    "This message contains information which may be confidential and privileged. Unless you are "
    "the addressee (or authorized to receive for the addressee), you may not use, copy or "
    "disclose to anyone the message or any information contained in the message. If you have "
    "received the message in error, please advise the sender by reply e-mail and delete the "
    "message. E-mail transmission cannot be guaranteed to be secure or error-free as information "
    "could be intercepted, corrupted, lost, destroyed, arrive late or incomplete, or contain "
    "viruses. The sender therefore does not accept liability for any errors or omissions in the "
    "contents of this message which arise as a result of e-mail transmission.",
    "Please consider the environment before printing this e-mail. All orders are placed subject "
    "to our standard terms and conditions of purchase, available on request. Delivery notes must "
    "show our purchase order number, the quantity and the part description; goods delivered "
    "without the correct paperwork may be refused at the gate. Invoices must be sent to the "
    "accounts payable address only; invoices sent to individual buyers will not be processed. "
    "Payment terms are 60 days end of month unless agreed otherwise in writing.",
)
_DISCLAIMERS_DE = (
    "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie "
    "nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren "
    "Sie bitte sofort den Absender und vernichten Sie diese Mail. Das unerlaubte Kopieren sowie "
    "die unbefugte Weitergabe dieser Mail sind nicht gestattet. Es gelten unsere Allgemeinen "
    "Einkaufsbedingungen. Lieferscheine müssen unsere Bestellnummer, die Menge und die "
    "Artikelbezeichnung enthalten; Rechnungen bitte ausschließlich an die Kreditorenbuchhaltung.",
    "Geschäftsführer: Hans-Peter Große, Dr. Ulrike Weiß \u2013 Sitz der Gesellschaft: "
    "Hamburg \u2013 Registergericht: Amtsgericht Hamburg HRB 123456 \u2013 "
    "USt-IdNr.: DE 123 456 789. "
    "Bitte denken Sie an die Umwelt, bevor Sie diese E-Mail ausdrucken. Informationen zum "
    "Datenschutz finden Sie unter www.nordwind-handel.example/datenschutz.",
)
_TERMS_EN = (
    "Delivery to: Goods-in, Unit 7, Dock Road, {city}. Opening hours for deliveries are "
    "Monday to Friday, 07:00 to 15:30. Please book a slot at least 24 hours in advance; "
    "vehicles over 7.5 t must use the rear gate.",
    "Please ensure that all items are individually labelled and that the delivery note is "
    "attached to the outside of the first carton. Partial deliveries are accepted only by "
    "prior agreement. Certificates of conformity must accompany each batch.",
    "Prices as per your quotation of last month, ex works, excluding VAT. Please advise "
    "immediately if any item cannot be delivered by the requested date.",
)
_TERMS_DE = (
    "Lieferanschrift: Wareneingang Tor 3, Am Speicher 12, {city}. Anlieferung Mo\u2013Fr "
    "7:00\u201314:30 Uhr, bitte Zeitfenster 24 Stunden vorher avisieren.",
    "Bitte vermerken Sie auf Lieferschein und Rechnung unsere Bestellnummer. Teillieferungen "
    "nur nach Rücksprache. Es gelten die vereinbarten Preise und Zahlungsbedingungen: 14 Tage "
    "2 % Skonto, 30 Tage netto.",
)


# --------------------------------------------------------------------------------------------
# Message model: blocks of text, rendered to plain text and to HTML


@dataclass(frozen=True, slots=True)
class Para:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    rows: tuple[tuple[str, ...], ...]
    header: bool = True


Block = Para | Table


def _p(*lines: str) -> Para:
    return Para(tuple(lines))


@dataclass(frozen=True, slots=True)
class Quote:
    """Earlier mail below the new text: a reply's history or an inline forward."""

    style: Literal["gt", "outlook", "forward", "de_gt"]
    who: str
    addr: str
    when: dt.datetime
    subject: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Att:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Draft:
    """A message before rendering."""

    sender_name: str
    sender_addr: str
    subject: str
    blocks: list[Block]
    lang: str = "en"
    quote: Quote | None = None
    form: str = "any"  # "text" | "html" | "alternative" | "any"
    attachments: list[Att] = field(default_factory=list)
    forward_822: bytes | None = None
    in_reply_to: str | None = None
    min_size: int = 5_000


def _text_of(blocks: Sequence[Block]) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Para):
            out.append("\n".join(b.lines))
        else:
            widths = [max(len(r[i]) for r in b.rows if i < len(r)) for i in range(len(b.rows[0]))]
            rows = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in b.rows]
            if b.header:
                rows.insert(1, "  ".join("-" * w for w in widths))
            out.append("\n".join(rows))
    return "\n\n".join(out)


def _esc(text: str, rng: random.Random) -> str:
    """HTML-escaped text, with the entities mail programs like to write."""
    out = html.escape(text, quote=False)
    if rng.random() < 0.5:
        out = out.replace("ä", "&auml;").replace("ö", "&ouml;").replace("ü", "&uuml;")
        out = out.replace("é", "&eacute;").replace("ß", "&szlig;")
    if rng.random() < 0.4:
        out = out.replace("\u2013", "&ndash;").replace("\u2019", "&#8217;").replace("€", "&euro;")
    if rng.random() < 0.5:
        out = regex.sub(r":(?= )", ":&nbsp;", out, count=3)
    if rng.random() < 0.2:
        out = out.replace("'", "&#39;")
    return out


def _html_of(blocks: Sequence[Block], rng: random.Random) -> str:
    out = []
    style = rng.choice(("p", "div", "br"))
    for b in blocks:
        if isinstance(b, Para):
            inner = "<br>\n".join(_esc(line, rng) for line in b.lines)
            if style == "p":
                out.append(f'<p class="MsoNormal">{inner}</p>')
            elif style == "div":
                out.append(f"<div>{inner}</div><div><br></div>")
            else:
                out.append(f"{inner}<br>\n<br>")
        else:
            rows = []
            for i, r in enumerate(b.rows):
                tag = "th" if b.header and i == 0 else "td"
                cells = "".join(
                    f'<{tag} style="padding:2px 6px;border:1px solid #ccc">{_esc(c, rng)}</{tag}>'
                    for c in r
                )
                rows.append(f"<tr>{cells}</tr>")
            out.append(
                '<table cellspacing="0" cellpadding="0" style="border-collapse:collapse">'
                + "\n".join(rows)
                + "</table>"
            )
    return "\n".join(out)


def _when_words(when: dt.datetime) -> str:
    return when.strftime("%a, %d %b %Y at %H:%M")


def _quote_text(q: Quote) -> str:
    body = _text_of(q.blocks)
    if q.style == "gt":
        head = f"On {_when_words(q.when)}, {q.who} <{q.addr}> wrote:"
        return head + "\n" + "\n".join(("> " + line).rstrip() for line in body.split("\n"))
    if q.style == "de_gt":
        head = f"Am {q.when:%d.%m.%Y} um {q.when:%H:%M} schrieb {q.who} <{q.addr}>:"
        return head + "\n" + "\n".join(("> " + line).rstrip() for line in body.split("\n"))
    if q.style == "outlook":
        return (
            "________________________________\n"
            f"From: {q.who} <{q.addr}>\nSent: {q.when:%A, %B %d, %Y %I:%M %p}\n"
            f"To: {DESK_NAME} <{DESK_ADDRESS}>\nSubject: {q.subject}\n\n{body}"
        )
    return (
        "---------- Forwarded message ---------\n"
        f"From: {q.who} <{q.addr}>\nDate: {_when_words(q.when)}\n"
        f"Subject: {q.subject}\nTo: {DESK_NAME} <{DESK_ADDRESS}>\n\n{body}"
    )


def _quote_html(q: Quote, rng: random.Random) -> str:
    body = _html_of(q.blocks, rng)
    who = html.escape(f"{q.who} <{q.addr}>", quote=False)
    if q.style in ("gt", "de_gt"):
        head = (
            f"On {_when_words(q.when)}, {who} wrote:"
            if q.style == "gt"
            else f"Am {q.when:%d.%m.%Y} um {q.when:%H:%M} schrieb {who}:"
        )
        return (
            f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">{head}<br></div>'
            '<blockquote class="gmail_quote" style="margin:0 0 0 .8ex;border-left:1px #ccc '
            f'solid;padding-left:1ex">{body}</blockquote></div>'
        )
    if q.style == "outlook":
        return (
            '<div id="divRplyFwdMsg" dir="ltr"><hr style="display:inline-block;width:98%">'
            f"<b>From:</b> {who}<br><b>Sent:</b> {q.when:%A, %B %d, %Y %I:%M %p}<br>"
            f"<b>To:</b> {DESK_NAME} &lt;{DESK_ADDRESS}&gt;<br>"
            f"<b>Subject:</b> {html.escape(q.subject, quote=False)}</div><div>{body}</div>"
        )
    return (
        '<div class="gmail_quote">---------- Forwarded message ---------<br>'
        f"From: <strong>{who}</strong><br>Date: {_when_words(q.when)}<br>"
        f"Subject: {html.escape(q.subject, quote=False)}<br>To: &lt;{DESK_ADDRESS}&gt;<br>"
        f"<br>{body}</div>"
    )


# --------------------------------------------------------------------------------------------
# MIME writing (by hand: full control over charsets and transfer encodings, and fast)


@dataclass(slots=True)
class _Part:
    headers: list[tuple[str, str]]
    body: bytes = b""
    children: list[_Part] = field(default_factory=list)
    boundary: str = ""


def _encode_body(text: str, charset: str, cte: str) -> bytes:
    data = text.replace("\r\n", "\n").encode(charset)
    if cte == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if cte == "quoted-printable":
        return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n") + b"\r\n"
    return data.replace(b"\n", b"\r\n") + b"\r\n"


def _text_part(text: str, subtype: str, charset: str, cte: str) -> _Part:
    return _Part(
        [
            ("Content-Type", f'text/{subtype}; charset="{charset}"'),
            ("Content-Transfer-Encoding", cte),
        ],
        _encode_body(text, charset, cte),
    )


def _binary_part(att: Att, disposition: str = "attachment") -> _Part:
    name = att.filename
    return _Part(
        [
            ("Content-Type", f'{att.content_type}; name="{name}"'),
            ("Content-Disposition", f'{disposition}; filename="{name}"'),
            ("Content-Transfer-Encoding", "base64"),
        ],
        base64.encodebytes(att.data).replace(b"\n", b"\r\n"),
    )


def _serialize(part: _Part, out: bytearray) -> None:
    for name, value in part.headers:
        out += f"{name}: {value}\r\n".encode("ascii")
    out += b"\r\n"
    if not part.children:
        out += part.body
        return
    out += b"This is a multi-part message in MIME format.\r\n"
    for child in part.children:
        out += f"\r\n--{part.boundary}\r\n".encode("ascii")
        _serialize(child, out)
    out += f"\r\n--{part.boundary}--\r\n".encode("ascii")


def _multipart(subtype: str, children: list[_Part], rng: random.Random) -> _Part:
    boundary = f"----=_Part_{rng.getrandbits(48):012x}"
    return _Part(
        [("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')],
        children=children,
        boundary=boundary,
    )


def _header_words(value: str, charset: str, rng: random.Random) -> str:
    """A header value, RFC 2047-encoded when it is not ASCII."""
    if value.isascii():
        return value
    cs = Charset(charset if _encodable(value, charset) else "utf-8")
    cs.header_encoding = rng.choice((QP, BASE64))
    return Header(value, cs, maxlinelen=76).encode().replace("\n", "\r\n")


def _address(name: str, addr: str, charset: str, rng: random.Random) -> str:
    if not name:
        return addr
    if name.isascii():
        quoted = f'"{name}"' if regex.search(r"[^\w !#$%&'*+\-/=?^`{|}~]", name) else name
        return f"{quoted} <{addr}>"
    return f"{_header_words(name, charset, rng)} <{addr}>"


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def _choose_encoding(text: str, rng: random.Random, lang: str) -> tuple[str, str]:
    """(charset, transfer encoding) for a body, as a real mail program might pick them."""
    prefs = ["utf-8"] * 5 + ["windows-1252"] * 2 + ["iso-8859-1"] * (3 if lang == "de" else 1)
    charset = rng.choice(prefs)
    if not _encodable(text, charset):
        charset = "utf-8"
    if text.isascii():
        cte = rng.choice(("7bit", "7bit", "quoted-printable", "base64"))
    else:
        cte = rng.choice(("8bit", "quoted-printable", "quoted-printable", "base64"))
    if cte in ("7bit", "8bit") and max((len(x) for x in text.split("\n")), default=0) > 900:
        cte = "quoted-printable"
    return charset, cte


def render(
    draft: Draft, rng: random.Random, when: dt.datetime, message_id: str
) -> tuple[bytes, str]:
    """The message's bytes, and a short description of how it was written."""
    text = _text_of(draft.blocks)
    if draft.quote is not None:
        text += "\n\n" + _quote_text(draft.quote)
    form = draft.form
    if form == "any":
        form = rng.choices(("text", "html", "alternative"), weights=(35, 15, 50))[0]
    charset, cte = _choose_encoding(text, rng, draft.lang)
    parts: list[_Part] = []
    if form in ("text", "alternative"):
        parts.append(_text_part(text, "plain", charset, cte))
    if form in ("html", "alternative"):
        body = _html_of(draft.blocks, rng)
        if draft.quote is not None:
            body += "\n<br>\n" + _quote_html(draft.quote, rng)
        doc = (
            '<html><head><meta http-equiv="Content-Type" content="text/html; '
            f'charset={charset}"><style>p.MsoNormal{{margin:0}}</style></head>\n'
            f'<body style="font-family:Calibri,Arial,sans-serif;font-size:11pt">\n{body}\n'
            "</body></html>"
        )
        html_cte = cte if cte != "7bit" or doc.isascii() else "quoted-printable"
        parts.append(_text_part(doc, "html", charset, html_cte))
    root = parts[0] if len(parts) == 1 else _multipart("alternative", parts, rng)
    extras: list[_Part] = [_binary_part(a) for a in draft.attachments]
    if draft.forward_822 is not None:
        extras.append(
            _Part(
                [
                    ("Content-Type", "message/rfc822"),
                    ("Content-Disposition", 'attachment; filename="forwarded message.eml"'),
                ],
                draft.forward_822
                if draft.forward_822.endswith(b"\r\n")
                else draft.forward_822 + b"\r\n",
            )
        )
    if extras:
        root = _multipart("mixed", [root, *extras], rng)
    headers = [
        ("From", _address(draft.sender_name, draft.sender_addr, charset, rng)),
        ("To", f"{DESK_NAME} <{DESK_ADDRESS}>"),
        ("Subject", _header_words(draft.subject, charset, rng)),
        ("Date", format_datetime(when)),
        ("Message-ID", message_id),
    ]
    if draft.in_reply_to:
        headers += [("In-Reply-To", draft.in_reply_to), ("References", draft.in_reply_to)]
    headers += [
        ("MIME-Version", "1.0"),
        (
            "X-Mailer",
            rng.choice(
                (
                    "Microsoft Outlook 16.0",
                    "Apple Mail (2.3731)",
                    "Mozilla Thunderbird 115.6",
                    "Roundcube Webmail",
                )
            ),
        ),
    ]
    root.headers = headers + root.headers
    out = bytearray()
    _serialize(root, out)
    return bytes(out), f"{form},{charset},{cte}"


# --------------------------------------------------------------------------------------------
# The generator's state and the pieces of a message


@dataclass(slots=True)
class _Gen:
    rng: random.Random
    customers: list[_Customer]
    unknown_seen: set[str]
    seq: int = 0
    when: dt.datetime = dt.datetime(2024, 3, 4, 8, 0, tzinfo=dt.UTC)

    def by_id(self, cid: str) -> _Customer:
        return next(c for c in self.customers if c.id == cid)

    def next_when(self) -> dt.datetime:
        self.when += dt.timedelta(minutes=self.rng.randint(1, 90))
        tz = dt.timezone(dt.timedelta(hours=self.rng.choice((0, 1, 2, -5, -6))))
        return self.when.astimezone(tz)

    def message_id(self, domain: str) -> str:
        self.seq += 1
        return f"<{self.rng.getrandbits(40):010x}.{self.seq}@{domain}>"


def _person(g: _Gen, lang: str) -> tuple[str, str]:
    rng = g.rng
    if lang == "de":
        return rng.choice(_DE_FIRST), rng.choice(_DE_LAST)
    return rng.choice(_FIRST), rng.choice(_LAST)


def _ascii_local(first: str, last: str) -> str:
    table = str.maketrans(
        {
            "ä": "ae",
            "ö": "oe",
            "ü": "ue",
            "ß": "ss",
            "ø": "o",
            "ł": "l",
            "ś": "s",
            "é": "e",
            "á": "a",
            "ó": "o",
            "í": "i",
            "ë": "e",
            "Ø": "O",
            "Ł": "L",
            "Ö": "Oe",
            "Ä": "Ae",
            "Ü": "Ue",
            "'": "",
        }
    )
    return f"{first}.{last}".translate(table).lower().encode("ascii", "ignore").decode()


def _customer_sender(g: _Gen, c: _Customer) -> tuple[str, str]:
    """(display name, address) matching one of the customer's sender globs."""
    rng = g.rng
    first, last = _person(g, c.scheme.lang)
    glob = rng.choice(c.rules.senders)
    if "*" not in glob and "?" not in glob:
        return (rng.choice((f"{first} {last}", f"{c.scheme.company} Purchasing", "")), glob)
    local = rng.choice((_ascii_local(first, last), rng.choice(_LOCAL_PARTS)))
    addr = glob.replace("*@*.", f"{local}@{rng.choice(('uk', 'us', 'de', 'mail'))}.", 1)
    addr = addr.replace("*", local, 1).replace("*", "mail").replace("?", "x")
    name = rng.choice(
        (f"{first} {last}", f"{last}, {first}", f"{first} {last} ({c.scheme.company})")
    )
    return name, addr


def _unknown_sender(g: _Gen, lang: str = "en") -> tuple[str, str]:
    first, last = _person(g, lang)
    domain = g.rng.choice(_UNKNOWN_DOMAINS)
    return f"{first} {last}", f"{_ascii_local(first, last)}@{domain}"


def _written(g: _Gen, c: _Customer, number: str, *, labelled: bool) -> Written:
    variants = c.scheme.variants(number)
    if not labelled or not c.scheme.unlabelled_ok:
        variants.pop("digits_only", None)
    style = g.rng.choices(list(variants), weights=[6 if k == "canonical" else 1 for k in variants])[
        0
    ]
    text = variants[style]
    if style != "digits_only":
        _check_variant(c.rules, text, number)
    return Written(text, style)


def _label(g: _Gen, c: _Customer) -> str:
    return g.rng.choice(c.scheme.labels)


def _mention(g: _Gen, c: _Customer, number: str, *, labelled: bool = True) -> tuple[str, str]:
    """("label value" as written, style description)."""
    w = _written(g, c, number, labelled=labelled)
    if not labelled:
        return w.text, f"unlabelled:{w.style}"
    label = _label(g, c)
    rng = g.rng
    if label.endswith(("#", ":")):
        sep = rng.choice((" ", " ", "")) if label.endswith("#") else " "
    else:
        sep = rng.choice((" ", ": ", " ", " - "))
    text = f"{label}{sep}{w.text}"
    if c.id == "acme" and w.style == "digits_only" and rng.random() < 0.25:
        text = f"PO{w.text}"  # glued: "PO123456"
        return text, "glued:PO"
    return text, f"{label.strip(':# ')}:{w.style}"


def _malformed(g: _Gen, c: _Customer, number: str) -> tuple[str, str]:
    """(a malformed writing of ``number``, the kind of mistake).

    A mistake that happens to read as another well-formed number ("2024-139OO-PR" is year 2024,
    sequence 139, department "OO") is not used: its truth would be arguable.
    """
    options = {
        style: text
        for style, text in c.scheme.malformations(number).items()
        if not _normalized(c.rules, text)
    }
    if not options:
        raise AssertionError(f"generator bug: every malformation of {number} reads as valid")
    style = g.rng.choice(sorted(options))
    return options[style], style


def _new_unknown(g: _Gen, c: _Customer) -> str:
    while True:
        number = c.scheme.new(g.rng)
        if number not in c.known and c.rules.is_valid(number):
            g.unknown_seen.add(number)
            return number


def _known(g: _Gen, c: _Customer, *, closed: bool = False) -> str:
    return g.rng.choice(c.closed if closed and c.closed else c.open)


def _two_known(g: _Gen, c: _Customer) -> tuple[str, str]:
    a, b = g.rng.sample(c.open, 2)
    return a, b


# -- decoys, signatures, line items --------------------------------------------------------------


def _decoy_lines(g: _Gen, c: _Customer | None, k: int) -> list[str]:
    rng = g.rng
    year = rng.randint(2023, 2025)
    pool = [
        f"Invoice No.: INV-{year}-{rng.randint(100, 99999):05d}",
        f"Invoice date: {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}",
        f"Date: {year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        f"Tel: {rng.choice(_PHONES)}",
        f"Phone {rng.choice(_PHONES)}",
        f"IBAN: {rng.choice(_IBANS)}",
        f"Tracking number: {rng.choice(_TRACKING)}",
        f"Order confirmation: OC-{rng.randint(10000, 99999)}",
        f"P.O. Box {rng.randint(10, 9999)}, {rng.choice(_CITIES)}",
        f"Delivery note DN{rng.randint(100000, 999999)}",
        f"Due date: {rng.randint(1, 28)}.{rng.randint(1, 12)}.{year}",
    ]
    if c is not None and c.id == "westside":
        pool += [
            f"Quote {year}-{rng.randint(100, 99999):05d}-QT",
            f"Our ref: {year}-{rng.randint(100, 99999):05d}-SO",
            f"Invoice {year}/{rng.randint(100, 9999)}/IN",
        ]
    if c is not None and c.id == "acme":
        pool += [
            f"Invoice {rng.randint(100000, 999999)}",
            f"Customer No. {rng.randint(100000, 999999)}",
            f"Our order {rng.randint(100000, 999999)}",
            f"Quote #{rng.randint(100000, 999999)}",
        ]
    if c is not None and c.id == "nordwind":
        pool += [
            f"Rechnungsnr.: RE-{year}-{rng.randint(1, 9999):04d}",
            f"Kundennummer: {rng.randint(10000, 99999)}",
            f"Lieferschein LS-{year}-{rng.randint(1, 9999):04d}",
            f"Datum: {rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{year}",
            f"Angebot BN-{year}-{rng.randint(1, 9999):04d}",
        ]
    return rng.sample(pool, min(k, len(pool)))


def _signature(g: _Gen, name: str, c: _Customer | None, lang: str) -> Para:
    rng = g.rng
    company = (
        c.scheme.company
        if c
        else rng.choice(("Harbour Logistics", "Site Services Ltd", "K. Brennan Contracting"))
    )
    lines = [
        "--" if rng.random() < 0.5 else "",
        name,
        rng.choice(("Purchasing", "Senior Buyer", "Procurement Team", "Einkauf", "Stores"))
        if lang == "en"
        else rng.choice(("Einkauf", "Disposition", "Leitung Einkauf")),
        company,
    ]
    lines.append(
        rng.choice(
            (
                "Unit 4, Harbour Park",
                "Am Speicher 12",
                "1200 W Lake St",
                f"P.O. Box {rng.randint(100, 9999)}",
            )
        )
    )
    lines.append(rng.choice(_CITIES))
    phones = _LOCAL_PHONES.get(c.id, _PHONES) if c and rng.random() < 0.8 else _PHONES
    lines.append(f"{'Tel.' if lang == 'de' else 'T:'} {rng.choice(phones)}")
    if rng.random() < 0.6:
        lines.append(f"{'Fax' if lang == 'de' else 'F:'} {rng.choice(phones)}")
    if rng.random() < 0.5:
        lines.append(f"{'Mobil' if lang == 'de' else 'M:'} {rng.choice(phones)}")
    lines.append(rng.choice(("www.example.com", "https://www.example.org/contact")))
    return Para(tuple(line for line in lines if line or rng.random() < 0.5))


def _line_items(g: _Gen, lang: str, rows: int) -> Table:
    rng = g.rng
    items = _DE_ITEMS if lang == "de" else _ITEMS
    head = (
        ("Pos.", "Art.-Nr.", "Bezeichnung", "Menge", "Einheit", "Preis €")
        if lang == "de"
        else ("Line", "Part no.", "Description", "Qty", "Unit", "Price")
    )
    body = []
    for i in range(1, rows + 1):
        desc, unit = rng.choice(items)
        part = rng.choice(
            (
                f"WT-{rng.randint(1000, 9999)}-{rng.choice('ABCDK')}",
                f"{rng.randint(10, 99)}.{rng.randint(100, 999)}.{rng.randint(10, 99)}",
                f"400{rng.randint(1000000000, 9999999999)}",
                f"{rng.choice(('BR', 'HX', 'CT', 'GL'))}-{rng.randint(10, 999)}",
            )
        )
        price = Decimal(rng.randint(50, 250000)) / 100
        price_text = f"{price:,.2f}"
        if lang == "de":
            price_text = price_text.replace(",", "X").replace(".", ",").replace("X", ".")
        body.append(
            (
                str(i * 10 if lang == "de" else i),
                part,
                desc,
                str(rng.randint(1, 500)),
                unit,
                price_text,
            )
        )
    return Table((head, *body))


def _padding(g: _Gen, lang: str, c: _Customer | None, target: int, have: int) -> list[Block]:
    """Line items, terms and disclaimers until the body reaches about ``target`` characters."""
    rng = g.rng
    out: list[Block] = []
    terms = _TERMS_DE if lang == "de" else _TERMS_EN
    disclaimers = _DISCLAIMERS_DE if lang == "de" else _DISCLAIMERS_EN
    room = target - have
    if room > 1500 and rng.random() < 0.7:
        rows = max(3, min(40, room // 3 // 75))
        out.append(_line_items(g, lang, rows))
        room -= rows * 75
    while room > 600:
        text = rng.choice(terms).format(city=rng.choice(_CITIES))
        out.append(_p(text))
        room -= len(text)
        if room > 600:
            text = rng.choice(disclaimers)
            out.append(_p(text))
            room -= len(text)
    return out


def _size_target(g: _Gen) -> int:
    return int(min(20_000, max(5_000, g.rng.lognormvariate(9.1, 0.35))))


def _finish(g: _Gen, draft: Draft, c: _Customer | None, *, pad: bool = True) -> Draft:
    """Greeting-to-signature: adds the signature and padding to a realistic size."""
    name = draft.sender_name.split(" (")[0] or "Purchasing"
    if "," in name:
        last, first = (s.strip() for s in name.split(",", 1))
        name = f"{first} {last}"
    tail: list[Block] = [_p(_closing(g, draft.lang)), _signature(g, name, c, draft.lang)]
    have = len(_text_of(draft.blocks)) + (len(_quote_text(draft.quote)) if draft.quote else 0)
    if pad:
        extra = _padding(g, draft.lang, c, _size_target(g), have + 400)
        split = g.rng.randint(0, len(extra))
        draft.blocks = [*draft.blocks, *extra[:split], *tail, *extra[split:]]
    else:
        draft.blocks = [*draft.blocks, *tail]
    return draft


def _closing(g: _Gen, lang: str) -> str:
    if lang == "de":
        return g.rng.choice(
            (
                "Mit freundlichen Grüßen",
                "Viele Grüße",
                "Freundliche Grüße",
                "Beste Grüße aus Hamburg",
            )
        )
    return g.rng.choice(
        ("Kind regards,", "Best regards,", "Thanks,", "Many thanks,", "Regards,", "Cheers,")
    )


def _greeting(g: _Gen, lang: str) -> str:
    if lang == "de":
        return g.rng.choice(
            (
                "Sehr geehrte Damen und Herren,",
                "Hallo Frau Schmidt,",
                "Guten Tag,",
                "Hallo zusammen,",
            )
        )
    return g.rng.choice(
        ("Hi,", "Hello team,", "Dear Sir/Madam,", "Hi Sam,", "Good morning,", "Dear Order Desk,")
    )


# --------------------------------------------------------------------------------------------
# Scenarios. Each returns (draft, status, expected POs, customer id, detail).

Scenario = tuple[Draft, Status, tuple[str, ...], str | None, str]
ScenarioFn = Callable[["_Gen", "_Customer"], Scenario]


def _order_lines(g: _Gen, c: _Customer, mention: str) -> list[str]:
    rng = g.rng
    if c.scheme.lang == "de":
        return rng.choice(
            (
                [f"anbei erhalten Sie unsere {mention}.", "Bitte bestätigen Sie den Liefertermin."],
                [
                    f"bitte liefern Sie zu {mention} die unten genannten Positionen.",
                    "Vielen Dank im Voraus.",
                ],
                ["wir bestellen hiermit zu den vereinbarten Konditionen:", mention],
                [f"zu {mention}: können Sie die Lieferung auf nächste Woche vorziehen?"],
            )
        )
    return rng.choice(
        (
            [f"Please find below our {mention}.", "Kindly confirm receipt and the delivery date."],
            [
                f"Please process {mention} for delivery to our main site.",
                "Let me know if anything is unclear.",
            ],
            ["Please supply the items below at the agreed prices.", mention],
            [
                f"Could you confirm the shipping date for {mention}?",
                "We need it by the end of the month.",
            ],
            [f"Re {mention} - the quantities on line 3 have changed, see the table below."],
            [
                "Order details:",
                mention,
                f"Requested delivery: {rng.randint(1, 28)} "
                f"{rng.choice(('March', 'April', 'May', 'June'))}",
            ],
        )
    )


_REPLY_PREFIX = regex.compile(r"^(?:(?:AW|WG|Re|Fwd|FW):\s*)+")


def _subject_with(g: _Gen, c: _Customer, written: str) -> str:
    rng = g.rng
    if c.scheme.lang == "de":
        return rng.choice(
            (
                f"Bestellung {written}",
                f"AW: Bestellung {written}",
                f"Bestellnummer {written} \u2013 Liefertermin",
                f"WG: Ihre Bestellung {written}",
                f"Neue Bestellung {written}",
            )
        )
    return rng.choice(
        (
            f"PO {written}",
            f"Purchase Order {written}",
            f"New purchase order {written} \u2013 {c.scheme.company}",
            f"Re: Your order {written}",
            f"RE: PO# {written} delivery date",
            f"P.O. {written} - revised quantities",
            f"PO {written} / urgent",
        )
    )


def _plain_subject(g: _Gen, lang: str, topic: str = "order") -> str:
    rng = g.rng
    if lang == "de":
        return rng.choice(
            {
                "order": ("Bestellung", "Neue Bestellung", "Auftrag", "Bestellung anbei"),
                "question": (
                    "Rückfrage zur Lieferung",
                    "Lieferung nächste Woche?",
                    "AW: Liefertermin",
                ),
                "thanks": ("Danke!", "AW: Lieferung erhalten", "Vielen Dank"),
            }[topic]
        )
    return rng.choice(
        {
            "order": (
                "Purchase order",
                "New order",
                "Order attached",
                "Order",
                "Documents",
                "Scan from Xerox WorkCentre",
            ),
            "question": (
                "Delivery question",
                "Re: delivery next week",
                "Where is our delivery?",
                "Order status?",
            ),
            "thanks": ("Thank you!", "Re: Goods received", "Thanks for the quick delivery"),
        }[topic]
    )


def _re(lang: str) -> str:
    return "AW: " if lang == "de" else "Re: "


def _base(g: _Gen, c: _Customer, *, unknown_sender: bool = False) -> Draft:
    name, addr = _unknown_sender(g, c.scheme.lang) if unknown_sender else _customer_sender(g, c)
    return Draft(name, addr, "", [], lang=c.scheme.lang)


def s_body_labelled(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    mention, style = _mention(g, c, number)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    lines = _order_lines(g, c, mention)
    if g.rng.random() < 0.5:
        lines += _decoy_lines(g, c, g.rng.randint(1, 3))
    d.blocks = [_p(_greeting(g, d.lang)), _p(*lines)]
    return _finish(g, d, c), "linked", (number,), c.id, style


def s_subject_only(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    w = _written(g, c, number, labelled=True)
    d = _base(g, c)
    d.subject = _subject_with(g, c, w.text)
    text = (
        "anbei die Bestellung, Details wie besprochen."
        if d.lang == "de"
        else "Please see the order details below and confirm."
    )
    d.blocks = [_p(_greeting(g, d.lang)), _p(text)]
    return _finish(g, d, c), "linked", (number,), c.id, f"subject:{w.style}"


def s_body_unlabelled(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    w = _written(g, c, number, labelled=False)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang, "question")
    text = (
        f"kurze Frage zu {w.text}: ist die Ware schon unterwegs?"
        if d.lang == "de"
        else f"Quick question about {w.text} - has it shipped yet?"
    )
    d.blocks = [_p(_greeting(g, d.lang)), _p(text)]
    return _finish(g, d, c), "linked", (number,), c.id, f"unlabelled:{w.style}"


def s_html_table(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    w = _written(g, c, number, labelled=True)
    label = _label(g, c).rstrip(":")
    d = _base(g, c)
    d.form = g.rng.choice(("html", "html", "alternative"))
    d.subject = _plain_subject(g, d.lang)
    rows = [
        (label, w.text),
        (
            "Date" if d.lang == "en" else "Datum",
            f"{g.rng.randint(1, 28):02d}.{g.rng.randint(1, 12):02d}.2024",
        ),
    ]
    rows += [(x.partition(": ")[0], x.partition(": ")[2]) for x in _decoy_lines(g, c, 2)]
    g.rng.shuffle(rows)
    d.blocks = [_p(_greeting(g, d.lang)), Table(tuple(rows), header=False)]
    return _finish(g, d, c), "linked", (number,), c.id, f"html_table:{label}:{w.style}"


def s_reply_own_po(g: _Gen, c: _Customer) -> Scenario:
    number, older = _two_known(g, c)
    mention, style = _mention(g, c, number)
    d = _base(g, c)
    d.subject = _re(d.lang) + _plain_subject(g, d.lang)
    d.blocks = [
        _p(
            f"Thanks. Please also ship {mention} with the same truck."
            if d.lang == "en"
            else f"Danke. Bitte liefern Sie {mention} gleich mit."
        )
    ]
    d.quote = _history(g, c, older, style=g.rng.choice(("gt", "outlook")))
    d.in_reply_to = g.message_id("example.com")
    return _finish(g, d, c), "linked", (number,), c.id, f"{d.quote.style}:{style}"


def s_reply_inherits_quoted(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    d = _base(g, c)
    d.subject = _re(d.lang) + _plain_subject(g, d.lang)
    d.blocks = [
        _p(
            g.rng.choice(
                (
                    "Any update on this one?",
                    "Thanks, when can we expect it?",
                    "Please confirm the new date.",
                )
            )
            if d.lang == "en"
            else "Gibt es hierzu schon einen Liefertermin?"
        )
    ]
    d.quote = _history(g, c, number, style=g.rng.choice(("gt", "outlook", "gt")))
    d.in_reply_to = g.message_id("example.com")
    return _finish(g, d, c, pad=False), "linked", (number,), c.id, f"quoted:{d.quote.style}"


def s_reply_inherits_nothing(g: _Gen, c: _Customer) -> Scenario:
    d = _base(g, c)
    d.subject = _re(d.lang) + _plain_subject(g, d.lang, "question")
    d.blocks = [_p("Thanks, that works for us." if d.lang == "en" else "Danke, passt so.")]
    earlier = Quote(
        g.rng.choice(("gt", "outlook")),
        DESK_NAME,
        DESK_ADDRESS,
        g.next_when() - dt.timedelta(days=1),
        d.subject.split(": ", 1)[-1],
        (
            _p(
                "Hello,",
                "",
                "your delivery is booked for Thursday morning.",
                f"Tracking number: {g.rng.choice(_TRACKING)}",
            ),
        ),
    )
    d.quote = earlier
    d.in_reply_to = g.message_id("example.com")
    return _finish(g, d, c), "missing", (), c.id, f"quoted:{earlier.style}"


def _history(g: _Gen, c: _Customer, number: str, *, style: str) -> Quote:
    """An earlier message of the customer's, naming ``number``."""
    mention, _ = _mention(g, c, number)
    name, addr = _customer_sender(g, c)
    blocks: tuple[Block, ...] = (
        _p(_greeting(g, c.scheme.lang)),
        _p(*_order_lines(g, c, mention)),
        _line_items(g, c.scheme.lang, g.rng.randint(3, 25)),
        _p(_closing(g, c.scheme.lang), name),
    )
    st: Literal["gt", "outlook", "forward", "de_gt"] = (
        "de_gt" if style == "gt" and c.scheme.lang == "de" else style  # type: ignore[assignment]
    )
    return Quote(
        st,
        name.split(" (")[0],
        addr,
        g.next_when() - dt.timedelta(days=2),
        _plain_subject(g, c.scheme.lang),
        blocks,
    )


def s_forward_inline(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    d = _base(g, c)
    d.subject = ("WG: " if d.lang == "de" else "Fwd: ") + _plain_subject(g, d.lang)
    d.blocks = [
        _p(
            g.rng.choice(
                (
                    "FYI - please process the order below.",
                    "See below, thanks.",
                    "Forwarding as discussed.",
                )
            )
            if d.lang == "en"
            else "zur Info, bitte bearbeiten."
        )
    ]
    d.quote = _history(g, c, number, style="forward")
    return _finish(g, d, c, pad=False), "linked", (number,), c.id, "forward_inline"


def s_forward_rfc822(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    inner = _inner_message(g, c, number)
    d = _base(g, c)
    d.subject = ("WG: " if d.lang == "de" else "Fwd: ") + _plain_subject(g, d.lang)
    d.blocks = [
        _p(
            "Forwarding the original order, see the attached message."
            if d.lang == "en"
            else "anbei die ursprüngliche Bestellung als Anhang."
        )
    ]
    d.forward_822 = inner
    return _finish(g, d, c), "linked", (number,), c.id, "forward_rfc822"


def _inner_message(g: _Gen, c: _Customer, number: str) -> bytes:
    mention, _ = _mention(g, c, number)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, mention))]
    d.form = "text"
    _finish(g, d, c, pad=False)
    raw, _ = render(d, g.rng, g.next_when() - dt.timedelta(days=3), g.message_id("example.com"))
    return raw


def s_unknown_sender(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    mention, style = _mention(g, c, number)
    d = _base(g, c, unknown_sender=True)
    d.subject = (
        _plain_subject(g, d.lang)
        if g.rng.random() < 0.6
        else (_subject_with(g, c, _written(g, c, number, labelled=True).text))
    )
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, mention))]
    return _finish(g, d, None), "linked", (number,), c.id, f"unknown_sender:{style}"


def s_closed_po(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c, closed=True)
    mention, style = _mention(g, c, number)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang, "question")
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, mention))]
    return _finish(g, d, c), "linked", (number,), c.id, f"closed:{style}"


def s_decoy_heavy(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    mention, style = _mention(g, c, number)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    decoys = _decoy_lines(g, c, g.rng.randint(3, 6))
    at = g.rng.randint(0, len(decoys))
    if g.rng.random() < 0.5:
        block = _p(*decoys[:at], mention, *decoys[at:])
    else:  # on one line, the way ERP exports do
        block = _p("   ".join([*decoys[:at], mention, *decoys[at:]]))
    d.blocks = [_p(_greeting(g, d.lang)), block]
    return _finish(g, d, c), "linked", (number,), c.id, f"decoys:{style}"


def s_unknown_po(g: _Gen, c: _Customer) -> Scenario:
    number = _new_unknown(g, c)
    mention, style = _mention(g, c, number)
    d = _base(g, c, unknown_sender=g.rng.random() < 0.2)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, mention))]
    return _finish(g, d, c), "unknown", (), c.id, style


def s_wrong_customer(g: _Gen, c: _Customer) -> Scenario:
    """A customer's buyer quotes another customer's (known, well-formed) PO number.

    For the message's customer that is a labelled value that is not one of its numbers:
    ``malformed`` (the model's definition); the reasons should name the other customer.
    """
    others = [o for o in g.customers if o.id != c.id]
    other = g.rng.choice(others)
    number = _known(g, other)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    label = _label(g, c)
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, f"{label} {number}"))]
    return _finish(g, d, c), "malformed", (), c.id, f"number_of:{other.id}"


def s_malformed(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    text, style = _malformed(g, c, number)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, f"{_label(g, c)} {text}"))]
    if g.rng.random() < 0.4:
        d.subject = _subject_with(g, c, text)
    return _finish(g, d, c), "malformed", (), c.id, style


def s_missing_thanks(g: _Gen, c: _Customer) -> Scenario:
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang, "thanks")
    text = (
        "vielen Dank für die schnelle Lieferung, alles vollständig angekommen."
        if d.lang == "de"
        else "Thanks for the quick delivery, everything arrived in good order."
    )
    d.blocks = [_p(_greeting(g, d.lang)), _p(text)]
    return _finish(g, d, c), "missing", (), c.id, "thanks"


def s_missing_question(g: _Gen, c: _Customer) -> Scenario:
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang, "question")
    text = (
        "wann können wir mit der Lieferung rechnen? Unsere Produktion wartet."
        if d.lang == "de"
        else "When can we expect the delivery? Our site team is waiting for the parts."
    )
    d.blocks = [_p(_greeting(g, d.lang)), _p(text, *_decoy_lines(g, c, g.rng.randint(1, 3)))]
    return _finish(g, d, c), "missing", (), c.id, "delivery_question"


def s_missing_newsletter(g: _Gen, c: _Customer) -> Scenario:
    rng = g.rng
    sender = rng.choice(
        (
            "news@tools-weekly.example",
            "offers@industrial-supply.example",
            "events@tradefair.example",
        )
    )
    d = Draft(
        rng.choice(("Tools Weekly", "Industrial Supply News", "Trade Fair 2025")),
        sender,
        rng.choice(
            (
                "Spring offers: up to 30 % off",
                "Your monthly update \u2013 March 2024",
                "Invitation: Trade Fair 2025, Hall 4",
            )
        ),
        [],
        form="html",
    )
    offers = [
        (desc, f"€{Decimal(rng.randint(500, 99999)) / 100:,.2f}")
        for desc, _ in rng.sample(_ITEMS, 6)
    ]
    d.blocks = [
        _p("Dear customer,", "", "this month's best deals for your workshop:"),
        Table((("Product", "Price"), *offers)),
        _p(
            f"Call us: {rng.choice(_PHONES)}",
            f"Offer valid until {rng.randint(1, 28)}.0{rng.randint(1, 9)}.2024",
            "Unsubscribe: https://news.example/u?id=20240815",
        ),
        _p(rng.choice(_DISCLAIMERS_EN)),
    ]
    return _finish(g, d, None), "missing", (), None, "newsletter"


def s_ambiguous(g: _Gen, c: _Customer) -> Scenario:
    a, b = _two_known(g, c)
    d = _base(g, c)
    ma, sa = _mention(g, c, a)
    if g.rng.random() < 0.5:
        wb = _written(g, c, b, labelled=True)
        # Not a reply's subject: "AW: Bestellung X" repeats an earlier PO, which the message's
        # own body may replace; a fresh subject and a body naming two POs do disagree.
        d.subject = _REPLY_PREFIX.sub("", _subject_with(g, c, wb.text))
        d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, ma))]
        how = f"subject+body:{sa}"
    else:
        mb, _ = _mention(g, c, b)
        d.subject = _plain_subject(g, d.lang)
        text = (
            f"bitte liefern Sie {ma} und {mb} zusammen aus."
            if d.lang == "de"
            else f"Please ship {ma} and {mb} together."
        )
        d.blocks = [_p(_greeting(g, d.lang)), _p(text)]
        how = f"body:{sa}"
    return _finish(g, d, c), "ambiguous", (a, b), c.id, how


# -- PDF scenarios -------------------------------------------------------------------------------

_PLACEMENTS = ("header", "table", "above", "kv_table")


_PDF_DATE = regex.compile(rb"/CreationDate \(D:\d{14}Z?\)")
_PDF_ID = regex.compile(rb"/ID \[<([0-9A-Fa-f]+)><([0-9A-Fa-f]+)>\]")


_PLACEHOLDER = "QXQPOQXQ"
_PDF_OBJECT = regex.compile(rb"(\d+) 0 obj\n(.*?)endobj\n", regex.DOTALL)
_PDF_STREAM = regex.compile(
    rb"(<<.*?/Length )(\d+)(.*?>>\s*stream\n)(.*)(\nendstream\n)", regex.DOTALL
)


def _pdf(po: str | None, placement: str, label: str, pages: int, po_page: int) -> bytes:
    """An invoice PDF from ``tests/pdfgen.py``.

    fpdf2 takes about 10 ms a file, too slow for a 10,000-message benchmark mailbox, so one
    template per layout is made with a placeholder where the PO goes, and the PO is swapped into
    its (re-compressed) content stream. Creation date and file ID are pinned, so a seed gives the
    same bytes on any day.
    """
    if po is None or not regex.fullmatch(r"[\w .:/#-]+", po):
        return _pdf_template(po, placement, label, pages, po_page)
    template = _pdf_template(_PLACEHOLDER, placement, label, pages, po_page)
    return _swap_text(template, _PLACEHOLDER.encode(), po.encode("latin-1"))


@functools.lru_cache(maxsize=1024)
def _pdf_template(po: str | None, placement: str, label: str, pages: int, po_page: int) -> bytes:
    data = invoice_pdf(po=po, placement=placement, label=label, pages=pages, po_page=po_page)
    data = _PDF_DATE.sub(lambda m: m.group(0)[:17] + b"20240301120000" + m.group(0)[31:], data)
    digest = (
        hashlib.md5(repr((po, placement, label, pages, po_page)).encode(), usedforsecurity=False)
        .hexdigest()
        .upper()
        .encode()
    )

    def pin(m: regex.Match[bytes]) -> bytes:
        a, b = m.group(1), m.group(2)
        return b"/ID [<" + (digest * 4)[: len(a)] + b"><" + (digest * 4)[: len(b)] + b">]"

    return _PDF_ID.sub(pin, data)


def _swap_text(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """``pdf`` with ``old`` replaced by ``new`` in its Flate content streams (xref rebuilt)."""
    first = _PDF_OBJECT.search(pdf)
    trailer_at = pdf.rfind(b"trailer")
    if first is None or trailer_at < 0:
        raise ValueError("not an fpdf2 file")
    out = bytearray(pdf[: first.start()])
    offsets: dict[int, int] = {}
    for m in _PDF_OBJECT.finditer(pdf, first.start(), trailer_at):
        body = m.group(2)
        stream = _PDF_STREAM.fullmatch(body)
        if stream is not None and b"/FlateDecode" in stream.group(1):
            content = zlib.decompress(stream.group(4)[: int(stream.group(2))])
            if old in content:
                packed = zlib.compress(content.replace(old, new))
                body = stream.group(1) + str(len(packed)).encode() + stream.group(3)
                body += packed + stream.group(5)
        offsets[int(m.group(1))] = len(out)
        out += m.group(1) + b" 0 obj\n" + body + b"endobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (max(offsets) + 1)
    for number in range(1, max(offsets) + 1):
        out += b"%010d 00000 n \n" % offsets.get(number, 0)
    trailer = pdf[trailer_at:]
    out += trailer[: trailer.rfind(b"startxref")] + b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def _pdf_att(
    g: _Gen, c: _Customer, po: str | None, *, written: str | None = None, pages: int | None = None
) -> tuple[Att, str]:
    rng = g.rng
    pages = pages or rng.choice((1, 1, 2, 3))
    po_page = rng.randint(1, pages)
    placement = rng.choice(_PLACEMENTS) if po else "none"
    label = rng.choice(
        ("PO Number", "Purchase Order", "Your PO", "P.O. No.", "Order Ref")
        if c.scheme.lang == "en"
        else ("Bestellnummer", "Ihre Bestellung", "Bestell-Nr.")
    )
    if c.id == "acme" and label == "Order Ref":
        label = "Customer PO"
    text = written if written is not None else po
    data = _pdf(text, placement, label, pages, po_page)
    name = rng.choice(
        (
            "Invoice_{n}.pdf",
            "scan_{n}.pdf",
            "PurchaseOrder.pdf",
            "Bestellung.pdf",
            "document.pdf",
            "INV{n}.pdf",
        )
    ).format(n=rng.randint(1000, 99999))
    return Att(
        name, rng.choice(("application/pdf", "application/pdf", "application/octet-stream")), data
    ), f"pdf:{placement}:p{po_page}/{pages}:{label}"


def s_pdf_only(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    w = _written(g, c, number, labelled=True)
    att, how = _pdf_att(g, c, number, written=w.text)
    d = _base(g, c, unknown_sender=g.rng.random() < 0.15)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [
        _p(
            _greeting(g, d.lang),
            "",
            "Please find our order attached."
            if d.lang == "en"
            else "anbei unsere Bestellung als PDF.",
        )
    ]
    d.attachments.append(att)
    return _finish(g, d, c), "linked", (number,), c.id, how


def s_pdf_and_body(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    mention, style = _mention(g, c, number)
    att, how = _pdf_att(g, c, number)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, mention))]
    d.attachments.append(att)
    return _finish(g, d, c), "linked", (number,), c.id, f"{how}+body:{style}"


def s_pdf_no_po(g: _Gen, c: _Customer) -> Scenario:
    att, how = _pdf_att(g, c, None)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang, "question")
    d.blocks = [
        _p(
            _greeting(g, d.lang),
            "",
            "Attached is the delivery schedule for next month."
            if d.lang == "en"
            else "anbei der Lieferplan für den nächsten Monat.",
        )
    ]
    d.attachments.append(att)
    return _finish(g, d, c), "missing", (), c.id, how


def s_pdf_ambiguous(g: _Gen, c: _Customer) -> Scenario:
    a, b = _two_known(g, c)
    mention, style = _mention(g, c, a)
    att, how = _pdf_att(g, c, b)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [_p(_greeting(g, d.lang)), _p(*_order_lines(g, c, mention))]
    d.attachments.append(att)
    return _finish(g, d, c), "ambiguous", (a, b), c.id, f"{how}+body:{style}"


def s_pdf_unknown(g: _Gen, c: _Customer) -> Scenario:
    number = _new_unknown(g, c)
    att, how = _pdf_att(g, c, number)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [
        _p(
            _greeting(g, d.lang),
            "",
            "Our order is attached." if d.lang == "en" else "Bestellung anbei.",
        )
    ]
    d.attachments.append(att)
    return _finish(g, d, c), "unknown", (), c.id, how


def s_pdf_malformed(g: _Gen, c: _Customer) -> Scenario:
    number = _known(g, c)
    text, style = _malformed(g, c, number)
    att, how = _pdf_att(g, c, number, written=text)
    d = _base(g, c)
    d.subject = _plain_subject(g, d.lang)
    d.blocks = [
        _p(
            _greeting(g, d.lang),
            "",
            "Order attached, thanks." if d.lang == "en" else "Bestellung anbei, danke.",
        )
    ]
    d.attachments.append(att)
    return _finish(g, d, c), "malformed", (), c.id, f"{how}:{style}"


TEXT_SCENARIOS: dict[str, tuple[ScenarioFn, int]] = {
    "body_labelled": (s_body_labelled, 12),
    "subject_only": (s_subject_only, 7),
    "body_unlabelled": (s_body_unlabelled, 3),
    "html_table": (s_html_table, 6),
    "reply_own_po": (s_reply_own_po, 5),
    "reply_inherits_quoted": (s_reply_inherits_quoted, 4),
    "reply_inherits_nothing": (s_reply_inherits_nothing, 4),
    "forward_inline": (s_forward_inline, 3),
    "forward_rfc822": (s_forward_rfc822, 3),
    "unknown_sender": (s_unknown_sender, 6),
    "closed_po": (s_closed_po, 3),
    "decoy_heavy": (s_decoy_heavy, 7),
    "unknown_po": (s_unknown_po, 6),
    "wrong_customer": (s_wrong_customer, 2),
    "malformed": (s_malformed, 8),
    "missing_thanks": (s_missing_thanks, 3),
    "missing_question": (s_missing_question, 4),
    "newsletter": (s_missing_newsletter, 3),
    "ambiguous": (s_ambiguous, 4),
}
PDF_SCENARIOS: dict[str, tuple[ScenarioFn, int]] = {
    "pdf_only": (s_pdf_only, 40),
    "pdf_and_body": (s_pdf_and_body, 20),
    "pdf_no_po": (s_pdf_no_po, 15),
    "pdf_ambiguous": (s_pdf_ambiguous, 7),
    "pdf_unknown": (s_pdf_unknown, 9),
    "pdf_malformed": (s_pdf_malformed, 9),
}
KINDS: tuple[str, ...] = (*TEXT_SCENARIOS, *PDF_SCENARIOS)


# --------------------------------------------------------------------------------------------
# Public entry points


def _setup(customers: CustomersArg, seed: int, known_pos: Sequence[PoRecord] | None) -> _Gen:
    rules = load_customers(customers)
    records = list(known_pos) if known_pos is not None else po_records(rules, seed=seed)
    custs = []
    for r, scheme in _schemes_for(rules):
        mine = [p for p in records if p.customer == r.id]
        open_ = tuple(p.po_number for p in mine if not p.closed)
        closed = tuple(p.po_number for p in mine if p.closed)
        if len(open_) < 2:
            raise ValueError(f"customer {r.id} needs at least two open PO records")
        custs.append(_Customer(r, scheme, open_, closed))
    return _Gen(random.Random(f"mailgen/{seed}"), custs, set())


def _make(g: _Gen, kind: str, fn: ScenarioFn, c: _Customer) -> GeneratedMail:
    draft, status, pos, customer, detail = fn(g, c)
    domain = draft.sender_addr.rsplit("@", 1)[-1] or "example.com"
    message_id = g.message_id(domain)
    raw, how = render(draft, g.rng, g.next_when(), message_id)
    return GeneratedMail(raw, status, pos, customer, kind, f"{how};{detail}", message_id)


def generate(
    n: int,
    *,
    seed: int,
    customers: CustomersArg = DEFAULT_CUSTOMERS_DIR,
    pdf_share: float = 0.3,
    known_pos: Sequence[PoRecord] | None = None,
) -> list[GeneratedMail]:
    """``n`` messages with their truth. ``known_pos`` defaults to ``po_records(customers, seed)``.

    A share ``pdf_share`` of the messages carries a PDF invoice (with the PO, without one, with a
    different or malformed one); the rest are text and HTML scenarios.
    """
    g = _setup(customers, seed, known_pos)
    text_kinds = list(TEXT_SCENARIOS)
    text_w = [w for _, w in TEXT_SCENARIOS.values()]
    pdf_kinds = list(PDF_SCENARIOS)
    pdf_w = [w for _, w in PDF_SCENARIOS.values()]
    out = []
    for _ in range(n):
        if g.rng.random() < pdf_share:
            kind = g.rng.choices(pdf_kinds, pdf_w)[0]
            fn = PDF_SCENARIOS[kind][0]
        else:
            kind = g.rng.choices(text_kinds, text_w)[0]
            fn = TEXT_SCENARIOS[kind][0]
        out.append(_make(g, kind, fn, g.rng.choice(g.customers)))
    return out


def generate_kind(
    kind: str,
    *,
    seed: int,
    customer: str,
    customers: CustomersArg = DEFAULT_CUSTOMERS_DIR,
    known_pos: Sequence[PoRecord] | None = None,
) -> GeneratedMail:
    """One message of a named scenario (see ``KINDS``) for one customer."""
    fn = {**TEXT_SCENARIOS, **PDF_SCENARIOS}[kind][0]
    g = _setup(customers, seed, known_pos)
    return _make(g, kind, fn, g.by_id(customer))


def mailbox_mix(
    n: int, seed: int, customers: CustomersArg = DEFAULT_CUSTOMERS_DIR
) -> list[GeneratedMail]:
    """A benchmark mailbox: about 70 % text/HTML mail of 5-20 KB, 30 % with a 1-3 page invoice."""
    return generate(n, seed=seed, customers=customers, pdf_share=0.3)
