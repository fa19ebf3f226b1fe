"""E-invoices: the purchase order reference of UBL and CII XML, as an attachment of its own or
embedded in a Factur-X/ZUGFeRD PDF."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from fpdf import FPDF

from extractors.einvoice import MAX_BYTES, extract_einvoice, is_e_invoice, order_references
from extractors.message import extract_email
from extractors.pdf_extract import PdfLimits, extract_pdf
from extractors.types import Unreadable
from inbox_watcher.mime import read_message
from inbox_watcher.pipeline import Limits, MessageTask, analyse
from tests.customers import ACME, WESTSIDE, compiled

SAP = compiled("sap", name="SAP", senders=["*"], pattern=r"(?<!\d)45\d{8}(?!\d)")

UBL = b"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>RE-2024-0815</cbc:ID>
  <cbc:BuyerReference>04011000-12345-67</cbc:BuyerReference>
  <cac:OrderReference>
    <cbc:ID>4500125333</cbc:ID>
  </cac:OrderReference>
  <cac:AccountingCustomerParty><cac:Party>
    <cbc:EndpointID schemeID="EM">ap@buyer.example</cbc:EndpointID>
  </cac:Party></cac:AccountingCustomerParty>
</Invoice>
"""

CII = """<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
  xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100">
  <rsm:ExchangedDocument><ram:ID>471102</ram:ID></rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction><ram:ApplicableHeaderTradeAgreement>
    <ram:BuyerReference>Einkauf Süd</ram:BuyerReference>
    <ram:BuyerOrderReferencedDocument>
      <!-- the buyer's purchase order -->
      <ram:IssuerAssignedID>2023&#47;125&#x2F;ws</ram:IssuerAssignedID>
    </ram:BuyerOrderReferencedDocument>
  </ram:ApplicableHeaderTradeAgreement></rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def test_the_order_reference_of_ubl_and_cii() -> None:
    assert order_references(UBL) == (["4500125333"], [])
    assert order_references(CII) == (["2023/125/ws"], [])
    assert order_references(CII.decode().encode("utf-16")) == (["2023/125/ws"], [])
    assert is_e_invoice(UBL)
    assert is_e_invoice(CII)
    assert not is_e_invoice(b"<?xml version='1.0'?><catalog><item>4500125333</item></catalog>")


def test_other_ids_are_not_the_order_reference() -> None:
    """The invoice's own ID, the buyer reference (a routing code) and a line's ID are no PO."""
    only_ids = UBL.replace(b"OrderReference", b"DespatchDocumentReference")
    assert order_references(only_ids) == ([], [])


def test_the_reference_is_judged_by_each_customers_rules_as_labelled() -> None:
    found, problems = extract_einvoice(UBL, "XR-871.xml", [SAP, ACME])
    assert problems == []
    assert [(c.normalized, c.valid, c.labelled, c.customer, c.source) for c in found] == [
        ("4500125333", True, True, "sap", "attachment:XR-871.xml"),
        ("4500125333", False, True, "acme", "attachment:XR-871.xml"),  # not Acme's form
    ]
    assert "purchase order reference of the e-invoice: 4500125333" in found[0].context
    typo = CII.replace(b"2023&#47;125&#x2F;ws", b"2023-0O125-WS")
    bad, _ = extract_einvoice(typo, "x.xml", [WESTSIDE])
    assert [(c.raw, c.valid, c.labelled) for c in bad] == [("2023-0O125-WS", False, True)]


def test_a_too_large_or_hostile_xml_is_answered_not_read() -> None:
    _, problems = order_references(b" " * (MAX_BYTES + 1))
    assert [p.kind for p in problems] == [Unreadable.TOO_LARGE]
    # Openings without their closing tags: one bounded pass, nothing found.
    hostile = b"<ram:BuyerOrderReferencedDocument " * 100_000 + b"<!--" * 100_000
    assert order_references(hostile) == ([], [])
    assert order_references(b"\xff\xfe\x00garbage") == ([], [])


def mail_with(attachment: bytes, filename: str, ctype: str = "application/xml") -> bytes:
    msg = EmailMessage()
    msg["From"] = "erechnung@supplier.example"
    msg["To"] = "ap@buyer.example"
    msg["Subject"] = "XRechnung XR-2024-000871"
    msg.set_content("Please find our e-invoice attached.\n")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("filename", "ctype"),
    [
        ("XR-2024-000871.xml", "application/xml"),
        ("invoice", "text/xml"),
        ("XR-2024-000871.xml", "application/octet-stream"),
    ],
)
def test_an_xml_attachment_is_read_for_its_order_reference(filename: str, ctype: str) -> None:
    email = read_message(mail_with(UBL, filename, ctype))
    [att] = email.attachments
    assert att.is_xml
    assert att.data == UBL
    ex = extract_email(email, [SAP])
    assert [(c.normalized, c.labelled) for c in ex.candidates] == [("4500125333", True)]


def test_an_xml_attachment_of_another_kind_is_read_but_gives_nothing() -> None:
    email = read_message(mail_with(b"<catalog><item>4500125333</item></catalog>", "cat.xml"))
    assert extract_email(email, [SAP]).candidates == ()


def factur_x_pdf(xml: bytes, text: str = "Invoice 2024-0815") -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 10, text)
    pdf.embed_file(bytes=xml, basename="factur-x.xml", mime_type="text/xml")
    return bytes(pdf.output())


def test_the_xml_inside_a_factur_x_pdf_is_read() -> None:
    """Factur-X/ZUGFeRD: the PDF shows the invoice, the embedded XML carries the PO."""
    result = extract_pdf(factur_x_pdf(CII), "RE-471102.pdf", [WESTSIDE], PdfLimits())
    assert [(c.normalized, c.labelled, c.source) for c in result.candidates] == [
        ("2023-00125-WS", True, "attachment:RE-471102.pdf")
    ]


def test_a_factur_x_mail_links_through_the_worker_pipeline() -> None:
    msg = EmailMessage()
    msg["From"] = "billing@supplier.example"
    msg["Subject"] = "Invoice 471102"
    msg.set_content("Invoice attached.\n")
    msg.add_attachment(
        factur_x_pdf(UBL), maintype="application", subtype="pdf", filename="RE-471102.pdf"
    )
    analysis = analyse(MessageTask(msg.as_bytes(), (SAP,), Limits()))
    cands = analysis.extraction.candidates  # type: ignore[union-attr]
    assert [(c.normalized, c.labelled) for c in cands] == [("4500125333", True)]


def test_deep_indentation_comments_and_spaces_around_the_value() -> None:
    """Pretty-printed CII nests the field deep: long indentation and a comment between the
    tags, the value on a line of its own."""
    xml = (
        "<rsm:CrossIndustryInvoice>\n"
        + " " * 48
        + "<ram:BuyerOrderReferencedDocument>\n"
        + " " * 52
        + "<!-- BT-13 -->\n"
        + " " * 52
        + "<ram:IssuerAssignedID>\n"
        + " " * 56
        + "4500123456\n"
        + " " * 52
        + "</ram:IssuerAssignedID>\n"
    ).encode()
    assert order_references(xml) == (["4500123456"], [])
    too_long = b"<a:OrderReference><a:ID>" + b"4" * 200 + b"</a:ID>"
    assert order_references(too_long) == ([], [])
