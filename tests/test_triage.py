"""Independent tests of `inbox_watcher.triage.judge`: hand-built extractions and PO indexes,
every status, and the reasons a person reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest

from extractors.message import Extraction
from extractors.rules import CustomerRules
from extractors.types import Candidate, Problem, Unreadable
from inbox_watcher.model import Outcome, PoRecord, PoTable, Status
from inbox_watcher.triage import PoIndex, judge, lookalike_domain
from tests.customers import ACME, KESSLER, WESTSIDE, compiled

RULES = {"westside": WESTSIDE, "acme": ACME}
NAMES = {"westside": "Westside Tools Ltd", "acme": "Acme Corporation", "eastside": "Eastside Ltd"}


def index(*records: PoRecord, plain: bool = False) -> PoIndex:
    """PO records by customer as the store hands them over (``PoTable``), or as plain dicts."""
    out: dict[str, dict[str, PoRecord]] = {}
    for r in records:
        out.setdefault(r.customer, {} if plain else PoTable())[r.po_number] = r
    return out


POS = index(
    PoRecord("2023-00125-WS", "westside"),
    PoRecord("2023-00126-WS", "westside"),
    PoRecord("2023-00128-WS", "westside"),
    PoRecord("2022-00777-WS", "westside", status="Closed"),
    PoRecord("ACME-123456", "acme"),
    # Eastside shares Westside's number format.
    PoRecord("2023-00900-ES", "eastside"),
)


def cand(
    normalized: str,
    *,
    raw: str | None = None,
    valid: bool = True,
    source: str = "body",
    quoted: bool = False,
    labelled: bool = True,
    customer: str | None = "westside",
    page: int | None = None,
) -> Candidate:
    return Candidate(
        raw=raw if raw is not None else normalized,
        normalized=normalized,
        source=source,
        valid=valid,
        context=f"PO {normalized}",
        page=page,
        quoted=quoted,
        labelled=labelled,
        customer=customer,
    )


def bad(raw: str, **kwargs: Any) -> Candidate:
    return cand(raw.upper(), raw=raw, valid=False, **kwargs)


def extraction(
    *cands: Candidate,
    customer: str | None = "westside",
    problems: Iterable[Problem] = (),
    routed_by: str = "sender",
    pdf_count: int = 0,
) -> Extraction:
    return Extraction(customer, routed_by, tuple(cands), tuple(problems), pdf_count)


def run(ex: Extraction, **kwargs: Any) -> Outcome:
    kwargs.setdefault("rules", RULES)
    kwargs.setdefault("names", NAMES)
    return judge(ex, POS, **kwargs)


def text_of(outcome: Outcome) -> str:
    return " ".join(outcome.reasons)


def assert_plain_words(outcome: Outcome) -> None:
    for reason in outcome.reasons:
        assert reason, "an empty reason"
        assert reason[0].isupper() or reason[0] in "'\"", reason
        assert reason.rstrip()[-1] in ".?!", reason
        for jargon in ("Candidate(", "None", "regex", "Traceback", "{", "}"):
            assert jargon not in reason, reason


ENCRYPTED = Problem("attachment:Order-2023.pdf", Unreadable.ENCRYPTED)


# --- each status ---------------------------------------------------------------------------


def test_linked() -> None:
    out = run(extraction(cand("2023-00125-WS")))
    assert (out.status, out.po_numbers, out.customer) == (
        Status.LINKED,
        ("2023-00125-WS",),
        "westside",
    )
    assert [j.known for j in out.candidates] == [True]
    assert not out.status.flagged


def test_an_ignore_rule_closes_flags_only() -> None:
    rule = "the sender matches 'news@*' in [ignore] senders"
    missing = run(extraction(), ignored=rule)
    assert (missing.status, missing.ignored, missing.needs_review) == (Status.MISSING, rule, False)
    assert run(extraction()).needs_review
    linked = run(extraction(cand("2023-00125-WS")), ignored=rule)
    assert (linked.status, linked.ignored, linked.needs_review) == (Status.LINKED, None, False)


@pytest.mark.parametrize("raw", ["123 456", "ACME 123.456", "12 34 56"])
def test_a_known_po_with_its_digits_grouped_is_linked(raw: str) -> None:
    """'PO #: 123 456': spaces or dots grouping the digits of a known PO do not make it a typo."""
    out = run(extraction(bad(raw, customer="acme"), customer="acme"))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("ACME-123456",))
    assert out.reasons == (
        f"'{raw}' in the message body is read as ACME-123456: the same digits, written in groups.",
    )


@pytest.mark.parametrize(
    "raw", ["ACME-123456-R2", "123456 Rev.3", "ACME-123456/R1", "123456 rev B"]
)
def test_a_known_po_with_a_revision_written_onto_it_is_linked(raw: str) -> None:
    """A buyer's revised PO, "PO-AW27-40103-R2": the revision of a known PO is that PO."""
    out = run(extraction(bad(raw, customer="acme"), customer="acme"))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("ACME-123456",))
    assert out.reasons == (
        f"'{raw}' in the message body is read as ACME-123456, with a revision number added.",
    )


@pytest.mark.parametrize(("raw", "words"), [("ACME-123456-3", "line"), ("ACME/123456/02", "line")])
def test_a_known_po_with_a_line_or_amendment_number_is_linked(raw: str, words: str) -> None:
    """ "PO-Line: P7-104522-3", "Order Amendment MDS/24/01187/02": that PO, with its line."""
    out = run(extraction(bad(raw, customer="acme"), customer="acme"))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("ACME-123456",))
    assert out.reasons == (
        f"'{raw}' in the message body is read as ACME-123456, with a {words} or amendment number "
        "added.",
    )


@pytest.mark.parametrize(
    "raw", ["ACME-123457-R2", "123456-R234", "123456-X2", "123456-Rev-ABC", "12345-6", "123457-3"]
)
def test_a_revision_of_no_known_po_stays_malformed(raw: str) -> None:
    out = run(extraction(bad(raw, customer="acme"), customer="acme"))
    assert out.status is Status.MALFORMED


@pytest.mark.parametrize("raw", ["123 457", "1 23456 7", "12.3456-X"])
def test_grouped_digits_that_are_no_known_po_stay_malformed(raw: str) -> None:
    out = run(extraction(bad(raw, customer="acme"), customer="acme"))
    assert out.status is Status.MALFORMED


def test_unknown_mentions_number_and_where() -> None:
    out = run(extraction(cand("2023-00999-WS", source="subject")))
    assert (out.status, out.po_numbers) == (Status.UNKNOWN, ())
    assert "2023-00999-WS" in text_of(out)
    assert "subject" in text_of(out)
    assert "Westside Tools Ltd" in text_of(out)
    assert [j.known for j in out.candidates] == [False]
    assert_plain_words(out)


def test_malformed_mentions_raw_text() -> None:
    out = run(extraction(bad("2023-12-WS")))
    assert (out.status, out.po_numbers) == (Status.MALFORMED, ())
    assert "2023-12-WS" in text_of(out)
    assert_plain_words(out)


def test_missing() -> None:
    out = run(extraction(pdf_count=1))
    assert (out.status, out.po_numbers) == (Status.MISSING, ())
    assert "PDF" in text_of(out)
    assert_plain_words(out)


def test_missing_from_unknown_sender_says_so() -> None:
    out = run(extraction(customer=None, routed_by="none"))
    assert out.status is Status.MISSING
    assert out.customer is None
    assert "not from a known customer address" in text_of(out)


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ("vielen Dank für Ihre Bestellung [2023-00999-WS] vom 04.11.2024", "Ihre Bestellung"),
        ("Auftragsbestätigung zu Ihrer Bestellung Nr. [2023-00999-WS]", "Ihrer Bestellung Nr."),
        ("we confirm your purchase order no. [2023-00999-WS] of 12", "your purchase order no."),
        ("nous confirmons votre commande [2023-00999-WS]", "votre commande"),
    ],
)
def test_a_strangers_your_order_not_in_the_records_is_our_own_order(
    context: str, words: str
) -> None:
    """A supplier writing to the mailbox's company names that company's own order ("your
    order"): from a sender on no list it is no customer PO unless the records know it. The
    reason quotes the words as written."""
    c = dataclasses.replace(cand("2023-00999-WS"), context=context)
    out = run(extraction(c, customer="westside", routed_by="pattern"))
    assert (out.status, out.customer) == (Status.MISSING, None)
    assert f"follows '{words}' (as a supplier names our own order)" in text_of(out)
    assert_plain_words(out)
    known = dataclasses.replace(cand("2023-00125-WS"), context=context.replace("999", "125"))
    assert run(extraction(known, customer="westside", routed_by="pattern")).status is Status.LINKED
    # From the customer's own address the label is the customer's to choose.
    assert run(extraction(c, customer="westside")).status is Status.UNKNOWN


def test_a_number_a_stranger_calls_your_order_once_is_that_everywhere() -> None:
    """A shop: 'Your Order No. 204517 has been dispatched' in the subject, 'Order No. 204517' in
    the body: the same number cannot be a customer's PO in the body."""
    subject = dataclasses.replace(
        cand("2023-00999-WS", source="subject"), context="Your Order No. [2023-00999-WS] shipped"
    )
    body = dataclasses.replace(cand("2023-00999-WS"), context="Order No. [2023-00999-WS], 3 items")
    out = run(extraction(subject, body, customer="westside", routed_by="pattern"))
    assert out.status is Status.MISSING
    other = dataclasses.replace(body, normalized="2023-00998-WS", raw="2023-00998-WS")
    other = dataclasses.replace(other, context="Order No. [2023-00998-WS]")
    out = run(extraction(subject, other, customer="westside", routed_by="pattern"))
    assert out.status is Status.UNKNOWN  # another number is not called ours


def test_a_strangers_po_without_your_stays_unknown() -> None:
    """A buyer writing from an unlisted (private) address: 'PO 2023-00999-WS' counts."""
    c = dataclasses.replace(cand("2023-00999-WS"), context="Kestrel gave me this: [2023-00999-WS]")
    out = run(extraction(c, customer="westside", routed_by="pattern"))
    assert out.status is Status.UNKNOWN


