"""EDI documents sent as attachments: ANSI X12 (850 order, 855 acknowledgment, 856 ship notice,
810 invoice, 860 order change, 865 its acknowledgment, 812 credit/debit adjustment, 820
remittance) and UN/EDIFACT (ORDERS, ORDCHG, ORDRSP, DESADV, INVOIC).

The purchase order number has a place of its own in each: X12 ``BEG03`` (850), ``BAK03`` (855),
``PRF01`` (856), ``BIG04`` (810), ``BCH03`` (860), ``BCA03`` (865), ``BCD10`` (812),
``RMR*PO`` (820) and ``REF*PO``; EDIFACT ``BGM`` of an order (document name code 220, 221, 226,
227, 230) and ``RFF+ON``. Those values are read by each customer's rules as labelled
values, as an e-invoice's order reference is (``einvoice.read_reference``). Segments are split
with the separators the interchange declares (the ISA header, EDIFACT's UNA); one linear pass
over at most ``MAX_BYTES``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import regex

from extractors.einvoice import read_reference
from extractors.rules import CustomerRules
from extractors.types import Candidate, Problem, Unreadable

MAX_BYTES = 5 * 1024 * 1024
MAX_REFERENCES = 20
_MAX_VALUE = 80
_ORDER_DOCUMENTS = frozenset({"220", "221", "226", "227", "230"})  # EDIFACT BGM 1001: orders


def is_edi(data: bytes) -> bool:
    """Whether the bytes start an X12 interchange ("ISA" and its element separator) or an
    EDIFACT one ("UNA:+.? '" or "UNB+")."""
    head = data[:16].lstrip()
    if head.startswith(b"ISA") and len(head) > 6:
        # "ISA*00*": the element separator, then ISA01 (two characters), then the separator again
        sep = head[3]
        return not chr(sep).isalnum() and not chr(sep).isspace() and head[6] == sep
    return head.startswith((b"UNA", b"UNB+"))


def references(data: bytes) -> tuple[list[tuple[str, str]], list[Problem]]:
    """(field, value) of each purchase order reference, each value once, and what kept the
    interchange from being read whole."""
    text = data[:MAX_BYTES].decode("latin-1").lstrip()
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    reader = _x12 if text.startswith("ISA") else _edifact
    for field, written in reader(text):
        value = " ".join(written.split())
        if value and len(value) <= _MAX_VALUE and value not in seen:
            seen.add(value)
            found.append((field, value))
            if len(found) >= MAX_REFERENCES:
                break
    problems = []
    if len(data) > MAX_BYTES:
        detail = f"{len(data):,} bytes; the first {MAX_BYTES // (1024 * 1024)} MB were searched"
        problems.append(Problem("", Unreadable.TOO_LARGE, detail))
    return found, problems


def extract_edi(
    data: bytes, filename: str, rules: Sequence[CustomerRules]
) -> tuple[list[Candidate], list[Problem]]:
    """Candidates of every customer in ``rules`` from the interchange's PO references."""
    source = f"attachment:{filename}"
    refs, trouble = references(data)
    found: list[Candidate] = []
    problems: list[Problem] = []
    for field, value in refs:
        for customer in rules:
            found.extend(read_reference(value, customer, source, field, problems))
    blocking = not any(c.valid for c in found)
    problems.extend(Problem(source, p.kind, p.detail, blocking=blocking) for p in trouble)
    return found, problems


def _x12(text: str) -> Iterator[tuple[str, str]]:
    element = text[3]
    terminator = text[105] if len(text) > 105 and not text[105].isalnum() else "~"
    for segment in text.split(terminator):
        parts = segment.strip().split(element)
        tag, n = parts[0], len(parts)
        if tag == "BEG" and n > 3:
            yield "purchase order number of the EDI order (X12 850)", parts[3]
        elif tag == "BAK" and n > 3:
            yield "purchase order number of the EDI order acknowledgment (X12 855)", parts[3]
        elif tag == "PRF" and n > 1:
            yield "purchase order number of the EDI ship notice (X12 856)", parts[1]
        elif tag == "BIG" and n > 4:
            yield "purchase order number of the EDI invoice (X12 810)", parts[4]
        elif tag == "BCH" and n > 3:
            yield "purchase order number of the EDI order change (X12 860)", parts[3]
        elif tag == "BCA" and n > 3:
            yield "purchase order number of the EDI order change acknowledgment (X12 865)", parts[3]
        elif tag == "BCD" and n > 10 and parts[10]:
            yield "purchase order number of the EDI credit/debit adjustment (X12 812)", parts[10]
        elif tag == "RMR" and n > 2 and parts[1] == "PO":
            yield "purchase order of the EDI remittance (X12 820 RMR*PO)", parts[2]
        elif tag == "REF" and n > 2 and parts[1] == "PO":
            yield "purchase order reference of the EDI document (X12 REF*PO)", parts[2]


def _edifact(text: str) -> Iterator[tuple[str, str]]:
    component, element, release, terminator = ":", "+", "?", "'"
    if text.startswith("UNA") and len(text) >= 9:
        component, element, release, terminator = text[3], text[4], text[6], text[8]
        text = text[9:]
    for segment in _split(text, terminator, release):
        parts = _split(segment.strip(), element, release)
        tag = parts[0]
        if tag == "BGM" and len(parts) > 2:
            kind = _split(parts[1], component, release)[0]
            if kind in _ORDER_DOCUMENTS:
                number = _split(parts[2], component, release)[0]
                yield "order number of the EDI order (EDIFACT BGM)", _unescape(number, release)
        elif tag == "RFF" and len(parts) > 1:
            pieces = _split(parts[1], component, release)
            if pieces[0] == "ON" and len(pieces) > 1:
                value = _unescape(pieces[1], release)
                yield "order number reference of the EDI document (EDIFACT RFF+ON)", value


def _split(text: str, separator: str, release: str) -> list[str]:
    """``text.split(separator)``, a separator after the release character kept as text (with its
    release character: ``_unescape`` drops those from a value). One regex split: linear."""
    return regex.split(rf"(?<!{regex.escape(release)}){regex.escape(separator)}", text)


def _unescape(value: str, release: str) -> str:
    return regex.sub(rf"{regex.escape(release)}(.)", r"\1", value)
