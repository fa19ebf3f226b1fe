"""Independent tests of `extractors.message`: routing by sender, routing by pattern, every source
scanned (subject, bodies, forwarded parts, PDFs through the reader the caller passes)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from extractors.message import Extraction, PdfOutcome, extract_email, route
from extractors.rules import CustomerRules
from extractors.text import scan_text
from extractors.types import Attachment, Candidate, Email, Problem, TextPart, Unreadable
from tests.customers import ACME, NORDWIND, WESTSIDE, compiled

CUSTOMERS = (WESTSIDE, ACME, NORDWIND)


def mail(
    sender: str = "bob@westside-tools.example",
    *,
    subject: str = "",
    body: str = "",
    html: str = "",
    forwarded: Sequence[TextPart] = (),
    attachments: Sequence[Attachment] = (),
) -> Email:
    return Email(
        message_id="<m1@test.example>",
        sender=sender,
        sender_name="",
        subject=subject,
        date=None,
        in_reply_to=None,
        references=(),
        text_body=body,
        html_text=html,
        forwarded=tuple(forwarded),
        attachments=tuple(attachments),
        defects=(),
    )


def pdf(name: str, text: str = "") -> Attachment:
    return Attachment(name, "application/pdf", b"%PDF-1.4\n" + text.encode(), is_pdf=True)


def text_pdf_reader(att: Attachment, pool: Sequence[CustomerRules]) -> PdfOutcome:
    """A real (if simple) reader: the 'PDF' bytes after the header are its one page of text."""
    text = att.data.split(b"\n", 1)[1].decode()
    cands: list[Candidate] = []
    for rules in pool:
        found, _ = scan_text(text, rules, f"attachment:{att.filename}", page=1)
        cands.extend(found)
    return PdfOutcome(tuple(cands), (), page_count=1)


def numbers(ex: Extraction) -> set[tuple[str, str, bool]]:
    return {(c.normalized, c.source, c.quoted) for c in ex.candidates if c.valid}


# --- routing by sender ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        pytest.param("bob@westside-tools.example", ["westside"], id="domain-glob"),
        pytest.param("BOB@WESTSIDE-TOOLS.EXAMPLE", ["westside"], id="upper-case"),
        pytest.param("Purchasing@WS-Group.example", ["westside"], id="exact-address-mixed-case"),
        pytest.param("anna@eu.acme-corp.example", ["acme"], id="subdomain-glob"),
        pytest.param("einkauf@nordwind.example", ["nordwind"], id="exact-address"),
        pytest.param("verkauf@nordwind.example", [], id="same-domain-other-address"),
        pytest.param("bob@westside-tools.example.attacker.example", [], id="suffix-attack"),
        pytest.param("", [], id="no-sender"),
    ],
)
def test_route(sender: str, expected: list[str]) -> None:
    assert [c.id for c in route(sender, CUSTOMERS)] == expected


def test_sender_routed_message_uses_only_that_customer() -> None:
    ex = extract_email(mail(body="PO 2023-00125-WS, Acme ref 123456"), CUSTOMERS)
    assert (ex.customer, ex.routed_by) == ("westside", "sender")
    assert all(c.customer == "westside" for c in ex.candidates)
    assert numbers(ex) == {("2023-00125-WS", "body", False)}


def test_sender_routed_message_without_po_keeps_customer() -> None:
    ex = extract_email(mail(body="Hello, how are you?"), CUSTOMERS)
    assert (ex.customer, ex.routed_by, ex.candidates) == ("westside", "sender", ())


def test_overlapping_globs_pick_the_customer_whose_pattern_matched() -> None:
    other = compiled(
        "westside-north",
        name="Westside North",
        senders=["*@westside-tools.example"],
        pattern=r"(?<![\w-])WN-(?P<n>\d{5})(?![\w-])",
        format="WN-{n}",
        valid=r"WN-\d{5}",
    )
    ex = extract_email(mail(body="Order WN-12345 please"), (WESTSIDE, other))
    assert (ex.customer, ex.routed_by) == ("westside-north", "sender")
    assert numbers(ex) == {("WN-12345", "body", False)}


def test_customers_sharing_a_glob_each_keep_their_numbers_whatever_the_labels() -> None:
    """Two plants of one company on senders "*" (an AP mailbox): a labelled number of one plant
    does not drop the other plant's unlabelled number; the PO records settle it in triage."""
    sap = compiled("plant-sap", name="Plant SAP", senders=["*"], pattern=r"(?<!\d)45\d{8}(?!\d)")
    own = compiled(
        "plant-own",
        name="Plant own",
        senders=["*"],
        pattern=r"(?<![\w-])PO-(?P<y>20\d{2})-(?P<n>\d{5})(?![\w-])",
        format="PO-{y}-{n}",
    )
    body = "Open items:\n4500123457 due 2,670.00\nYour PO: PO-2024-00123 due 3,450.00\n"
    ex = extract_email(mail("ar@supplier.example", body=body), (sap, own))
    assert (ex.customer, ex.routed_by) == (None, "sender")
    assert {(c.customer, c.normalized) for c in ex.candidates if c.valid} == {
        ("plant-sap", "4500123457"),
        ("plant-own", "PO-2024-00123"),
    }