def test_a_reply_whose_only_numbers_are_quoted_follows_its_thread() -> None:
    """'RE: Commande 2023-OO125-WS': the quoted subject repeats a typo the first message had; a
    person resolved that one by hand, so the reply is linked through its thread."""
    typo = bad("2023-OO125-WS", source="subject", quoted=True)
    out = run(extraction(typo), thread_pos=[("westside", "2023-00125-WS")])
    assert (out.status, out.po_numbers, out.link_how) == (
        Status.LINKED,
        ("2023-00125-WS",),
        "thread",
    )
    # Its own new typo still counts.
    own = bad("2023-OO126-WS")
    out = run(extraction(typo, own), thread_pos=[("westside", "2023-00125-WS")])
    assert out.status is Status.MALFORMED
    # A known number in the quoted text still links by itself.
    out = run(extraction(cand("2023-00126-WS", quoted=True)), thread_pos=[("westside", "X")])
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00126-WS",))


def test_ambiguous_links_to_all_known() -> None:
    out = run(extraction(cand("2023-00125-WS"), cand("2023-00126-WS")))
    assert out.status is Status.AMBIGUOUS
    assert set(out.po_numbers) == {"2023-00125-WS", "2023-00126-WS"}
    assert "2023-00125-WS" in text_of(out)
    assert "2023-00126-WS" in text_of(out)
    assert_plain_words(out)


def test_same_known_number_twice_is_linked_not_ambiguous() -> None:
    out = run(
        extraction(
            cand("2023-00125-WS"), cand("2023-00125-WS", source="subject", raw="2023/125/ws")
        )
    )
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))


def test_known_beside_a_new_labelled_po_flags_the_new_one() -> None:
    """Two POs labelled, one known and one not (nor a slip of it): the new one needs a person."""
    out = run(extraction(cand("2023-00125-WS"), cand("2023-00999-WS")))
    assert (out.status, out.unknown) == (Status.UNKNOWN, ("2023-00999-WS",))
    assert "2023-00125-WS" in text_of(out)
    # Unlabelled, the unknown number is only mentioned: linked, the number named.
    weak = cand("2023-00999-WS", labelled=False)
    out = run(extraction(cand("2023-00125-WS"), weak))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))


def test_unreadable_only_source() -> None:
    out = run(extraction(problems=[ENCRYPTED], pdf_count=1))
    assert (out.status, out.po_numbers) == (Status.UNREADABLE, ())
    assert "password" in text_of(out)
    assert_plain_words(out)


def test_unreadable_attachment_but_po_in_body_is_judged_on_the_po() -> None:
    out = run(extraction(cand("2023-00125-WS"), problems=[ENCRYPTED], pdf_count=1))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert "password" in text_of(out)


def test_unreadable_attachment_and_unknown_po_is_unknown() -> None:
    out = run(extraction(cand("2023-00999-WS"), problems=[ENCRYPTED], pdf_count=1))
    assert out.status is Status.UNKNOWN
    assert "password" in text_of(out)


def test_partial_problem_alone_is_not_unreadable() -> None:
    partial = Problem("attachment:big.pdf", Unreadable.TOO_LARGE, "x", blocking=False)
    out = run(extraction(problems=[partial], pdf_count=1))
    assert out.status is Status.MISSING
    assert "big.pdf" in text_of(out)


def test_pages_past_the_limit_without_a_po_are_unreadable() -> None:
    cut = Problem("attachment:big.pdf", Unreadable.TOO_MANY_PAGES, "2000 pages", blocking=True)
    out = run(extraction(problems=[cut], pdf_count=1))
    assert out.status is Status.UNREADABLE
    assert "more pages than the limit" in text_of(out)


def test_a_po_in_a_file_name_is_named_so() -> None:
    named = cand("2024-00999-WS", source="filename:PO_2024-00999-WS.pdf")
    out = run(extraction(named))
    assert out.status is Status.UNKNOWN
    assert "in the file name PO_2024-00999-WS.pdf" in text_of(out)
    assert_plain_words(out)


def test_problem_reason_keeps_the_file_name_as_written() -> None:
    out = run(extraction(problems=[ENCRYPTED], pdf_count=1))
    assert "Order-2023.pdf" in text_of(out)


# --- did you mean ----------------------------------------------------------------------------

LOOKALIKES = [
    # (raw malformed text, the known number it should suggest)
    ("2023-OO125-WS", "2023-00125-WS"),  # O for 0
    ("2O23-00125-WS", "2023-00125-WS"),
    ("2023-00I25-WS", "2023-00125-WS"),  # I for 1
    ("2023-00l25-ws", "2023-00125-WS"),  # l for 1
    ("2023-0012S-WS", "2023-00125-WS"),  # S for 5
    ("2023-0012B-WS", "2023-00128-WS"),  # B for 8
    ("2023-0125-W", "2023-00125-WS"),  # department cut short
]


def test_an_unknown_number_written_the_same_in_two_parts_gets_no_hint() -> None:
    """A typo is seldom made twice: the same unknown number in the subject and the PDF is more
    likely a new PO than a slip of a known one."""
    once = run(extraction(cand("2023-00127-WS", source="subject")))
    assert once.suggestions  # one slip from 2023-00125-WS and 2023-00128-WS
    twice = run(
        extraction(
            cand("2023-00127-WS", source="subject"),
            cand("2023-00127-WS", source="attachment:order.pdf", page=1),
            pdf_count=1,
        )
    )
    assert twice.status is Status.UNKNOWN
    assert twice.suggestions == ()
    assert "Did you mean" not in text_of(twice)


def test_a_typo_copied_from_the_subject_to_the_body_still_gets_a_hint() -> None:
    """ "4500871390" for 4500871309 in the subject and the body: one writer, one slip, copied."""
    copied = run(
        extraction(cand("2023-00127-WS", source="subject"), cand("2023-00127-WS", source="body"))
    )
    assert copied.status is Status.UNKNOWN
    assert copied.suggestions  # one slip from 2023-00125-WS and 2023-00128-WS


@pytest.mark.parametrize(("raw", "hint"), LOOKALIKES, ids=[r for r, _ in LOOKALIKES])
def test_malformed_did_you_mean(raw: str, hint: str) -> None:
    out = run(extraction(bad(raw)))
    assert out.status is Status.MALFORMED
    assert out.suggestions == (hint,)
    assert f"Did you mean {hint}?" in out.reasons
    assert raw in text_of(out)


def test_did_you_mean_is_the_same_from_plain_dicts() -> None:
    """A PoTable folds its numbers once and keeps them; a plain mapping is folded per question.
    Both give the same hints."""
    plain = index(*(r for table in POS.values() for r in table.values()), plain=True)
    assert not any(isinstance(t, PoTable) for t in plain.values())
    for raw, hint in LOOKALIKES:
        out = judge(extraction(bad(raw)), plain, rules=RULES, names=NAMES)
        assert out.suggestions == (hint,), raw
    table = POS["westside"]
    assert isinstance(table, PoTable)
    assert table.lookalikes is table.lookalikes  # built once


def test_malformed_did_you_mean_without_rules_uses_edit_distance() -> None:
    out = run(extraction(bad("2023-0O125-WS")), rules={})
    assert out.suggestions == ("2023-00125-WS",)


@pytest.mark.parametrize(
    ("number", "hints"),
    [
        # Westside's known numbers: 2023-00125-WS, 2023-00126-WS, 2023-00128-WS.
        pytest.param("2023-00135-WS", ["2023-00125-WS"], id="one-digit-off"),
        # two digits swapped are one slip; two other digits wrong are more likely a new PO
        pytest.param("2023-00152-WS", ["2023-00125-WS"], id="transposed-is-one-edit"),
        pytest.param("2023-00153-WS", [], id="two-edits-away-is-no-hint"),
        pytest.param("2023-00125-W5", ["2023-00125-WS"], id="five-for-s"),
        pytest.param(
            "2023-00124-WS",
            ["2023-00125-WS", "2023-00126-WS", "2023-00128-WS"],
            id="one-digit-off-all-ties-listed",
        ),
    ],
)
def test_unknown_did_you_mean(number: str, hints: list[str]) -> None:
    out = run(extraction(cand(number)))
    assert out.status is Status.UNKNOWN
    assert out.suggestions == tuple(hints)
    if hints:
        assert f"Did you mean {' or '.join(hints)}?" in out.reasons
    else:
        assert not any("Did you mean" in r for r in out.reasons)


def test_no_suggestion_when_too_many_are_equally_close() -> None:
    """A typo in the last digit of a run of POs is one edit from each of them: no hint."""
    pos = index(*(PoRecord(f"2023-0012{d}-WS", "westside") for d in "01235"))
    out = judge(extraction(cand("2023-00127-WS")), pos, rules=RULES, names=NAMES)
    assert out.status is Status.UNKNOWN
    assert out.suggestions == ()
    assert "Did you mean" not in text_of(out)


def test_no_suggestion_for_a_number_far_from_every_known_one() -> None:
    out = run(extraction(cand("2019-55555-ZZ")))
    assert out.status is Status.UNKNOWN
    assert out.suggestions == ()
    assert "Did you mean" not in text_of(out)


# --- wrong customer, disagreeing parts, threads, closed, quoted -------------------------------


def test_number_known_only_under_another_customer() -> None:
    out = run(extraction(cand("2023-00900-ES")))
    assert out.status is Status.UNKNOWN
    assert "Eastside Ltd" in text_of(out)
    assert "belongs to Eastside Ltd, not to Westside Tools Ltd: ask the sender which of" in (
        text_of(out)
    )
    assert "2023-00900-ES" in text_of(out)


@pytest.mark.parametrize("written", ["PO-2024-00123", "PO 2024-00123"])
def test_number_of_another_customer_that_starts_with_a_label_word(written: str) -> None:
    """Harbor's POs begin with "PO-", which is also Bergmann's label: the label is read off the
    value, and the wrong-customer check must still see the number as it was written."""
    from extractors.message import extract_email
    from tests.customers import compiled
    from tests.test_message_extract import mail

    bergmann = compiled("bergmann", name="Bergmann", senders=["*@bergmann.example"],
                        pattern=r"45\d{8}", labels=["PO"])  # fmt: skip
    harbor = compiled("harbor", name="Harbor", senders=["*@harbor.example"],
                      pattern=r"PO[- ]?(?P<y>20\d{2})-(?P<n>\d{5})", format="PO-{y}-{n}",
                      labels=["PO"])  # fmt: skip
    ex = extract_email(
        mail("buyer@bergmann.example", subject=f"Order {written}"), [bergmann, harbor]
    )
    assert ex.customer == "bergmann"
    pos = index(PoRecord("PO-2024-00123", "harbor"), PoRecord("4500123456", "bergmann"))
    out = judge(ex, pos, rules={"bergmann": bergmann, "harbor": harbor},
                names={"bergmann": "Bergmann", "harbor": "Harbor"})  # fmt: skip
    assert out.status is Status.MALFORMED
    assert (
        "is PO-2024-00123 of Harbor, not of Bergmann: ask the sender which of their own POs they "
        "meant." in text_of(out)
    )


