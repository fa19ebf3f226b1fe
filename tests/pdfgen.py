"""Invoice PDFs made with fpdf2, for tests and benchmarks.

``invoice_pdf`` lays out a plain supplier invoice with the customer's PO number in one of several
places (a header block, a table cell, on the line below its label, a key/value table), on any page
of a multi-page invoice, with decoys around it (invoice number, dates, phone, IBAN, a quote number
that fits the PO pattern). The other builders make the unreadable kinds: image-only pages,
encrypted files, a decompression bomb and a PDF whose form XObjects nest exponentially.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Any, Literal

from fpdf import FPDF
from fpdf.enums import EncryptionMethod, XPos, YPos

Placement = Literal["header", "table", "above", "kv_table", "none"]

DEFAULT_PO = "2023-00125-WS"
DECOYS: tuple[tuple[str, str], ...] = (
    ("Invoice No:", "INV-2023-00991"),
    ("Invoice date:", "12/03/2023"),
    ("Due date:", "2023-04-11"),
    ("Phone:", "+44 20 7946 0958"),
    ("IBAN:", "GB29 NWBK 6016 1331 9268 19"),
    ("Quote:", "2023-00777-QT"),  # fits the Westside PO pattern: only a label tells it apart
)
FILLER = (
    "Thank you for your business. Goods remain our property until paid in full. "
    "Please quote the invoice number with your payment."
)


@dataclass(frozen=True, slots=True)
class InvoiceSpec:
    """What to put in an invoice; every field has a plain default."""

    po: str | None = DEFAULT_PO
    placement: Placement = "header"
    label: str = "PO Number"
    pages: int = 1
    po_page: int = 1  # 1-based page that carries the PO
    decoys: bool = True
    lines_per_page: int = 12  # filler item lines, so pages look like real invoices
    footer: str | None = None  # a last line on every page ("Registered in England 04511872")


def invoice_pdf(spec: InvoiceSpec | None = None, **overrides: Any) -> bytes:
    """An invoice PDF as bytes. ``invoice_pdf(po="X", placement="table", pages=2, po_page=2)``."""
    base = spec or InvoiceSpec()
    if overrides:
        base = replace(base, **overrides)
    if not 1 <= base.po_page <= base.pages:
        raise ValueError(f"po_page {base.po_page} is outside 1..{base.pages}")
    pdf = FPDF(format="A4", unit="pt")
    pdf.set_auto_page_break(auto=False)
    pdf.set_font("helvetica", size=10)
    for page in range(1, base.pages + 1):
        pdf.add_page()
        _page_header(pdf, page, base.pages)
        carries_po = base.po is not None and page == base.po_page
        if page == 1 and base.decoys:
            _decoys(pdf, with_po=carries_po and base.placement == "header", spec=base)
        elif carries_po and base.placement == "header":
            _decoys(pdf, with_po=True, spec=replace(base, decoys=False))
        if carries_po and base.po is not None:
            if base.placement == "table":
                _po_table(pdf, base.label, base.po)
            elif base.placement == "above":
                _po_above(pdf, base.label, base.po)
            elif base.placement == "kv_table":
                _po_kv_table(pdf, base.label, base.po)
        _items(pdf, base.lines_per_page, page)
        if base.footer:
            pdf.set_xy(40, 815)
            pdf.cell(500, 10, base.footer)
    return bytes(pdf.output())


def _page_header(pdf: FPDF, page: int, pages: int) -> None:
    pdf.set_xy(40, 40)
    pdf.set_font("helvetica", style="B", size=16)
    pdf.cell(300, 20, "Acme Supplies Ltd - INVOICE", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("helvetica", size=10)
    pdf.set_xy(420, 40)
    pdf.cell(120, 14, f"Page {page} of {pages}")
    pdf.set_xy(40, 64)
    pdf.cell(300, 12, "1 Factory Lane, Leeds LS1 4AB", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _decoys(pdf: FPDF, *, with_po: bool, spec: InvoiceSpec) -> None:
    """The header block: label/value pairs on one line each, the PO among them if asked."""
    rows = list(DECOYS) if spec.decoys else []
    if with_po and spec.po is not None:
        rows.insert(2, (f"{spec.label}:", spec.po))
    y = 96.0
    for label, value in rows:
        pdf.set_xy(40, y)
        pdf.cell(90, 14, label)
        pdf.cell(200, 14, value)
        y += 16
    pdf.set_y(y + 10)


def _po_table(pdf: FPDF, label: str, po: str) -> None:
    """A bordered table: header row (label, Date, Amount), values in the row below."""
    pdf.set_x(40)
    with pdf.table(width=360, col_widths=(140, 110, 110), first_row_as_headings=True) as table:
        header = table.row()
        for text in (label, "Date", "Amount"):
            header.cell(text)
        values = table.row()
        for text in (po, "14/03/2023", "1,234.50"):
            values.cell(text)
    pdf.ln(10)


def _po_above(pdf: FPDF, label: str, po: str) -> None:
    """The label on one line, its value on the next, left-aligned under it; other fields right."""
    y = pdf.get_y()
    pdf.set_xy(40, y)
    pdf.cell(120, 14, f"{label}")
    pdf.cell(120, 14, "Delivery address")
    pdf.set_xy(40, y + 14)
    pdf.cell(120, 14, po)
    pdf.cell(120, 14, "Unit 7, Dock Road")
    pdf.set_y(y + 40)


def _po_kv_table(pdf: FPDF, label: str, po: str) -> None:
    """A two-column key/value table: label cell, value cell to its right."""
    pdf.set_x(40)
    with pdf.table(width=300, col_widths=(120, 180), first_row_as_headings=False) as table:
        for key, value in (("Customer", "Westside Tools Ltd"), (label, po), ("Terms", "30 days")):
            row = table.row()
            row.cell(key)
            row.cell(value)
    pdf.ln(10)


def _items(pdf: FPDF, lines: int, page: int) -> None:
    y = max(pdf.get_y(), 300.0)
    for i in range(lines):
        if y > 780:
            break
        pdf.set_xy(40, y)
        pdf.cell(260, 12, f"Item {page}.{i + 1}  Steel bracket M{8 + i % 6}  x{1 + i % 9}")
        pdf.cell(80, 12, f"{(i + 1) * 12.5:,.2f} GBP", align="R")
        y += 14
    pdf.set_xy(40, 800)
    pdf.cell(500, 10, FILLER[:110])


def image_only_pdf(pages: int = 1) -> bytes:
    """Pages with drawn shapes and no text at all (what a scanner without OCR produces)."""
    pdf = FPDF(format="A4", unit="pt")
    for _ in range(pages):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        pdf.rect(60, 60, 300, 120, style="F")
        pdf.rect(60, 220, 400, 20, style="D")
    return bytes(pdf.output())


def mixed_pdf() -> bytes:
    """Page 1 has text (and the PO), page 2 is image-only."""
    pdf = FPDF(format="A4", unit="pt")
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    pdf.set_xy(40, 40)
    pdf.cell(300, 14, f"PO Number: {DEFAULT_PO}")
    pdf.add_page()
    pdf.rect(60, 60, 300, 120, style="F")
    return bytes(pdf.output())


def blank_page_pdf() -> bytes:
    """Page 1 has the PO, page 2 is blank (nothing drawn: not a scan, just an empty page)."""
    pdf = FPDF(format="A4", unit="pt")
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    pdf.set_xy(40, 40)
    pdf.cell(300, 14, f"PO Number: {DEFAULT_PO}")
    pdf.add_page()
    return bytes(pdf.output())


def encrypted_pdf(user_password: str = "", *, aes: bool = True) -> bytes:
    """An encrypted invoice. With ``user_password=""`` any reader opens it without asking."""
    pdf = FPDF(format="A4", unit="pt")
    pdf.set_encryption(
        owner_password="owner-secret",
        user_password=user_password,
        encryption_method=EncryptionMethod.AES_128 if aes else EncryptionMethod.RC4,
    )
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    pdf.set_xy(40, 40)
    pdf.cell(300, 14, f"PO Number: {DEFAULT_PO}")
    return bytes(pdf.output())


# --- hostile files, written by hand (fpdf2 will not make broken PDFs) -------------------------


def assemble(objects: list[bytes], *, root: int = 1) -> bytes:
    """A PDF from numbered object bodies (object i+1 = objects[i]) with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def _deflate_repeated(head: bytes, block: bytes, count: int) -> bytes:
    """zlib data for ``head + block * count``, compressing ``block`` once.

    A full flush resets the compressor's window, so every copy of the block compresses to the
    same bytes: they are repeated instead of recompressed (2 GiB in well under a second).
    """
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = raw.compress(head) + raw.flush(zlib.Z_FULL_FLUSH)
    packed = raw.compress(block) + raw.flush(zlib.Z_FULL_FLUSH)
    last = raw.flush(zlib.Z_FINISH)
    checksum = zlib.adler32(head)
    for _ in range(count):
        checksum = zlib.adler32(block, checksum)
    return b"\x78\xda" + first + packed * count + last + checksum.to_bytes(4, "big")


