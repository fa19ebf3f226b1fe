"""Raw RFC 5322 bytes in, an ``extractors.types.Email`` out: decoded at the edge, never raising.

Public API: ``read_message(data, *, limits=DEFAULT_LIMITS) -> Email`` and the frozen
``MimeLimits``. This is the one module that imports mail-parser.

Why the stdlib ``email`` parser does the MIME work and mail-parser only reads the From address
(measured on this machine, CPython 3.11.7, mail-parser 4.8.0):

- speed: a 2.8 KB, 15-part message parses in 0.42 ms with ``BytesParser(policy=compat32)`` and in
  1.29 ms with ``mailparser.parse_from_bytes``; 10,000 MIME parts take 160 ms against 420 ms.
  mail-parser builds the same stdlib tree first, then does work we would throw away
  (received-header forensics, a base64 string of every attachment under a random name).
- shape: we need bytes, a sanitized name, and no copy at all of non-PDF attachments (only the
  first 4 KB of their base64 is decoded, to look for the ``%PDF-`` magic).
- what mail-parser does well is address recovery: ``mailparser.utils.get_addresses`` scans an
  address header structurally and reports ambiguous items (the CVE-2023-27043 class) instead of
  guessing, in about 0.05 ms. The From header goes through it; nothing else does.

The tree itself comes from ``mime_split.split_message`` (the stdlib parser's very tree, ~10x
faster, for regular messages; the stdlib parser for the rest). Whole ``read_message`` on the
benchmark mix (22 KB a message, 30 % with a PDF, 20 % HTML-only): about 0.5 ms, of which HTML to
text ~0.25 and the From header ~0.1 (cached per header text: senders repeat).

Hostile input, and what guards it (also measured):

- deep nesting: the stdlib parser recurses once per nesting level and raises ``RecursionError``
  near 1,000 levels (after about 0.5 s for nested multiparts); that is caught and the message is
  read again headers-only, with a defect. Our own tree walk is iterative and stops at
  ``max_depth`` and ``max_parts`` (10,000 parts: 0.2 s in all).
- HTML: ``html.parser`` on 3.11.7 is quadratic or worse when a construct is never closed:
  40 KB of ``"<a "`` took 27 s, 40 KB of ``"</"`` 0.3 s. ``html_text`` escapes every opener
  that has no closer after it (one linear pass), which is the text the parser would have produced
  for it anyway; it also escapes ``<![`` sections that make the parser raise AssertionError.
- long headers are cut to ``max_header_bytes`` before any decoding (a 1 MB Subject: 5 ms); text
  parts to ``max_text_chars``; defects are capped so a 10,000-part message yields a short list.
"""

from __future__ import annotations

import binascii
import codecs
import csv
import email.utils
import functools
import io
import mimetypes
import quopri
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from email import errors as email_errors
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from functools import partial
from typing import TypeVar

from mailparser.utils import get_addresses

from extractors.edi import is_edi as is_edi_data
from extractors.office import OfficeError, office_kind, office_text
from extractors.types import Attachment, Email, TextPart
from inbox_watcher.charsets import decode_text, utf8_or_cp1252
from inbox_watcher.html_text import html_to_text
from inbox_watcher.mime_split import split_message
from inbox_watcher.smime import PKCS7_MIME, SIGNATURES, SmimeError, signed_content
from inbox_watcher.tnef import TnefError, is_tnef, read_tnef

