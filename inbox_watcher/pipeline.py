"""Raw message bytes -> what the extractors found, run inside an isolated worker process.

The fast path reads the message and its PDFs in one task per message. When that task dies
(time limit, memory limit, a crash inside a PDF library), the message is read again without its
PDFs, and each PDF then goes to a task of its own, so that one hostile attachment costs only
itself: it becomes a Problem naming the attachment and the limit it hit.
"""

from __future__ import annotations

import hashlib
import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from extractors.message import Extraction, PdfOutcome, extract_email
from extractors.pdf_extract import PdfLimits, extract_pdf
from extractors.rules import CustomerRules
from extractors.types import Attachment, Email, Problem, Unreadable
from inbox_watcher.isolation import Done, IsolatedPool
from inbox_watcher.mime import MimeLimits, read_message


@dataclass(frozen=True, slots=True)
class Limits:
    """Every per-message limit, picklable for the workers."""

    mime: MimeLimits = field(default_factory=MimeLimits)
    pdf: PdfLimits = field(default_factory=PdfLimits)
    pattern_timeout: float = 0.5
    message_time_limit: float = 60.0
    pdf_time_limit: float = 20.0


@dataclass(frozen=True, slots=True)
class Analysis:
    """The readable facts of one message and its extraction (no body text is kept)."""

    message_id: str | None
    sender: str
    subject: str
    date: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    content_hash: str
    size: int
    extraction: Extraction
    defects: tuple[str, ...] = ()
    auto_reply: bool = False  # the headers say an automatic reply
    cpu_ms: float | None = None  # the CPU reading it took in one go (logged: a slow message)


@dataclass(frozen=True, slots=True)
class AnalysisFailed:
    """The message could not be analysed: a bug or a fault, recorded with its traceback."""

    error: str
    detail: str = ""


# Header fields the way to the mailbox adds or changes: a message delivered twice (to two
# aliases, through a relay, by a resend of the same mail) differs only in these. One pass of
# the standard library's engine over the header block (a loop over its lines cost 0.05 ms).
_TRACE_FIELDS = re.compile(
    rb"^(?:received|return-path|delivered-to|x-original-to|x-delivered-to|envelope-to"
    rb"|x-envelope-to|x-envelope-from|x-received|received-spf|authentication-results"
    rb"|dkim-signature|x-forwarded-to|x-forwarded-for|x-google-smtp-source|x-gm-message-state"
    rb"|arc-[\w-]*|x-spam[\w-]*|x-virus[\w-]*|x-ms-exchange-[\w-]*|x-mailgun-[\w-]*"
    rb"|x-ses-[\w-]*)[ \t]*:[^\n]*\n(?:[ \t][^\n]*\n)*",
    re.IGNORECASE | re.MULTILINE,
)


def content_hash(raw: bytes) -> str:
    """The message's identity for "recorded before": SHA-256 of its bytes without the trace
    header fields (``_TRACE_FIELDS``), line ends read alike in the header, so the same mail
    delivered twice, or moved or copied to another folder, has one hash."""
    # The first blank line, in one search that stops there (a find of the line-end form the
    # message does not use would read all of it).
    blank = _HEADER_END.search(raw)
    if blank is None:
        return hashlib.sha256(raw).hexdigest()
    end = blank.start()
    header = _TRACE_FIELDS.sub(b"", raw[: end + 1].replace(b"\r\n", b"\n"))
    digest = hashlib.sha256(header)
    digest.update(memoryview(raw)[end:])
    return digest.hexdigest()


_HEADER_END = re.compile(rb"\n\r?\n")


def _pdf_inline(limits: Limits) -> Callable[[Attachment, Sequence[CustomerRules]], PdfOutcome]:
    def read(att: Attachment, rules: Sequence[CustomerRules]) -> PdfOutcome:
        result = extract_pdf(att.data, att.filename, rules, limits.pdf)
        return PdfOutcome(result.candidates, result.problems, result.page_count)

    return read


def summarize(email: Email, raw: bytes, extraction: Extraction) -> Analysis:
    return Analysis(
        message_id=email.message_id,
        sender=email.sender,
        subject=email.subject,
        date=email.date,
        in_reply_to=email.in_reply_to,
        references=email.references,
        content_hash=content_hash(raw),
        size=len(raw),
        extraction=extraction,
        defects=email.defects,
        auto_reply=email.auto_reply,
    )


@dataclass(frozen=True, slots=True)
class MessageTask:
    raw: bytes
    customers: tuple[CustomerRules, ...]
    limits: Limits


