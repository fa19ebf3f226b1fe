"""``po-watcher try FILE``: what po-watcher would find in one .eml or .pdf, and its verdict.

For the person writing a customer's pattern: the customer chosen, every candidate with its
source, page and the words around it, what could not be read, and the status with the reasons a
poll would give, judged against the PO records in the configured database (read only; nothing is
written). Without a database yet, the status before PO records are consulted (``missing``,
``malformed`` or the valid numbers found). Threads are not looked up: a reply without a PO of its
own shows as ``missing`` here. The file is read in the same isolated worker as in the daemon,
with the same limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from extractors.einvoice import extract_einvoice, is_e_invoice
from extractors.message import Extraction, route
from extractors.types import Candidate, Problem
from inbox_watcher.config import Config, format_size
from inbox_watcher.isolation import Done
from inbox_watcher.model import Status
from inbox_watcher.pipeline import (
    AnalysisFailed,
    MessageTask,
    PdfTask,
    analyse,
    analyse_carefully,
    pdf_task,
)
from inbox_watcher.runtime import limits_of, make_pool
from inbox_watcher.store import Store, StoreUnavailable
from inbox_watcher.triage import judge

PDF_MAGIC = b"%PDF-"


def try_file(config: Config, path: Path) -> int:
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}")
        return 2
    limits = limits_of(config)
    customers = tuple(config.customers)
    if PDF_MAGIC not in data[:1024] and is_e_invoice(data):  # pure and bounded: no worker
        found, problems = extract_einvoice(data, path.name, customers)
        print(f"file: {path} (e-invoice XML)")
        _print_candidates(found)
        _print_problems(problems)
        _print_verdict(config, Extraction(None, "none", tuple(found), tuple(problems)))
        return 0
    with make_pool(config) as pool:
        if PDF_MAGIC in data[:1024]:
            [pdf_res] = pool.map(
                pdf_task,
                [PdfTask(data, path.name, customers, limits)],
                time_limit=limits.pdf_time_limit,
            )
            print(f"file: {path} (PDF)")
            if not isinstance(pdf_res, Done):
                print(f"unreadable: {pdf_res.kind.value}: {pdf_res.detail}")
                return 1
            outcome = pdf_res.value
            print(f"pages: {outcome.page_count}")
            _print_candidates(outcome.candidates)
            _print_problems(outcome.problems)
            _print_verdict(
                config, Extraction(None, "none", outcome.candidates, outcome.problems, 1)
            )
            return 0
        [res] = pool.map(
            analyse, [MessageTask(data, customers, limits)], time_limit=limits.message_time_limit
        )
        # As a poll does: a message whose task failed is read again with each PDF on its own.
        analysis = (
            res.value
            if isinstance(res, Done) and not isinstance(res.value, AnalysisFailed)
            else analyse_carefully(pool, data, customers, limits)
        )
    print(f"file: {path} (message)")
    if len(data) > config.imap.max_message_size:
        print(
            f"note: {len(data) / 1_048_576:.1f} MB is over imap.max_message_size "
            f"({format_size(config.imap.max_message_size)}): a poll records it as unreadable "
            "without downloading it; read here anyway"
        )
    if isinstance(analysis, AnalysisFailed):
        print(f"unreadable: {analysis.error}")
        return 1
    names = {c.id: c.name for c in customers}
    ex = analysis.extraction
    print(f"from: {analysis.sender or '(no usable From address)'}")
    print(f"subject: {_printable(analysis.subject)}")
    claimed = len(route(analysis.sender, customers))  # customers whose sender globs match
    if ex.customer:
        how = "by sender" if claimed == 1 else "by the numbers found"
        if claimed > 1:
            how += f" among the {claimed} customers whose sender globs match"
        print(f"customer: {ex.customer} ({names.get(ex.customer, ex.customer)}), chosen {how}")
    elif claimed > 1:
        print(f"customer: none yet ({claimed} customers' sender globs match; no pattern decided)")
    else:
        print("customer: none (the sender matches no customer and no pattern decided)")
    print(f"PDF attachments: {ex.pdf_count}")
    if ex.xml_count:
        print(f"XML e-invoice and EDI attachments: {ex.xml_count}")
    for defect in analysis.defects:
        print(f"defect: {defect}")
    _print_candidates(ex.candidates)
    _print_problems(ex.problems)
    ignored = config.ignore.rule_for(analysis.sender, analysis.subject, analysis.auto_reply)
    linked = _print_verdict(config, ex, ignored=ignored, sender=analysis.sender)
    own = any(c.valid and not c.quoted for c in ex.candidates)
    if (analysis.in_reply_to or analysis.references) and not own and not linked:
        print(
            "  thread: it answers an earlier message and names no PO of its own: a poll links "
            "it to the POs that message is linked to (try does not look threads up)"
        )
    return 0


def _print_candidates(cands: Sequence[Candidate]) -> None:
    if not cands:
        print("candidates: none")
        return
    several = len({c.customer for c in cands}) > 1  # an unrouted message or a bare PDF
    readers: dict[tuple[str, str, int | None, bool], list[str]] = {}
    if several:  # a number one customer reads well is no attempt of the others': not shown
        valid_raws = {c.raw for c in cands if c.valid}
        cands = [c for c in cands if c.valid or c.raw not in valid_raws]
        # A value every customer's rules call malformed: one line naming them all.
        for c in cands:
            if not c.valid:
                readers.setdefault((c.raw, c.source, c.page, c.quoted), []).append(c.customer or "")
        cands = [
            c
            for c in cands
            if c.valid or readers[(c.raw, c.source, c.page, c.quoted)][0] == (c.customer or "")
        ]
    print(f"candidates ({len(cands)}):")
    for c in cands:
        where = c.source + (f" page {c.page}" if c.page else "") + (" (quoted)" if c.quoted else "")
        verdict = "valid" if c.valid else "MALFORMED"
        label = ", labelled" if c.labelled else ""
        whose = f"  by {c.customer}'s rules" if several and c.customer else ""
        if not c.valid and several:
            by = readers[(c.raw, c.source, c.page, c.quoted)]
            whose = f"  by the rules of {', '.join(by)}" if len(by) > 1 else whose
        print(f"  {c.normalized:<20} {verdict}{label}  raw={c.raw!r}  in {where}{whose}")
        if c.context:
            print(f"      …{_printable(c.context)}…")
        if c.valid and c.weak:
            spread = len(c.raw.split()) > len(c.normalized.split())
            why = "several words" if spread else "no letter"
            print(f"      (weak: no PO label and {why}: it counts only if it is a known PO)")


def _print_problems(problems: Sequence[Problem]) -> None:
    for p in problems:
        print(f"unreadable part: {p.describe()}")


def _print_verdict(
    config: Config, ex: Extraction, *, ignored: str | None = None, sender: str = ""
) -> bool:
    """Print the verdict; True when the message would be linked without its thread."""
    try:
        records = Store.existing_po_index(config.database.url_with_password())
        why_not = "the database does not exist yet (import PO records with `pos import`)"
    except StoreUnavailable as exc:
        records, why_not = None, f"the PO records could not be read: {exc}"
    if records is None:
        print(f"PO records: not consulted: {why_not}")
        _print_unjudged(ex)
        return False
    customers = {c.id: c for c in config.customers}
    outcome = judge(
        ex,
        records,
        rules=customers,
        names={c.id: c.name for c in config.customers},
        ignored=ignored,
        sender=sender,
    )
    print(f"PO records: {sum(len(t) for t in records.values()):,} in the database")
    numbers = f": {', '.join(outcome.po_numbers)}" if outcome.po_numbers else ""
    if outcome.unknown:
        numbers = f": {', '.join(outcome.unknown)} (not in the PO records)"
    print(f"would be: {outcome.status.value}{numbers}")
    owners = sorted(
        {
            j.candidate.customer
            for j in outcome.candidates
            if j.known and j.candidate.customer and j.candidate.normalized in outcome.po_numbers
        }
    )
    if ex.customer and outcome.customer != ex.customer:
        # A sender on no list: the numbers that first chose a customer did not count in the end.
        print(f"  customer in the end: {outcome.customer or 'none'} (the numbers that first "
              f"pointed to {ex.customer} do not count from this sender)")  # fmt: skip
    elif not ex.customer and owners:
        print(f"  customer in the end: {', '.join(owners)} (by the PO records)")
    for reason in outcome.reasons:
        print(f"  why: {_printable(reason)}")
    if outcome.ignored:
        print(f"  not flagged: {outcome.ignored}; it would be recorded as dismissed")
    return outcome.status in (Status.LINKED, Status.AMBIGUOUS)


def _print_unjudged(ex: Extraction) -> None:
    own = [c for c in ex.candidates if c.valid and not c.quoted]
    valid = own or [c for c in ex.candidates if c.valid]
    numbers = list(dict.fromkeys(c.normalized for c in valid))
    if numbers:
        print(
            f"would be: PO numbers found: {', '.join(numbers)} "
            "(linked if in the PO records, else unknown)"
        )
    elif any(not c.valid for c in ex.candidates):
        print("would be: malformed")
    elif any(p.blocking for p in ex.problems):
        print("would be: unreadable")
    else:
        print("would be: missing")


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)