__all__ = ["DEFAULT_LIMITS", "MimeLimits", "read_message"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class MimeLimits:
    """Bounds on the work one message may cause; past a bound the rest is skipped, with a defect."""

    max_parts: int = 1000  # MIME parts visited (multipart containers included)
    max_depth: int = 10  # nesting of multipart and message/rfc822 containers
    max_header_bytes: int = 64 * 1024  # per header we read; longer ones are cut
    max_text_chars: int = 2_000_000  # per text or HTML part
    max_attachments: int = 100
    max_filename_chars: int = 150
    max_defects: int = 50
    pdf_magic_window: int = 1024  # "%PDF-" must start within this many leading bytes


DEFAULT_LIMITS = MimeLimits()


def read_message(data: bytes, *, limits: MimeLimits = DEFAULT_LIMITS) -> Email:
    """Parse one raw message. Never raises: whatever goes wrong becomes a defect string."""
    size = len(data) if isinstance(data, bytes | bytearray | memoryview) else 0
    out = _Builder(size=size, defects=_Defects(limits.max_defects))
    try:
        _read(bytes(data), limits, out)
    except Exception as exc:  # the per-message boundary: a bug here must not stop a mailbox
        why = f"{type(exc).__name__}: {exc}"[:200]
        out.defects.add(f"internal error while reading the message ({why})")
    return out.finish()


# --------------------------------------------------------------------------------------------
# Result accumulation


class _Defects:
    """Plain-word defects, deduplicated, in order, at most ``cap`` of them (then a count)."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._seen: dict[str, None] = {}
        self._dropped = 0
        self.unread: dict[str, None] = {}  # content not read (a limit, damage): may hide a PO
        self.notes: dict[str, None] = {}  # worth telling the reader, hides nothing

    def add(self, words: str, *, unread: bool = False, note: bool = False) -> None:
        if unread and len(self.unread) < self._cap:
            self.unread.setdefault(words, None)
        elif note and len(self.notes) < self._cap:
            self.notes.setdefault(words, None)
        if words in self._seen:
            return
        if len(self._seen) >= self._cap:
            self._dropped += 1
            return
        self._seen[words] = None

    def final(self) -> tuple[str, ...]:
        items = list(self._seen)
        if self._dropped:
            items.append(f"{self._dropped} more defects not listed")
        return tuple(items)


@dataclass
class _Forward:
    """The text gathered for one forwarded message/rfc822 part."""

    subject: str
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)

    def text(self) -> str:
        body = "\n".join(self.plain) if self.plain else "\n".join(self.html)
        head = f"Subject: {self.subject}" if self.subject else ""
        return "\n\n".join(p for p in (head, body) if p)


@dataclass
class _Builder:
    size: int
    defects: _Defects
    message_id: str | None = None
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    date: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_reply: bool = False
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    forwards: list[_Forward] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    # Charsets the message declares (encoded words in its Subject and From, text parts read so
    # far): the best guess for a text part that declares none and is not UTF-8.
    charsets: list[str] = field(default_factory=list)

    def finish(self) -> Email:
        forwarded = tuple(
            TextPart(text=t, quoted=True, origin="forwarded")
            for t in (f.text() for f in self.forwards)
            if t
        )
        return Email(
            message_id=self.message_id,
            sender=self.sender,
            sender_name=self.sender_name,
            subject=self.subject,
            date=self.date,
            in_reply_to=self.in_reply_to,
            references=self.references,
            text_body="\n".join(self.plain),
            html_text="\n\n".join(self.html),
            forwarded=forwarded,
            attachments=tuple(self.attachments),
            defects=self.defects.final(),
            size=self.size,
            unread=tuple(self.defects.unread),
            notes=tuple(self.defects.notes),
            auto_reply=self.auto_reply,
        )


def _guard(defects: _Defects, what: str, fn: Callable[[], _T], default: _T) -> _T:
    """Run one per-item step; an unexpected error becomes a defect and the default value."""
    try:
        return fn()
    except Exception as exc:  # per-item boundary: one bad header or part must not lose the rest
        why = f"{type(exc).__name__}: {exc}"[:200]
        defects.add(f"could not read {what} ({why})", unread=True)
        return default


# --------------------------------------------------------------------------------------------
# Parsing


class _RawHeaderPolicy(Compat32):
    """compat32, but header values come back as the raw str (8-bit bytes as surrogates).

    compat32 would wrap such values in a ``Header`` of charset unknown-8bit; we decode them
    ourselves (UTF-8, else cp1252, with a defect) before RFC 2047 decoding.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaderPolicy()


def _parse(data: bytes, defects: _Defects) -> Message:
    quick = split_message(data, _POLICY)  # the same tree ~10x faster, or None when unsure
    if quick is not None:
        return quick
    try:
        return BytesParser(policy=_POLICY).parsebytes(data)
    except RecursionError:
        defects.add(
            "the message is nested too deeply to read its parts; only headers were read",
            unread=True,
        )
        return BytesParser(policy=_POLICY).parsebytes(data, headersonly=True)


def _read(data: bytes, limits: MimeLimits, out: _Builder) -> None:
    defects = out.defects
    if not data or data.isspace():
        defects.add("the message is empty")
    msg = _parse(data, defects)
    _read_headers(msg, limits, out)
    _walk(msg, limits, out)


def _read_headers(msg: Message, limits: MimeLimits, out: _Builder) -> None:
    d = out.defects
    subject = _header(msg, "Subject", limits, d)
    out.subject = _guard(d, "the Subject", lambda: _header_text(subject, "subject", d), "")
    for value in (subject, str(msg.get("From") or "")[:4096]):
        out.charsets.extend(_ENCODED_WORD_CHARSET.findall(value))
    out.sender_name, out.sender = _guard(
        d, "the From address", lambda: _sender(msg, limits, d), ("", "")
    )
    date = _header(msg, "Date", limits, d)
    out.date = _guard(d, "the Date", lambda: _iso_date(date, d), None)
    message_id = _header(msg, "Message-ID", limits, d)
    out.message_id = _guard(d, "the Message-ID", lambda: _first_id(message_id), None)
    in_reply_to = _header(msg, "In-Reply-To", limits, d)
    out.in_reply_to = _guard(d, "the In-Reply-To", lambda: _first_id(in_reply_to), None)
    references = _header(msg, "References", limits, d)
    out.references = _guard(d, "the References", lambda: _all_ids(references), ())
    out.auto_reply = _guard(d, "the auto-reply headers", lambda: _auto_reply(msg), False)


def _auto_reply(msg: Message) -> bool:
    """Whether the headers call the message an automatic reply: RFC 3834's Auto-Submitted:
    auto-replied (auto-generated is a notification, not a reply), or the older X-Autoreply,
    X-Autorespond and Precedence: auto_reply."""
    submitted = str(msg.get("Auto-Submitted") or "").strip().lower()
    precedence = str(msg.get("Precedence") or "").strip().lower()
    return (
        submitted.startswith("auto-replied")
        or precedence == "auto_reply"
        or any(str(msg.get(h) or "").strip() for h in ("X-Autoreply", "X-Autorespond"))
    )


def _header(msg: Message, name: str, limits: MimeLimits, defects: _Defects) -> str:
    """The raw value of the first ``name`` header ("" when absent), cut to the header limit."""
    value = msg.get(name)
    if value is None:
        return ""
    raw = value if isinstance(value, str) else str(value)
    if len(raw) > limits.max_header_bytes:
        defects.add(f"{name} header longer than {limits.max_header_bytes} bytes was cut")
        raw = raw[: limits.max_header_bytes]
    return raw


# --------------------------------------------------------------------------------------------
# Header text: 8-bit bytes, RFC 2047 encoded words, control characters

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,80})\?([bBqQ])\?([^?\s]*)\?=")
_ENCODED_WORD_CHARSET = re.compile(r"=\?([^?\s*]{1,80})(?:\*[^?\s]*)?\?[bBqQ]\?")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")  # no-break spaces too: "PO\xa0123"
_SURROGATES = re.compile(r"[\udc80-\udcff]")


