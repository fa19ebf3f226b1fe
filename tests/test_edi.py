"""EDI attachments: the PO references of X12 (850, 855, 856, 810) and EDIFACT (ORDERS, INVOIC)
interchanges, read by each customer's rules as labelled values."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from extractors.edi import MAX_BYTES, extract_edi, is_edi, references
from extractors.types import Unreadable
from inbox_watcher.mime import read_message
from inbox_watcher.pipeline import Analysis, Limits, MessageTask, analyse
from tests.customers import compiled

SAP = compiled("sap", name="SAP", senders=["*"], pattern=r"(?<!\d)45\d{8}(?!\d)")

ISA = (
    "ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *241105*1200*U*00401"
    "*000000001*0*P*>~"
)


def x12(*segments: str) -> bytes:
    body = "~".join(("GS*PO*BUYER*SELLER*20241105*1200*1*X*004010", "ST*850*0001", *segments))
    return (ISA + body + "~SE*9*0001~GE*1*1~IEA*1*000000001~").encode("ascii")


@pytest.mark.parametrize(
    ("segment", "field"),
    [
        ("BEG*00*SA*4500123456**20241105", "EDI order (X12 850)"),
        ("BAK*00*AD*4500123456*20241105", "EDI order acknowledgment (X12 855)"),
        ("PRF*4500123456", "EDI ship notice (X12 856)"),
        ("BIG*20241107*INV-88120*20241105*4500123456", "EDI invoice (X12 810)"),
        ("REF*PO*4500123456", "X12 REF*PO"),
        ("BCH*04*SA*4500123456**1*20241105", "EDI order change (X12 860)"),
        ("BCA*04*AT*4500123456**1*20241105", "order change acknowledgment (X12 865)"),
        ("BCD*20241105*DM-7781*D*125.00*D*****4500123456", "adjustment (X12 812)"),
        ("RMR*PO*4500123456**1250.00", "EDI remittance (X12 820 RMR*PO)"),
    ],
)
def test_the_po_of_x12_documents(segment: str, field: str) -> None:
    data = x12(segment, "PO1*1*10*EA*9.25**VP*ABC-1", "REF*DP*038")
    assert is_edi(data)
    ((said, value),), problems = references(data)
    assert (field in said, value, problems) == (True, "4500123456", [])


def test_the_order_number_of_edifact_with_its_own_separators() -> None:
    """UNA declares the separators; "?" releases a separator inside a value."""
    data = (
        b"UNA:+.? 'UNB+UNOC:3+BUYER+SELLER+241105:1200+1'UNH+1+ORDERS:D:96A:UN'"
        b"BGM+220+4500123456+9'DTM+137:20241105:102'RFF+CT:K?+2024'UNT+5+1'UNZ+1+1'"
    )
    assert is_edi(data)
    refs, _ = references(data)
    assert [value for _, value in refs] == ["4500123456"]
    invoice = data.replace(b"BGM+220+4500123456", b"BGM+380+RE-88120").replace(
        b"RFF+CT:K?+2024", b"RFF+ON:4500654321"
    )
    assert [value for _, value in references(invoice)[0]] == ["4500654321"]


def test_the_reference_is_judged_by_the_customers_rules_as_labelled() -> None:
    found, problems = extract_edi(x12("BEG*00*SA*4500123456**20241105"), "ORDERS.edi", [SAP])
    assert problems == []
    assert [(c.normalized, c.valid, c.labelled, c.source) for c in found] == [
        ("4500123456", True, True, "attachment:ORDERS.edi")
    ]
    typo, _ = extract_edi(x12("BEG*00*SA*45OO123456**20241105"), "ORDERS.edi", [SAP])
    assert [(c.valid, c.labelled) for c in typo] == [(False, True)]


@pytest.mark.parametrize(
    "data",
    [
        b"ISA",
        b"ISAAC Newton",
        b"ISA: the audit is due",  # a separator after "ISA", but no ISA01 field after it
        b"UNIT PRICE 12",
        b"%PDF-1.4",
        b"Invoice,PO\n1,2\n",
    ],
)
def test_other_files_are_no_edi(data: bytes) -> None:
    assert not is_edi(data)


def test_a_huge_interchange_is_read_up_to_its_bound() -> None:
    data = x12("BEG*00*SA*4500123456**20241105", *["PO1*1*10*EA*9.25"] * 400_000)
    assert len(data) > MAX_BYTES
    found, problems = extract_edi(data, "big.edi", [SAP])
    assert [c.normalized for c in found] == ["4500123456"]
    assert [(p.kind, p.blocking) for p in problems] == [(Unreadable.TOO_LARGE, False)]


def test_an_edi_attachment_links_through_the_worker_pipeline() -> None:
    msg = EmailMessage()
    msg["From"] = "edi@buyer.example"
    msg["Subject"] = "EDI 850"
    msg.set_content("Automated message.\n")
    msg.add_attachment(
        x12("BEG*00*SA*4500123456**20241105"),
        maintype="application",
        subtype="octet-stream",
        filename="ORDERS_20241105.dat",
    )
    (att,) = read_message(msg.as_bytes()).attachments
    assert att.is_edi
    analysis = analyse(MessageTask(msg.as_bytes(), (SAP,), Limits()))
    assert isinstance(analysis, Analysis)
    assert [(c.normalized, c.labelled) for c in analysis.extraction.candidates] == [
        ("4500123456", True)
    ]
    assert analysis.extraction.not_read == ()


@pytest.mark.parametrize(
    ("subtype", "filename"), [("plain", "order.txt"), ("plain", "ORDERS.TXT"), ("csv", "po.csv")]
)
def test_edi_named_or_typed_as_text_is_read_as_edi(subtype: str, filename: str) -> None:
    """Told by its content, whatever its name: an interchange saved as "order.txt"."""
    msg = EmailMessage()
    msg["From"] = "edi@buyer.example"
    msg["Subject"] = "EDI"
    msg.set_content("Automated message.\n")
    data = x12("BEG*00*SA*4500123456**20241105")
    msg.add_attachment(data, maintype="text", subtype=subtype, filename=filename)
    (att,) = read_message(msg.as_bytes()).attachments
    assert (att.is_edi, att.text, att.data) == (True, "", data)
    analysis = analyse(MessageTask(msg.as_bytes(), (SAP,), Limits()))
    assert isinstance(analysis, Analysis)
    assert [(c.normalized, c.labelled) for c in analysis.extraction.candidates] == [
        ("4500123456", True)
    ]
