"""PDF attachments: generated invoices through the real readers, and hostile files in workers."""

from __future__ import annotations

import io
import os

import pdfplumber
import pytest
from fpdf import FPDF

from extractors import pdf_extract
from extractors.layout import layout_candidates
from extractors.pdf import read_pdf, read_tables
from extractors.pdf_extract import PdfExtraction, PdfLimits, extract_pdf
from extractors.rules import CustomerRules
from extractors.types import Candidate, Problem, Unreadable, Word
from inbox_watcher.isolation import Done, Failed, IsolatedPool
from tests import pdfgen

_compiled = CustomerRules.compile(
    "westside",
    name="Westside Tools Ltd",
    senders=["*@westside-tools.example"],
    pattern=(
        r"(?<![\w/])(?P<year>20\d{2})[-/ ]?(?P<seq>\d{3,5})[-/ ]?(?P<dept>[A-Za-z]{2})(?![\w/])"
    ),
    format="{year}-{seq:0>5}-{dept:upper}",
    valid=r"20\d{2}-\d{5}-[A-Z]{2}",
    labels=["PO", "P.O.", "Purchase Order", "Order Ref", "Your ref", "PO Number", "Bestellnummer"],
)
assert isinstance(_compiled, CustomerRules), _compiled
RULES: CustomerRules = _compiled
PO = "2023-00125-WS"
TEXT_PAIRS = {"header", "kv_table"}  # placements where the text pass sees label and value together
DECOY_NUMBERS = {"2023-00777-QT", "INV-2023-00991", "2023-00991"}


def extract(data: bytes, limits: PdfLimits | None = None) -> PdfExtraction:
    return extract_pdf(data, "invoice.pdf", [RULES], limits or PdfLimits())


def summary(candidates: tuple[Candidate, ...]) -> list[tuple[str, bool, bool, int | None]]:
    return sorted((c.normalized, c.valid, c.labelled, c.page) for c in candidates)


def kinds(problems: tuple[Problem, ...]) -> list[tuple[Unreadable, bool]]:
    return [(p.kind, p.blocking) for p in problems]


# -- where the PO is -------------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["header", "table", "above", "kv_table"])
@pytest.mark.parametrize(("pages", "po_page"), [(1, 1), (2, 2), (3, 2)])
def test_each_placement_gives_the_po_on_its_page(placement: str, pages: int, po_page: int) -> None:
    data = pdfgen.invoice_pdf(placement=placement, pages=pages, po_page=po_page)
    result = extract(data)
    assert result.problems == ()
    assert result.page_count == pages
    # A label in a table header or above its value is paired by layout only when the text pass
    # cannot: here the text gives exactly one well-formed number, so layout is skipped (speed).
    labelled = placement in TEXT_PAIRS
    assert summary(result.candidates) == [(PO, True, labelled, po_page)]
    assert result.layout_pages == ()
    (found,) = result.candidates
    assert found.source == "attachment:invoice.pdf"
    assert found.customer == "westside"
    assert "2023-00125-WS" in found.context


@pytest.mark.parametrize("placement", ["header", "table", "above", "kv_table"])
def test_raw_forms_are_normalized(placement: str) -> None:
    result = extract(pdfgen.invoice_pdf(po="2023/125/ws", placement=placement))
    assert summary(result.candidates) == [(PO, True, placement in TEXT_PAIRS, 1)]
    assert result.candidates[0].raw.lower().replace(" ", "") == "2023/125/ws"


@pytest.mark.parametrize("placement", ["header", "table", "above", "kv_table"])
def test_labelled_wrong_number_is_malformed(placement: str) -> None:
    result = extract(pdfgen.invoice_pdf(po="2023-125", placement=placement))
    assert summary(result.candidates) == [("2023-125", False, True, 1)]


@pytest.mark.parametrize("placement", ["table", "above"])
def test_label_below_is_found_only_by_layout(placement: str) -> None:
    """A value below its label that the text pass cannot read as a PO: only layout pairs them,
    so only layout can tell a mistyped PO (malformed) from no PO at all."""
    data = pdfgen.invoice_pdf(po="2023-125", placement=placement)
    with_layout = extract(data)
    text_only = extract(data, PdfLimits(layout=False))
    assert with_layout.layout_pages == (1,)
    assert summary(with_layout.candidates) == [("2023-125", False, True, 1)]
    assert summary(text_only.candidates) == []