def test_parts_disagree() -> None:
    out = run(
        extraction(
            cand("2023-00125-WS", source="subject"),
            cand("2023-00126-WS", source="attachment:order.pdf", page=2),
            pdf_count=1,
        )
    )
    assert out.status is Status.AMBIGUOUS
    text = text_of(out)
    assert "disagree" in text
    assert "subject" in text
    assert "order.pdf" in text
    assert "page 2" in text
    assert_plain_words(out)


def test_parts_naming_the_same_po_disagree_with_the_other_once() -> None:
    out = run(
        extraction(
            cand("2023-00125-WS", source="subject"),
            cand("2023-00125-WS", source="body"),
            cand("2023-00126-WS", source="attachment:order.pdf", page=1),
            pdf_count=1,
        )
    )
    disagree = [r for r in out.reasons if "disagree" in r]
    assert disagree == [
        "The parts disagree: the subject and the message body say PO 2023-00125-WS but the "
        "attachment order.pdf page 1 says PO 2023-00126-WS."
    ]


def test_two_attachments_naming_two_pos_are_not_called_a_disagreement() -> None:
    """Two invoices in one mail, each for its own PO: ambiguous (which one?), but not an error."""
    out = run(
        extraction(
            cand("2023-00125-WS", source="attachment:inv-1.pdf", page=1),
            cand("2023-00126-WS", source="attachment:inv-2.pdf", page=1),
            pdf_count=2,
        )
    )
    assert out.status is Status.AMBIGUOUS
    assert "disagree" not in text_of(out)
    assert (
        "Each attachment names its own PO: the attachment inv-1.pdf page 1 says PO "
        "2023-00125-WS and the attachment inv-2.pdf page 1 says PO 2023-00126-WS (one mail for "
        "several orders?)."
    ) in out.reasons
    assert_plain_words(out)


def test_two_attachments_named_after_their_pos_are_not_called_a_disagreement() -> None:
    out = run(
        extraction(
            cand("2023-00125-WS", source="filename:2023-00125-WS.pdf"),
            cand("2023-00125-WS", source="attachment:2023-00125-WS.pdf", page=1),
            cand("2023-00126-WS", source="filename:2023-00126-WS.pdf"),
            cand("2023-00126-WS", source="attachment:2023-00126-WS.pdf", page=1),
            pdf_count=2,
        )
    )
    assert "disagree" not in text_of(out)
    assert any(r.startswith("Each attachment names its own PO: ") for r in out.reasons)


def test_a_file_named_after_one_po_holding_another_is_a_disagreement() -> None:
    out = run(
        extraction(
            cand("2023-00125-WS", source="filename:2023-00125-WS.pdf"),
            cand("2023-00126-WS", source="attachment:2023-00125-WS.pdf", page=1),
            pdf_count=1,
        )
    )
    assert any(r.startswith("The parts disagree: the file name ") for r in out.reasons)


def test_parts_agreeing_is_no_disagreement() -> None:
    out = run(
        extraction(
            cand("2023-00125-WS", source="subject"),
            cand("2023-00125-WS", source="attachment:order.pdf", page=1),
        )
    )
    assert out.status is Status.LINKED
    assert "disagree" not in text_of(out)


def test_thread_inheritance() -> None:
    out = run(extraction(), thread_pos=[("westside", "2023-00125-WS")])
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert "2023-00125-WS" in text_of(out)
    assert_plain_words(out)


def test_thread_inheritance_sets_the_customer() -> None:
    out = run(extraction(customer=None, routed_by="none"), thread_pos=[("acme", "ACME-123456")])
    assert (out.status, out.customer) == (Status.LINKED, "acme")


def test_thread_with_two_pos_is_ambiguous() -> None:
    out = run(
        extraction(), thread_pos=[("westside", "2023-00125-WS"), ("westside", "2023-00126-WS")]
    )
    assert out.status is Status.AMBIGUOUS
    assert set(out.po_numbers) == {"2023-00125-WS", "2023-00126-WS"}


def test_own_po_beats_thread() -> None:
    out = run(extraction(cand("2023-00126-WS")), thread_pos=[("westside", "2023-00125-WS")])
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00126-WS",))


def test_closed_po_still_links_with_a_reason() -> None:
    out = run(extraction(cand("2022-00777-WS")))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2022-00777-WS",))
    assert any(r.startswith("PO 2022-00777-WS is closed") for r in out.reasons)


def test_quoted_po_counts_when_own_text_has_none() -> None:
    out = run(extraction(cand("2023-00125-WS", quoted=True)))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))


def test_quoted_po_ignored_when_own_text_has_one() -> None:
    out = run(extraction(cand("2023-00126-WS"), cand("2023-00125-WS", quoted=True)))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00126-WS",))


def test_own_unknown_po_is_not_rescued_by_a_quoted_known_one() -> None:
    out = run(extraction(cand("2023-00999-WS"), cand("2023-00125-WS", quoted=True)))
    assert (out.status, out.po_numbers) == (Status.UNKNOWN, ())


def test_quoted_malformed_ignored_when_own_text_has_a_po() -> None:
    out = run(extraction(cand("2023-00125-WS"), bad("2O23-00126-WS", quoted=True)))
    assert out.status is Status.LINKED
    assert "2O23-00126-WS" not in text_of(out)


def test_quoted_and_own_po_differing_is_no_disagreement() -> None:
    out = run(extraction(cand("2023-00126-WS"), cand("2023-00125-WS", quoted=True)))
    assert "disagree" not in text_of(out)


def test_linked_with_a_mistyped_second_number_says_so() -> None:
    out = run(extraction(cand("2023-00125-WS"), bad("2O23-00126-WS")))
    assert out.status is Status.LINKED
    assert "'2O23-00126-WS' in the message body looks like a mistyped PO 2023-00126-WS." in (
        out.reasons
    )


def test_the_linked_po_written_apart_in_a_file_name_is_no_slip() -> None:
    """ "PO_2023_00125.pdf" beside PO 2023-00125-WS: the same PO written another way, not a
    mistyped one; a slip of it is still named."""
    spelled = bad("2023 00125", source="filename:PO_2023_00125.pdf")
    out = run(extraction(cand("2023-00125-WS"), spelled))
    assert out.status is Status.LINKED
    assert not any("mistyped" in r for r in out.reasons)
    slip = bad("2O23-00125-WS")
    out = run(extraction(cand("2023-00125-WS"), slip))
    assert any("'2O23-00125-WS'" in r and "mistyped" in r for r in out.reasons)


def test_linked_beside_a_labelled_value_near_no_po_says_nothing_of_it() -> None:
    """ "Promotion order wk13-14": a week, not a slip of a PO."""
    out = run(extraction(cand("2023-00125-WS"), bad("wk13-14")))
    assert out.status is Status.LINKED
    assert "wk13-14" not in text_of(out)


def test_candidate_customer_used_when_message_has_none() -> None:
    out = run(extraction(cand("ACME-123456", customer="acme"), customer=None, routed_by="pattern"))
    assert (out.status, out.po_numbers, out.customer) == (Status.LINKED, ("ACME-123456",), "acme")


def test_every_status_has_reasons_except_plain_linked() -> None:
    cases = [
        extraction(cand("2023-00999-WS")),
        extraction(bad("2023-12-WS")),
        extraction(),
        extraction(cand("2023-00125-WS"), cand("2023-00126-WS")),
        extraction(problems=[ENCRYPTED]),
    ]
    for ex in cases:
        out = run(ex)
        assert out.status.flagged
        assert out.reasons, out.status
        assert_plain_words(out)


def test_unlabelled_bare_digits_count_only_when_known() -> None:
    stray = cand("ACME-999999", raw="999999", labelled=False, customer="acme")
    known = cand("ACME-123456", raw="123456", labelled=False, customer="acme")
    assert run(extraction(known, customer="acme")).status is Status.LINKED
    out = run(extraction(stray, customer="acme"))
    assert out.status is not Status.LINKED
    assert out.po_numbers == ()


def test_malformed_without_any_customer_does_not_crash() -> None:
    out = run(extraction(bad("2O23-00125-WS", customer=None), customer=None, routed_by="none"))
    assert out.status is Status.MISSING  # a stranger's label on no one's format: not our PO
    assert out.suggestions == ()
    assert "2O23-00125-WS" in text_of(out)


# --- a sender no customer's globs match: only our known POs count ----------------------------


def test_a_strangers_unlabelled_number_is_not_flagged_as_ours() -> None:
    """A hotel's booking reference "2024/1187/KL" fits Westside's format. From a sender on no
    customer's list, a number written without a PO label that is not a known PO is the sender's
    own: missing (no PO of ours), with the number named, no customer."""
    found = cand("2024-01187-KL", raw="2024/1187/KL", labelled=False)
    out = run(extraction(found, routed_by="pattern"))
    assert (out.status, out.customer, out.po_numbers) == (Status.MISSING, None, ())
    assert "'2024/1187/KL' in the message body looks like a PO number of" in text_of(out)
    assert "not counted from this sender" in text_of(out)
    assert_plain_words(out)


def test_a_strangers_labelled_number_counts() -> None:
    """A buyer writing from an address not on the list: "PO 2024-00999-WS" is flagged unknown."""
    out = run(extraction(cand("2024-00999-WS"), routed_by="pattern"))
    assert (out.status, out.customer) == (Status.UNKNOWN, "westside")


def test_a_strangers_label_on_no_format_is_missing_unless_near_a_known_po() -> None:
    shop = extraction(bad("302-1234567-1234567", customer=None), customer=None, routed_by="none")
    out = run(shop)
    assert out.status is Status.MISSING
    assert "fits no customer's PO format: not counted from this sender" in text_of(out)
    typo = extraction(bad("2023-00I25-WS", customer="westside"), customer=None, routed_by="none")
    out = run(typo)  # a colleague forwarding a customer's mistyped PO: still a flag worth having
    assert out.status is Status.MALFORMED
    assert out.suggestions == ("2023-00125-WS",)


def test_a_strangers_near_miss_is_found_whichever_customer_read_it_first() -> None:
    """Every customer's rules read a stranger's message; the same labelled value comes once per
    customer. It is a near miss of Westside's PO, whatever customer's reading comes first."""
    typo = [bad("2023-00I25-WS", customer=c) for c in ("acme", "westside")]
    out = run(extraction(*typo, customer=None, routed_by="none"))
    assert (out.status, out.suggestions) == (Status.MALFORMED, ("2023-00125-WS",))