# --- routing by pattern (sender matches nobody) -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "customer", "number"),
    [
        pytest.param("PO 2023-00125-WS", "westside", "2023-00125-WS", id="westside"),
        pytest.param("please ship 2023/125/ws", "westside", "2023-00125-WS", id="unlabelled"),
        pytest.param("Purchase Order: 654321", "acme", "ACME-654321", id="acme"),
        pytest.param("Bestellnummer: BN-2024-0815", "nordwind", "BN-2024-0815", id="nordwind"),
        pytest.param(
            "PO 2023-00125-WS, call 0161 496 0000 or ship 123456",
            "westside",
            "2023-00125-WS",
            id="labelled-one-wins-over-stray-digits",
        ),
    ],
)
def test_unknown_sender_tried_against_every_pattern(body: str, customer: str, number: str) -> None:
    ex = extract_email(mail("stranger@freemail.example", body=body), CUSTOMERS)
    assert (ex.customer, ex.routed_by) == (customer, "pattern")
    assert numbers(ex) == {(number, "body", False)}
    assert all(c.customer == customer for c in ex.candidates)


def test_a_label_does_not_drop_another_customers_number_with_letters() -> None:
    """An internal run sheet from an unlisted address: "PO 654321" (Acme, labelled) and
    "2023/125/ws" (Westside, no label but letters): the PO records decide, not the label."""
    ex = extract_email(mail("dispatch@us.example", body="PO 654321\n2023/125/ws\n"), CUSTOMERS)
    assert ex.customer is None
    assert {(c.customer, c.normalized) for c in ex.candidates if c.valid} == {
        ("acme", "ACME-654321"),
        ("westside", "2023-00125-WS"),
    }


def test_unknown_sender_without_any_po() -> None:
    ex = extract_email(mail("stranger@freemail.example", body="Lunch on Friday?"), CUSTOMERS)
    assert (ex.customer, ex.routed_by, ex.candidates) == (None, "none", ())


def test_unknown_sender_with_malformed_po_stays_open_and_is_listed_once() -> None:
    from extractors.message import one_per_raw
    from inbox_watcher.triage import judge

    ex = extract_email(mail("stranger@freemail.example", body="PO: 2O23-00125-WS"), CUSTOMERS)
    assert ex.customer is None
    assert ex.routed_by == "none"
    # Every customer has the label "PO": each reading is kept for the records to settle...
    assert {c.customer for c in ex.candidates} == {"westside", "acme", "nordwind"}
    # ...and the same text is listed once, not once per customer, when they settle nothing.
    assert [(c.raw, c.valid) for c in one_per_raw(ex.candidates)] == [("2O23-00125-WS", False)]
    judged = judge(ex, {})
    assert [(j.candidate.raw, j.candidate.valid) for j in judged.candidates] == [
        ("2O23-00125-WS", False)
    ]


def test_unknown_sender_matching_two_customers_stays_open() -> None:
    body = "Purchase Order 2023-00125-WS and Purchase Order 654321"
    ex = extract_email(mail("stranger@freemail.example", body=body), CUSTOMERS)
    assert ex.customer is None
    assert {(c.normalized, c.customer) for c in ex.candidates if c.valid} == {
        ("2023-00125-WS", "westside"),
        ("ACME-654321", "acme"),
    }