@pytest.mark.parametrize("placement", ["table", "above"])
def test_one_unlabelled_number_needs_no_layout(placement: str) -> None:
    """The text pass already found the page's one well-formed number: the layout pass would
    only confirm it."""
    result = extract(pdfgen.invoice_pdf(placement=placement))
    assert result.layout_pages == ()
    assert summary(result.candidates) == [(PO, True, False, 1)]


@pytest.mark.parametrize("placement", ["table", "above"])
def test_an_unlabelled_register_number_does_not_stand_in_for_the_po(placement: str) -> None:
    """A bare run of digits in the footer ("Registered in England 04511872") fits a numeric
    customer's pattern but is weak evidence: it must not stop the layout pass that pairs the
    PO header cell with the number below it."""
    numeric = CustomerRules.compile(
        "kestrel", name="Kestrel", senders=["*@kestrel.example"],
        pattern=r"(?<![\w-])(?:PO[- ]?)?(?P<num>\d{8})(?![\w-])", format="PO{num}",
        valid=r"PO\d{8}", labels=["PO", "PO Number"],
    )  # fmt: skip
    assert isinstance(numeric, CustomerRules)
    data = pdfgen.invoice_pdf(
        po="45012345", placement=placement, decoys=False, footer="Registered in England 04511872"
    )
    result = extract_pdf(data, "po.pdf", [numeric], PdfLimits())
    assert result.layout_pages == (1,)
    assert ("PO45012345", True, True, 1) in summary(result.candidates)


@pytest.mark.parametrize("header", ["Invoice No.", "Delivery Note No.", "Customer No."])
def test_a_number_under_another_numbers_column_header_is_no_po(header: str) -> None:
    """A row of headers over a row of values reads, as text, like a run of numbers; the words
    show the westside-shaped number sits under "Invoice No.": it is that, not a PO."""
    data = pdfgen.invoice_pdf(po="2023-00991-WS", placement="table", label=header, decoys=False)
    result = extract(data)
    assert result.candidates == ()
    assert result.layout_pages == (1,)