def test_a_strangers_known_po_links() -> None:
    ex = extraction(cand("2023-00125-WS", labelled=False), customer=None, routed_by="none")
    out = run(ex)
    assert (out.status, out.customer, out.po_numbers) == (
        Status.LINKED, "westside", ("2023-00125-WS",)
    )  # fmt: skip


def test_blocking_problem_in_a_reply_inherits_the_thread() -> None:
    out = run(extraction(problems=[ENCRYPTED]), thread_pos=[("westside", "2023-00125-WS")])
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert "password" in text_of(out)


def test_link_how_says_found_or_thread() -> None:
    assert run(extraction(cand("2023-00125-WS"))).link_how == "found"
    inherited = run(extraction(), thread_pos=[("westside", "2023-00125-WS")])
    assert inherited.link_how == "thread"


def test_closed_po_of_an_unrouted_message_is_reported() -> None:
    closed = cand("2022-00777-WS")
    out = run(extraction(closed, customer=None, routed_by="pattern"))
    assert (out.status, out.customer) == (Status.LINKED, "westside")
    assert any("2022-00777-WS is closed" in r for r in out.reasons)


def test_reasons_read_as_plain_sentences_for_numbers_and_names_with_dots() -> None:
    pos = index(PoRecord("PO-2024-00999", "acme"), PoRecord("POLE-1", "acme"))
    out = judge(
        extraction(cand("PO-2024-00123"), cand("POLE-2"), customer="acme"),
        pos,
        names={"acme": "Harbor Freight Inc."},
    )
    assert out.status is Status.UNKNOWN
    text = text_of(out)
    assert "PO-2024-00123 (in the message body)" in text
    assert "PO PO-" not in text
    assert "POLE-2 (in" in text  # named as written, as every number with letters
    assert "has the form of a PO of Harbor Freight Inc. but" in text
    assert ".." not in text
    assert_plain_words(out)


def test_did_you_mean_names_every_equally_close_po() -> None:
    pos = index(PoRecord("2023-00125-WS", "westside"), PoRecord("2023-00126-WS", "westside"))
    out = judge(extraction(cand("2023-0012-WS", valid=False)), pos, rules=RULES, names=NAMES)
    assert out.status is Status.MALFORMED
    assert out.suggestions == ("2023-00125-WS", "2023-00126-WS")
    assert "Did you mean 2023-00125-WS or 2023-00126-WS?" in text_of(out)


def test_customers_sharing_a_sender_are_told_apart_by_the_po_records() -> None:
    """Two customer files claim the same senders with the same format (a renamed copy left
    behind, or one buying platform for two customers): the records decide whose message it is,
    and the other reading leaves no trace."""
    from extractors.message import extract_email
    from tests.customers import compiled
    from tests.test_message_extract import mail

    def acme_like(cid: str) -> Any:
        return compiled(cid, name=cid.title(), senders=["*@acme-corp.example"],
                        pattern=r"ACME-(?P<num>\d{6})", format="ACME-{num}")  # fmt: skip

    old, new = acme_like("acme_old"), acme_like("acme")
    ex = extract_email(mail("ap@acme-corp.example", subject="Order ACME-123456"), [old, new])
    assert ex.customer is None  # the globs and patterns alone cannot tell
    pos = index(PoRecord("ACME-123456", "acme"))
    out = judge(ex, pos, rules={"acme_old": old, "acme": new})
    assert (out.status, out.customer, out.po_numbers) == (Status.LINKED, "acme", ("ACME-123456",))
    assert out.reasons == ()
    assert {j.candidate.customer for j in out.candidates} == {"acme"}
    nobody = judge(ex, index(PoRecord("ACME-999999", "acme")), rules={"acme_old": old, "acme": new})
    assert nobody.status is Status.UNKNOWN
    assert len(nobody.candidates) == 1  # one written number, listed once


MERIDIAN_POS = index(PoRecord("PO-2024-00123", "meridian"))


@pytest.mark.parametrize(
    ("raw", "labelled", "status"),
    [
        # The customer's prefix is optional: a bare "2024-00811" may be an invoice or booking
        # number of the same shape. Unlabelled and without a letter it counts only when known.
        ("2024-00811", False, Status.MISSING),
        ("2024-00123", False, Status.LINKED),
        ("2024-00811", True, Status.UNKNOWN),
        ("PO-2024-00811", False, Status.UNKNOWN),  # with the prefix, it is written as a PO
    ],
)
def test_an_unlabelled_number_without_a_letter_is_weak(
    raw: str, labelled: bool, status: Status
) -> None:
    number = raw if raw.startswith("PO-") else f"PO-{raw}"
    c = cand(number, raw=raw, labelled=labelled, customer="meridian")
    out = judge(extraction(c, customer="meridian"), MERIDIAN_POS)
    assert out.status is status


def test_a_malformed_value_in_the_subject_and_the_body_is_named_once() -> None:
    subject, body = bad("2O23-00125-WS", source="subject"), bad("2O23-00125-WS")
    out = run(extraction(subject, body))
    assert out.status is Status.MALFORMED
    named = [r for r in out.reasons if "labelled as a PO" in r]
    assert named == [
        "'2O23-00125-WS' in the subject and the message body is labelled as a PO but is not "
        "written like a PO number of Westside Tools Ltd."
    ]
    assert out.reasons.count("Did you mean 2023-00125-WS?") == 1


def test_missing_names_what_was_set_aside_as_weak_evidence() -> None:
    """An unlabelled number without a letter that is no known PO is not counted; the clerk is
    told which, so that "no PO found" is not all they read."""
    weak = cand("2024-00999-WS", raw="2024 00999 WS", labelled=False)
    out = run(extraction(weak))
    assert out.status is Status.MISSING
    assert "'2024 00999 WS' in the message body has the shape of a PO number but no PO label" in (
        text_of(out)
    )
    assert_plain_words(out)


def test_a_bare_year_is_not_named_as_weak_evidence() -> None:
    """For a customer whose POs are four digits, "2025" in the text has a PO's shape; naming it
    in every "no PO found" is noise."""
    year = cand("2025", raw="2025", labelled=False, customer="corner")
    order = cand("4711", raw="4711", labelled=False, customer="corner")
    out = judge(extraction(year, order, customer="corner"), index())
    assert out.status is Status.MISSING
    assert "'4711' in the message body has the shape of a PO number" in text_of(out)
    assert "'2025'" not in text_of(out)


def test_many_malformed_values_are_counted_and_the_first_few_named() -> None:
    noise = [bad(f"2O23-0012{k}-WS") for k in range(7)]
    out = run(extraction(*noise))
    assert out.status is Status.MALFORMED
    assert out.reasons[0] == (
        "7 values are labelled as a PO but are not written like PO numbers; the first 5 follow."
    )
    assert sum("is labelled as a PO" in r for r in out.reasons) == 5


def test_inherited_links_keep_their_customers() -> None:
    out = run(extraction(), thread_pos=[("westside", "2023-00125-WS"), ("acme", "ACME-123456")])
    assert out.link_how == "thread"
    assert out.owners == (("westside", "2023-00125-WS"), ("acme", "ACME-123456"))


def test_a_malformed_value_without_a_hint_shows_what_the_customers_pos_look_like() -> None:
    out = run(extraction(bad("12")))
    assert out.suggestions == ()
    assert (
        "is not written like a PO number of Westside Tools Ltd; its PO numbers are written "
        "like 2023-00125-WS (one of its POs, for the form only)." in (text_of(out))
    )


def test_a_number_well_formed_for_one_customer_is_no_typo_under_another() -> None:
    """An unrouted message read with two customers' rules: Westside's valid PO is malformed
    under Acme's labels, but it is not "a mistyped PO number"."""
    ws = cand("2023-00125-WS", customer="westside")
    acme_reading = bad("2023-00125-WS", customer="acme")
    out = run(extraction(ws, acme_reading, customer=None, routed_by="none"))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert "mistyped" not in text_of(out)


def test_the_example_po_in_a_malformed_reason_is_an_open_one() -> None:
    pos = index(
        PoRecord("2022-00777-WS", "westside", status="Closed"),
        PoRecord("2023-00125-WS", "westside"),
    )
    out = judge(extraction(bad("12")), pos, rules=RULES, names=NAMES)
    assert (
        "its PO numbers are written like 2023-00125-WS (one of its POs, for the form only"
        in text_of(out)
    )


def test_a_value_inside_another_customers_valid_number_is_no_typo() -> None:
    """Two plants on '*': 'PO-2024-00530' is Venlo's; Kleve's rules read its label 'PO' and
    the rest, '2024-00530', as a malformed attempt."""
    venlo = cand("ACME-123456", raw="PO ACME-123456", customer="acme")
    kleve = bad("ACME-123456", customer="westside")
    known = cand("2023-00125-WS", source="attachment:inv.xml")
    out = run(extraction(venlo, kleve, known, customer=None, routed_by="sender"))
    assert "mistyped" not in text_of(out)
    assert "not written like" not in text_of(out)


def test_numbers_with_their_own_po_prefix_are_not_said_twice() -> None:
    out = run(
        extraction(
            cand("2023-00125-WS", source="subject"),
            cand("2023-00126-WS", source="attachment:a.pdf", page=1),
            pdf_count=1,
        )
    )
    assert "PO PO" not in text_of(out)
    from inbox_watcher.triage import _pos

    assert _pos(["PO-2024-00530", "4500123456"]) == "PO 4500123456, PO-2024-00530"


def test_missing_names_the_attachments_it_did_not_read() -> None:
    ex = Extraction("westside", "sender", (), (), 0, 0, ("Bestellung.xlsx", "Plan.docx"))
    out = run(ex)
    assert out.status is Status.MISSING
    assert (
        "Not read: the attachments 'Bestellung.xlsx' and 'Plan.docx' (files of a kind not "
        "read): open them to look for a PO."
    ) in out.reasons
    sheet = run(Extraction("westside", "sender", (), (), 0, 0, ("Bestellung.XLSX",)))
    assert (
        "Not read: the attachment 'Bestellung.XLSX' (a spreadsheet): open it to look for a PO."
        in sheet.reasons
    )
    assert_plain_words(out)
    linked = run(Extraction("westside", "sender", (cand("2023-00125-WS"),), (), 0, 0, ("a.xlsx",)))
    assert "Not read" not in text_of(linked)