def _unsurrogate(text: str, where: str, defects: _Defects) -> str:
    """Recover 8-bit bytes the parser kept as surrogates: UTF-8 when they read so, else cp1252."""
    if not _SURROGATES.search(text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    decoded, codec = utf8_or_cp1252(raw)
    if codec != "utf-8":
        defects.add(f"8-bit bytes in {where} are not UTF-8 (read as {codec})")
    return decoded


def _header_text(raw: str, what: str, defects: _Defects) -> str:
    """Decode a header value for display: 8-bit, RFC 2047 words, no CR/LF/NUL/controls."""
    text = _unsurrogate(raw, f"the {what} header", defects)
    text = text.replace("\r", "").replace("\n", "")
    if "=?" in text:
        text = _decode_words(text, what, defects)
    if what == "subject":
        # A line break inside an encoded word ("PO 123=0D=0ABcc: x") separates words.
        text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    text = _CONTROLS.sub("", text.replace("\t", " "))
    return _SPACES.sub(" ", text).strip()


def _decode_words(text: str, what: str, defects: _Defects) -> str:
    out: list[str] = []
    pos = 0
    last_was_word = False
    for m in _ENCODED_WORD.finditer(text):
        gap = text[pos : m.start()]
        if not (last_was_word and gap.strip(" \t") == ""):  # RFC 2047 6.2: drop space between words
            out.append(gap)
        charset, encoding, payload = m.group(1), m.group(2).lower(), m.group(3)
        decoded = _decode_word(charset, encoding, payload, what, defects)
        if decoded is None:
            out.append(m.group(0))
        else:
            out.append(decoded)
        last_was_word = decoded is not None
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _decode_word(
    charset: str, encoding: str, payload: str, what: str, defects: _Defects
) -> str | None:
    try:
        if encoding == "q":
            raw = binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
        else:
            b64 = payload.encode("ascii", "replace")
            raw = binascii.a2b_base64(b64 + b"=" * (-len(b64) % 4))
    except (binascii.Error, ValueError):
        defects.add(f"bad encoded word in the {what}")
        return None
    return decode_text(raw, charset.split("*", 1)[0], f"the {what}", defects)


# --------------------------------------------------------------------------------------------
# From, Date, message ids

# Recovered addresses whose only problem is an unquoted display name: MUAs show the angle address.
_BENIGN_ADDRESS_PROBLEMS = {"invalid-display-name", "overlong-encoded-word"}


def _sender(msg: Message, limits: MimeLimits, defects: _Defects) -> tuple[str, str]:
    """(display name, bare lower-cased address); ("", "") with a defect when not unambiguous."""
    headers = msg.get_all("from") or []
    if not headers:
        defects.add("no From header")
        return "", ""
    if len(headers) > 1:
        defects.add("more than one From header; the sender is ambiguous")
        return "", ""
    raw = _header(msg, "From", limits, defects)
    text = _unsurrogate(raw, "the From header", defects).replace("\r", "").replace("\n", "")
    text = text.replace("\x00", "")
    found, problems = _addresses(text)
    trouble = len(found) != 1 or problems - _BENIGN_ADDRESS_PROBLEMS
    last_first = _LAST_FIRST.match(text) if trouble else None
    if last_first is not None:
        # "Kessler, Sabine <sabine@kessler.example>": a name written "Last, First" without the
        # quotes it needs, which mail clients show as one sender; one address, no doubt.
        # a defect of the header, not of the PO's reading: no reason to show a clerk
        defects.add("the From display name has an unquoted comma; read as one name")
        found, problems = ((last_first["name"], last_first["addr"]),), frozenset()
    if len(found) != 1 or problems - _BENIGN_ADDRESS_PROBLEMS:
        why = ", ".join(sorted(problems)) or f"{len(found)} addresses"
        defects.add(f"the From address is ambiguous or invalid ({why}); no sender was taken")
        return "", ""
    name, addr = found[0]
    if problems:
        defects.add(f"the From header is malformed ({', '.join(sorted(problems))})")
    name = _CONTROLS.sub("", name.replace("\t", " ")).strip()
    addr = addr.strip().lower()
    if _CONTROLS.search(addr) or addr.count("@") < 1:
        defects.add("the From address is invalid; no sender was taken")
        return name, ""
    if "@" in name and name.strip("<>\"' ").lower() != addr:
        defects.add(f"the From display name {name[:80]!r} looks like another address than {addr}")
    return name, addr


_LAST_FIRST = re.compile(
    r"[ \t]*(?P<name>[^<>@\",;:]+,[^<>@\",;:]+?)[ \t]*<(?P<addr>[^<>@\s,;:]+@[^<>@\s,;:]+)>[ \t]*\Z"
)

# The shapes most From headers have, which need no recovery: "addr", "<addr>", "Name <addr>",
# "\"Name, Inc.\" <addr>" and "=?utf-8?q?...?= <addr>" (encoded words only), each address a
# dot-atom on both sides of one "@". mail-parser's reading of these is the stdlib's (see
# tests/test_mime.py, which compares the two); everything else goes to mail-parser.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_ENCODED_NAME = r"=\?[A-Za-z0-9_.:-]+(?:\*[A-Za-z-]+)?\?[BbQq]\?[!->@-~]*\?="
_PLAIN_FROM = re.compile(
    rf"""[ \t]*(?:
        (?P<bare>{_PLAIN_ADDRESS})
      | (?:(?P<encoded>{_ENCODED_NAME}(?:[ \t]+{_ENCODED_NAME})*)
          | (?P<words>{_ATOM}(?:[ \t]+{_ATOM})*)
          | "(?P<quoted>[^"\\@\x00-\x1f\x7f]*)"
        )?[ \t]*<(?P<angle>{_PLAIN_ADDRESS})>
    )[ \t]*\Z""",
    re.VERBOSE,
)


def _plain_address(text: str) -> tuple[str, str] | None:
    """(name, address) of a From header in one of the plain shapes, or None."""
    m = _PLAIN_FROM.match(text)
    if m is None or "=?" in (m["words"] or "") or "=?" in (m["quoted"] or ""):
        return None
    if m["bare"]:
        return "", m["bare"]
    name = " ".join(m["words"].split()) if m["words"] else m["quoted"] or ""
    if m["encoded"]:
        if not all(_known_charset(w[0]) for w in _ENCODED_WORD.findall(m["encoded"])):
            return None
        trouble = _Defects(cap=1)
        name = _decode_words(m["encoded"], "From", trouble)
        if trouble.final() or "=?" in name or not name.isprintable() or "@" in name or '"' in name:
            return None
    return name, m["angle"]


@functools.lru_cache(maxsize=64)
def _known_charset(charset: str) -> bool:
    try:
        codecs.lookup(charset.split("*", 1)[0])
    except LookupError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _addresses(text: str) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    """mail-parser's reading of an address header: the addresses and the problems it saw.
    Cached: a mailbox's senders repeat, and this is a quarter of reading a message. The plain
    shapes most senders write are read without it (~10x faster)."""
    plain = _plain_address(text)
    if plain is not None:
        return (plain,), frozenset()
    diagnostics: list[dict[str, object]] = []
    found = tuple(
        (str(name), str(addr))
        for name, addr in get_addresses(text, defects=diagnostics, decode_names=True)
        if addr
    )
    problems = {p for diag in diagnostics for p in str(diag.get("reason", "")).split(",")}
    return found, frozenset(problems - {""})


def _iso_date(raw: str, defects: _Defects) -> str | None:
    text = _CONTROLS.sub(" ", _unsurrogate(raw, "the Date header", defects)).strip()
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.add(f"unreadable Date header {text[:60]!r}")
        return None
    if when.tzinfo is None:  # "-0000": the zone is unknown; RFC 5322 says read it as UTC
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):
        defects.add(f"unreadable Date header {text[:60]!r}")
        return None


