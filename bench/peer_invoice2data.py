"""The peer: invoice2data reading the PO number from the same PDF invoices, next to our PDF path.

invoice2data (PyPI) matches a template (``bench/templates/po_number.yml``: keywords plus one regex
field) against the text of a PDF. Two readers are timed: its default cascade (pypdfium2 first,
then poppler's ``pdftotext -layout`` if no template matched) and ``pdftotext`` pinned (the classic
invoice2data set-up: one process per document). Its text cache is cleared before every document so
each read is paid for.

Ours: ``extractors.pdf_extract.extract_pdf`` in-process with every customer's rules (text of every
page by pypdfium2, the customer scan, pdfplumber layout only for pages with a label but no value).

Both are also checked against the generator's truth on ``pdf_only`` messages (the PDF is the only
place that names the PO): "found" means the expected canonical number came out of the document.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.mailbox_cache import Built
from extractors.pdf_extract import PdfLimits, extract_pdf
from extractors.rules import CustomerRules
from inbox_watcher.mime import read_message

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True, slots=True)
class Doc:
    uid: int
    filename: str
    data: bytes
    kind: str
    expected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Timing:
    name: str
    docs: int
    pages: int
    seconds: tuple[float, ...]  # per document
    found: int  # pdf_only documents whose expected PO came out
    judged: int  # pdf_only documents

    @property
    def ms_per_doc(self) -> float:
        return 1000 * statistics.fmean(self.seconds)

    @property
    def ms_median(self) -> float:
        return 1000 * statistics.median(self.seconds)

    @property
    def ms_per_page(self) -> float:
        return 1000 * sum(self.seconds) / max(1, self.pages)


def collect(built: Built, limit: int) -> list[Doc]:
    """The first ``limit`` PDF attachments of the mailbox, with the message's truth."""
    truth = {}
    with built.truth.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            truth[row["uid"]] = row
    docs: list[Doc] = []
    for uid, path in enumerate(built.files(), start=1):
        if len(docs) >= limit:
            break
        row = truth[uid]
        email = read_message(path.read_bytes())
        for att in email.attachments:
            if att.is_pdf and len(docs) < limit:
                docs.append(Doc(uid, att.filename, att.data, row["kind"], tuple(row["pos"])))
    return docs


def canonical(raw: str, customers: Sequence[CustomerRules]) -> str | None:
    """A number as written -> the customer's canonical form (the first customer it fits)."""
    for c in customers:
        m = c.pattern.fullmatch(raw.strip())
        if m is not None:
            number = c.normalize(m)
            if number is not None and c.is_valid(number):
                return number
    return None


def _pages(docs: Sequence[Doc]) -> int:
    import pypdfium2

    total = 0
    for d in docs:
        pdf = pypdfium2.PdfDocument(d.data)
        total += len(pdf)
        pdf.close()
    return total


def time_ours(docs: Sequence[Doc], customers: Sequence[CustomerRules]) -> Timing:
    limits = PdfLimits()
    extract_pdf(docs[0].data, docs[0].filename, customers, limits)  # warm up (imports, fonts)
    seconds: list[float] = []
    found = judged = 0
    pages = 0
    for d in docs:
        start = time.perf_counter()
        result = extract_pdf(d.data, d.filename, customers, limits)
        seconds.append(time.perf_counter() - start)
        pages += result.page_count
        if d.kind == "pdf_only" and d.expected:
            judged += 1
            got = {c.normalized for c in result.candidates if c.valid}
            found += d.expected[0] in got
    return Timing("ours: extract_pdf", len(docs), pages, tuple(seconds), found, judged)


def time_peer(
    docs: Sequence[Doc], customers: Sequence[CustomerRules], reader: str | None
) -> Timing:
    """invoice2data on each document, from a file (it reads paths), text cache cleared."""
    import invoice2data.input as i2d_input
    from invoice2data import extract_data
    from invoice2data.extract.loader import read_templates

    logging.getLogger("invoice2data").setLevel(logging.CRITICAL)  # "no template" per document
    module: Any = None
    if reader is not None:
        module = getattr(__import__("invoice2data.input", fromlist=[reader]), reader)
    templates = read_templates(str(TEMPLATES))
    clear: Callable[[], None] = getattr(
        getattr(i2d_input, "_cached_to_text", None), "cache_clear", lambda: None
    )
    seconds: list[float] = []
    found = judged = 0
    with tempfile.TemporaryDirectory(prefix="bench-i2d-") as tmp:
        paths = []
        for i, d in enumerate(docs):
            path = Path(tmp) / f"{i:05d}.pdf"
            path.write_bytes(d.data)
            paths.append(path)
        clear()
        extract_data(str(paths[0]), templates, module)  # warm up
        for d, path in zip(docs, paths, strict=True):
            clear()
            start = time.perf_counter()
            result = extract_data(str(path), templates, module)
            seconds.append(time.perf_counter() - start)
            if d.kind == "pdf_only" and d.expected:
                judged += 1
                value = result.get("po_number") if result else None
                values = value if isinstance(value, list) else [value]
                got = {canonical(str(v), customers) for v in values if v}
                found += d.expected[0] in got
    name = f"invoice2data ({reader or 'default: pdfium, then pdftotext'})"
    return Timing(name, len(docs), _pages(docs), tuple(seconds), found, judged)
