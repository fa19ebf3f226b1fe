"""PO candidates from one PDF attachment: the text of every page, then layout where it helps.

Each page's text goes through ``scan_text`` for every customer's rules. The layout pass
(words with positions) is asked for only on pages where a customer's label appears but the text
gave no labelled, valid number: the label sits above its value, or in a table cell. Where the
words pair no value with the label either, the page's table cells are read too (pdfplumber, the
slow part: 20-200 ms a page). Layout candidates are merged with the text's, one per number and
page (the labelled one wins). Where words are read, an unlabelled number that sits under a column
header naming another number ("Invoice No.", "Delivery Note No.") is dropped; the words are also
read for that alone when the text shows such a header line right above such a number.

Pure: bytes in, values out. Run it in an ``IsolatedPool`` worker: hostile PDFs are stopped there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import regex

from extractors.einvoice import extract_einvoice
from extractors.layout import layout_scan, under_decoy_header
from extractors.pdf import DEFAULT_MAX_BYTES, DEFAULT_MAX_PAGES, read_pdf, read_tables
from extractors.rules import CustomerRules
from extractors.text import dedupe, names_another_number, scan_text
from extractors.types import Candidate, Problem

_LABEL_TIMEOUT = 0.5

_Scan = Callable[[int, str, CustomerRules], tuple[list[Candidate], list[Problem]]]


@dataclass(frozen=True, slots=True)
class PdfLimits:
    max_pages: int = DEFAULT_MAX_PAGES  # pages read; the rest is reported, not read
    max_bytes: int = DEFAULT_MAX_BYTES  # a larger file is not opened at all
    layout: bool = True  # False: text only (no positions, no tables)
    max_layout_pages: int = 10  # pages of one file that may get the slow layout pass


@dataclass(frozen=True, slots=True)
class PdfExtraction:
    candidates: tuple[Candidate, ...]
    problems: tuple[Problem, ...]
    page_count: int
    pages_read: int = 0  # pages whose text was read (at most ``max_pages``)
    layout_pages: tuple[int, ...] = ()  # pages that got the layout pass


def extract_pdf(
    data: bytes,
    filename: str,
    rules: Sequence[CustomerRules],
    limits: PdfLimits | None = None,
) -> PdfExtraction:
    """Candidates of every customer in ``rules`` found in one PDF, and what kept it from being
    read. Never raises on bad input (``MemoryError`` aside: the worker reports it)."""
    limits = limits or PdfLimits()
    source = f"attachment:{filename}"
    scans: dict[tuple[int, str], tuple[list[Candidate], list[Problem]]] = {}
    needs_layout: dict[int, list[CustomerRules]] = {}
    header_checks: set[int] = set()  # pages whose words are read to see the column headers
    by_id = {r.id: r for r in rules}

    def scan(
        page: int, text: str, customer: CustomerRules
    ) -> tuple[list[Candidate], list[Problem]]:
        key = (page, customer.id)
        if key not in scans:
            scans[key] = scan_text(text, customer, source, page=page)
        return scans[key]

    def wants_layout(page: int, text: str) -> bool:
        if len(needs_layout) + len(header_checks) >= limits.max_layout_pages:
            return False
        every = [c for r in rules for c in scan(page, text, r)[0] if c.valid]
        # Weak evidence (a register number in the footer) settles nothing.
        found = [c for c in every if not c.weak]
        # An unlabelled number in a row of values under headers such as "Invoice No." or
        # "Artikel-Nr." may be that other number: the words tell which header is above it.
        for c in _unlabelled(every):
            owner = by_id.get(c.customer or "")
            if owner is not None and _under_header_line(text, c.raw, owner):
                header_checks.add(page)
                break
        # One well-formed number on the page and nothing labelled: the layout pass could only
        # confirm it. (A labelled one is no reason to skip it: a PO column of a delivery note
        # may list more orders than the line that names one, ``_label_without_value``.)
        labelled = any(c.labelled for c in found)
        if not labelled and len({(c.customer, c.normalized) for c in found}) == 1:
            return page in header_checks
        wanting = [c for c in rules if _label_without_value(page, text, c, scan)]
        if wanting:
            needs_layout[page] = wanting
        return bool(wanting) or page in header_checks

    content = read_pdf(
        data,
        max_pages=limits.max_pages,
        max_bytes=limits.max_bytes,
        layout_pages=wants_layout if limits.layout else None,
        layout_tables=False,
        source=source,
    )
    candidates: list[Candidate] = []
    problems: list[Problem] = list(content.problems)
    words = dict(content.words)
    for page, text in enumerate(content.pages, start=1):
        for customer in rules:
            found, trouble = scan(page, text, customer)
            if page in words:  # read for some reason: the column headers are known too
                page_words = words[page]
                decoys = [
                    c for c in _unlabelled(found) if under_decoy_header(page_words, c.raw, customer)
                ]
                found = [c for c in found if c not in decoys]
            candidates.extend(found)
            problems.extend(trouble)

    for _, xml in content.embedded_xml:  # the e-invoice inside (Factur-X/ZUGFeRD)
        embedded = f"embedded:{filename}"  # a part of its own: it may disagree with the print
        found_xml, trouble_xml = extract_einvoice(xml, filename, rules, source=embedded)
        candidates.extend(found_xml)
        problems.extend(trouble_xml)

    unpaired: dict[int, list[CustomerRules]] = {}
    for page, wanting in needs_layout.items():
        for customer in wanting:
            found, trouble = layout_scan(words.get(page, ()), (), customer, source, page)
            candidates.extend(found)
            problems.extend(trouble)
            if page in words and not found:
                unpaired.setdefault(page, []).append(customer)
    if unpaired:
        tables, trouble = read_tables(data, sorted(unpaired), source)
        problems.extend(trouble)
        for page, wanting in unpaired.items():
            cells = [rows for number, rows in tables if number == page]
            for customer in wanting if cells else ():
                found, trouble = layout_scan((), cells, customer, source, page)
                candidates.extend(found)
                problems.extend(trouble)

    return PdfExtraction(
        candidates=tuple(dedupe(candidates)),
        problems=tuple(dict.fromkeys(problems)),
        page_count=content.page_count,
        pages_read=len(content.pages),
        layout_pages=tuple(sorted(p for p in {*needs_layout, *header_checks} if p in words)),
    )


def _unlabelled(found: Sequence[Candidate]) -> list[Candidate]:
    """The well-formed numbers that stand on their own, without a label (weak evidence too: it
    counts when it equals a known PO, so an article number under "Artikel-Nr." must go)."""
    return [c for c in found if c.valid and not c.labelled]


def _under_header_line(text: str, raw: str, rules: CustomerRules) -> bool:
    """Whether ``raw`` is on a line right below one that names another number ("Invoice No.")
    and none of the customer's labels: a row of values under a row of headers."""
    # The nearest line above without a digit, short as a row of headers is, with only rows of
    # values (lines with digits) between.
    header = ""
    for line in text.splitlines():
        if raw in line and header and names_another_number(header):
            try:
                if not rules.label_pattern.search(header, timeout=_LABEL_TIMEOUT):
                    return True
            except TimeoutError:
                return False
        if not line.strip():
            continue
        if any(ch.isdigit() for ch in line):
            continue  # a row of values: the header above still heads it
        header = line if len(line) <= _HEADER_LINE else ""
    return False


