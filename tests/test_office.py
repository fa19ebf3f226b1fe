"""Excel and Word attachments: their text, how a PO in them is found, and hostile files."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from extractors.message import extract_email
from extractors.office import MAX_MEMBER_BYTES, MAX_SHEETS, OfficeError, office_kind, office_text
from inbox_watcher.mime import read_message
from tests.customers import ACME, WESTSIDE

MAIN = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def zipped(members: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(name, text)
    return out.getvalue()


def workbook(*sheets: str, shared: tuple[str, ...] = (), styles: str = "") -> bytes:
    members = {f"xl/worksheets/sheet{i}.xml": s for i, s in enumerate(sheets, 1)}
    if shared:
        items = "".join(f"<si>{s}</si>" for s in shared)
        members["xl/sharedStrings.xml"] = f"<sst {MAIN}>{items}</sst>"
    if styles:
        members["xl/styles.xml"] = styles
    return zipped({"[Content_Types].xml": "<Types/>", **members})


def sheet(*rows: str) -> str:
    body = "".join(f'<row r="{n}">{cells}</row>' for n, cells in enumerate(rows, 1))
    return f'<?xml version="1.0"?><worksheet {MAIN}><sheetData>{body}</sheetData></worksheet>'


STYLES = (
    f'<styleSheet {MAIN}><numFmts count="1"><numFmt numFmtId="164" formatCode="dd.mm.yyyy"/>'
    '</numFmts><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="4"/>'
    "</cellXfs></styleSheet>"
)


def test_a_workbook_as_rows_of_cells_with_dates_and_whole_numbers() -> None:
    """Shared strings (rich text runs, Japanese readings left out), inline strings, a date by
    its custom format, a large number without ".0", an amount; an empty cell keeps its column."""
    data = workbook(
        sheet(
            '<c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="D1" t="s"><v>2</v></c>',
            '<c r="A2"><v>4500123456</v></c><c r="B2" s="1"><v>45728</v></c>'
            '<c r="D2" s="2"><v>1234.5</v></c>',
            '<c r="A3" t="inlineStr"><is><t>Bestellung &amp; Lieferung</t></is></c>',
        ),
        shared=(
            "<r><t>PO </t></r><r><t>Number</t></r>",
            "<t>Date</t>",
            '<t>Amount</t><rPh sb="0" eb="1"><t>ガク</t></rPh>',
        ),
        styles=STYLES,
    )
    got = office_text("xlsx", data, max_chars=10_000)
    assert got.text == (
        "PO Number | Date |  | Amount\n4500123456 | 2025-03-12 |  | 1234.5\nBestellung & Lieferung"
    )
    assert got.notes == ()


def test_a_sheets_tab_name_is_read_before_its_rows() -> None:
    """A weekly sheet per PO, its PO only on the tab ("PO AF/LDS/2231"); default names
    ("Sheet2", "Tabelle1") say nothing and are left out."""
    data = zipped(
        {
            "xl/workbook.xml": f'<workbook {MAIN} xmlns:r="r"><sheets>'
            '<sheet name="Tabelle1" sheetId="1" r:id="rId1"/>'
            '<sheet name="PO AF/LDS/2231 &amp; notes" sheetId="2" r:id="rId2"/>'
            "</sheets></workbook>",
            "xl/_rels/workbook.xml.rels": '<Relationships><Relationship Id="rId1" '
            'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
            'Target="/xl/worksheets/sheet2.xml"/></Relationships>',
            "xl/worksheets/sheet1.xml": sheet(
                '<c r="A1" t="inlineStr"><is><t>week 12</t></is></c>'
            ),
            "xl/worksheets/sheet2.xml": sheet('<c r="A1" t="inlineStr"><is><t>Milk</t></is></c>'),
        }
    )
    assert office_text("xlsx", data, max_chars=1000).text == (
        "week 12\n\nPO AF/LDS/2231 & notes\nMilk"
    )


def test_cells_without_references_keep_their_order() -> None:
    bare = "<worksheet><sheetData><row><c t='inlineStr'><is><t>PO</t></is></c></row>"
    bare += "<row><c><v>4500871544</v></c><c><v>7</v></c></row></sheetData></worksheet>"
    assert office_text("xlsx", workbook(bare), max_chars=100).text == "PO\n4500871544 | 7"


def test_a_word_order_form_headers_first_and_table_rows_as_lines() -> None:
    def para(text: str) -> str:
        return f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'

    def cell(*texts: str) -> str:
        return "<w:tc>" + "".join(para(t) for t in texts) + "</w:tc>"

    table = (
        f"<w:tbl><w:tr>{cell('PO Number')}{cell('Date')}</w:tr>"
        f"<w:tr>{cell('2023-00125-WS', 'urgent')}{cell('12.03.2025')}</w:tr></w:tbl>"
    )
    data = zipped(
        {
            "word/document.xml": f'<w:document xmlns:w="w"><w:body>{para("Dear Sir,")}'
            f"{table}{para('Kind regards')}</w:body></w:document>",
            "word/header1.xml": f'<w:hdr xmlns:w="w">{para("PURCHASE ORDER")}</w:hdr>',
        }
    )
    assert office_text("docx", data, max_chars=10_000).text == (
        "PURCHASE ORDER\n\nDear Sir,\nPO Number | Date\n2023-00125-WS urgent | 12.03.2025\n"
        "Kind regards"
    )


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"PK\x03\x04 not really a zip", "damaged, or not the Excel or Word file its name says"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500, "password-protected or an old binary"),
        (zipped({"xl/workbook.xml": "<workbook/>"}), "it has no worksheet"),
    ],
)
def test_a_file_that_is_no_workbook_says_why(data: bytes, said: str) -> None:
    with pytest.raises(OfficeError, match=said):
        office_text("xlsx", data, max_chars=100)


def test_a_zip_bomb_is_read_up_to_the_cap_only() -> None:
    """A sheet that unpacks past the cap: its start is read (a PO in A1 is found), the rest is
    named, and no more than the cap is ever unpacked."""
    first = '<row r="1"><c r="A1" t="inlineStr"><is><t>PO 4500123456</t></is></c></row>'
    huge = f"<worksheet><sheetData>{first}" + " " * (MAX_MEMBER_BYTES + 10) + "</sheetData>"
    data = workbook(huge + "</worksheet>")
    assert len(data) < 100_000  # compresses to almost nothing
    got = office_text("xlsx", data, max_chars=100)
    assert got.text == "PO 4500123456"
    assert got.notes == ("only the first 20 MB of its part xl/worksheets/sheet1.xml were read",)


def test_too_many_sheets_and_too_much_text_are_named() -> None:
    many = [sheet(f'<c r="A1" t="inlineStr"><is><t>sheet {n}</t></is></c>') for n in range(25)]
    got = office_text("xlsx", workbook(*many), max_chars=60)
    assert got.notes == (
        f"only its first {MAX_SHEETS} of 25 sheets were read",
        "only its first 60 characters were read",
    )
    assert got.text.startswith("sheet 0\n\nsheet 1\n\n")


def test_kind_by_type_or_name() -> None:
    assert office_kind(XLSX, "attachment-1.bin") == "xlsx"
    assert office_kind("application/octet-stream", "Bestellung.XLSM") == "xlsx"
    assert office_kind("application/octet-stream", "PO.docx") == "docx"
    assert office_kind("application/vnd.ms-excel", "old.xls") == ""


def test_a_po_in_an_excel_order_form_is_found_under_its_column() -> None:
    """End to end from the raw mail: the workbook's "PO Number" column heads the value."""
    form = workbook(
        sheet(
            '<c r="A1" t="inlineStr"><is><t>Item</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t>Qty</t></is></c>'
            '<c r="C1" t="inlineStr"><is><t>PO Number</t></is></c>',
            '<c r="A2" t="inlineStr"><is><t>Torque wrench</t></is></c><c r="B2"><v>4</v></c>'
            '<c r="C2" t="inlineStr"><is><t>2023-00125-WS</t></is></c>',
        )
    )
    msg = EmailMessage()
    msg["From"] = "buyer@westside-tools.example"
    msg["To"] = "orders@example.com"
    msg["Subject"] = "Order"
    msg.set_content("Order attached.")
    maintype, subtype = XLSX.split("/")
    msg.add_attachment(form, maintype=maintype, subtype=subtype, filename="Order form.xlsx")
    email = read_message(msg.as_bytes())
    [attachment] = email.attachments
    assert "PO Number\nTorque wrench | 4 | 2023-00125-WS" in attachment.text
    extraction = extract_email(email, [WESTSIDE, ACME])
    assert extraction.not_read == ()
    assert extraction.text_count == 1
    [found] = [c for c in extraction.candidates if c.valid]
    assert (found.normalized, found.source, found.labelled) == (
        "2023-00125-WS",
        "attachment:Order form.xlsx",
        True,
    )


def test_a_damaged_workbook_stays_unread_and_named() -> None:
    msg = EmailMessage()
    msg["From"] = "buyer@westside-tools.example"
    msg["Subject"] = "Order"
    msg.set_content("Order attached.")
    msg.add_attachment(b"garbage", maintype="application", subtype="octet-stream",
                       filename="order.xlsx")  # fmt: skip
    email = read_message(msg.as_bytes())
    assert extract_email(email, [WESTSIDE]).not_read == ("order.xlsx",)
    assert any("order.xlsx could not be read: it is damaged" in n for n in email.notes)
