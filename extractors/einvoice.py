"""Structured e-invoices: XRechnung and Peppol UBL, Factur-X/ZUGFeRD and XRechnung CII. The
buyer's purchase order has a field of its own there (EN 16931 BT-13, "Purchase order
reference"): UBL ``cac:OrderReference/cbc:ID``, CII ``ram:BuyerOrderReferencedDocument/
ram:IssuerAssignedID``. That field is read and judged by each customer's rules as a labelled
value; the rest of the XML is not.

The XML is not parsed: two bounded patterns find the fields, so a hostile document (entity
bombs, deep nesting, external entities) costs one linear pass over at most ``MAX_BYTES``.
"""

from __future__ import annotations

import codecs
import html
from collections.abc import Sequence

import regex

from extractors.rules import CustomerRules
from extractors.text import scan_text
from extractors.types import Candidate, Problem, Unreadable

MAX_BYTES = 5 * 1024 * 1024  # larger XML attachments are not read
MAX_REFERENCES = 20
_TIMEOUT = 1.0

_TAG = r"<(?:[\w.-]{1,40}:)?"
_ATTRS = r"\b[^<>]{0,400}>"
# Between the two tags: indentation and comments, taken whole (possessive: no backtracking).
_BETWEEN = r"(?:\s++|<!--(?:(?!-->)[^<]){0,400}-->)*+"
_REFERENCE = regex.compile(
    rf"{_TAG}(?:BuyerOrderReferencedDocument{_ATTRS}{_BETWEEN}{_TAG}IssuerAssignedID"
    rf"|OrderReference{_ATTRS}{_BETWEEN}{_TAG}ID){_ATTRS}(?P<value>[^<]{{1,1000}}+)<"
)
_MAX_VALUE = 120  # characters of an order reference; a longer text is no reference
_E_INVOICE = regex.compile(
    r"CrossIndustryInvoice|urn:oasis:names:specification:ubl:schema:xsd:(?:Invoice|CreditNote)"
)


def is_e_invoice(data: bytes) -> bool:
    """Whether the bytes look like a UBL or CII e-invoice (their namespace or root in the first
    4 KB)."""
    return _E_INVOICE.search(_decode(data[:4096])) is not None


def order_references(data: bytes) -> tuple[list[str], list[Problem]]:
    """The purchase order references of an e-invoice, as written (entities resolved), each
    once; and a problem when the file is too large or the search ran out of time."""
    if len(data) > MAX_BYTES:
        return [], [Problem("", Unreadable.TOO_LARGE, f"{len(data):,} bytes")]
    text = _decode(data)
    found: list[str] = []
    try:
        for m in _REFERENCE.finditer(text, timeout=_TIMEOUT):
            value = " ".join(html.unescape(m.group("value")).split())
            if value and len(value) <= _MAX_VALUE and value not in found:
                found.append(value)
            if len(found) >= MAX_REFERENCES:
                break
    except TimeoutError:
        return found, [Problem("", Unreadable.PATTERN_TIMEOUT, "the e-invoice's order reference")]
    return found, []


def extract_einvoice(
    data: bytes, filename: str, rules: Sequence[CustomerRules], *, source: str = ""
) -> tuple[list[Candidate], list[Problem]]:
    """Candidates of every customer in ``rules`` from the e-invoice's order references: each is
    read as if it followed one of the customer's labels."""
    source = source or f"attachment:{filename}"
    references, problems = order_references(data)
    problems = [Problem(source, p.kind, p.detail, blocking=False) for p in problems]
    found: list[Candidate] = []
    for reference in references:
        context = f"purchase order reference of the e-invoice: {reference}"
        for customer in rules:
            label = customer.labels[0] if customer.labels else "PO"
            cands, trouble = scan_text(f"{label}: {reference}", customer, source)
            problems.extend(trouble)
            found.extend(
                Candidate(
                    raw=c.raw,
                    normalized=c.normalized,
                    source=source,
                    valid=c.valid,
                    context=context[:160],
                    labelled=True,
                    customer=c.customer,
                )
                for c in cands
                if c.labelled
            )
    return found, problems


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