_HEADER_LINE = 100  # characters of a line of column headers; a longer one is prose


_LINE_REST = regex.compile(r"[ \t:#.\-=]*([^\n]{0,40})")


def _value_elsewhere(text: str, label_end: int) -> bool:
    """Whether the rest of the label's line holds no value: nothing, or words without digits."""
    m = _LINE_REST.match(text, label_end)
    rest = m.group(1).strip() if m else ""
    first = rest.split(maxsplit=1)[0] if rest else ""
    return not any(ch.isdigit() for ch in first)


_TO_NEXT_LINE = regex.compile(r"[ \t:#.\-=]*\n?[ \t]*")


def _value_below(text: str, label_end: int, values: Sequence[str]) -> bool:
    """Whether one of ``values`` follows the label, on its line or at the start of the next."""
    m = _TO_NEXT_LINE.match(text, label_end)
    at = m.end() if m else label_end
    return any(text.startswith(v, at) for v in values)


def _label_without_value(
    page: int,
    text: str,
    customer: CustomerRules,
    scan: _Scan,
) -> bool:
    """Whether the customer's label is on the page but the text pass could not pair it with
    exactly one well-formed number."""
    try:
        labels = customer.label_spans(text, timeout=_LABEL_TIMEOUT)
    except TimeoutError:
        return False
    # Layout can only help a label whose value is not beside it on its text line: the label ends
    # the line, or a column header follows it ("PO Number   Date   Amount").
    if not any(_value_elsewhere(text, end) for _, end in labels):
        return False
    found, _ = scan(page, text, customer)
    valid = {c.normalized for c in found if c.valid and not c.weak}
    paired = [c.raw for c in found if c.labelled and c.valid]
    if paired:
        # Labelled numbers found: layout helps only a label heading a column whose first value
        # is not one of them ("Ihre Bestellung" over rows, beside "zu Bestellung 4500871201").
        return any(
            _value_elsewhere(text, end) and not _value_below(text, end, paired) for _, end in labels
        )
    # One well-formed number on the page and nothing labelled: the layout pass (2-3 ms a page
    # for words, 20-200 more for tables) could only confirm it. Ask for it when the text gave
    # nothing, or several numbers and no label to tell them apart.
    return len(valid) != 1
