"""Structured e-invoices: XRechnung and Peppol UBL, Factur-X/ZUGFeRD and XRechnung CII, and
Finvoice (Finland: ``OrderIdentifier``).

The buyer's purchase order has a field of its own there (EN 16931 BT-13, "Purchase order
reference"): UBL ``cac:OrderReference/cbc:ID``, CII ``ram:BuyerOrderReferencedDocument/
ram:IssuerAssignedID``. Its value is read by each customer's rules as a labelled value: a
well-formed number in it counts ("Best.-Nr. 4500716900 v. 28.10.24", two numbers for a
consolidated invoice), else the whole value is a malformed attempt. The buyer reference (BT-10,
``BuyerReference``), where many suppliers put the PO too, counts only with a well-formed
number: it often holds a routing code (Leitweg-ID) or a name instead.

The XML is not parsed: bounded, possessive patterns find the fields, so a hostile document
(entity bombs, external entities, deep nesting, long runs) costs one linear pass over at most
``MAX_BYTES``.
"""

from __future__ import annotations

import codecs
import html
from collections.abc import Sequence

import regex

from extractors.rules import CustomerRules
from extractors.text import scan_text
from extractors.types import Candidate, Problem, Unreadable

MAX_BYTES = 20 * 1024 * 1024  # bytes searched; a CII invoice puts the PO after its lines
MAX_REFERENCES = 20
_MAX_VALUE = 120  # characters of a reference; a longer text is none
_TIMEOUT = 2.0

_TAG = r"<(?:[\w.-]{1,40}:)?"
_ATTRS = r"\b[^<>]{0,400}>"
# Between two tags: indentation and comments, taken whole (possessive: no backtracking).
_BETWEEN = r"(?:\s++|<!--(?:(?!-->)[^<]){0,400}-->)*+"
_VALUE = r"(?:(?P<value>[^<]{1,1000}+)|<!\[CDATA\[(?P<cdata>[^\]]{1,1000}+)\]\]>\s*+)<"
_FIELDS = regex.compile(
    rf"{_TAG}(?:(?P<order>BuyerOrderReferencedDocument{_ATTRS}{_BETWEEN}{_TAG}IssuerAssignedID"
    rf"|OrderReference{_ATTRS}{_BETWEEN}{_TAG}ID|OrderIdentifier)|(?P<buyer>BuyerReference))"
    rf"{_ATTRS}{_VALUE}"
)
_E_INVOICE = regex.compile(
    r"CrossIndustryInvoice|urn:oasis:names:specification:ubl:schema:xsd:(?:Invoice|CreditNote)"
    r"|<Finvoice\b"
)
# The document's root element, for the words of a candidate's context.
_ROOT = regex.compile(
    r"<(?:[\w.-]{1,40}:)?(CrossIndustryInvoice|Invoice|CreditNote|DespatchAdvice|OrderResponse"
    r"|ReceiptAdvice|ApplicationResponse|Finvoice)\b"
)
_DOCUMENT_WORDS = {
    "CrossIndustryInvoice": "the e-invoice",
    "Finvoice": "the e-invoice",
    "Invoice": "the e-invoice",
    "CreditNote": "the e-credit note",
    "DespatchAdvice": "the despatch advice XML",
    "OrderResponse": "the order response XML",
    "ReceiptAdvice": "the receipt advice XML",
    "ApplicationResponse": "the response XML",
}
_CLOSED = regex.compile(
    r"</(?:[\w.-]{1,40}:)?(?:CrossIndustryInvoice|Invoice|CreditNote|Finvoice)>\s*+\Z"
)


def is_e_invoice(data: bytes) -> bool:
    """Whether the bytes look like a UBL or CII e-invoice (their namespace or root in the first
    4 KB)."""
    return _E_INVOICE.search(_decode(data[:4096])) is not None


def references(data: bytes) -> tuple[list[str], list[str], list[Problem]]:
    """The purchase order references and the buyer references of an e-invoice, as written
    (entities and CDATA resolved), each once; and what kept it from being read whole."""
    text = _decode(data[:MAX_BYTES])
    order: list[str] = []
    buyer: list[str] = []
    problems: list[Problem] = []
    try:
        for m in _FIELDS.finditer(text, timeout=_TIMEOUT):
            raw = m.group("cdata") if m.group("cdata") is not None else html.unescape(m["value"])
            value = " ".join(raw.split())
            found = buyer if m.group("buyer") else order
            if value and len(value) <= _MAX_VALUE and value not in found:
                found.append(value)
            if len(order) + len(buyer) >= MAX_REFERENCES:
                break
    except TimeoutError:
        problems.append(Problem("", Unreadable.PATTERN_TIMEOUT, "its order reference"))
    if len(data) > MAX_BYTES:
        detail = f"{len(data):,} bytes; the first {MAX_BYTES // (1024 * 1024)} MB were searched"
        problems.append(Problem("", Unreadable.TOO_LARGE, detail))
    elif is_e_invoice(data) and not _CLOSED.search(text[-2000:]):
        problems.append(Problem("", Unreadable.XML_DAMAGED))
    return order, buyer, problems


def extract_einvoice(
    data: bytes, filename: str, rules: Sequence[CustomerRules], *, source: str = ""
) -> tuple[list[Candidate], list[Problem]]:
    """Candidates of every customer in ``rules`` from the e-invoice's references, and its
    problems (blocking only when no reference counted: then the PO may be in what was not
    read)."""
    source = source or f"attachment:{filename}"
    order, buyer, trouble = references(data)
    root = _ROOT.search(_decode(data[:4096]))
    document = _DOCUMENT_WORDS[root[1]] if root else "the XML file"
    found: list[Candidate] = []
    problems: list[Problem] = []
    for value in order:
        for customer in rules:
            field = f"purchase order reference of {document}"
            found.extend(read_reference(value, customer, source, field, problems))
    for value in buyer:
        for customer in rules:
            read = read_reference(
                value, customer, source, f"buyer reference of {document}", problems
            )
            found.extend(c for c in read if c.valid)
    blocking = not any(c.valid for c in found)
    problems.extend(Problem(source, p.kind, p.detail, blocking=blocking) for p in trouble)
    return found, problems


def read_reference(
    value: str, customer: CustomerRules, source: str, field: str, problems: list[Problem]
) -> list[Candidate]:
    """The well-formed numbers in a reference field's value, labelled by the field; without
    one, the value read after one of the customer's labels (a malformed attempt, maybe)."""
    context = f"{field}: {value}"[:160]
    cands, trouble = scan_text(value, customer, source)
    problems.extend(trouble)
    valid = [c for c in cands if c.valid]
    if not valid:
        label = customer.labels[0] if customer.labels else "PO"
        cands, trouble = scan_text(f"{label}: {value}", customer, source)
        problems.extend(trouble)
        valid = [c for c in cands if c.labelled]
    return [
        Candidate(
            raw=c.raw,
            normalized=c.normalized,
            source=source,
            valid=c.valid,
            context=context,
            labelled=True,
            customer=c.customer,
        )
        for c in valid
    ]


def _decode(data: bytes) -> str:
    """The XML as text: by its byte-order mark, else UTF-8, else Latin-1 (a wrong guess only
    spoils letters; the fields are ASCII names around the value)."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
