"""From a read message to its PO candidates: routing to a customer, then every source scanned.

Routing: the customers whose sender globs match the From address. When none does, every
customer's rules are tried and the message is given to the one customer whose pattern found a
valid number (labelled ones first); when that stays open, ``customer`` is None and the
candidates keep the customer whose rules produced them.

PDF attachments are read by a callable the caller passes (in the daemon: a worker process with
time and memory limits); without one, PDFs are not read (``try`` on a plain text, tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import regex

from extractors.edi import extract_edi
from extractors.einvoice import extract_einvoice
from extractors.near_miss import decoyed_candidates, lookalike_candidates, near_miss_candidates
from extractors.rules import CustomerRules
from extractors.text import dedupe, scan_text
from extractors.types import Attachment, Candidate, Email, Problem, Unreadable

PdfReader = Callable[[Attachment, Sequence[CustomerRules]], "PdfOutcome"]


@dataclass(frozen=True, slots=True)
class PdfOutcome:
    """What reading one PDF attachment gave (from the worker, or its failure)."""

    candidates: tuple[Candidate, ...]
    problems: tuple[Problem, ...]
    page_count: int = 0


@dataclass(frozen=True, slots=True)
class Extraction:
    customer: str | None  # the customer id the message belongs to, when known
    routed_by: str  # "sender" | "pattern" | "none"
    candidates: tuple[Candidate, ...]
    problems: tuple[Problem, ...]
    pdf_count: int = 0
    xml_count: int = 0  # XML e-invoices and EDI files searched for their PO references
    not_read: tuple[str, ...] = ()  # attachments not read (Office files, images, archives)
    text_count: int = 0  # attachments read as text (CSV, .txt, calendar invitations)


# "Re:", "AW:", "TR:"; Chinese 回复/回覆/答复 (reply), 转发/轉寄/轉發 (forward), Japanese 返信,
# 転送; a full-width colon too.
_REPLY_PREFIX = regex.compile(
    r"\s*(?:re|aw|antw|antwort|wg|fw|fwd|tr|sv|vs|vb|vl|fs|res|enc|rv|rif|odp|\u56de\u590d|\u56de\u8986|\u7b54\u590d|\u8f6c\u53d1"
    r"|\u8f49\u5bc4|\u8f49\u767c|\u8fd4\u4fe1|\u8ee2\u9001)\s*(?:\[\d+\])?\s*[:\uff1a]",
    regex.IGNORECASE,
)


def route(sender: str, customers: Sequence[CustomerRules]) -> list[CustomerRules]:
    """The customers whose sender globs match the address (domains are case-insensitive)."""
    if not sender:
        return []
    return [c for c in customers if c.sender_matches(sender)]


def extract_text_sources(
    email: Email, rules: CustomerRules, *, timeout: float = 0.5
) -> tuple[list[Candidate], list[Problem]]:
    """Candidates of one customer from the subject, the bodies, forwarded text and the
    attachments' file names."""
    found: list[Candidate] = []
    problems: list[Problem] = []
    timeouts = 0
    for text, source, quoted in _text_parts(email):
        if not text:
            continue
        if timeouts >= MAX_PATTERN_TIMEOUTS:
            # A pattern that backtracks on this mail's text would cost the timeout on each of
            # its parts (a hostile mail of 100 small attachments): the rest is left unsearched.
            problems.append(
                Problem(
                    "message",
                    Unreadable.PATTERN_TIMEOUT,
                    f"customer {rules.id}; took too long {timeouts} times, so the rest of the "
                    "message was not searched for its numbers",
                    blocking=False,
                )
            )
            break
        cands, probs = scan_text(text, rules, source, quoted=quoted, timeout=timeout)
        found.extend(cands)
        problems.extend(probs)
        timeouts += sum(p.kind is Unreadable.PATTERN_TIMEOUT for p in probs)
    return found, problems


MAX_PATTERN_TIMEOUTS = 3  # per customer and message, before the rest of its text is skipped


def _text_parts(email: Email) -> list[tuple[str, str, bool]]:
    """(text, source, quoted) of every part read as text."""
    parts: list[tuple[str, str, bool]] = [
        # "Re: PO 4500123456" repeats the thread's subject: it counts like quoted text, so a
        # new PO in the reply's own body is not "the parts disagree".
        (email.subject, "subject", _REPLY_PREFIX.match(email.subject) is not None),
        (email.text_body, "body", False),
        (email.html_text, "body", False),
    ]
    parts.extend((p.text, "body", True) for p in email.forwarded)
    # A CSV remittance or order list: its rows, read as a table ("Invoice | PO Number | Amount").
    parts.extend((a.text, f"attachment:{a.filename}", a.forwarded) for a in email.attachments)
    # "PO_4500123456.pdf": platforms and ERP systems name the document after the order.
    parts.extend(
        (file_name_text(a.filename), f"filename:{a.filename}", a.forwarded)
        for a in email.attachments
        if a.filename
    )
    return parts