@dataclass(frozen=True, slots=True)
class PdfTask:
    data: bytes
    filename: str
    customers: tuple[CustomerRules, ...]
    limits: Limits


def analyse(task: MessageTask) -> Analysis | AnalysisFailed:
    """Read a message and all its sources. Runs in a worker; never raises."""
    raw, customers, limits = task.raw, task.customers, task.limits
    started = time.process_time()
    try:
        email = read_message(raw, limits=limits.mime)
        extraction = extract_email(
            email, customers, read_pdf=_pdf_inline(limits), timeout=limits.pattern_timeout
        )
        done = summarize(email, raw, extraction)
        return replace(done, cpu_ms=round((time.process_time() - started) * 1000, 1))
    except Exception as exc:
        return AnalysisFailed(f"{type(exc).__name__}: {exc}"[:500], traceback.format_exc()[-4000:])


# -- the light task: only the bytes travel -------------------------------------------------------
# Pickling every customer's compiled rules with every message costs ~0.8 ms a message (send and
# unpickle). The parent installs the rules here before its worker pool forks, so the workers
# hold them already; a task carries the context's token and the bytes. A worker forked under an
# older context answers ``STALE`` and the parent sends that message the heavy way.

STALE = "stale-context"
_context: tuple[int, tuple[CustomerRules, ...], Limits] = (0, (), Limits())


def install_context(customers: tuple[CustomerRules, ...], limits: Limits) -> int:
    """Make (customers, limits) the context of workers forked from now on; returns its token."""
    global _context  # noqa: PLW0603 - the one process-wide context, set before forking
    _context = (_context[0] + 1, customers, limits)
    return _context[0]


def context_token(customers: tuple[CustomerRules, ...], limits: Limits) -> int:
    """The token of the installed context when it is this one, else 0 (use the heavy task)."""
    token, installed, installed_limits = _context
    return token if installed == customers and installed_limits == limits else 0


def analyse_light(task: tuple[int, bytes]) -> Analysis | AnalysisFailed | str:
    token, raw = task
    current, customers, limits = _context
    if token != current:
        return STALE
    return analyse(MessageTask(raw, customers, limits))


def read_only(task: MessageTask) -> Email | AnalysisFailed:
    """Read a message without touching its PDFs (the careful path). Runs in a worker."""
    try:
        return read_message(task.raw, limits=task.limits.mime)
    except Exception as exc:
        return AnalysisFailed(f"{type(exc).__name__}: {exc}"[:500], traceback.format_exc()[-4000:])


def pdf_task(task: PdfTask) -> PdfOutcome:
    """One PDF alone (the careful path). Runs in a worker."""
    result = extract_pdf(task.data, task.filename, task.customers, task.limits.pdf)
    return PdfOutcome(result.candidates, result.problems, result.page_count)


def failed_pdf(filename: str, kind: Unreadable, detail: str) -> PdfOutcome:
    return PdfOutcome((), (Problem(f"attachment:{filename}", kind, detail),), 0)


def analyse_carefully(
    pool: IsolatedPool, raw: bytes, customers: tuple[CustomerRules, ...], limits: Limits
) -> Analysis | AnalysisFailed:
    """The slow path, for a message whose task failed (a PDF that blows the time or memory
    limit): parse without PDFs in a worker, then each PDF in a task of its own, so one hostile
    attachment costs only itself."""
    [parsed] = pool.map(
        read_only,
        [MessageTask(raw, customers, limits)],
        time_limit=limits.message_time_limit,
    )
    if not isinstance(parsed, Done):
        return AnalysisFailed(
            f"the message could not be read: {parsed.kind.value} ({parsed.detail})"
        )
    email = parsed.value
    if isinstance(email, AnalysisFailed):
        return email
    pdfs = [a for a in email.attachments if a.is_pdf]
    results = pool.map(
        pdf_task,
        [PdfTask(a.data, a.filename, customers, limits) for a in pdfs],
        time_limit=limits.pdf_time_limit,
    )
    by_name: dict[int, PdfOutcome] = {}
    for att, res in zip(pdfs, results, strict=True):
        if isinstance(res, Done):
            by_name[id(att)] = res.value
        else:
            by_name[id(att)] = failed_pdf(att.filename, res.kind, res.detail)

    def lookup(att: Attachment, _rules: Sequence[CustomerRules]) -> PdfOutcome:
        return by_name[id(att)]

    try:
        extraction = extract_email(
            email, customers, read_pdf=lookup, timeout=limits.pattern_timeout
        )
    except Exception as exc:
        return AnalysisFailed(f"{type(exc).__name__}: {exc}"[:500])
    return summarize(email, raw, extraction)