def test_a_stranger_s_mail_with_an_unread_photo_is_not_called_a_newsletter() -> None:
    """A colleague's mail with a photo of an order form: open the photo before dismissing."""
    photo = run(Extraction(None, "none", (), (), 0, 0, ("IMG_2041.jpg",)))
    assert photo.status is Status.MISSING
    assert photo.reasons[0].startswith("No PO number was found in what could be read")
    assert "newsletter" not in text_of(photo)
    assert any(r.startswith("Not read: the attachment 'IMG_2041.jpg'") for r in photo.reasons)
    plain = run(Extraction(None, "none", (), (), 0, 0))
    assert "newsletter" in text_of(plain)


def test_a_customer_may_count_only_its_known_pos_from_strangers() -> None:
    """`strangers = "known"`: a format other companies write too (SAP's 45...) counts from
    senders on no list only when the records know it; the others are named, not flagged."""
    strict = dataclasses.replace(WESTSIDE, strangers="known")
    rules = {**RULES, "westside": strict}
    unknown = cand("2023-00999-WS")
    out = run(extraction(unknown, customer="westside", routed_by="pattern"), rules=rules)
    assert (out.status, out.customer) == (Status.MISSING, None)
    assert "2023-00999-WS" in text_of(out)
    known = cand("2023-00125-WS")
    out = run(extraction(known, customer="westside", routed_by="pattern"), rules=rules)
    assert out.status is Status.LINKED
    # From the customer's own address nothing changes.
    assert run(extraction(unknown), rules=rules).status is Status.UNKNOWN
    # The default: a stranger's labelled number counts.
    assert run(extraction(unknown, customer="westside", routed_by="pattern")).status is (
        Status.UNKNOWN
    )


def test_an_unknown_po_names_every_part_it_is_in() -> None:
    out = run(extraction(cand("2024-00999-WS", source="subject"), cand("2024-00999-WS")))
    assert out.status is Status.UNKNOWN
    assert "PO 2024-00999-WS (in the subject and the message body)" in text_of(out)


def test_a_number_only_in_a_replys_subject_is_said_so() -> None:
    out = run(extraction(cand("2024-00999-WS", source="subject", quoted=True)))
    assert "PO 2024-00999-WS (in the subject of this reply or forward) has the form of" in text_of(
        out
    )


def test_missing_in_a_mail_with_only_a_structured_attachment_names_it() -> None:
    ex = Extraction("westside", "sender", (), (), 0, 1, ())
    out = run(ex)
    assert out.status is Status.MISSING
    assert "No PO number was found in the subject, the message body or the e-invoice or EDI " in (
        text_of(out)
    )


# --- near misses: a token with the customer's letters its pattern does not take -----------------

KESSLER_POS = index(PoRecord("BST-000466", "kessler"), PoRecord("BST-000470", "kessler"))


def near_miss(raw: str, **kwargs: Any) -> Candidate:
    return bad(raw, labelled=False, customer="kessler", **kwargs)


def judge_kessler(*cands: Candidate, routed_by: str = "sender") -> Outcome:
    return judge(
        extraction(
            *cands, customer="kessler" if routed_by == "sender" else None, routed_by=routed_by
        ),
        KESSLER_POS,
        rules={"kessler": KESSLER},
        names={"kessler": "Kessler Bau-Service GmbH"},
    )


@pytest.mark.parametrize("routed_by", ["sender", "none"])
def test_a_near_miss_close_to_a_known_po_is_malformed_with_a_hint(routed_by: str) -> None:
    out = judge_kessler(near_miss("Best-000466"), routed_by=routed_by)
    assert (out.status, out.customer) == (Status.MALFORMED, "kessler")
    assert out.suggestions == ("BST-000466",)
    assert (
        "'Best-000466' in the message body looks like a mistyped PO number of Kessler Bau-Service "
        "GmbH." in out.reasons
    )
    assert_plain_words(out)


def test_a_near_miss_with_the_very_letters_but_near_no_po_is_named_in_missing() -> None:
    out = judge_kessler(near_miss("BST-91"), near_miss("Bsx-123456"))
    assert out.status is Status.MISSING
    assert (
        "'BST-91' in the message body starts like a PO number of Kessler Bau-Service GmbH but is "
        "not written like one and is close to no PO in the PO records: not counted." in out.reasons
    )
    assert "Bsx" not in text_of(out)  # a letter off and near nothing: noise, not named
    assert_plain_words(out)


def test_a_near_miss_beside_a_known_po_changes_nothing() -> None:
    out = judge_kessler(cand("BST-000470", customer="kessler"), near_miss("BST-10019"))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("BST-000470",))
    assert "BST-10019" not in text_of(out)


def test_a_strangers_unlabelled_number_of_a_pos_shape_is_named_in_missing() -> None:
    """A carrier's waybill in a customer's number range: set aside, and said so."""
    waybill = cand("2023-00999-WS", raw="2023 00999 WS", labelled=False)
    assert waybill.weak
    out = run(extraction(waybill, customer=None, routed_by="none"))
    assert out.status is Status.MISSING
    assert (
        "'2023 00999 WS' in the message body has the shape of a PO number of Westside Tools Ltd "
        "but no PO label: not counted from this sender." in out.reasons
    )
    assert_plain_words(out)


def test_an_unknown_po_from_a_stranger_says_how_the_customer_was_chosen() -> None:
    out = run(extraction(cand("2023-00999-WS"), customer="westside", routed_by="pattern"))
    assert (out.status, out.customer) == (Status.UNKNOWN, "westside")
    assert (
        "The mail is not from a known customer address: the customer was chosen by how the number "
        "is written." in out.reasons
    )
    routed = run(extraction(cand("2023-00999-WS")))
    assert "known customer address" not in text_of(routed)


def test_missing_names_the_text_attachments_it_read() -> None:
    ex = Extraction("westside", "sender", (), (), 0, 0, (), 1)
    assert (
        "No PO number was found in the subject, the message body or the attachments read as text."
        in (run(ex).reasons)
    )
    both = Extraction("westside", "sender", (), (), 1, 0, (), 1)
    assert "No PO number was found in the subject, the message body or the attachments." in (
        run(both).reasons
    )


def test_a_near_miss_of_many_known_pos_alike_is_malformed_without_a_hint() -> None:
    """ "BST-00047" is a digit short of BST-000470 ... BST-000479 alike: a slip, but of which
    PO nobody can tell."""
    many = index(*(PoRecord(f"BST-00047{i}", "kessler") for i in range(10)))
    out = judge(
        extraction(near_miss("BST-00047"), customer="kessler"),
        many,
        rules={"kessler": KESSLER},
        names={"kessler": "Kessler Bau-Service GmbH"},
    )
    assert out.status is Status.MALFORMED
    assert out.suggestions == ()
    assert "'BST-00047' in the message body looks like a mistyped PO number of Kessler" in (
        text_of(out)
    )


def test_of_equally_close_pos_an_open_one_is_suggested_before_a_closed_one() -> None:
    pos = index(
        PoRecord("BST-000455", "kessler", status="closed"), PoRecord("BST-000457", "kessler")
    )
    out = judge(
        extraction(bad("BST-000456", customer="kessler"), customer="kessler"),
        pos,
        rules={"kessler": KESSLER},
        names={"kessler": "Kessler Bau-Service GmbH"},
    )
    assert out.suggestions == ("BST-000457",)
    closed_only = index(PoRecord("BST-000455", "kessler", status="closed"))
    out = judge(
        extraction(bad("BST-000456", customer="kessler"), customer="kessler"),
        closed_only,
        rules={"kessler": KESSLER},
    )
    assert out.suggestions == ("BST-000455",)


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("2023-00125-WS", "PO 2023-00125-WS"),
        ("PO-2024-00123", "PO-2024-00123"),
        ("UK-PO-2024-00815", "UK-PO-2024-00815"),
        ("P0012345", "P0012345"),
        ("POLE-2", "POLE-2"),
        ("BC 2024-000123", "BC 2024-000123"),
        ("4500123456", "PO 4500123456"),
    ],
)
def test_a_number_with_letters_names_itself_and_digits_are_named_a_po(
    number: str, shown: str
) -> None:
    from inbox_watcher.triage import _po

    assert _po(number) == shown


def test_a_closed_po_is_named_by_its_status_word() -> None:
    pos = index(PoRecord("ACME-123456", "acme", status="Cancelled"))
    out = judge(extraction(cand("ACME-123456", customer="acme"), customer="acme"), pos, rules=RULES)
    assert "ACME-123456 is cancelled in the PO records." in out.reasons
    pos2 = index(PoRecord("ACME-123457", "acme", status="closed"))
    out = judge(
        extraction(cand("ACME-123457", customer="acme"), customer="acme"), pos2, rules=RULES
    )
    assert "ACME-123457 is closed in the PO records." in out.reasons


def test_several_known_pos_say_when_that_is_fine_in_one_sentence() -> None:
    out = run(extraction(cand("2023-00125-WS"), cand("2023-00126-WS")))
    assert out.status is Status.AMBIGUOUS
    assert (
        "Linked to 2 POs from the PO records: 2023-00125-WS, 2023-00126-WS. If the message is "
        "about only one of them (a correction, a replacement, a PO named in passing), resolve it "
        "with that PO; if it is about all of them (a remittance, a statement, one delivery for "
        "several orders), resolve it with all of them."
    ) in out.reasons


def test_a_wrong_po_not_in_the_records_beside_the_right_known_one_links_the_right_one() -> None:
    """ "die falsche Bestellnummer 4500719630 angegeben. Korrekt ist 4500719603": the labelled
    wrong number is no new order."""
    wrong = ruled("2023-00199-WS", "die falsche Bestellnummer [2023-00199-WS] angegeben")
    right = ruled("2023-00125-WS", "angegeben. Korrekt ist [2023-00125-WS]. Bitte")
    out = run(extraction(wrong, right))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        'PO 2023-00199-WS is named as the PO not to use ("falsche Bestellnummer 2023-00199-WS") '
        "and is not in the PO records."
    ) in out.reasons


def test_a_closed_po_replaced_by_a_new_one_flags_the_new_one() -> None:
    """ "Order 2022-00777-WS is cancelled, please use PO 2023-00999-WS instead": the new order is
    what needs a person, not a silent link to the cancelled one."""
    out = run(extraction(cand("2022-00777-WS", labelled=False), cand("2023-00999-WS")))
    assert out.status is Status.UNKNOWN
    assert out.unknown == ("2023-00999-WS",)
    assert (
        "PO 2022-00777-WS is closed in the PO records, and the message also names PO "
        "2023-00999-WS, which is not in them yet: a replacement order?" in out.reasons
    )
    # An open PO beside the unknown one is no replacement: the other reason says so.
    beside = run(extraction(cand("2023-00125-WS"), cand("2023-00999-WS")))
    assert (beside.status, beside.unknown) == (Status.UNKNOWN, ("2023-00999-WS",))
    assert not any("replacement order" in r for r in beside.reasons)


