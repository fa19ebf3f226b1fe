"""Value objects that cross the extractor boundary.

Everything here is frozen and picklable: values travel from worker processes back to the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Unreadable(StrEnum):
    """Why a source (a PDF attachment, a whole message) could not be read.

    The value is the short code stored in the database; ``describe`` gives the plain words.
    """

    ENCRYPTED = "encrypted"
    CORRUPT = "corrupt"
    NO_TEXT = "no_text_layer"
    TOO_MANY_PAGES = "too_many_pages"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    TOO_LARGE = "too_large"
    WORKER_CRASHED = "worker_crashed"
    PATTERN_TIMEOUT = "pattern_timeout"
    PARTLY_UNREAD = "partly_unread"
    NOTE = "note"
    XML_DAMAGED = "xml_damaged"


UNREADABLE_WORDS: dict[Unreadable, str] = {
    Unreadable.ENCRYPTED: "the PDF is password-protected: ask the sender for an open copy",
    Unreadable.CORRUPT: "the PDF is damaged or truncated: ask the sender to send it again",
    Unreadable.NO_TEXT: "the PDF is a scanned picture without text, so it could not be read; "
    "open it, find the PO number and link the message to it",
    Unreadable.TOO_MANY_PAGES: "the PDF has more pages than the limit; only the first were read",
    Unreadable.TIME_LIMIT: "reading the PDF took longer than the time limit",
    Unreadable.MEMORY_LIMIT: "reading the PDF needed more memory than the memory limit",
    Unreadable.TOO_LARGE: "too large to read whole",
    Unreadable.WORKER_CRASHED: "the reader crashed on this file",
    Unreadable.PATTERN_TIMEOUT: "the customer's PO pattern took too long on this text",
    Unreadable.PARTLY_UNREAD: "part of the message was not read",
    Unreadable.NOTE: "note",
    Unreadable.XML_DAMAGED: "the e-invoice XML is cut off or damaged (it does not end with its "
    "closing tag)",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that kept part of a message from being read (not a PO verdict)."""

    source: str  # "subject" | "body" | "attachment:<filename>" | "message"
    kind: Unreadable
    detail: str = ""
    blocking: bool = True  # False: partial (e.g. too many pages: the first pages were read)

    def describe(self) -> str:
        if self.kind is Unreadable.NOTE:
            return self.detail
        if self.kind is Unreadable.PARTLY_UNREAD:
            return f"part of the message was not read: {self.detail}"
        if self.kind is Unreadable.PATTERN_TIMEOUT and self.detail.startswith("customer "):
            customer, _, what = self.detail.removeprefix("customer ").partition("; ")
            what = what or "took too long on this text, so it was searched only in part"
            return (
                f"{source_words(self.source)}: the PO pattern of customer {customer} (its "
                f"customer file {customer}.toml) {what}: simplify that pattern (`po-watcher "
                "check` names it)"
            )
        words = f"{source_words(self.source)}: {UNREADABLE_WORDS[self.kind]}"
        return f"{words} (details: {self.detail})" if self.detail else words


def source_words(source: str, page: int | None = None) -> str:
    """A source as people say it: "the attachment order.pdf page 2", "the file name
    PO_4500123456.pdf", "the e-invoice XML inside RE-1.pdf", "the message body"."""
    kind, _, name = source.partition(":")
    if kind == "attachment":
        return f"the attachment {name}{f' page {page}' if page else ''}"
    if kind == "filename":
        return f"the file name {name}"
    if kind == "embedded":
        return f"the e-invoice XML inside {name}"
    return {"subject": "the subject", "body": "the message body", "message": "the message"}.get(
        source, source
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One PO number found somewhere in a message.

    ``raw`` is the text as written, ``normalized`` the customer's canonical form (for a malformed
    candidate: the raw text, cleaned of surrounding punctuation and upper-cased), ``valid`` whether
    ``normalized`` is a well-formed number for that customer.
    """

    raw: str
    normalized: str
    source: str  # "subject" | "body" | "attachment:<filename>"
    valid: bool
    context: str = ""  # the words around the match, for people reading a flag
    page: int | None = None  # 1-based page for PDF sources
    quoted: bool = False  # found in quoted reply text or a forwarded message
    labelled: bool = False  # preceded by (or laid out next to) one of the customer's labels
    customer: str | None = None  # the customer whose rules produced it

    @property
    def weak(self) -> bool:
        """Weak evidence: an unlabelled number without a letter (a phone, register, invoice or
        booking number? "4500123456", "2024-00811" where the customer's prefix is optional) or a
        match spread over more words than the canonical number has ("in 2023 150 kg"; "OA
        24/00231" is one number where the canonical form has its space too). It counts only as
        a known PO."""
        raw = self.raw.strip()
        return not self.labelled and (
            not any(ch.isalpha() for ch in raw) or len(raw.split()) > len(self.normalized.split())
        )


@dataclass(frozen=True, slots=True)
class Word:
    """A word on a PDF page with its box (PDF points, origin top-left)."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float


@dataclass(frozen=True, slots=True)
class PdfContent:
    """What a PDF reader produced: text per page, plus words for pages that needed layout."""

    page_count: int
    pages: tuple[str, ...]  # text of the pages read (may be fewer than page_count)
    problems: tuple[Problem, ...] = ()
    words: tuple[tuple[int, tuple[Word, ...]], ...] = field(default=())  # (1-based page, words)
    tables: tuple[tuple[int, tuple[tuple[str | None, ...], ...]], ...] = field(default=())
    # XML files embedded in the PDF (name, bytes): the e-invoice of Factur-X/ZUGFeRD
    embedded_xml: tuple[tuple[str, bytes], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Attachment:
    """A decoded attachment. ``filename`` is sanitized (no path, no control characters)."""

    filename: str
    content_type: str
    data: bytes
    is_pdf: bool  # decided by the %PDF magic bytes, whatever the declared type
    inline: bool = False
    forwarded: bool = False  # found inside a forwarded message/rfc822 part
    is_xml: bool = False  # an XML file (by type or name), decoded for its e-invoice fields
    text: str = ""  # a CSV file's rows as "cell | cell" lines, read like a table in the body
    is_edi: bool = False  # an X12 or EDIFACT interchange, decoded for its PO references


@dataclass(frozen=True, slots=True)
class TextPart:
    """A run of readable body text. ``quoted`` is True for a forwarded message's text."""

    text: str
    quoted: bool = False
    origin: str = "body"  # "body" | "html" | "forwarded"


@dataclass(frozen=True, slots=True)
class Email:
    """A message as the extractors see it: decoded, typed, never raising."""

    message_id: str | None
    sender: str  # the bare address, lower-cased; "" when there is none
    sender_name: str
    subject: str
    date: str | None  # ISO 8601 (UTC) or None when absent or unparseable
    in_reply_to: str | None
    references: tuple[str, ...]
    text_body: str  # the plain-text body (all top-level text/plain parts joined)
    html_text: str  # HTML body turned into text
    forwarded: tuple[TextPart, ...]  # text of forwarded message/rfc822 parts (quoted=True)
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]  # plain words: what was wrong with the message's structure
    size: int = 0
    unread: tuple[str, ...] = ()  # content left unread (a limit, damage): it may hide a PO
    notes: tuple[str, ...] = ()  # worth telling a person, hides nothing (a ZIP named .pdf)
    auto_reply: bool = False  # headers say an automatic reply (Auto-Submitted: auto-replied)