_ID = re.compile(r"<[^<>]*>")
_WHITESPACE = re.compile(r"\s+")
_MAX_ID_CHARS = 998


def _clean_id(token: str) -> str:
    return _CONTROLS.sub("", _WHITESPACE.sub("", token))[:_MAX_ID_CHARS]


def _first_id(raw: str) -> str | None:
    """The first ``<...>`` token, whitespace removed; a bare value as is; None when empty."""
    text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    m = _ID.search(text)
    token = _clean_id(m.group(0) if m else text)
    return token if token.strip("<>") else None


def _all_ids(raw: str) -> tuple[str, ...]:
    text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    tokens = _ID.findall(text) or text.split()
    return tuple(t for t in (_clean_id(tok) for tok in tokens) if t.strip("<>"))


# --------------------------------------------------------------------------------------------
# The MIME tree


@dataclass(frozen=True, slots=True)
class _Node:
    part: Message
    depth: int
    path: str  # IMAP-style section number, "" for the top message
    forward: int | None  # index into _Builder.forwards, None for the top message's own parts
    plain_twin: bool = False  # an HTML part whose multipart/alternative has a real plain text


def _label(path: str) -> str:
    return f"part {path}" if path else "the message"


_KNOWN_CTE = {"", "7bit", "8bit", "binary", "base64", "quoted-printable"}
_UU_CTE = {"x-uuencode", "uuencode", "uue", "x-uue"}
_DEFECT_WORDS: dict[type[email_errors.MessageDefect], str] = {
    email_errors.CloseBoundaryNotFoundDefect: "missing closing MIME boundary",
    email_errors.StartBoundaryNotFoundDefect: "MIME start boundary not found",
    email_errors.NoBoundaryInMultipartDefect: "multipart without a boundary",
    email_errors.FirstHeaderLineIsContinuationDefect: "first header line is a continuation",
    email_errors.MisplacedEnvelopeHeaderDefect: "misplaced envelope header",
    email_errors.MissingHeaderBodySeparatorDefect: "missing blank line after the headers",
    email_errors.MultipartInvariantViolationDefect: "multipart without subparts",
    email_errors.InvalidMultipartContentTransferEncodingDefect: (
        "multipart with an invalid transfer encoding"
    ),
    email_errors.InvalidBase64PaddingDefect: "bad base64",
    email_errors.InvalidBase64CharactersDefect: "bad base64",
    email_errors.InvalidBase64LengthDefect: "bad base64",
}