def test_a_link_by_an_unlabelled_number_alone_says_so() -> None:
    """A carrier's "Reference: 2023 00125 WS": linked because the records know it, and said."""
    weak = cand("2023-00125-WS", raw="2023 00125 WS", labelled=False)
    assert weak.weak
    out = run(extraction(weak))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        "'2023 00125 WS' in the message body is PO 2023-00125-WS in the PO records: linked by the "
        "number alone, without a PO label." in out.reasons
    )
    assert not any("no PO label" in r for r in run(extraction(cand("2023-00125-WS"))).reasons)


def test_a_number_the_writer_calls_new_gets_no_did_you_mean() -> None:
    """ "please use the new PO 2023-00127-WS": one slip from a known PO, but said to be new."""
    new = dataclasses.replace(
        cand("2023-00127-WS"), context="cancelled, please use the new PO [2023-00127-WS] instead"
    )
    out = run(extraction(new))
    assert out.status is Status.UNKNOWN
    assert out.suggestions == ()
    plain = run(extraction(cand("2023-00127-WS")))
    assert plain.suggestions  # the same number, not called new: a hint


def test_a_replacement_is_no_disagreement_of_the_parts() -> None:
    old = cand("2022-00777-WS", source="subject")
    new = cand("2023-00999-WS")
    out = run(extraction(old, new))
    assert out.status is Status.UNKNOWN
    assert not any("disagree" in r for r in out.reasons)


def test_a_known_po_after_a_decoy_word_links_and_an_unknown_one_is_not_named() -> None:
    decoyed = cand("2023-00125-WS", raw="Invoice No. 2023-00125-WS", labelled=False)
    assert decoyed.weak
    out = run(extraction(decoyed))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        "'2023-00125-WS' in the message body (after 'Invoice No.') is PO 2023-00125-WS in the PO "
        "records: linked by the number alone, without a PO label." in out.reasons
    )
    unknown = cand("2023-00999-WS", raw="Invoice No. 2023-00999-WS", labelled=False)
    missing = run(extraction(unknown))
    assert missing.status is Status.MISSING
    assert "2023-00999-WS" not in text_of(missing)


def ruled(number: str, context: str, **kwargs: Any) -> Candidate:
    return dataclasses.replace(cand(number, **kwargs), context=context)


@pytest.mark.parametrize(
    "before",
    [
        "sorry, wrong PO. The correct PO is 2023-00126-WS, not ",
        "please use 2023-00126-WS (not PO ",
        "bitte nicht auf ",
        "use 2023-00126-WS instead of ",
        "it was booked on the wrong PO ",
        "please don't book it on ",
        "Bestellnummer 2023-00126-WS statt ",
        "au lieu de la commande ",
        "the work is not covered by ",
        "objednávka VAS-PO-25-0007, ne na ",
        "steht noch der alte Lieferplan ",
        "gehört zur Bestellung 2023-00126-WS, nicht zu ",
        "La OC correcta es 2023-00126-WS, no ",
    ],
)
def test_a_po_named_as_the_one_not_to_use_gives_way_to_the_other(before: str) -> None:
    """A correction: "The correct PO is B, not A" links B, and says why A is not linked."""
    right = ruled("2023-00126-WS", "The correct PO is [2023-00126-WS], thanks")
    wrong = ruled("2023-00125-WS", f"{before}[2023-00125-WS]).", labelled=False)
    out = run(extraction(right, wrong))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00126-WS",))
    said = [
        r for r in out.reasons if r.startswith("PO 2023-00125-WS is named as the PO not to use")
    ]
    assert len(said) == 1
    assert said[0].endswith(' 2023-00125-WS").')  # the words as written


def test_only_the_words_that_rule_a_po_out_are_quoted() -> None:
    """ "Duplicate PO X" in the subject, "please disregard PO X" in the body: the reason quotes
    the body's words, not an invented "not X" for the subject."""
    subject = dataclasses.replace(
        ruled("2023-00125-WS", "Duplicate PO [2023-00125-WS]"), source="subject"
    )
    wrong = ruled("2023-00125-WS", "Hi, please disregard PO [2023-00125-WS], sent twice")
    right = ruled("2023-00126-WS", "sent twice, the same order as [2023-00126-WS]. Thanks")
    out = run(extraction(subject, wrong, right))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00126-WS",))
    assert (
        'PO 2023-00125-WS is named as the PO not to use ("disregard PO 2023-00125-WS").'
        in out.reasons
    )


@pytest.mark.parametrize(
    "before",
    [
        "We have not received ",  # about that PO, not ruling it out
        "Please do not ship ",
        "Order no ",
        "Items for ",
        "the new ",
    ],
)
def test_words_that_do_not_rule_a_po_out_leave_both(before: str) -> None:
    first = ruled("2023-00126-WS", "PO [2023-00126-WS] delivered")
    other = ruled("2023-00125-WS", f"{before}[2023-00125-WS] yet", labelled=False)
    out = run(extraction(first, other))
    assert out.status is Status.AMBIGUOUS
    assert set(out.po_numbers) == {"2023-00125-WS", "2023-00126-WS"}


def test_a_reply_naming_only_an_earlier_order_is_about_the_threads_po() -> None:
    """ "RE: PO 2023-00125-WS - samples" answered with "approved ... they asked for the marks on
    the last one (2023-00126-WS)": the reply is about the subject's PO; the earlier one is
    named as such. Without the subject's PO, or named plainly, the reply's own PO still wins."""
    subject = dataclasses.replace(
        ruled("2023-00125-WS", "RE: [2023-00125-WS] - samples"), source="subject", quoted=True
    )
    last = ruled("2023-00126-WS", "asked for the marks on the last one ([2023-00126-WS]).")
    out = run(extraction(subject, last))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        'PO 2023-00126-WS is named as an earlier order ("the last one (2023-00126-WS"), not as '
        "this message's PO: it is about the PO of the mail it answers." in out.reasons
    )
    plain = ruled("2023-00126-WS", "please ship it against [2023-00126-WS] now")
    assert run(extraction(subject, plain)).po_numbers == ("2023-00126-WS",)


def test_a_wrong_number_not_in_the_records_corrected_to_a_known_po_is_no_new_order() -> None:
    """Subject "PO 2023-00199-WS - corrected" (labelled, not in the records), body "the PO I gave
    you was wrong, it should be 2023-00125-WS": linked to the known one, the correction said."""
    wrong = dataclasses.replace(
        ruled("2023-00199-WS", "PO [2023-00199-WS] - corrected"), source="subject"
    )
    right = ruled("2023-00125-WS", "the PO I gave you was wrong, it should be [2023-00125-WS]")
    out = run(extraction(wrong, right))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        'The message corrects PO 2023-00199-WS to PO 2023-00125-WS ("should be 2023-00125-WS"): '
        "linked to PO 2023-00125-WS." in out.reasons
    )


def test_a_po_ruled_out_only_in_the_subject_or_quoted_text_or_named_elsewhere_stays() -> None:
    # (not "the correct PO is ...": a correction links alone, see the test above)
    right = ruled("2023-00126-WS", "Please use PO [2023-00126-WS]")
    quoted = ruled("2023-00125-WS", "not [2023-00125-WS]", quoted=True)
    assert run(extraction(right, quoted)).status is Status.LINKED  # own text outweighs quoted
    also_named = ruled("2023-00125-WS", "Delivery for PO [2023-00125-WS] is complete")
    negated = ruled("2023-00125-WS", "not [2023-00125-WS]", source="attachment:x.pdf")
    out = run(extraction(right, also_named, negated))
    assert out.status is Status.AMBIGUOUS  # named plainly elsewhere: not ruled out


def test_the_only_po_named_as_not_to_use_links_nothing() -> None:
    """ "Don't book it on 2023-00125-WS" (the real PO is still to come): not linked to the PO
    the writer rules out, but flagged with the words. With milder words ("do not print under
    PO …", "the old order …") the message is still about that PO: linked."""
    only = ruled(
        "2023-00125-WS", "please don't book it on [2023-00125-WS] - that one is for phones"
    )
    out = run(extraction(only))
    assert (out.status, out.po_numbers) == (Status.MISSING, ())
    assert (
        'PO 2023-00125-WS is named as the PO not to use ("don\'t book it on 2023-00125-WS").'
        in out.reasons
    )
    for said in (
        "do not print under PO [2023-00125-WS] until",
        "reorder of old order [2023-00125-WS]",
    ):
        held = run(extraction(ruled("2023-00125-WS", said)))
        assert (held.status, held.po_numbers) == (Status.LINKED, ("2023-00125-WS",))


def test_a_known_po_ruled_out_beside_a_new_one_flags_the_new_one() -> None:
    """ "The PO is 2023-00999-WS, not 2023-00125-WS": the new, unknown PO needs a person."""
    new = ruled("2023-00999-WS", "The PO is [2023-00999-WS], not")
    old = ruled("2023-00125-WS", "The PO is 2023-00999-WS, not [2023-00125-WS]", labelled=False)
    out = run(extraction(new, old))
    assert out.status is Status.UNKNOWN
    assert out.unknown == ("2023-00999-WS",)
    assert any(r.startswith("PO 2023-00125-WS is named as the PO not to use") for r in out.reasons)


def test_a_strangers_short_bare_number_does_not_link_even_when_known() -> None:
    """ "Hall A5, booth 4471" in a trade-show newsletter, where a shop's POs are BRC-4471 and it
    writes "PO 4471": from a sender on no list, four digits alone say nothing."""
    pos = index(PoRecord("BRC-4471", "brightwater"), PoRecord("4500123456", "hansa"))
    booth = cand("BRC-4471", raw="4471", labelled=False, customer="brightwater")
    out = judge(extraction(booth, customer=None, routed_by="pattern"), pos, rules={})
    assert (out.status, out.po_numbers) == (Status.MISSING, ())
    assert "4471" not in text_of(out)  # nor named as set aside: a house or booth number
    # Labelled, or from the customer's own address, the same number links.
    labelled = dataclasses.replace(booth, labelled=True)
    out = judge(extraction(labelled, customer=None, routed_by="pattern"), pos, rules={})
    assert (out.status, out.po_numbers) == (Status.LINKED, ("BRC-4471",))
    own = judge(extraction(booth, customer="brightwater"), pos, rules={})
    assert (own.status, own.po_numbers) == (Status.LINKED, ("BRC-4471",))
    # A long bare number a stranger writes links when known (a carrier quoting the PO).
    sap = cand("4500123456", labelled=False, customer="hansa")
    out = judge(extraction(sap, customer=None, routed_by="pattern"), pos, rules={})
    assert (out.status, out.po_numbers) == (Status.LINKED, ("4500123456",))


