"""E-invoices: the purchase order reference of UBL and CII XML, as an attachment of its own or
embedded in a Factur-X/ZUGFeRD PDF."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from fpdf import FPDF

from extractors.einvoice import MAX_BYTES, extract_einvoice, is_e_invoice, references
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


def order_refs(data: bytes) -> tuple[list[str], list[str]]:
    order, buyer, _ = references(data)
    return order, buyer


def test_the_order_and_buyer_references_of_ubl_and_cii() -> None:
    assert references(UBL) == (["4500125333"], ["04011000-12345-67"], [])
    assert references(CII) == (["2023/125/ws"], ["Einkauf Süd"], [])
    assert order_refs(CII.decode().encode("utf-16")) == (["2023/125/ws"], ["Einkauf Süd"])
    assert is_e_invoice(UBL)
    assert is_e_invoice(CII)
    assert not is_e_invoice(b"<?xml version='1.0'?><catalog><item>4500125333</item></catalog>")


FINVOICE = """<?xml version="1.0" encoding="ISO-8859-15"?>
<Finvoice Version="3.0">
 <BuyerPartyDetails><BuyerOrganisationName>Ilmavirta Kiinteistöpalvelut Oy</BuyerOrganisationName>
 </BuyerPartyDetails>
 <InvoiceDetails>
  <InvoiceNumber>25001899</InvoiceNumber>
  <OrderIdentifier>IKP-25-01180</OrderIdentifier>
 </InvoiceDetails>
 <EpiDetails><EpiRemittanceInfoIdentifier>RF1825001899</EpiRemittanceInfoIdentifier></EpiDetails>
