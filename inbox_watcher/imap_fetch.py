"""Reading a ``UID FETCH ... (UID BODY.PEEK[])`` response as it streams in: UID -> raw bytes.

Public API: ``fetch_bodies(conn, uids, tag, max_literal=None) -> FetchedBodies``, where ``conn``
is anything with the ``send``/``readline``/``read`` methods of ``imaplib.IMAP4`` (documented
there as overridable; ``mailbox.py`` passes imapclient's connection).

Why not imapclient's ``fetch``: on a 10,000-message mailbox (23 KB a message) it costs 225 us of
CPU a message in the polling process (imaplib files every response line, then imapclient
tokenizes it); reading the literals straight off the connection costs 16 us. The poller's parent
process is the serial part of a poll, so this is worth its 150 lines.

How it stays safe: the IMAP framing rule alone (a line ending in ``{n}`` is followed by n bytes)
keeps the stream in step whatever the server says, so the connection is never left mid-response.
A FETCH response is taken only in the one shape asked for: a UID and a ``BODY[]`` literal. Any
other shape of a response that carries a body (a quoted string, NIL, no UID) lands in
``unsure``, and the caller fetches those UIDs again the slow way. Untagged responses that are not
FETCH (EXISTS, EXPUNGE, RECENT ...) are skipped: the poller asks for UIDs afresh each poll. ``NO``
or ``BAD`` for the command raises ``FetchRefused``; ``BYE`` raises ``ConnectionClosed``. A literal
larger than ``max_literal`` (a server announcing more than the size it reported) is read in
chunks and dropped, and its UID and size land in ``oversized``: memory stays bounded and the
stream in step.

``fetch_headers(conn, uids, tag, fields, max_bytes)`` reads the same way a
``UID FETCH ... (UID BODY.PEEK[HEADER.FIELDS (...)]<0.max_bytes>)``: a few header fields of
messages too large to download, at most ``max_bytes`` of them a message (a literal longer than
asked for is dropped into ``oversized`` as above).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "ConnectionClosed",
    "FetchRefused",
    "FetchedBodies",
    "ImapConnection",
    "fetch_bodies",
    "fetch_headers",
]

MAX_LINE = 64 * 1024  # a response line longer than this is not a FETCH we asked for
_LITERAL = re.compile(rb"\{(\d{1,10})\}\r?\n\Z")
_FETCH = re.compile(rb"\* \d+ FETCH \(", re.IGNORECASE)
_UID = re.compile(rb"[ (]UID (\d{1,10})(?=[ )])", re.IGNORECASE)
_BODY = re.compile(rb"[ (]BODY\[\] \{\d{1,10}\}\r?\n\Z", re.IGNORECASE)
_BODY_ANY = re.compile(rb"[ (]BODY\[\]", re.IGNORECASE)
# BODY[HEADER.FIELDS (FROM SUBJECT)]<0> {123}: the answer to a partial header-fields fetch
_FIELDS = re.compile(
    rb"[ (]BODY\[HEADER\.FIELDS \([^()\r\n]*\)\](?:<\d{1,10}>)? \{\d{1,10}\}\r?\n\Z", re.IGNORECASE
)
_FIELDS_ANY = re.compile(rb"[ (]BODY\[HEADER\.FIELDS[ (]", re.IGNORECASE)
_FIELD_NAME = re.compile(r"[A-Za-z0-9-]{1,64}\Z")


class ImapConnection(Protocol):
    def send(self, data: bytes) -> None: ...
    def readline(self) -> bytes: ...
    def read(self, size: int) -> bytes: ...


class FetchRefused(Exception):
    """The server answered the FETCH with NO or BAD."""


class ConnectionClosed(Exception):
    """The server said BYE or closed the connection mid-response."""


@dataclass(slots=True)
class FetchedBodies:
    bodies: dict[int, bytes] = field(default_factory=dict)
    oversized: dict[int, int] = field(default_factory=dict)  # UID -> bytes announced, not kept
    unsure: bool = False  # a response carried a body in another shape: fetch again the slow way


_DRAIN = 1 << 20  # bytes read at a time from a literal that is dropped


def fetch_bodies(
    conn: ImapConnection, uids: Sequence[int], tag: bytes, max_literal: int | None = None
) -> FetchedBodies:
    """Send one UID FETCH for ``uids`` and read its responses up to the tagged completion."""
    return _fetch(
        conn, uids, tag, b"BODY.PEEK[]", literal=_BODY, any_shape=_BODY_ANY, max_literal=max_literal
    )


def fetch_headers(
    conn: ImapConnection, uids: Sequence[int], tag: bytes, fields: Sequence[str], max_bytes: int
) -> FetchedBodies:
    """Send one UID FETCH of the header ``fields`` of ``uids`` (the first ``max_bytes`` of them,
    without touching \\Seen) and read its responses up to the tagged completion. ``bodies`` holds
    the header lines (and their blank line) by UID."""
    if not fields or not all(_FIELD_NAME.match(f) for f in fields):
        raise ValueError(f"not header field names: {list(fields)!r}")
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")
    names = " ".join(f.upper() for f in fields).encode("ascii")
    item = b"BODY.PEEK[HEADER.FIELDS (%s)]<0.%d>" % (names, max_bytes)
    return _fetch(
        conn, uids, tag, item, literal=_FIELDS, any_shape=_FIELDS_ANY, max_literal=max_bytes
    )


def _fetch(
    conn: ImapConnection,
    uids: Sequence[int],
    tag: bytes,
    item: bytes,
    *,
    literal: re.Pattern[bytes],
    any_shape: re.Pattern[bytes],
    max_literal: int | None,
) -> FetchedBodies:
    """``UID FETCH uids (UID item)``: the literal after text matching ``literal`` by UID; a
    response with ``any_shape`` in another form makes the result unsure."""
    out = FetchedBodies()
    if not uids:
        return out
    conn.send(b"%s UID FETCH %s (UID %s)\r\n" % (tag, _uid_set(uids).encode("ascii"), item))
    while True:
        texts, literals = _response(conn, max_literal)
        head = texts[0]
        if head.startswith(tag + b" "):
            status = head[len(tag) + 1 :].split(b" ", 1)[0].upper()
            if status != b"OK":
                raise FetchRefused(_printable(head[len(tag) + 1 :]))
            return out
        if head[:6].upper() == b"* BYE ":
            raise ConnectionClosed(_printable(head[6:]))
        if not _FETCH.match(head):
            continue  # EXISTS, EXPUNGE, RECENT, FLAGS ...: not ours to keep
        _take(texts, literals, out, literal, any_shape)


def _take(
    texts: list[bytes],
    literals: list[bytes | int],
    out: FetchedBodies,
    literal: re.Pattern[bytes],
    any_shape: re.Pattern[bytes],
) -> None:
    """One ``* n FETCH (...)`` response: its UID and the literal asked for, or mark it unsure."""
    uid: int | None = None
    body: bytes | int | None = None
    for i, text in enumerate(texts):
        found = _UID.search(text)
        if found is not None:
            uid = int(found.group(1))
        if i < len(literals) and literal.search(text):
            body = literals[i]
    if body is not None and uid is not None:
        if isinstance(body, int):
            out.oversized[uid] = body
        else:
            out.bodies[uid] = body
    elif any(any_shape.search(t) for t in texts):
        out.unsure = True  # a body, but not as a literal with its UID


def _response(
    conn: ImapConnection, max_literal: int | None
) -> tuple[list[bytes], list[bytes | int]]:
    """One whole response: its text pieces and the literals between them (a literal over
    ``max_literal`` is read and dropped: its size stands in its place)."""
    texts: list[bytes] = []
    literals: list[bytes | int] = []
    while True:
        line = conn.readline()
        if not line:
            raise ConnectionClosed("the server closed the connection")
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise ConnectionClosed("a response line too long or cut off")
        texts.append(line)
        size = _LITERAL.search(line)
        if size is None:
            return texts, literals
        wanted = int(size.group(1))
        if max_literal is not None and wanted > max_literal:
            left = wanted
            while left:
                chunk = conn.read(min(left, _DRAIN))
                if not chunk:
                    raise ConnectionClosed("the connection ended inside a message")
                left -= len(chunk)
            literals.append(wanted)
            continue
        data = conn.read(wanted)
        if len(data) != wanted:
            raise ConnectionClosed("the connection ended inside a message")
        literals.append(data)


def _uid_set(uids: Sequence[int]) -> str:
    """``1:3,7,9:10`` for [1, 2, 3, 7, 9, 10]."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(f"{start}:{prev}" if prev > start else str(start))
        start = prev = uid
    parts.append(f"{start}:{prev}" if prev > start else str(start))
    return ",".join(parts)


def _printable(raw: bytes) -> str:
    return raw.decode("ascii", "replace").strip()[:200]