def test_a_strangers_new_po_set_aside_is_not_called_a_newsletter() -> None:
    """A platform's "New Purchase Order 4500875110" (strangers = "known", not yet imported)."""
    strict = dataclasses.replace(WESTSIDE, strangers="known")
    new = cand("2024-00999-WS")
    out = run(extraction(new, routed_by="pattern"), rules={"westside": strict})
    assert out.status is Status.MISSING
    assert "usually a carrier, bank, supplier or newsletter" not in text_of(out)
    assert "If it is an order (a customer's purchasing platform" in out.reasons[0]
    assert "'2024-00999-WS' in the message body looks like a PO number of" in text_of(out)
    assert_plain_words(out)


def test_a_new_po_given_beside_a_known_one_mentioned_is_unknown() -> None:
    """ "Please accept PO 2023-00999-WS (same price as 2023-00125-WS)": the new order needs a
    person; a silent link to the PO only mentioned would hide it."""
    new = ruled("2023-00999-WS", "Please accept PO [2023-00999-WS] for 10 drums")
    mentioned = ruled("2023-00125-WS", "(same price as [2023-00125-WS]).", labelled=False)
    out = run(extraction(new, mentioned))
    assert (out.status, out.unknown) == (Status.UNKNOWN, ("2023-00999-WS",))
    assert (
        "PO 2023-00125-WS from the PO records is named too (a reference, an earlier order, or one "
        "to cancel?), but the PO the message gives is PO 2023-00999-WS." in out.reasons
    )
    assert_plain_words(out)


def test_a_known_po_stays_linked_beside_the_writers_own_order_or_a_slip_of_it() -> None:
    known = ruled("2023-00125-WS", "Kessler order [2023-00125-WS] can ship", labelled=False)
    own = ruled("2023-00999-WS", "Nordlager confirmed our order [2023-00999-WS] for week 47")
    # From a sender on no list (a colleague at a supplier): the writer's own order, not ours.
    out = run(extraction(known, own, routed_by="pattern"))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    labelled = ruled("2023-00125-WS", "PO [2023-00125-WS] attached")
    slip = ruled("2023-00152-WS", "Purchase order [2023-00152-WS]", source="attachment:po.pdf")
    out = run(extraction(labelled, slip))  # two digits swapped in the PDF: a slip, not new
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    other = ruled("2023-00126-WS", "PO [2023-00126-WS] too")
    out = run(extraction(labelled, other, new_po := ruled("2023-00999-WS", "PO [2023-00999-WS]")))
    assert out.status is Status.AMBIGUOUS  # several known: a statement; the new one is named
    assert "PO 2023-00999-WS is also named but is not in the PO records." in out.reasons
    assert new_po.labelled


def test_a_scan_beside_a_po_found_elsewhere_asks_for_nothing() -> None:
    """A scanned PDF named "PO_2023-00125-WS.pdf": linked by its file name; the scan is noted,
    without "open it and find the PO"."""
    scan = Problem("attachment:PO_2023-00125-WS.pdf", Unreadable.NO_TEXT)
    named = cand("2023-00125-WS", source="filename:PO_2023-00125-WS.pdf")
    out = run(extraction(named, problems=[scan], pdf_count=1))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert out.reasons == (
        "The attachment PO_2023-00125-WS.pdf: the PDF is a scanned picture without text (not "
        "read).",
    )
    alone = run(extraction(problems=[scan], pdf_count=1))
    assert alone.status is Status.UNREADABLE
    assert "find the PO number and link the message to it" in text_of(alone)


def test_a_weak_number_with_its_own_letters_is_quoted_whole() -> None:
    """ "AJS 2026-219" spread over words: "AJS" is part of the number, not words before it."""
    spread = cand("2023-00125-WS", raw="WS 2023-00125", labelled=False)
    out = run(extraction(spread))
    assert (
        "'WS 2023-00125' in the message body is PO 2023-00125-WS in the PO records: linked by the "
        "number alone, without a PO label." in out.reasons
    )


def test_of_two_known_pos_the_one_the_writer_says_is_closed_gives_way() -> None:
    """ "PO 2022-00777-WS is closed (fully receipted); the new order is 2023-00125-WS": the
    records agree that the first is closed: linked to the open one, and said."""
    old = ruled("2022-00777-WS", "The order number quoted, [2022-00777-WS], is closed (fully")
    new = ruled("2023-00125-WS", "has raised a new order, [2023-00125-WS], for the rest")
    out = run(extraction(old, new))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        "PO 2022-00777-WS is closed in the PO records, as the message says: linked to the open PO "
        "it also names." in out.reasons
    )
    # Without those words (a remittance paying both), or when the records call it open: both.
    # The subject naming the closed PO and the PDF the open one is no disagreement then.
    subject = dataclasses.replace(old, source="subject")
    pdf = dataclasses.replace(new, source="attachment:PO.pdf", page=1)
    settled = run(extraction(subject, old, pdf, new, pdf_count=1))
    assert (settled.status, settled.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert not any("disagree" in r for r in settled.reasons)
    paid = ruled("2022-00777-WS", "Payment for [2022-00777-WS] and")
    assert run(extraction(paid, new)).status is Status.AMBIGUOUS
    # The records still call it open: the writer's words alone decide only where the other PO
    # is called the new one ("has raised a new order"); the reason says the records lag.
    open_said_closed = ruled("2023-00126-WS", "[2023-00126-WS] is closed")
    lagging = run(extraction(open_said_closed, new))
    assert (lagging.status, lagging.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        "The message calls PO 2023-00126-WS cancelled or replaced and PO 2023-00125-WS the new "
        "PO: linked to PO 2023-00125-WS. The PO records still have PO 2023-00126-WS open."
    ) in lagging.reasons
    plain = ruled("2023-00125-WS", "Delivery for [2023-00125-WS] today")
    assert run(extraction(open_said_closed, plain)).status is Status.AMBIGUOUS


@pytest.mark.parametrize(
    ("old_said", "new_said"),
    [
        ("PO [2023-00126-WS] ist storniert, bitte", "bitte stattdessen [2023-00125-WS] nehmen"),
        ("PO [2023-00126-WS] cancelled - replaced by", "cancelled - replaced by [2023-00125-WS]"),
        ("Anulamos la OC [2023-00126-WS] y en su", "y en su reemplazo [2023-00125-WS] por"),
        ("Please cancel our PO [2023-00126-WS] and", "and consider PO [2023-00125-WS] instead"),
        ("Beställning [2023-00126-WS] makuleras och", "och ersätts av [2023-00125-WS]. Mvh"),
        ("Tilaus [2023-00126-WS] perutaan,", "korvaava tilaus [2023-00125-WS]"),
        ("bên em h\u1ee7y PO [2023-00126-WS] và", "và thay b\u1eb1ng PO [2023-00125-WS] ngày"),
        ("PO [2023-00126-WS] dibatalkan,", "dibatalkan, diganti dengan PO [2023-00125-WS]"),
        ("Please cancel PO [2023-00126-WS] and use", "and use PO [2023-00125-WS] instead."),
        (
            "zamówienie [2023-00126-WS] anulowane,",
            "prosimy o dostawę do nowego zamówienia [2023-00125-WS]",
        ),
        (
            "cancel this one [2023-00126-WS]",
            "cancel this one and replace it with PO [2023-00125-WS] -",
        ),
        ("PO [2023-00126-WS] is cancelled; we", "we re-raised it as PO [2023-00125-WS] today"),
        (
            "la OC [2023-00126-WS] queda cancelada; favor",
            "favor de sustituirla por la OC [2023-00125-WS]",
        ),
        ("Заказ № [2023-00126-WS] отменяем.", "Вместо него оформлен заказ № [2023-00125-WS]"),
        (
            "注文番号[2023-00126-WS]は取消となります。",
            "新しい注文番号[2023-00125-WS]で手配願います",
        ),
        (
            "기존 발주번호 [2023-00126-WS]는 취소되었으며,",
            "수량으로 [2023-00125-WS]로 재발주하였습니다.",
        ),
    ],
)
def test_a_po_called_cancelled_beside_its_replacement_links_the_replacement(
    old_said: str, new_said: str
) -> None:
    """The records have not caught up (both open); the writer cancels one, names the other."""
    out = run(extraction(ruled("2023-00126-WS", old_said), ruled("2023-00125-WS", new_said)))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))


def test_a_subject_calling_a_po_cancelled_beside_the_new_one_in_the_body() -> None:
    """ "CANCELLED - PO 4500716017" in the subject, "replace it with PO 4500716018" in the body:
    no disagreement of the parts, the new one."""
    old = ruled("2023-00126-WS", "CANCELLED - PO [2023-00126-WS]", source="subject")
    new = ruled("2023-00125-WS", "cancel this one and replace it with PO [2023-00125-WS] -")
    out = run(extraction(old, new))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert not any("disagree" in r for r in out.reasons)


@pytest.mark.parametrize(
    "said",
    [
        "Sorry, that should read [2023-00125-WS] - my mistake",
        "I meant PO [2023-00125-WS], apologies",
        "Korrektur: richtig ist [2023-00125-WS].",
        "sorry, the correct PO is [2023-00125-WS] (the other one is for the valves)",
        "pomyłka, prawidłowy numer zamówienia to [2023-00125-WS]",
        "die richtige Bestellnummer lautet [2023-00125-WS]",
        "订单号应该是 [2023-00125-WS]，谢谢",
    ],
)
def test_of_two_known_pos_the_one_a_correction_names_links(said: str) -> None:
    """ "PO 2023-00126-WS ... Sorry, that should read 2023-00125-WS": the writer corrects the
    first; two orders named plainly stay both."""
    first = ruled("2023-00126-WS", "Please deliver against PO [2023-00126-WS] as agreed.")
    out = run(extraction(first, ruled("2023-00125-WS", said)))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert any(
        r.startswith("The message corrects PO 2023-00126-WS to PO 2023-00125-WS (")
        for r in out.reasons
    )
    plain = ruled("2023-00125-WS", "and PO [2023-00125-WS] for the second site")
    assert run(extraction(first, plain)).status is Status.AMBIGUOUS