def _report_parser_defects(part: Message, path: str, defects: _Defects) -> None:
    for defect in part.defects:
        words = _DEFECT_WORDS.get(type(defect))
        if words is None:
            words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(defect).__name__).lower()
            words = words.removesuffix(" defect")
        defects.add(f"{words} in {_label(path)}")


def _walk(msg: Message, limits: MimeLimits, out: _Builder) -> None:
    """Visit the tree iteratively (document order), within the part and depth limits."""
    defects = out.defects
    stack = [_Node(msg, 0, "", None)]
    visited = 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited > limits.max_parts:
            defects.add(
                f"more than {limits.max_parts} MIME parts; the rest were skipped", unread=True
            )
            return
        no_children: list[_Node] = []
        children = _guard(
            defects, _label(node.path), partial(_visit, node, limits, out), no_children
        )
        for child in reversed(children):
            if child.depth > limits.max_depth:
                defects.add(
                    f"parts nested deeper than {limits.max_depth} levels were skipped", unread=True
                )
                continue
            stack.append(child)


def _visit(node: _Node, limits: MimeLimits, out: _Builder) -> list[_Node]:
    """Read one part; return its children (for containers)."""
    part, defects = node.part, out.defects
    ctype = part.get_content_type()
    maintype = ctype.split("/", 1)[0]
    payload = part.get_payload()
    if isinstance(payload, list):
        _report_parser_defects(part, node.path, defects)
        if ctype in {"message/rfc822", "message/global"} or (
            maintype == "message" and len(payload) == 1 and _looks_like_message(payload[0])
        ):
            if not payload or not isinstance(payload[0], Message):
                return []
            inner = payload[0]
            if node.depth >= limits.max_depth:
                defects.add(
                    f"parts nested deeper than {limits.max_depth} levels were skipped", unread=True
                )
                return []
            subject = _header_text(_header(inner, "Subject", limits, defects), "subject", defects)
            out.forwards.append(_Forward(subject=subject))
            return [_Node(inner, node.depth + 1, node.path, len(out.forwards) - 1)]
        if maintype == "message":  # delivery-status and similar: header blocks, no text
            return []
        prefix = f"{node.path}." if node.path else ""
        twin = ctype == "multipart/alternative" and _has_plain_twin(payload)
        return [
            _Node(child, node.depth + 1, f"{prefix}{i}", node.forward, plain_twin=twin)
            for i, child in enumerate(payload, start=1)
            if isinstance(child, Message)
        ]
    if ctype in PKCS7_MIME:
        return _signed_part(node, limits, out)
    _read_leaf(node, ctype, limits, out)
    _report_parser_defects(part, node.path, defects)
    return []


def _signed_part(node: _Node, limits: MimeLimits, out: _Builder) -> list[_Node]:
    """The MIME entity inside an opaque-signed S/MIME part, read as the part's content; an
    encrypted or damaged one is named as unread."""
    where = _label(node.path)
    decoded = node.part.get_payload(decode=True)
    try:
        inner = signed_content(decoded if isinstance(decoded, bytes) else b"")
    except SmimeError as exc:
        out.defects.add(f"the S/MIME part of {where} {exc}", unread=True)
        return []
    if node.depth >= limits.max_depth:
        out.defects.add(
            f"parts nested deeper than {limits.max_depth} levels were skipped", unread=True
        )
        return []
    return [_Node(_parse(inner, out.defects), node.depth + 1, node.path, node.forward)]


def _has_plain_twin(parts: Sequence[object]) -> bool:
    """Whether a multipart/alternative carries a plain-text version worth reading instead of the
    HTML one (not a stub such as "view this mail in HTML"): then the HTML is not converted, which
    is the costliest step of reading most mail (the stdlib HTML parser)."""
    plain = [p for p in parts if isinstance(p, Message) and p.get_content_type() == "text/plain"]
    html = [p for p in parts if isinstance(p, Message) and p.get_content_type() == "text/html"]
    if len(plain) != 1 or not html:
        return False
    plain_size = len(str(plain[0].get_payload()))
    html_size = max(len(str(h.get_payload())) for h in html)
    return plain_size >= 200 and plain_size * 8 >= html_size