def file_name_text(filename: str) -> str:
    """An attachment's file name as text to scan: without its extension, "_" and "+" as spaces
    ("PO_4500123456.pdf" reads as "PO 4500123456")."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return stem.replace("_", " ").replace("+", " ")


def extract_email(
    email: Email,
    customers: Sequence[CustomerRules],
    *,
    read_pdf: PdfReader | None = None,
    timeout: float = 0.5,
) -> Extraction:
    routed = route(email.sender, customers)
    pool = routed or list(customers)
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    for rules in pool:
        cands, probs = extract_text_sources(email, rules, timeout=timeout)
        candidates.extend(cands)
        problems.extend(probs)
    xml_count = 0
    for att in email.attachments:
        if att.is_xml or att.is_edi:  # a structured document's PO reference: one linear pass
            xml_count += 1
            reader = extract_edi if att.is_edi else extract_einvoice
            cands, probs = reader(att.data, att.filename, pool)
            if att.forwarded:  # an e-invoice of a forwarded message is quoted history
                cands = [replace(c, quoted=True) for c in cands]
            candidates.extend(cands)
            problems.extend(probs)
    pdf_count = 0
    if read_pdf is not None:
        for att in email.attachments:
            if not att.is_pdf:
                continue
            pdf_count += 1
            outcome = read_pdf(att, pool)
            if att.forwarded:  # a PDF of a forwarded message is part of the quoted history
                candidates.extend(replace(c, quoted=True) for c in outcome.candidates)
            else:
                candidates.extend(outcome.candidates)
            problems.extend(outcome.problems)
    timed_out = {
        p.detail.removeprefix("customer ").split(";")[0]
        for p in problems
        if p.kind is Unreadable.PATTERN_TIMEOUT
    }
    for rules in pool:
        # Nothing valid of this customer's anywhere (and its pattern did not time out here): its
        # text is searched for near misses ("order PLB-10019") and for its numbers set aside
        # after a decoy word ("Delivery confirmation HG-PO-0045130"), which only such a
        # message needs.
        if any(c.valid and c.customer == rules.id for c in candidates) or rules.id in timed_out:
            continue
        taken = frozenset(c.raw for c in candidates if c.customer == rules.id)
        for text, source, quoted in _text_parts(email):
            if not text or (email.text_body and text is email.html_text):
                continue  # the HTML copy of the plain body says the same
            if rules.prefixes:
                candidates.extend(
                    near_miss_candidates(
                        text, rules, source, quoted=quoted, taken=taken, timeout=timeout
                    )
                )
            candidates.extend(
                lookalike_candidates(
                    text, rules, source, quoted=quoted, taken=taken, timeout=timeout
                )
            )
            candidates.extend(
                decoyed_candidates(text, rules, source, quoted=quoted, timeout=timeout)
            )
    problems.extend(Problem("message", Unreadable.PARTLY_UNREAD, w) for w in email.unread)
    problems.extend(Problem("message", Unreadable.NOTE, w, blocking=False) for w in email.notes)
    candidates = dedupe(candidates)
    not_read = tuple(
        a.filename
        for a in email.attachments
        if not (a.is_pdf or a.is_xml or a.is_edi or a.text or a.inline)
    )
    customer: str | None
    if len(routed) == 1:
        customer, how = routed[0].id, "sender"
    else:
        # Customers sharing a sender glob (two plants of one company on "*") each read their
        # own numbers: a label does not decide between them, their PO records do.
        customer = _pick_customer(candidates, [c.id for c in pool], labels_decide=not routed)
        if customer is not None:
            # Keep the chosen customer's candidates; the others were only tried.
            candidates = [c for c in candidates if c.customer == customer]
            how = "sender" if routed else "pattern"
        else:
            # Still open: every customer's reading is kept, so that the PO records can settle
            # it (``triage.judge``; ``one_per_raw`` is how to show them without records).
            how = "sender" if routed else "none"
    text_count = sum(1 for a in email.attachments if a.text)
    return Extraction(
        customer,
        how,
        tuple(candidates),
        tuple(problems),
        pdf_count,
        xml_count,
        not_read,
        text_count,
    )


def _pick_customer(
    candidates: Sequence[Candidate], order: Sequence[str], *, labels_decide: bool = True
) -> str | None:
    """The one customer with valid candidates, else None. Labelled ones decide a tie, unless
    another customer has a well-formed number of more than digits ("BB-0413" beside "Order
    1236" on an internal run sheet): then the PO records decide (``triage.judge``)."""
    for require_label in (False, True) if labels_decide else (False,):
        owners = {
            c.customer
            for c in candidates
            if c.valid and c.customer is not None and (c.labelled or not require_label)
        }
        if len(owners) != 1:
            continue
        owner = owners.pop()
        strong_elsewhere = any(
            c.valid and not c.weak and c.customer not in (owner, None) for c in candidates
        )
        return None if require_label and strong_elsewhere else owner
    return None


def one_per_raw(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Without a customer, the same text read by several customers' rules is listed once."""
    seen: set[tuple[str, str, int | None, bool]] = set()
    out = []
    for c in candidates:
        key = (c.raw, c.source, c.page, c.valid)
        if key in seen:
            continue
        seen.add(key)
        out.append(c)
    return out
