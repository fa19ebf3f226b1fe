"""winmail.dat: Outlook's TNEF part, whose files and body are read as if sent on their own."""

from __future__ import annotations

import contextlib
import struct
import time
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors.types import Email
from inbox_watcher.mime import read_message
from inbox_watcher.pipeline import Analysis, Limits, MessageTask, analyse
from inbox_watcher.tnef import MAX_OBJECTS, TnefError, read_tnef
from tests.customers import compiled
from tests.pdfgen import invoice_pdf
from tests.tnefgen import ATT_BODY, SIGNATURE, tnef_object, winmail

SAP = compiled("sap", name="SAP", senders=["*"], pattern=r"(?<!\d)45\d{8}(?!\d)")


def outlook_mail(tnef: bytes, *, body: str | None = "Please find the invoice attached.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Accounts <accounts@supplier.example>"
    msg["Subject"] = "Invoice RE-2024-0815"
    if body is not None:
        msg.set_content(body)
    msg.add_attachment(tnef, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return msg.as_bytes()


def read(raw: bytes) -> Email:
    return read_message(raw)


def test_a_pdf_inside_winmail_dat_is_read() -> None:
    pdf = invoice_pdf(po="4500125333", label="Your order no.")
    raw = outlook_mail(winmail([("INVOICE.PDF", pdf), ("LOGO.PNG", b"\x89PNG\r\n")]))
    mail = read(raw)
    assert [(a.filename, a.is_pdf) for a in mail.attachments] == [
        ("INVOICE.PDF", True),
        ("LOGO.PNG", False),
    ]
    assert mail.unread == ()
    analysis = analyse(MessageTask(raw, (SAP,), Limits()))
    assert isinstance(analysis, Analysis)
    assert analysis.extraction is not None
    found = [(c.normalized, c.source) for c in analysis.extraction.candidates if c.valid]
    assert found == [("4500125333", "attachment:INVOICE.PDF")]
    assert analysis.extraction.not_read == ("LOGO.PNG",)


def found_in(raw: bytes) -> list[tuple[str, str]]:
    analysis = analyse(MessageTask(raw, (SAP,), Limits()))
    assert isinstance(analysis, Analysis)
    assert analysis.extraction is not None
    return [(c.normalized, c.source) for c in analysis.extraction.candidates if c.valid]


ICS = (
    b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Delivery slot PO 45001\r\n 25333\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
X12 = (
    b"ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *241105*1200*U*00401"
    b"*000000001*0*P*>~GS*PO*BUYER*SELLER*20241105*1200*1*X*004010~ST*850*0001~"
    b"BEG*00*SA*4500125333**20241105~SE*3*0001~GE*1*1~IEA*1*000000001~"
)


@pytest.mark.parametrize(
    ("name", "data", "source"),
    [
        ("ORDER.TXT", b"Purchase order 4500125333\r\n10 x bearings", "attachment:ORDER.TXT"),
        ("ORDER.CSV", b"PO Number;Qty\r\n4500125333;10\r\n", "attachment:ORDER.CSV"),
        ("SLOT.ICS", ICS, "attachment:SLOT.ICS"),
        ("ORDERS.EDI", X12, "attachment:ORDERS.EDI"),
        ("ORDERS.TXT", X12, "attachment:ORDERS.TXT"),  # EDI by its content
    ],
)
def test_files_inside_winmail_dat_are_read_as_the_same_files_sent_as_parts(
    name: str, data: bytes, source: str
) -> None:
    raw = outlook_mail(winmail([(name, data)]))
    assert read(raw).unread == ()
    assert found_in(raw) == [("4500125333", source)]


def test_a_winmail_dat_inside_a_winmail_dat_is_read() -> None:
    inner = winmail([("INVOICE.PDF", invoice_pdf(po="4500125333", label="Your order no."))])
    raw = outlook_mail(winmail([("WINMAIL.DAT", inner)]))
    assert found_in(raw) == [("4500125333", "attachment:INVOICE.PDF")]
    deep = inner
    for _ in range(4):
        deep = winmail([("WINMAIL.DAT", deep)])
    mail = read(outlook_mail(deep))
    assert mail.attachments == ()
    assert any("nested more than 3 deep; not read" in u for u in mail.unread)


def test_the_body_inside_winmail_dat_counts_when_the_mail_has_none() -> None:
    tnef = winmail([], body="Please deliver against PO 4500125333.")
    assert "PO 4500125333" in read(outlook_mail(tnef, body=None)).text_body
    # Beside a body of its own, the TNEF body (Outlook's copy of it) is not read twice.
    assert read(outlook_mail(tnef, body="See below.\n")).text_body.strip() == "See below."


def test_a_damaged_winmail_dat_is_named_and_kept_as_not_read() -> None:
    many = struct.pack("<IH", SIGNATURE, 1) + tnef_object(1, ATT_BODY, b"") * (2 * MAX_OBJECTS)
    started = time.perf_counter()
    mail = read(outlook_mail(many))
    assert time.perf_counter() - started < 5  # refused from its framing, not parsed
    assert [a.filename for a in mail.attachments] == ["winmail.dat"]
    assert any(
        "winmail.dat could not be read" in u and f"more than {MAX_OBJECTS} objects" in u
        for u in mail.unread
    )


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x78\x9f\x3e\x22\x00", "it is cut off"),
        (winmail([("INVOICE.PDF", b"%PDF-1.4 " * 50)])[:200], "it is cut off"),
        (winmail([])[:-1], "it is cut off"),
        (b"not a TNEF file at all", "it is not a TNEF file (its signature is missing)"),
    ],
)
def test_a_cut_off_or_foreign_file_is_refused_in_plain_words(data: bytes, why: str) -> None:
    with pytest.raises(TnefError) as refused:
        read_tnef(data)
    assert str(refused.value) == why


def test_a_winmail_dat_that_is_no_tnef_is_an_ordinary_attachment() -> None:
    mail = read(outlook_mail(b"PK\x03\x04 a zip file named winmail.dat"))
    assert [(a.filename, a.is_pdf) for a in mail.attachments] == [("winmail.dat", False)]
    assert mail.unread == ()


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=400))
@settings(max_examples=300, deadline=None)
def test_damaged_tnef_never_raises_anything_else(noise: bytes, cut: int) -> None:
    """Random bytes after the signature, or a real file with noise spliced in: a result or a
    TnefError, nothing else."""
    real = winmail([("INVOICE.PDF", b"%PDF-1.4 " * 30)], body="PO 4500125333")
    for data in (real[:6] + noise, real[:cut] + noise + real[cut:]):
        with contextlib.suppress(TnefError):
            read_tnef(data)