def _looks_like_message(part: object) -> bool:
    return isinstance(part, Message) and any(
        part.get(h) is not None for h in ("from", "subject", "message-id")
    )


def _read_leaf(node: _Node, ctype: str, limits: MimeLimits, out: _Builder) -> None:
    part, defects = node.part, out.defects
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte not in _KNOWN_CTE and cte not in _UU_CTE:
        defects.add(f"unknown transfer encoding {cte[:40]!r} in {_label(node.path)}")
    disposition = (part.get_content_disposition() or "").strip().lower()
    raw_name = part.get_filename()
    maintype, _, subtype = ctype.partition("/")
    # a multipart whose boundary is missing has a str payload: its raw text is read as plain text
    is_text = (maintype == "text" and subtype in {"plain", "html"}) or maintype == "multipart"
    is_attachment = disposition == "attachment" or (
        raw_name is not None and disposition != "inline"
    )
    if is_text and not is_attachment:
        if subtype == "html" and node.plain_twin:
            return  # its plain-text twin is read instead
        _read_text(node, subtype == "html", limits, out)
        return
    _read_attachment(
        node,
        ctype=ctype,
        cte=cte,
        disposition=disposition,
        raw_name=raw_name,
        limits=limits,
        out=out,
    )


def _read_text(node: _Node, html: bool, limits: MimeLimits, out: _Builder) -> None:
    part, defects = node.part, out.defects
    where = _label(node.path)
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64" and any(
        "Base64" in type(d).__name__ for d in part.defects
    ):
        # The stdlib hands back undecoded text on bad base64: decode what is base64 in it.
        raw = _lenient_base64(part.get_payload(decode=False))
        defects.add(f"bad base64 in {where}; the valid characters were decoded", note=True)
    raw = raw[: limits.max_text_chars * 4]  # no charset needs more than 4 bytes a character
    declared = part.get_content_charset()
    if declared:
        out.charsets.append(declared)
    text = decode_text(raw, declared, where, defects, guesses=out.charsets)
    if len(text) > limits.max_text_chars:
        defects.add(
            f"the text of {where} is longer than {limits.max_text_chars:,} characters; the rest "
            "was not read",
            unread=True,
        )
        text = text[: limits.max_text_chars]
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if html:
        text, readable = html_to_text(text)
        if not readable:
            defects.add(f"unreadable HTML in {where}")
    if node.forward is None:
        (out.html if html else out.plain).append(text)
    else:
        forward = out.forwards[node.forward]
        (forward.html if html else forward.plain).append(text)


def _lenient_base64(payload: object) -> bytes:
    chars = re.sub(r"[^A-Za-z0-9+/]", "", payload if isinstance(payload, str) else "")
    if len(chars) % 4 == 1:
        chars = chars[:-1]  # a lone trailing character carries no whole byte
    chars += "=" * (-len(chars) % 4)
    try:
        return binascii.a2b_base64(chars)
    except (binascii.Error, ValueError):
        return b""


def _read_attachment(
    node: _Node,
    *,
    ctype: str,
    cte: str,
    disposition: str,
    raw_name: str | None,
    limits: MimeLimits,
    out: _Builder,
) -> None:
    defects = out.defects
    if ctype in SIGNATURES:  # a detached signature: nothing in it to read
        return
    if len(out.attachments) >= limits.max_attachments:
        defects.add(
            f"more than {limits.max_attachments} attachments; the rest were skipped", unread=True
        )
        return
    part = node.part
    head = _head_bytes(part, cte, limits.pdf_magic_window)
    is_pdf = b"%PDF-" in head[: limits.pdf_magic_window + 4]
    data = b""
    if is_pdf:
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
        if b"%PDF-" not in data[: limits.pdf_magic_window + 4]:  # bad base64 shifted the bytes
            defects.add(f"the PDF in {_label(node.path)} could not be decoded", unread=True)
            is_pdf, data = False, b""
    elif cte != "base64" and head.lstrip()[:7] == b"JVBERi0":  # "%PDF-" in base64
        # A mailer that base64-encoded the PDF but declared "8bit" (or nothing): read it so.
        payload = part.get_payload(decode=False)
        decoded = _lenient_base64(payload if isinstance(payload, str) else "")
        if decoded.startswith(b"%PDF-"):
            is_pdf, data = True, decoded
            defects.add(
                f"the PDF in {_label(node.path)} is base64 but declared {cte or 'plain'}; "
                "read as base64",
                note=True,
            )
    filename = ""
    if raw_name:
        filename = _clean_filename(
            _header_text(raw_name[:4096], "attachment filename", defects), limits
        )
    if not filename:  # named by its type: "attachment-1.ics" for a calendar invitation
        ext = "pdf" if is_pdf else _extension(ctype)
        filename = f"attachment-{len(out.attachments) + 1}.{ext}"
    if (ctype in _TNEF_TYPES or filename.lower() == "winmail.dat") and _read_winmail(
        node, filename, limits, out
    ):
        return
    if not is_pdf and (filename.lower().endswith(".pdf") or ctype == "application/pdf"):
        defects.add(
            f"the attachment {filename} is called a PDF but is not one; not read", unread=True
        )
    text = ""
    is_edi = not is_pdf and is_edi_data(head)  # by its content, whatever its name ("order.txt")
    kind = "" if is_pdf or is_edi else _text_kind(ctype, filename)
    if kind:
        text = _text_of_kind(
            kind,
            _node_bytes(node),
            charset=part.get_content_charset(),
            filename=filename,
            limits=limits,
            out=out,
        )
    if is_edi:  # as large as the message may be (imap.max_message_size)
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
    is_xml = (
        not is_pdf and not is_edi and (ctype in _XML_TYPES or filename.lower().endswith(".xml"))
    )
    if is_xml:  # as large as the message may be (imap.max_message_size)
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
        if not data.strip():
            defects.add(f"the XML attachment {filename} is empty", note=True)
            is_xml = False
    out.attachments.append(
        Attachment(
            filename=filename,
            content_type=ctype,
            data=data,
            is_pdf=is_pdf,
            inline=disposition == "inline",
            forwarded=node.forward is not None,
            is_xml=is_xml,
            text=text,
            is_edi=is_edi,
        )
    )