def _price_list(header: str, numbers: list[str]) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 8, "Price change from 1 January", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(40, 8, header)
    pdf.cell(80, 8, "Description")
    pdf.cell(30, 8, "Price", new_x="LMARGIN", new_y="NEXT")
    for i, number in enumerate(numbers):
        pdf.cell(40, 8, number)
        pdf.cell(80, 8, f"Ball bearing type {i + 1}")
        pdf.cell(30, 8, f"{2.61 + i:.2f}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_every_row_under_an_article_number_header_is_no_po() -> None:
    """Even a weak number (no label, no letter: it counts when it equals a known PO) in the
    fourth row under "Article No." is an article number: the header is found above the rows."""
    sap = CustomerRules.compile(
        "sap", name="SAP", senders=["*@sap.example"], pattern=r"(?<!\d)30\d{5}(?!\d)"
    )
    assert isinstance(sap, CustomerRules), sap
    numbers = ["3012201", "3012245", "3013008", "3014366"]
    result = extract_pdf(_price_list("Article No.", numbers), "prices.pdf", [sap], PdfLimits())
    assert result.candidates == ()
    kept = extract_pdf(_price_list("Our ref", numbers), "prices.pdf", [sap], PdfLimits())
    assert sorted(c.normalized for c in kept.candidates) == numbers


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Bestellnummer/Datum", "4500120045 / 19.02.2025"),
        ("Bestellnummer/ Datum", "4500120045 / 19.02.2025"),
        ("Bestellung/Pos.", "4500120045/10"),
    ],
)
def test_a_header_cell_naming_two_columns_heads_its_value(header: str, value: str) -> None:
    """SAP's order form prints "Bestellnummer/Datum" over "4500120045 / 19.02.2025"."""
    sap = CustomerRules.compile(
        "sap",
        name="SAP",
        senders=["*@sap.example"],
        pattern=r"(?<!\d)45\d{8}(?!\d)",
        labels=["Bestellnummer", "Bestellung"],
    )
    assert isinstance(sap, CustomerRules), sap
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.cell(50, 8, "Lieferant-Nr.")
    pdf.cell(60, 8, header)
    pdf.cell(40, 8, "Seite", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(50, 8, "70012")
    pdf.cell(60, 8, value)
    pdf.cell(40, 8, "1", new_x="LMARGIN", new_y="NEXT")
    result = extract_pdf(bytes(pdf.output()), "po.pdf", [sap], PdfLimits())
    assert [(c.normalized, c.valid, c.labelled) for c in result.candidates] == [
        ("4500120045", True, True)
    ]


def test_a_number_under_a_po_column_header_stays() -> None:
    data = pdfgen.invoice_pdf(po=PO, placement="table", label="Your ref", decoys=False)
    assert [c.normalized for c in extract(data).candidates] == [PO]


def test_header_block_needs_no_layout() -> None:
    result = extract(pdfgen.invoice_pdf(placement="header"))
    assert result.layout_pages == ()


def test_decoys_alone_give_no_candidate() -> None:
    result = extract(pdfgen.invoice_pdf(po=None, pages=2))
    assert result.candidates == ()
    assert result.problems == ()
    assert result.page_count == 2


def test_decoys_never_become_candidates() -> None:
    for placement in ("header", "table", "above", "kv_table"):
        result = extract(pdfgen.invoice_pdf(placement=placement))
        found = {c.normalized for c in result.candidates} | {c.raw for c in result.candidates}
        assert not found & DECOY_NUMBERS, placement


def test_two_customers_each_get_their_own() -> None:
    other = CustomerRules.compile(
        "northco", name="Northco", senders=["*@northco.example"], pattern=r"NC-\d{6}"
    )
    assert isinstance(other, CustomerRules)
    result = extract_pdf(
        pdfgen.invoice_pdf(placement="table"), "x.pdf", [RULES, other], PdfLimits()
    )
    mine = [(c.normalized, c.valid) for c in result.candidates if c.customer == "westside"]
    theirs = [c for c in result.candidates if c.customer == "northco"]
    assert mine == [(PO, True)]
    # Northco's labels see "PO Number" too; the number is not theirs, so at most malformed.
    assert not any(c.valid for c in theirs)


# -- what cannot be read ----------------------------------------------------------------------


def test_image_only_pdf_is_no_text() -> None:
    result = extract(pdfgen.image_only_pdf(pages=2))
    assert kinds(result.problems) == [(Unreadable.NO_TEXT, True)]
    assert result.page_count == 2
    assert result.candidates == ()


def test_image_only_page_among_text_pages_is_partial() -> None:
    result = extract(pdfgen.mixed_pdf())
    assert kinds(result.problems) == [(Unreadable.NO_TEXT, False)]
    assert "page 2" in result.problems[0].detail
    assert summary(result.candidates) == [(PO, True, True, 1)]


def test_blank_page_is_not_reported() -> None:
    result = extract(pdfgen.blank_page_pdf())
    assert result.problems == ()
    assert result.page_count == 2
    assert summary(result.candidates) == [(PO, True, True, 1)]


@pytest.mark.parametrize("aes", [True, False])
def test_encrypted_with_user_password_is_encrypted(aes: bool) -> None:
    result = extract(pdfgen.encrypted_pdf("s3cret", aes=aes))
    assert kinds(result.problems) == [(Unreadable.ENCRYPTED, True)]
    assert result.candidates == ()


@pytest.mark.parametrize("aes", [True, False])
def test_encrypted_with_empty_user_password_is_read(aes: bool) -> None:
    result = extract(pdfgen.encrypted_pdf("", aes=aes))
    assert result.problems == ()
    assert summary(result.candidates) == [(PO, True, True, 1)]


@pytest.mark.parametrize(
    "data",
    [pdfgen.truncated_pdf(), b"", b"   \n", b"PK\x03\x04 this is a zip", b"%PDF-1.7\n%%EOF\n"],
    ids=["truncated", "empty", "blank", "not-pdf", "header-only"],
)
def test_damaged_files_are_corrupt(data: bytes) -> None:
    result = extract(data)
    assert kinds(result.problems) == [(Unreadable.CORRUPT, True)]
    assert result.problems[0].source == "attachment:invoice.pdf"
    assert result.candidates == ()


def test_junk_before_header_is_read() -> None:
    result = extract(pdfgen.junk_prefixed_pdf())
    assert summary(result.candidates) == [(PO, True, True, 1)]


def test_too_many_pages_reads_the_first() -> None:
    data = pdfgen.invoice_pdf(pages=7, po_page=3)
    result = extract(data, PdfLimits(max_pages=4))
    # Blocking: without a PO elsewhere the message is unreadable (the pages not read may hold it)
    assert kinds(result.problems) == [(Unreadable.TOO_MANY_PAGES, True)]
    assert "7 pages" in result.problems[0].detail
    assert (result.page_count, result.pages_read) == (7, 4)
    assert summary(result.candidates) == [(PO, True, True, 3)]
    beyond = extract(pdfgen.invoice_pdf(pages=7, po_page=6), PdfLimits(max_pages=4))
    assert beyond.candidates == ()


def test_too_large_is_not_opened() -> None:
    data = pdfgen.invoice_pdf()
    result = extract(data, PdfLimits(max_bytes=len(data) - 1))
    assert kinds(result.problems) == [(Unreadable.TOO_LARGE, True)]
    assert str(len(data)) in result.problems[0].detail
    assert result.page_count == 0


# -- read_pdf itself --------------------------------------------------------------------------


def test_layout_only_for_pages_asked_for() -> None:
    data = pdfgen.invoice_pdf(placement="table", pages=3, po_page=2)
    asked: list[tuple[int, bool]] = []

    def wanted(page: int, text: str) -> bool:
        asked.append((page, "PO Number" in text))
        return page == 2

    content = read_pdf(data, layout_pages=wanted)
    assert asked == [(1, False), (2, True), (3, False)]
    assert [page for page, _ in content.words] == [2]
    assert {page for page, _ in content.tables} == {2}
    words = dict(content.words)[2]
    assert any(w.text == PO for w in words)
    tables = [rows for page, rows in content.tables if page == 2]
    assert ("PO Number", "Date", "Amount") in tables[0]


def test_without_layout_callback_no_words() -> None:
    content = read_pdf(pdfgen.invoice_pdf(placement="table"))
    assert content.words == ()
    assert content.tables == ()
    assert "PO Number" in content.pages[0]


@pytest.mark.parametrize("placement", ["header", "table", "above", "kv_table"])
def test_pdfium_words_are_pdfplumbers_words(placement: str) -> None:
    """The layout words come from PDFium's character boxes; pdfplumber's extract_words, the
    reference they replaced, cuts the same words at (within a point) the same places."""
    data = pdfgen.invoice_pdf(placement=placement, po="2023-125")
    content = read_pdf(data, layout_pages=lambda _page, _text: True, layout_tables=False)
    (page, words) = content.words[0]
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        reference = pdf.pages[0].extract_words()

    Box = tuple[str, float, float, float, float]

    def reading_order(boxes: list[Box]) -> list[Box]:
        return sorted(boxes, key=lambda b: (round(b[2]), b[1]))

    ours = reading_order([(w.text, w.x0, w.top, w.x1, w.bottom) for w in words])
    theirs = reading_order(
        [(str(w["text"]), w["x0"], w["top"], w["x1"], w["bottom"]) for w in reference]
    )
    assert page == 1
    assert [w[0] for w in ours] == [w[0] for w in theirs]
    for mine, ref in zip(ours, theirs, strict=True):
        # Left and right within a point and a half; top and bottom within a quarter of the
        # height (PDFium takes the font's ascent from its bounding box, pdfplumber from its size).
        height = ref[4] - ref[2]
        assert abs(mine[1] - ref[1]) <= 1.5, (mine, ref)
        assert abs(mine[3] - ref[3]) <= 1.5, (mine, ref)
        assert abs(mine[2] - ref[2]) <= height / 4, (mine, ref)
        assert abs(mine[4] - ref[4]) <= height / 4, (mine, ref)


def _tall_table_pdf(label: str, value: str) -> bytes:
    """A ruled table whose rows are so tall that the value cell's text sits more than three
    line heights below its label: only the table's cells pair them."""
    pdf = FPDF(unit="pt", format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.set_xy(40, 60)
    pdf.cell(300, 14, "Westside Tools Ltd - Purchase confirmation")
    pdf.set_xy(40, 100)
    with pdf.table(width=360, col_widths=(140, 220), line_height=70) as table:
        for key, cell in ((label, "Notes"), (value, "Deliver to dock 4")):
            row = table.row()
            row.cell(key)
            row.cell(cell)
    return bytes(pdf.output())


def test_table_cells_are_read_only_where_words_cannot_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[int]] = []
    real = read_tables

    def counting(data: bytes, pages: list[int], source: str = "attachment") -> object:
        calls.append(list(pages))
        return real(data, pages, source)

    monkeypatch.setattr(pdf_extract, "read_tables", counting)
    near = extract(pdfgen.invoice_pdf(po="2023-125", placement="table"))
    assert summary(near.candidates) == [("2023-125", False, True, 1)]
    assert calls == []  # the words below the label paired it: no table reading

    far = extract(_tall_table_pdf("PO Number", "2023-125"))
    assert calls == [[1]]
    assert summary(far.candidates) == [("2023-125", False, True, 1)]
    text_only = extract(_tall_table_pdf("PO Number", "2023-125"), PdfLimits(layout=False))
    assert summary(text_only.candidates) == []


# -- layout_candidates on hand-made words ------------------------------------------------------


def _word(text: str, x0: float, top: float, size: float = 10.0) -> Word:
    return Word(text, x0, top, x0 + 0.55 * size * len(text), top + size)


def test_layout_value_below_label_overlapping_its_x_range() -> None:
    words = [
        _word("Purchase", 300, 100),
        _word("Order", 346, 100),
        _word("No.", 377, 100),
        _word("Invoice", 40, 100),
        _word("INV-2023-00991", 40, 114),
        _word("2023-00125-ws", 320, 114),
    ]
    found = layout_candidates(words, [], RULES, "attachment:a.pdf", 3)
    assert summary(tuple(found)) == [(PO, True, True, 3)]
    assert found[0].source == "attachment:a.pdf"


def test_layout_value_right_after_a_column_gap() -> None:
    words = [_word("PO", 40, 100), _word("Number", 55, 100), _word("2023-00125-WS", 260, 100)]
    found = layout_candidates(words, [], RULES, "attachment:a.pdf", 1)
    assert summary(tuple(found)) == [(PO, True, True, 1)]


def test_layout_label_inside_a_phrase_reaches_nothing_below() -> None:
    words = [
        _word("PO", 40, 100),
        _word("Date", 55, 100),
        _word("12/03/2023", 80, 100),
        _word("2023-00125-WS", 40, 114),
    ]
    assert layout_candidates(words, [], RULES, "attachment:a.pdf", 1) == []


def test_layout_value_too_far_below_is_ignored() -> None:
    words = [_word("PO", 40, 100), _word("Number", 55, 100), _word("2023-00125-WS", 40, 200)]
    assert layout_candidates(words, [], RULES, "attachment:a.pdf", 1) == []


def test_layout_table_cells_right_and_below() -> None:
    header_table = (("PO Number", "Date"), ("2023 125 WS", "14/03/2023"))
    kv_table = (("Customer", "Westside"), ("Your ref:", "2023-00126-ws"), ("Terms", "30 days"))
    wrong = (("P.O.", "2023-12"),)
    found = layout_candidates([], [header_table, kv_table, wrong], RULES, "attachment:a.pdf", 2)
    assert summary(tuple(found)) == [
        ("2023-00125-WS", True, True, 2),
        ("2023-00126-WS", True, True, 2),
        ("2023-12", False, True, 2),
    ]


def test_layout_decoy_cells_are_not_candidates() -> None:
    table = (("Invoice No", "Quote"), ("INV-2023-00991", "2023-00777-QT"))
    assert layout_candidates([], [table], RULES, "attachment:a.pdf", 1) == []


# -- hostile files in the isolated pool -------------------------------------------------------


def _extract_item(item: tuple[str, bytes]) -> PdfExtraction:
    name, data = item
    return extract_pdf(data, name, [RULES], PdfLimits())


def test_hostile_pdfs_are_stopped_by_the_pool_limits() -> None:
    items = [
        ("bomb.pdf", pdfgen.bomb_pdf()),  # 2 GiB of content stream in 2 MB
        ("fanout.pdf", pdfgen.xobject_fanout_pdf()),  # 10**12 form draws
        ("cycle.pdf", pdfgen.self_referencing_xobject_pdf()),  # a form that draws itself
        ("good.pdf", pdfgen.invoice_pdf(placement="table")),
    ]
    assert len(items[0][1]) < 3_000_000
    with IsolatedPool(processes=2, memory_limit=512 << 20) as pool:
        results = pool.map(_extract_item, items, time_limit=8.0)
    bomb, fanout, cycle, good = results
    for name, outcome in (("bomb", bomb), ("fanout", fanout)):
        assert isinstance(outcome, Failed), name
        assert outcome.kind in (Unreadable.MEMORY_LIMIT, Unreadable.TIME_LIMIT), outcome
        assert outcome.error is None, outcome  # stopped by a limit, not by a bug of ours
    assert isinstance(bomb, Failed)
    assert bomb.kind is Unreadable.MEMORY_LIMIT
    # The same words every time: no figure that a reprocess would read as a change.
    assert bomb.detail == "stopped at the memory limit of 512 MiB"
    # The cycle is refused by the readers themselves: the page's own text is read.
    assert isinstance(cycle, Done)
    assert [c.normalized for c in cycle.value.candidates] == [PO]
    assert isinstance(good, Done)
    assert summary(good.value.candidates) == [(PO, True, False, 1)]
    assert os.getpid() > 0  # and this process is still here to say so


def test_layout_reader_bomb_is_memory_limit() -> None:
    """pdfminer inflates a stream whole; its wrapped MemoryError still reads as the limit."""
    with IsolatedPool(processes=1, memory_limit=512 << 20) as pool:
        (outcome,) = pool.map(_read_bomb_with_layout, [pdfgen.bomb_pdf(1 << 30)], time_limit=20)
    assert isinstance(outcome, Failed)
    assert outcome.kind is Unreadable.MEMORY_LIMIT, outcome


def _read_bomb_with_layout(data: bytes) -> object:
    return read_pdf(data, layout_pages=lambda _page, _text: True)


_sap = CustomerRules.compile(
    "sap", name="SAP", senders=["*@sap.example"], pattern=r"(?<![\w-])45\d{8}(?![\w-])",
    labels=["PO Number", "Bestellung"],
)  # fmt: skip
assert isinstance(_sap, CustomerRules), _sap
_SAP: CustomerRules = _sap


def _remittance_pdf(*, bordered: bool, po_first: bool) -> bytes:
    """A remittance advice: one PO a row under a PO column, the last one not in any records."""
    rows = [
        ("28/02/2025", "4500123456", "7.744,00"),
        ("03/03/2025", "4500123457", "2.601,50"),
        ("11/03/2025", "4500999999", "2.379,88"),
    ]
    header = ("Date", "PO Number", "Amount")
    if po_first:
        header = (header[1], header[0], header[2])
        rows = [(b, a, c) for a, b, c in rows]
    pdf = FPDF(format="A4", unit="pt")
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.set_xy(40, 40)
    pdf.cell(300, 14, "REMITTANCE ADVICE")
    pdf.set_xy(40, 70)
    if bordered:
        with pdf.table(width=360, col_widths=(120, 120, 120), first_row_as_headings=True) as t:
            for values in (header, *rows):
                row = t.row()
                for text in values:
                    row.cell(text)
    else:
        for i, values in enumerate((header, *rows)):
            for j, text in enumerate(values):
                pdf.set_xy(40 + 110 * j, 70 + 16 * i)
                pdf.cell(100, 14, text)
    return bytes(pdf.output())


@pytest.mark.parametrize("bordered", [False, True], ids=["words", "bordered-table"])
@pytest.mark.parametrize("po_first", [False, True], ids=["po-middle", "po-first"])
def test_every_row_under_a_po_column_header_is_labelled(bordered: bool, po_first: bool) -> None:
    """A remittance advice or statement lists one PO a row. Every row's number is the PO
    column's value (so the unknown one is flagged), not only the first row's."""
    data = _remittance_pdf(bordered=bordered, po_first=po_first)
    result = extract_pdf(data, "advice.pdf", [_SAP])
    found = sorted((c.normalized, c.valid, c.labelled) for c in result.candidates)
    assert found == [
        ("4500123456", True, True),
        ("4500123457", True, True),
        ("4500999999", True, True),
    ]


def test_a_filled_in_pdf_form_is_read_from_its_fields() -> None:
    """A PO form filled in a viewer keeps the values in its fields, not in the page's text:
    each field is read as "name: value", so a field named like a PO label labels its value."""
    data = pdfgen.form_pdf(
        {"PO Number": PO, "Vendor": "Acme Corporation", "Empty": ""}, checked=("Approved 2024",)
    )
    content = read_pdf(data)
    assert content.pages == (f"Purchase Order\nPO Number: {PO}\nVendor: Acme Corporation",)
    assert summary(extract(data).candidates) == [(PO, True, True, 1)]


def test_form_field_values_are_bounded() -> None:
    data = pdfgen.form_pdf({"Notes": "x" * 5000, "PO Number": PO})
    (page,) = read_pdf(data).pages
    assert page.endswith(f"PO Number: {PO}")
    assert len(page) < 1000  # the 5,000-character note is not read whole


def _consolidated_delivery_note(*, footer: bool) -> bytes:
    """A delivery note for two orders: one PO a row under "Ihre Bestellung", and a closing line
    that names one of them with a label of its own."""
    pdf = FPDF(format="A4", unit="pt")
    pdf.add_page()
    pdf.set_font("helvetica", size=9)
    pdf.set_xy(40, 40)
    pdf.cell(300, 14, "Lieferschein / Delivery Note   Lieferschein-Nr.: 80412955")
    columns = (("Pos.", 40), ("Ihre Bestellung", 80), ("Artikel-Nr.", 190), ("Menge", 300))
    rows = [
        ("1", "4500871201", "MV-025-24V", "12 Stk"),
        ("2", "4500871201", "SP-025-01", "12 Stk"),
        ("3", "4500871245", "KH-050-316", "8 Stk"),
    ]
    for i, row in enumerate([tuple(name for name, _ in columns), *rows]):  # as the text runs
        for (_, x), cell in zip(columns, row, strict=True):
            pdf.set_xy(x, 80 + 14 * i)
            pdf.cell(100, 12, cell)
    if footer:
        pdf.set_xy(40, 150)
        pdf.cell(400, 12, "Teillieferung zu Bestellung 4500871201 abgeschlossen.")
    return bytes(pdf.output())


@pytest.mark.parametrize("footer", [False, True], ids=["column-only", "with-labelled-line"])
def test_a_po_column_is_read_beside_a_labelled_po_elsewhere_on_the_page(footer: bool) -> None:
    """A labelled PO on the page ("zu Bestellung 4500871201") does not make the layout pass
    needless: the PO column under "Ihre Bestellung" lists an order the line does not name."""
    result = extract_pdf(_consolidated_delivery_note(footer=footer), "LS.pdf", [_SAP])
    assert sorted({c.normalized for c in result.candidates if c.valid}) == [
        "4500871201",
        "4500871245",
    ]
    assert result.layout_pages == (1,)


def test_headers_set_close_together_head_their_own_columns() -> None:
    """A statement prints "Invoice" and "Delivered to / Customer ref" so close that the words
    read them as one cell: the PO under "Customer ref" stays, the number under "Invoice" goes."""
    bfl = CustomerRules.compile(
        "bfl",
        name="Brightwell",
        senders=["*@bfl.example"],
        pattern=r"(?<![\w-])(?:BFL[- ]?)?(?:PO[- #]?)?(?P<num>1\d{5})(?![\w-])",
        format="BFL-{num}",
        valid=r"BFL-1\d{5}",
    )
    assert isinstance(bfl, CustomerRules), bfl
    pdf = FPDF(unit="pt")
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    header = ((50, "Date"), (93, "Invoice"), (133, "Delivered to / Customer ref"), (275, "Debit"))
    for x, words in header:
        pdf.text(x, 100, words)
    rows = (("02/11/2026", "100777", "BFL-PO-104201"), ("04/11/2026", "100781", "BFL-PO-104215"))
    for i, (date, invoice, po) in enumerate(rows):
        y = 114 + 14 * i
        for x, words in ((50, date), (102, invoice), (151, "Brightwell"), (197, po)):
            pdf.text(x, y, words)
        pdf.text(301, y, "612.00")
    result = extract_pdf(bytes(pdf.output()), "statement.pdf", [bfl], PdfLimits())
    assert sorted(c.normalized for c in result.candidates) == ["BFL-104201", "BFL-104215"]