</Finvoice>
""".encode("iso-8859-15")


def test_a_finvoice_gives_its_order_identifier() -> None:
    """Finland's Finvoice names the buyer's order in InvoiceDetails/OrderIdentifier."""
    assert is_e_invoice(FINVOICE)
    assert references(FINVOICE) == (["IKP-25-01180"], [], [])


def test_other_ids_are_not_the_order_reference() -> None:
    """The invoice's own ID and a despatch advice's ID are no PO."""
    only_ids = UBL.replace(b"OrderReference", b"DespatchDocumentReference")
    assert order_refs(only_ids) == ([], ["04011000-12345-67"])


def test_cdata_and_entities_are_read() -> None:
    cdata = UBL.replace(b"<cbc:ID>4500125333</cbc:ID>", b"<cbc:ID><![CDATA[4500125333]]></cbc:ID>")
    assert order_refs(cdata)[0] == ["4500125333"]


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


@pytest.mark.parametrize(
    ("root", "words"),
    [
        ("CreditNote", "of the e-credit note"),
        ("DespatchAdvice", "of the despatch advice XML"),
        ("OrderResponse", "of the order response XML"),
        ("catalog", "of the XML file"),
    ],
)
def test_the_context_names_the_kind_of_document(root: str, words: str) -> None:
    xml = UBL.replace(b"<Invoice ", f"<{root} ".encode()).replace(
        b"</Invoice>", f"</{root}>".encode()
    )
    found, _ = extract_einvoice(xml, "x.xml", [SAP])
    assert [c.context for c in found] == [f"purchase order reference {words}: 4500125333"]


@pytest.mark.parametrize(
    ("value", "numbers"),
    [
        ("Best.-Nr. 4500716900 v. 28.10.24", ["4500716900"]),
        ("4500715301, 4500715744", ["4500715301", "4500715744"]),  # a consolidated invoice
        ("NA", []),
    ],
)
def test_numbers_inside_a_free_text_order_reference(value: str, numbers: list[str]) -> None:
    xml = UBL.replace(b"<cbc:ID>4500125333</cbc:ID>", f"<cbc:ID>{value}</cbc:ID>".encode())
    found, _ = extract_einvoice(xml, "x.xml", [SAP])
    assert [c.normalized for c in found if c.valid and c.labelled] == numbers


def test_the_buyer_reference_counts_only_with_a_well_formed_number() -> None:
    """BT-10 often holds a routing code (Leitweg-ID) or a name; many suppliers put the PO
    there too."""
    no_order = UBL.replace(b"OrderReference", b"DespatchDocumentReference")
    with_po = no_order.replace(b"04011000-12345-67", b"4500713305")
    found, _ = extract_einvoice(with_po, "x.xml", [SAP])
    assert [(c.normalized, c.valid, c.labelled) for c in found] == [("4500713305", True, True)]
    assert "buyer reference of the e-invoice" in found[0].context
    assert extract_einvoice(no_order, "x.xml", [SAP, WESTSIDE])[0] == []  # no malformed attempt


def test_a_cut_off_e_invoice_is_named_damaged() -> None:
    cut = UBL[: UBL.index(b"<cac:AccountingCustomerParty>")]
    found, problems = extract_einvoice(cut, "x.xml", [SAP])
    assert [c.normalized for c in found] == ["4500125333"]
    assert [(p.kind, p.blocking) for p in problems] == [(Unreadable.XML_DAMAGED, False)]
    before_po = UBL[: UBL.index(b"<cac:OrderReference>")]
    found, problems = extract_einvoice(before_po, "x.xml", [SAP])
    assert found == []
    assert [(p.kind, p.blocking) for p in problems] == [(Unreadable.XML_DAMAGED, True)]
    assert "cut off or damaged" in problems[0].describe()
    assert extract_einvoice(UBL, "x.xml", [SAP])[1] == []  # whole: no problem


def test_a_hostile_or_huge_xml_is_read_in_one_bounded_pass() -> None:
    # The PO near the top of a file larger than the limit (scans embedded as base64).
    huge = UBL.replace(b"</Invoice>", b"<x>" + b"A" * (MAX_BYTES + 10) + b"</x></Invoice>")
    found, problems = extract_einvoice(huge, "x.xml", [SAP])
    assert [c.normalized for c in found] == ["4500125333"]
    assert [(p.kind, p.blocking) for p in problems] == [(Unreadable.TOO_LARGE, False)]
    tail = b"<Invoice>" + b" " * (MAX_BYTES + 10) + b"<cac:OrderReference><cbc:ID>4500125333"
    found, problems = extract_einvoice(tail, "x.xml", [SAP])
    assert found == []
    assert [(p.kind, p.blocking) for p in problems] == [(Unreadable.TOO_LARGE, True)]
    # Openings without their closing tags, long runs of spaces and comments: nothing found.
    hostile = b"<ram:BuyerOrderReferencedDocument " * 100_000 + b"<!--" * 100_000
    assert order_refs(hostile) == ([], [])
    assert order_refs(b"<a:OrderReference>" + b" \n" * 1_000_000 + b"<a:ID>1") == ([], [])
    assert order_refs(b"\xff\xfe\x00garbage") == ([], [])


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
        ("2023-00125-WS", True, "embedded:RE-471102.pdf")
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
    assert order_refs(xml) == (["4500123456"], [])
    too_long = b"<a:OrderReference><a:ID>" + b"4" * 200 + b"</a:ID>"
    assert order_refs(too_long) == ([], [])


def test_a_factur_x_whose_print_and_xml_disagree_says_so() -> None:
    from inbox_watcher.model import PoRecord, PoTable, Status
    from inbox_watcher.triage import judge

    msg = EmailMessage()
    msg["From"] = "billing@supplier.example"
    msg["Subject"] = "Invoice 471102"
    msg.set_content("Invoice attached.\n")
    pdf = factur_x_pdf(UBL, text="Purchase Order: 4500117015")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="RE-471102.pdf")
    analysis = analyse(MessageTask(msg.as_bytes(), (SAP,), Limits()))
    pos = {"sap": PoTable({n: PoRecord(n, "sap") for n in ("4500117015", "4500125333")})}
    out = judge(analysis.extraction, pos, rules={"sap": SAP})  # type: ignore[union-attr]
    assert out.status is Status.AMBIGUOUS
    assert (
        "The parts disagree: the attachment RE-471102.pdf page 1 says PO 4500117015 but the "
        "e-invoice XML inside RE-471102.pdf says PO 4500125333." in out.reasons
    )


def test_a_too_large_xml_inside_a_pdf_is_named_not_read() -> None:
    from extractors.pdf import MAX_EMBEDDED_BYTES

    huge = UBL.replace(b"</Invoice>", b"<x>" + b"A" * MAX_EMBEDDED_BYTES + b"</x></Invoice>")
    result = extract_pdf(factur_x_pdf(huge), "RE-1.pdf", [SAP], PdfLimits())
    assert result.candidates == ()
    [note] = [p for p in result.problems if p.kind is Unreadable.NOTE]
    assert "the XML file factur-x.xml inside the PDF has" in note.describe()
    assert not note.blocking