_XML_TYPES = frozenset({"application/xml", "text/xml"})
_CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values"})
_CSV_MAX_ROWS = 20_000


def _text_kind(ctype: str, filename: str) -> str:
    """How a file is read as text: "csv", "text", "calendar", "xlsx", "docx", or "" (not as
    text)."""
    office = office_kind(ctype, filename)
    if office:
        return office
    name = filename.lower()
    if ctype in _CSV_TYPES or name.endswith((".csv", ".tsv")):
        return "csv"
    if ctype == "text/plain" or name.endswith(".txt"):
        return "text"  # an order saved as a text file
    if ctype == "text/calendar" or name.endswith(".ics"):
        return "calendar"
    return ""


def _text_of_kind(
    kind: str, raw: bytes, *, charset: str | None, filename: str, limits: MimeLimits, out: _Builder
) -> str:
    if kind in ("xlsx", "docx"):
        return _office_text(kind, raw, filename, limits, out)
    text = _attachment_text(raw, charset, filename, limits, out)
    if kind == "csv":
        return _csv_text(text, filename, out)
    return _calendar_text(text) if kind == "calendar" else text


def _node_bytes(node: _Node) -> bytes:
    raw = node.part.get_payload(decode=True)
    return raw if isinstance(raw, bytes) else b""


def _attachment_text(
    raw: bytes, charset: str | None, filename: str, limits: MimeLimits, out: _Builder
) -> str:
    """A text attachment decoded (its charset, or the usual guesses), up to ``max_text_chars``."""
    if not raw.strip():
        return ""
    raw = raw[: limits.max_text_chars * 4]
    text = decode_text(raw, charset, f"the attachment {filename}", out.defects)
    if len(text) > limits.max_text_chars:
        out.defects.add(
            f"the attachment {filename} is longer than {limits.max_text_chars:,} characters; the "
            "rest was not read",
            unread=True,
        )
        text = text[: limits.max_text_chars]
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _office_text(kind: str, raw: bytes, filename: str, limits: MimeLimits, out: _Builder) -> str:
    """An Excel workbook's or Word document's text; one that cannot be read stays unread (the
    verdict names it) with the reason as a note."""
    if not raw.strip():
        return ""
    try:
        read = office_text(kind, raw, max_chars=limits.max_text_chars)
    except OfficeError as exc:
        out.defects.add(f"the attachment {filename} could not be read: {exc}", note=True)
        return ""
    for note in read.notes:
        out.defects.add(f"the attachment {filename}: {note}", unread=True)
    return read.text


_ICS_ESCAPE = re.compile(r"\\([\\;,nN])")


def _calendar_text(text: str) -> str:
    """An iCalendar file (a delivery slot, a meeting about an order) as lines to read: folded
    lines joined (RFC 5545 3.1), escaped "\\n", "\\," and "\\;" turned back into what they
    stand for."""
    unfolded = text.replace("\n ", "").replace("\n\t", "")
    return _ICS_ESCAPE.sub(lambda m: "\n" if m[1] in "nN" else m[1], unfolded)


def _csv_text(text: str, filename: str, out: _Builder) -> str:
    """A CSV attachment's rows as "cell | cell" lines (the shape of an HTML table's text), so a
    "PO Number" column heads its values; the delimiter is the one its first line uses most."""
    if not text:
        return ""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max(",;\t|", key=first.count)
    rows: list[str] = []
    try:
        for row in csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter):
            if len(rows) >= _CSV_MAX_ROWS:
                out.defects.add(
                    f"the attachment {filename} has more than {_CSV_MAX_ROWS:,} rows; the rest "
                    "was not read",
                    unread=True,
                )
                break
            cells = [" ".join(cell.split()) for cell in row]
            if any(cells):
                rows.append(" | ".join(cells))
    except csv.Error as exc:
        out.defects.add(f"the attachment {filename} is damaged CSV ({exc}); read up to there")
    return "\n".join(rows)