# --- every source ---------------------------------------------------------------------------


def test_subject_body_and_html_are_all_searched() -> None:
    ex = extract_email(
        mail(subject="PO 2023-00125-WS", body="see PO 2023-00126-WS", html="PO 2023-00127-WS"),
        CUSTOMERS,
    )
    assert numbers(ex) == {
        ("2023-00125-WS", "subject", False),
        ("2023-00126-WS", "body", False),
        ("2023-00127-WS", "body", False),
    }


def test_plain_and_html_copies_of_one_number_are_one_candidate() -> None:
    ex = extract_email(mail(body="PO 2023-00125-WS", html="PO 2023-00125-WS"), CUSTOMERS)
    assert len(ex.candidates) == 1


def test_forwarded_part_is_searched_and_quoted() -> None:
    fwd = TextPart("Purchase Order: 2023-00125-WS", quoted=True, origin="forwarded")
    ex = extract_email(mail(body="See the forwarded order.", forwarded=[fwd]), CUSTOMERS)
    assert numbers(ex) == {("2023-00125-WS", "body", True)}


def test_quoted_reply_in_body_is_searched_and_quoted() -> None:
    body = "Thanks!\n\nOn Mon, 4 Dec 2023, Bob wrote:\n> PO 2023-00125-WS"
    ex = extract_email(mail(body=body), CUSTOMERS)
    assert numbers(ex) == {("2023-00125-WS", "body", True)}


def test_pdfs_go_through_the_reader_with_the_routed_pool() -> None:
    seen_pools: list[list[str]] = []

    def reader(att: Attachment, pool: Sequence[CustomerRules]) -> PdfOutcome:
        seen_pools.append([r.id for r in pool])
        return text_pdf_reader(att, pool)

    email = mail(
        subject="Order",
        attachments=[
            pdf("order.pdf", "Purchase Order 2023-00125-WS"),
            Attachment("notes.txt", "text/plain", b"PO 2023-00999-WS", is_pdf=False),
        ],
    )
    ex = extract_email(email, CUSTOMERS, read_pdf=reader)
    assert seen_pools == [["westside"]]
    assert ex.pdf_count == 1
    assert numbers(ex) == {("2023-00125-WS", "attachment:order.pdf", False)}


def test_without_a_reader_pdfs_are_not_read() -> None:
    email = mail(attachments=[pdf("order.pdf", "Purchase Order 2023-00125-WS")])
    ex = extract_email(email, CUSTOMERS)
    assert (ex.pdf_count, ex.candidates) == (0, ())


def test_reader_problems_are_kept() -> None:
    def broken(att: Attachment, pool: Sequence[CustomerRules]) -> PdfOutcome:
        return PdfOutcome((), (Problem(f"attachment:{att.filename}", Unreadable.ENCRYPTED),))

    email = mail(body="See attached.", attachments=[pdf("locked.pdf")])
    ex = extract_email(email, CUSTOMERS, read_pdf=broken)
    assert ex.candidates == ()
    assert [(p.source, p.kind) for p in ex.problems] == [
        ("attachment:locked.pdf", Unreadable.ENCRYPTED)
    ]


def test_pdf_from_unknown_sender_routes_by_pattern() -> None:
    email = mail(
        "stranger@freemail.example",
        attachments=[pdf("bestellung.pdf", "Bestellnummer: BN-2024-0815")],
    )
    ex = extract_email(email, CUSTOMERS, read_pdf=text_pdf_reader)
    assert (ex.customer, ex.routed_by) == ("nordwind", "pattern")
    assert numbers(ex) == {("BN-2024-0815", "attachment:bestellung.pdf", False)}


def test_pattern_timeout_is_a_problem_of_the_message() -> None:
    evil = compiled(
        "evil",
        name="Evil",
        senders=["*@evil.example"],
        pattern=r"(?P<num>(?:\d|\d\d)+)$",
        format="E-{num}",
        valid=r"E-\d+",
    )
    email = mail("x@evil.example", subject="1" * 50 + "!", body="PO 2023-00125-WS")
    ex = extract_email(email, (evil, WESTSIDE), timeout=0.2)
    assert ex.customer == "evil"
    assert [(p.source, p.kind) for p in ex.problems] == [("subject", Unreadable.PATTERN_TIMEOUT)]