@pytest.mark.parametrize(
    "said",
    [
        "Please cancel PO [2023-00125-WS] at once",
        "Stornierung Bestellung [2023-00125-WS]",
        "hiermit stornieren wir unsere Bestellung [2023-00125-WS] vom 30.10.",
        "Cancellation of PO [2023-00125-WS]",
        "Annulation de la commande [2023-00125-WS]",
    ],
)
def test_a_linked_po_the_message_cancels_says_the_records_lag(said: str) -> None:
    """ "Please cancel PO 2023-00125-WS": about that PO, linked, and the reason says what the
    message may do to it; not said of a PO the message does not call so."""
    out = run(extraction(ruled("2023-00125-WS", said)))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert (
        "The message may cancel or close PO 2023-00125-WS; the PO records still have it open."
        in out.reasons
    )
    plain = run(extraction(ruled("2023-00125-WS", "Delivery for PO [2023-00125-WS] today")))
    assert not any("may cancel" in r for r in plain.reasons)
    for place in ("Delivery failed for [2023-00125-WS]. Reason: Premises closed", "Our office "
                  "is closed on Friday; PO [2023-00125-WS] ships Monday"):  # fmt: skip
        assert not any(
            "may cancel" in r for r in run(extraction(ruled("2023-00125-WS", place))).reasons
        )


@pytest.mark.parametrize(
    ("old_said", "new_said"),
    [
        ("PO [2023-00126-WS] cancelled - replaced by", "cancelled - replaced by [2023-00199-WS]"),
        ("Please cancel [2023-00126-WS], we will", "we will reissue it as [2023-00199-WS]."),
    ],
)
def test_a_po_called_replaced_by_a_new_one_not_in_the_records_is_unknown(
    old_said: str, new_said: str
) -> None:
    """ "PO 2023-00126-WS cancelled - replaced by 2023-00199-WS": the records still have the old
    one open and do not have the new one yet: the replacement order needs a person."""
    out = run(extraction(ruled("2023-00126-WS", old_said), ruled("2023-00199-WS", new_said)))
    assert (out.status, out.unknown) == (Status.UNKNOWN, ("2023-00199-WS",))
    assert any("The PO records still have PO 2023-00126-WS open" in r for r in out.reasons)


def test_parts_that_disagree_are_not_called_fine_for_a_remittance() -> None:
    """The subject says one PO, the PDF another: the clerk must ask which is right."""
    subject = cand("2023-00125-WS", source="subject")
    pdf = cand("2023-00126-WS", source="attachment:order.pdf", page=1)
    out = run(extraction(subject, pdf, pdf_count=1))
    assert out.status is Status.AMBIGUOUS
    assert any(r.startswith("The parts disagree") for r in out.reasons)
    assert not any("a remittance" in r for r in out.reasons)


def test_an_encrypted_pdf_beside_a_po_found_elsewhere_asks_for_nothing() -> None:
    out = run(extraction(cand("2023-00125-WS"), problems=[ENCRYPTED], pdf_count=1))
    assert out.status is Status.LINKED
    assert out.reasons == (
        "The attachment Order-2023.pdf: the PDF is password-protected (not read).",
    )


def test_a_strangers_number_set_aside_is_said_once_with_its_label() -> None:
    """A platform's "Bestellnummer: 4500…" in the body, the same number bare in the subject, from
    an address on no list (a customer counting only known POs from strangers): one reason, not a
    second one saying it has no label."""
    known_only = dataclasses.replace(RULES["acme"], strangers="known")
    body = cand("ACME-199999", raw="199999", customer="acme")
    subject = dataclasses.replace(body, labelled=False, source="subject")
    assert subject.weak  # digits alone, no label
    out = run(
        extraction(body, subject, customer=None, routed_by="none"),
        rules={**RULES, "acme": known_only},
    )
    assert out.status is Status.MISSING
    named = [r for r in out.reasons if r.startswith("'199999'")]
    assert len(named) == 1, out.reasons
    assert "is not in the PO records: not counted from this sender" in named[0]


def test_a_strangers_labelled_value_set_aside_is_not_called_a_newsletter() -> None:
    """A new buyer's own "Purchase Order APB-PO-7781", in no customer's format."""
    own = bad("APB-PO-7781", customer=None)
    out = run(extraction(own, customer=None, routed_by="none"))
    assert out.status is Status.MISSING
    assert out.reasons[0].startswith("No PO from the PO records was found, and the mail is not")
    assert "usually a carrier" not in text_of(out)
    assert "'APB-PO-7781' in the message body follows a PO label" in text_of(out)


@pytest.mark.parametrize(
    "context",
    [
        "Our PO number will be [2023-00127-WS] once approved",
        "please use the new PO [2023-00127-WS]",
        "cancelled and reissued as [2023-00127-WS]",
    ],
)
def test_a_po_announced_as_new_gets_no_did_you_mean(context: str) -> None:
    """ "Our PO number will be HBX-24-00475": one slip from a known PO, but announced as new."""
    new = ruled("2023-00127-WS", context)
    out = run(extraction(new))
    assert out.status is Status.UNKNOWN
    assert out.suggestions == ()
    plain = run(extraction(ruled("2023-00127-WS", "PO [2023-00127-WS] attached")))
    assert "2023-00126-WS" in plain.suggestions  # not announced: hinted


def test_a_slip_of_a_known_po_said_to_be_used_instead_is_a_new_order() -> None:
    """ "PO 71903 was entered with the wrong site. Please use our order no. 71930 instead": one
    slip from the known PO, both labelled, but the writer says to use it instead."""
    old = ruled("2023-00125-WS", "Hello, PO [2023-00125-WS] was entered with the wrong site")
    new = ruled("2023-00152-WS", "Please use our order no. [2023-00152-WS] instead for the 3")
    out = run(extraction(old, new))
    assert (out.status, out.unknown) == (Status.UNKNOWN, ("2023-00152-WS",))
    assert out.suggestions == ()
    # Without "instead", the two swapped digits read as a slip: linked, as before.
    slip = ruled("2023-00152-WS", "Please use our order no. [2023-00152-WS] for the 3")
    assert run(extraction(old, slip)).status is Status.LINKED
    # From a sender on no list, "our order" is the writer's own order, not a new PO of ours.
    stranger = run(extraction(old, slip, routed_by="pattern"))
    assert stranger.status is Status.LINKED


@pytest.mark.parametrize(
    "word",
    [
        "lezárva", "închisă", "uzavretá", "anulowana", "annulleret",
        "est soldé", "est close", "risulta chiuso", "è stato annullato", "afgesloten",
        "vervangen door", "foi cancelado e substituído pelo", "cancelada, en su reemplazo",
        "iptal edildi", "kapat\u0131ld\u0131", "ακυρώθηκε", "בוטלה", "تم إلغاء",
    ],
)  # fmt: skip
def test_closed_said_in_more_languages(word: str) -> None:
    old = ruled("2022-00777-WS", f"[2022-00777-WS] {word}, új rendelés")
    new = ruled("2023-00125-WS", "new order [2023-00125-WS]")
    out = run(extraction(old, new))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))


@pytest.mark.parametrize("status", ["Uzavřeno", "Anulada", "Cerrada", "Chiusa", "Soldée"])
def test_a_closed_status_in_another_language_is_said_with_the_english_word(status: str) -> None:
    pos = index(PoRecord("2022-00777-WS", "westside", status=status))
    out = judge(extraction(cand("2022-00777-WS")), pos, rules=RULES, names=NAMES)
    said = f"PO 2022-00777-WS is closed ({status.lower()}) in the PO records."
    assert said in out.reasons


@pytest.mark.parametrize(
    "said", ["[2022-00777-WS] 已取消\uff0c新订单", "[2022-00777-WS]はキャンセル"]
)
def test_closed_said_in_chinese_and_japanese(said: str) -> None:
    """CJK words stand between other letters without spaces: "已取消" (cancelled)."""
    old = ruled("2022-00777-WS", said)
    new = ruled("2023-00125-WS", "新订单 [2023-00125-WS]")
    out = run(extraction(old, new))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))


def test_a_japanese_wrong_right_correction_rules_the_wrong_one_out() -> None:
    """誤 (wrong) HK2504-0023 / 正 (right) HK2504-0031, the standard Japanese correction."""
    wrong = ruled("2023-00125-WS", "訂正のお願い 誤\uff1a[2023-00125-WS]", labelled=False)
    right = ruled("2023-00126-WS", "正\uff1a[2023-00126-WS] 以上")
    out = run(extraction(wrong, right))
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00126-WS",))


@pytest.mark.parametrize(
    ("sender", "looks_like"),
    [
        ("h.marsh@staldric-heath.example", "staldric-health.example"),  # a letter dropped
        ("s.roberts@kestrel-engg.example", "kestrel-eng.example"),  # a letter added
        ("d.whitcombe@nfu.edu-mail.example", "nfu.example"),  # their name, another domain
        ("ap@acme-billing.example", "acme.example"),  # their name and a word
        ("buyer@acme.example", None),  # theirs
        ("buyer@eu.acme.example", None),  # a subdomain of theirs
        ("remit@dfas.example", None),  # another short name
        ("info@acmeworld.example", None),  # another name that starts like theirs
        ("bob@gmail.example", None),  # a provider one customer's buyer uses
        ("x@mail.other.example", None),  # a host word is no name
    ],
)
def test_a_senders_domain_that_looks_like_a_customers_is_named(
    sender: str, looks_like: str | None
) -> None:
    def customer(cid: str, *senders: str) -> CustomerRules:
        return compiled(cid, name=cid.title(), senders=list(senders), pattern=r"X-\d{4}")

    customers = [
        customer("hosp", "*@staldric-health.example"),
        customer("kestrel", "*@kestrel-eng.example"),
        customer("nfu", "*@nfu.example", "*@*.nfu.example"),
        customer("acme", "*@acme.example", "tom@gmail.example"),
        customer("mailco", "*@mail.mailco.example"),
    ]
    found = lookalike_domain(sender, customers)
    assert (found[1] if found else None) == looks_like


def test_a_known_po_from_a_look_alike_domain_links_with_a_warning() -> None:
    """Order fraud: a real PO number quoted from "westside-tool.example" (the customer is
    "westside-tools.example"): linked as the PO says, and the first reason warns."""
    stranger = extraction(cand("2023-00125-WS"), routed_by="none", customer=None)
    out = run(stranger, sender="buyer@westside-tool.example")
    assert (out.status, out.po_numbers) == (Status.LINKED, ("2023-00125-WS",))
    assert out.reasons[0].startswith(
        "The sender buyer@westside-tool.example is on no customer's list, but its domain looks "
        "like Westside Tools Ltd's (westside-tools.example): check that the mail really comes "
        "from them"
    )
    plain = run(stranger, sender="orders@carrier.example")
    assert not any("looks like" in r for r in plain.reasons)