# Python's own table (not the machine's /etc/mime.types: the same name on every machine), and
# the types it lacks that mail carries unnamed.
_TYPES = mimetypes.MimeTypes(filenames=())
_EXTENSIONS = {
    "text/calendar": "ics",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/ms-tnef": "dat",
}


def _extension(ctype: str) -> str:
    return _EXTENSIONS.get(ctype) or (_TYPES.guess_extension(ctype) or ".bin").lstrip(".")


_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


def _read_winmail(node: _Node, filename: str, limits: MimeLimits, out: _Builder) -> bool:
    """The files (and, in a message without another body, the body) inside an Outlook
    winmail.dat, as if they had been sent as parts of their own. False when it is no TNEF (then
    it is an attachment like any other); a damaged one is named, and kept as not read."""
    data = _node_bytes(node)
    if not is_tnef(data):
        return False
    return _read_tnef_files(data, node, filename, limits, out, depth=1)


_MAX_TNEF_DEPTH = 3  # a winmail.dat inside a winmail.dat (a forward of a forward), no deeper


def _read_tnef_files(
    data: bytes, node: _Node, filename: str, limits: MimeLimits, out: _Builder, *, depth: int
) -> bool:
    try:
        content = read_tnef(data)
    except TnefError as exc:
        out.defects.add(f"the Outlook attachment {filename} could not be read: {exc}", unread=True)
        return False
    for file in content.files:
        if len(out.attachments) >= limits.max_attachments:
            out.defects.add(
                f"more than {limits.max_attachments} attachments; the rest were skipped",
                unread=True,
            )
            break
        name = _clean_filename(file.name, limits) or f"attachment-{len(out.attachments) + 1}.bin"
        if is_tnef(file.data):
            if depth < _MAX_TNEF_DEPTH:
                _read_tnef_files(file.data, node, name, limits, out, depth=depth + 1)
            else:
                out.defects.add(
                    f"the Outlook attachment {name} is nested more than {_MAX_TNEF_DEPTH} "
                    "deep; not read",
                    unread=True,
                )
            continue
        out.attachments.append(_file_attachment(name, file.data, node, limits, out))
    plain, html = out.plain, out.html
    if node.forward is not None:
        plain, html = out.forwards[node.forward].plain, out.forwards[node.forward].html
    if not plain and not html:
        body = content.body[: limits.max_text_chars].replace("\r\n", "\n").replace("\r", "\n")
        if body.strip():
            plain.append(body)
        elif content.html.strip():
            html.append(html_to_text(content.html[: limits.max_text_chars])[0])
    return True


def _file_attachment(
    name: str, data: bytes, node: _Node, limits: MimeLimits, out: _Builder
) -> Attachment:
    """A file from inside a container (winmail.dat) read as the same file sent as a part is: a
    PDF, EDI or XML kept as bytes, a text, CSV or calendar file as its text."""
    is_pdf = b"%PDF-" in data[: limits.pdf_magic_window + 4]
    is_edi = not is_pdf and is_edi_data(data[: limits.pdf_magic_window + 8])
    kind = "" if is_pdf or is_edi else _text_kind("", name)
    text = (
        _text_of_kind(kind, data, charset=None, filename=name, limits=limits, out=out)
        if kind
        else ""
    )
    is_xml = not (is_pdf or is_edi) and name.lower().endswith(".xml") and bool(data.strip())
    return Attachment(
        filename=name,
        content_type="application/pdf" if is_pdf else "application/octet-stream",
        data=data if is_pdf or is_xml or is_edi else b"",
        is_pdf=is_pdf,
        forwarded=node.forward is not None,
        is_xml=is_xml,
        text=text,
        is_edi=is_edi,
    )


_B64_SNIFF_CHARS = 4096  # base64 characters decoded to look for the PDF magic (3 KB of bytes)
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]+")


def _head_bytes(part: Message, cte: str, window: int) -> bytes:
    """The first decoded bytes of a part, decoding only a prefix of a base64 payload."""
    if cte == "base64":
        payload = part.get_payload()
        if isinstance(payload, str):
            chars = _NOT_BASE64.sub("", payload[: max(_B64_SNIFF_CHARS, window * 2)])
            chars = chars[: len(chars) // 4 * 4]
            try:
                return binascii.a2b_base64(chars.encode("ascii", "ignore"))
            except (binascii.Error, ValueError):
                return b""
    if cte == "quoted-printable":
        payload = part.get_payload()
        if isinstance(payload, str):
            chunk = payload[: window * 4].encode("utf-8", "surrogateescape")
            return quopri.decodestring(chunk)
    decoded = part.get_payload(decode=True)
    return decoded[: window + 8] if isinstance(decoded, bytes) else b""


_FILENAME_DROP = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, bidi/format, unassigned
_FILENAME_RESERVED = str.maketrans({c: "_" for c in '<>:"|?*'})


def _clean_filename(name: str, limits: MimeLimits) -> str:
    """Basename only; no control, bidi-override or reserved characters; no leading dots."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _FILENAME_DROP)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].translate(_FILENAME_RESERVED)
    name = name.strip(" .")
    cap = limits.max_filename_chars
    if len(name) > cap:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = f"{stem[: cap - len(ext) - 1].rstrip(' .')}.{ext}"
        else:
            name = name[:cap].rstrip(" .")
    return name