def test_pdf_inside_a_forwarded_message_is_quoted() -> None:
    old = Attachment(
        "old-order.pdf",
        "application/pdf",
        b"%PDF-1.4\nPurchase Order 2023-00125-WS",
        is_pdf=True,
        forwarded=True,
    )
    email = mail(body="New order: PO 2023-00126-WS", attachments=[old])
    ex = extract_email(email, CUSTOMERS, read_pdf=text_pdf_reader)
    assert numbers(ex) == {
        ("2023-00126-WS", "body", False),
        ("2023-00125-WS", "attachment:old-order.pdf", True),
    }


@pytest.mark.parametrize(
    "prefix",
    [
        "Re: ",
        "AW: ",
        "Antwort: ",
        "RE[2]: ",
        "Fwd: ",
        "WG: AW: ",
        "\u8f6c\u53d1\uff1a",
        "\u8fd4\u4fe1: ",
    ],
)
def test_a_reply_subject_counts_like_quoted_text(prefix: str) -> None:
    """The subject of a reply repeats the thread's: a new PO in the reply's own body is the
    message's PO, not a disagreement with the old one; alone, the subject's PO still counts."""
    from inbox_watcher.model import PoRecord, PoTable, Status
    from inbox_watcher.triage import judge

    table = PoTable()
    for number in ("2023-00125-WS", "2023-00126-WS"):
        table[number] = PoRecord(number, "westside")
    pos = {"westside": table}
    subject = f"{prefix}PO 2023-00125-WS"
    newer = extract_email(
        mail(subject=subject, body="Follow-up order: PO 2023-00126-WS"), CUSTOMERS
    )
    out = judge(newer, pos)
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00126-WS",))
    assert not any("disagree" in r for r in out.reasons)
    # ... but the clerk is told that the thread's PO may change too ("moved to the new order").
    assert out.reasons == (
        "Linked to PO 2023-00126-WS, the PO written in this message; its subject still names PO "
        "2023-00125-WS from the earlier mail. If the message is about both, link it to both "
        "(`resolve` with `--force` and both POs).",
    )
    alone = judge(extract_email(mail(subject=subject, body="Thanks, shipped."), CUSTOMERS), pos)
    assert (alone.status, alone.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    fresh = judge(
        extract_email(mail(subject="PO 2023-00125-WS", body="PO 2023-00126-WS"), CUSTOMERS), pos
    )
    assert fresh.status is Status.AMBIGUOUS  # no reply prefix: the parts do disagree


def test_an_attachments_file_name_is_read() -> None:
    """Platforms and ERP systems name the document after the order: "PO_4500123456.pdf". The
    name is read even when the PDF has no text (a scan) or is no PDF at all."""
    sap = compiled(
        "sap", name="SAP", senders=["*@sap.example"], pattern=r"(?<![\w-])45\d{8}(?![\w-])"
    )
    scan = pdf("PO_4500123456.pdf")
    sheet = Attachment("Scan_4500654321.xlsx", "application/vnd.ms-excel", b"PK", False)
    ex = extract_email(
        mail("ap@sap.example", attachments=[scan, sheet]), [sap], read_pdf=text_pdf_reader
    )
    assert {(c.normalized, c.source, c.labelled) for c in ex.candidates} == {
        ("4500123456", "filename:PO_4500123456.pdf", True),
        ("4500654321", "filename:Scan_4500654321.xlsx", False),
    }
    invoice = Attachment("Invoice_4500999999.pdf", "application/pdf", b"%PDF-1.4\n", True)
    ex = extract_email(mail("ap@sap.example", attachments=[invoice]), [sap], read_pdf=None)
    assert ex.candidates == ()  # "Invoice" before it: the invoice's number


def test_a_csv_remittance_names_its_pos_under_its_po_column() -> None:
    """A bank's remittance detail as CSV: the "PO Number" column heads its values."""
    rows = (
        "Invoice,PO Number,Amount\nINV-88120,2023-00125-WS,1200.00\nINV-88121,2023-00126-WS,80.00\n"
    )
    sheet = Attachment("ACH_detail.csv", "text/csv", b"", False, text=rows.replace(",", " | "))
    ex = extract_email(mail(attachments=[sheet]), CUSTOMERS)
    found = {(c.normalized, c.labelled, c.source) for c in ex.candidates if c.valid}
    assert found == {
        ("2023-00125-WS", True, "attachment:ACH_detail.csv"),
        ("2023-00126-WS", True, "attachment:ACH_detail.csv"),
    }
    assert ex.not_read == ()


def test_near_misses_are_looked_for_only_where_the_customer_has_no_valid_number() -> None:
    """ "order ACME-10019" (a digit short): read when nothing valid of Acme's is in the message,
    not beside a valid number (the search costs, and the valid number is what counts)."""
    acme = "buyer@acme-corp.example"
    alone = extract_email(mail(acme, subject="order ACME-10019"), CUSTOMERS)
    assert [(c.raw, c.valid, c.labelled) for c in alone.candidates] == [
        ("ACME-10019", False, False)
    ]
    beside = extract_email(mail(acme, subject="order ACME-10019", body="PO ACME-123456"), CUSTOMERS)
    assert [(c.raw, c.valid) for c in beside.candidates] == [("ACME-123456", True)]


def test_a_lettered_number_after_a_decoy_word_is_weak_evidence_where_nothing_else_is() -> None:
    """ "Automatic reply: Delivery confirmation ACME-123456": set aside by the scan (a delivery
    confirmation's own number), but in the customer's own format with letters it counts when
    it is a known PO: weak evidence shown with the word, only where nothing valid is found."""
    acme = "buyer@acme-corp.example"
    alone = extract_email(mail(acme, subject="Delivery confirmation ACME-123456"), CUSTOMERS)
    assert [(c.raw, c.normalized, c.valid, c.weak) for c in alone.candidates] == [
        ("confirmation ACME-123456", "ACME-123456", True, True)
    ]
    digits = extract_email(mail(acme, subject="Invoice No. 654321"), CUSTOMERS)
    assert digits.candidates == ()  # all digits after a decoy: the decoy's own number
    beside = extract_email(
        mail(acme, subject="Delivery confirmation ACME-123456", body="PO ACME-654321"), CUSTOMERS
    )
    assert [c.normalized for c in beside.candidates] == ["ACME-654321"]


TALLIS = compiled(
    "tallis",
    name="Tallis",
    senders=["*@tallis.example"],
    pattern=r"(?<![\w-])TL-(?P<num>(?:\d|\d\d)+)-R(?P<rev>\d)(?![\w-])",
    format="TL-{num}-R{rev}",
)


def test_a_pattern_that_keeps_timing_out_stops_searching_the_message() -> None:
    """A stranger's mail of 40 small text files, each with a token the pattern backtracks on:
    after a few timeouts the rest of the message is not searched for that customer (each text
    would cost the whole timeout), and the other customers still read all of it."""
    files = [
        Attachment(f"statement_{i:02}.txt", "text/plain", b"", False, text=f"Job TL-{'7' * 40} ref")
        for i in range(40)
    ]
    files.append(Attachment("z.txt", "text/plain", b"", False, text="Order ACME-123456"))
    ex = extract_email(
        mail("x@stranger.example", body="Statements attached.", attachments=files),
        (TALLIS, ACME),
        timeout=0.02,
    )
    timeouts = [p for p in ex.problems if p.kind is Unreadable.PATTERN_TIMEOUT]
    assert len(timeouts) == 4  # three texts, then the rest of the message skipped
    assert {p.detail.split(";")[0] for p in timeouts} == {"customer tallis"}
    assert timeouts[-1].describe() == (
        "the message: the PO pattern of customer tallis (its customer file tallis.toml) took "
        "too long 3 times, so the rest of the message was not searched for its numbers: "
        "simplify that pattern (`po-watcher check` names it)"
    )
    assert not any(p.blocking for p in timeouts)
    assert [c.normalized for c in ex.candidates if c.valid] == ["ACME-123456"]