def bomb_pdf(inflated_bytes: int = 2 << 30, *, chunk: int = 16 << 20) -> bytes:
    """One page whose content stream inflates to ``inflated_bytes`` of spaces (2 GiB: ~2 MB).

    The stream starts with real text so a reader that streams it finds something, then goes on
    with whitespace: a reader that inflates a stream whole needs gigabytes of memory.
    """
    head = b"BT /F1 12 Tf 72 720 Td (PO Number: 2023-00125-WS) Tj ET\n"
    content = _deflate_repeated(head, b" " * chunk, max(0, inflated_bytes - len(head)) // chunk)
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(b"/Filter /FlateDecode", content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def xobject_fanout_pdf(depth: int = 12, fanout: int = 10) -> bytes:
    """Form XObjects that each draw the next one ``fanout`` times, ``depth`` levels deep.

    The innermost draws a word of text, so a reader that expands forms to find text does
    ``fanout ** depth`` draws (10**12): an endless loop in practice, from a 3 KB file.
    """
    # objects: 1 catalog, 2 pages, 3 page, 4 page content, 5 font, 6.. forms (level 0 = outer)
    first_form = 6
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /XObject << /X0 %d 0 R >> /Font << /F1 5 0 R >> >> >>" % first_form,
        _stream(b"", b"q /X0 Do Q"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for level in range(depth):
        if level == depth - 1:
            body = b"BT /F1 1 Tf 0 0 Td (PO) Tj ET"
            resources = b"<< /Font << /F1 5 0 R >> >>"
        else:
            body = b" ".join(b"q 1 0 0 1 %d 0 cm /X Do Q" % i for i in range(fanout))
            resources = b"<< /XObject << /X %d 0 R >> >>" % (first_form + level + 1)
        objects.append(
            _stream(
                b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources " + resources,
                body,
            )
        )
    return assemble(objects)


def self_referencing_xobject_pdf() -> bytes:
    """A form XObject that draws itself (a cycle), plus a Pages tree whose kid is its parent."""
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /XObject << /X 5 0 R >> /Font << /F1 6 0 R >> >> >>",
            _stream(b"", b"BT /F1 12 Tf 72 720 Td (PO Number: 2023-00125-WS) Tj ET q /X Do Q"),
            _stream(
                b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                b"/Resources << /XObject << /X 5 0 R >> >>",
                b"q /X Do Q",
            ),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def truncated_pdf() -> bytes:
    """The first half of a good invoice: no xref, no trailer."""
    data = invoice_pdf()
    return data[: len(data) // 2]


def junk_prefixed_pdf() -> bytes:
    """A good invoice with 300 bytes of junk before ``%PDF`` (some mailers do this)."""
    return b"\x00garbage from a broken mailer\r\n" * 10 + invoice_pdf()


def form_pdf(
    fields: dict[str, str], *, text: str = "Purchase Order", checked: tuple[str, ...] = ()
) -> bytes:
    """A fillable PDF form as a viewer saves it once filled in: the page's text is the form's
    printed words; each value lives in a text field (a widget annotation), not in the page;
    ``checked`` names check boxes that are ticked."""
    widgets = [(name, value, b"Tx") for name, value in fields.items()]
    widgets += [(name, "Yes", b"Btn") for name in checked]
    first_widget = 6
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [%s] /NeedAppearances true >> >>"
        % b" ".join(b"%d 0 R" % (first_widget + i) for i in range(len(widgets))),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> /Annots [%s] >>"
        % b" ".join(b"%d 0 R" % (first_widget + i) for i in range(len(widgets))),
        _stream(b"", b"BT /F1 14 Tf 72 740 Td (%s) Tj ET" % text.encode("latin-1")),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, (name, value, kind) in enumerate(widgets):
        top = 700 - 30 * i
        shown = b"/%s" % value.encode() if kind == b"Btn" else b"(%s)" % value.encode("latin-1")
        objects.append(
            b"<< /Type /Annot /Subtype /Widget /FT /%s /T (%s) /V %s /AS %s /Rect [200 %d 400 %d] "
            b"/P 3 0 R /F 4 >>"
            % (
                kind,
                name.encode("latin-1"),
                shown,
                shown if kind == b"Btn" else b"/N",
                top,
                top + 20,
            )
        )
    return assemble(objects)
