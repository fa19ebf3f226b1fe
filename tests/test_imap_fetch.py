"""The streamed FETCH: against a real Dovecot (same bytes as imapclient's fetch, the connection
in step afterwards), and its response reader on server transcripts of shapes Dovecot does not
produce (a body after its UID, NIL, a quoted string, BYE, NO, a cut connection)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from inbox_watcher.config import load_config
from inbox_watcher.imap_fetch import (
    ConnectionClosed,
    FetchRefused,
    _uid_set,
    fetch_bodies,
    fetch_headers,
)
from inbox_watcher.mailbox import ImapEndpoint, Mailbox
from inbox_watcher.model import Status
from inbox_watcher.runtime import endpoint_of, make_poller, make_pool, open_store
from tests.servers import Dovecot, ImapUser
from tests.setup_config import make_mail, write_config


def _message(n: int, body: bytes = b"") -> bytes:
    return (
        b"From: buyer@westside-tools.example\r\nTo: orders@example.com\r\n"
        b"Subject: PO 2024-%05d-MT\r\nMessage-ID: <m%d@example>\r\n\r\n"
        % (n, n)
        + (body or b"Please ship order %d.\r\n" % n)
    )


def _mailbox(user: ImapUser, *, tls: bool = False) -> Mailbox:
    if tls:
        endpoint = ImapEndpoint(
            user.host, user.ssl_port, "ssl", user.username, lambda: user.password,
            ca_file=str(user.ca_file),
        )  # fmt: skip
    else:
        endpoint = ImapEndpoint(user.host, user.port, "none", user.username, lambda: user.password)
    return Mailbox(endpoint)


@pytest.mark.servers
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_same_bytes_as_imapclient(dovecot: Dovecot, imap_user: ImapUser, tls: bool) -> None:
    messages = [
        _message(1),
        _message(2, "Grüße, Bestellung BN-2024-0815 \u20ac\r\n".encode()),  # 8-bit
        _message(3, b"\x00\xff raw bytes }{5}\r\n) * 3 FETCH (UID 9 BODY[] {3}\r\n"),
        _message(4, b"x" * (3 << 20)),  # larger than any socket buffer
        _message(5, b"no line end at the end"),
        _message(6, b"\n".join(b"line %d" % i for i in range(2000))),  # bare LF lines
    ]
    uids = dovecot.append(imap_user.username, "INBOX", messages)
    with _mailbox(imap_user, tls=tls) as mailbox:
        mailbox.open_folder("INBOX")
        ours = mailbox.fetch(uids).bodies
        theirs = mailbox._fetch_slowly(uids)
        assert ours == theirs
        assert sorted(ours) == uids
        assert ours[uids[3]].endswith(b"x" * 1000)
        # the connection is in step: the next command through imapclient works
        assert mailbox.uids_after(0) == uids


@pytest.mark.servers
def test_missing_uids_are_absent(dovecot: Dovecot, imap_user: ImapUser) -> None:
    uids = dovecot.append(imap_user.username, "INBOX", [_message(n) for n in range(1, 6)])
    with dovecot.client(imap_user.username) as other:
        other.select_folder("INBOX")
        other.delete_messages([uids[1]])
        other.expunge()
    with _mailbox(imap_user) as mailbox:
        mailbox.open_folder("INBOX")
        got = mailbox.fetch([*uids, uids[-1] + 100]).bodies
        assert sorted(got) == [uids[0], *uids[2:]]


@pytest.mark.servers
def test_news_arriving_during_the_fetch_are_skipped(dovecot: Dovecot, imap_user: ImapUser) -> None:
    """Another client appends and expunges while we are selected: Dovecot tells us with EXISTS
    and EXPUNGE responses in the middle of our FETCH's; the bodies still come out right."""
    uids = dovecot.append(imap_user.username, "INBOX", [_message(n) for n in range(1, 4)])
    with _mailbox(imap_user) as mailbox:
        mailbox.open_folder("INBOX")
        more = dovecot.append(imap_user.username, "INBOX", [_message(n) for n in range(4, 7)])
        with dovecot.client(imap_user.username) as other:
            other.select_folder("INBOX")
            other.delete_messages([uids[0]])
            other.expunge()
        got = mailbox.fetch([*uids, *more]).bodies
        assert sorted(got) == [*uids[1:], *more]
        assert got[more[0]] == _message(4)
        assert mailbox.uids_after(0) == [*uids[1:], *more]


@pytest.mark.servers
def test_a_message_larger_than_the_limit_is_listed_not_kept(
    dovecot: Dovecot, imap_user: ImapUser
) -> None:
    big = _message(2, b"y" * (3 << 20))
    uids = dovecot.append(imap_user.username, "INBOX", [_message(1), big, _message(3)])
    with _mailbox(imap_user) as mailbox:
        mailbox.open_folder("INBOX")
        got = mailbox.fetch(uids, max_size=1 << 20)
        assert sorted(got.bodies) == [uids[0], uids[2]]
        assert got.oversized == {uids[1]: len(big)}
        assert mailbox.uids_after(0) == uids  # the dropped literal left the stream in step


class _UnderReporting(Mailbox):
    """A server whose RFC822.SIZE says every message is tiny (some do, for some messages)."""

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        return dict.fromkeys(super().sizes(uids), 1)


@pytest.mark.servers
def test_a_message_larger_than_its_reported_size_is_recorded_too_large(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, extra_imap='max_message_size = "1MB"')
    big = make_mail("PO 2024-00815-MT", body="z" * (2 << 20))
    uids = dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT"), big])
    config = load_config(cfg)
    store = open_store(config)
    try:
        with make_pool(config) as pool:
            poller = make_poller(config, store, pool)
            poller.mailbox_factory = lambda: _UnderReporting(endpoint_of(config))
            summary = poller.poll()
        assert summary.recorded == 2
        recorded = {m.key.uid: m for m in store.messages()}
        assert recorded[uids[0]].status is not Status.UNREADABLE
        assert recorded[uids[1]].status is Status.UNREADABLE
        assert "too large" in " ".join(recorded[uids[1]].reasons)
        # Drained unread, then named by its headers alone.
        assert recorded[uids[1]].subject == "PO 2024-00815-MT"
        assert recorded[uids[1]].sender == "buyer@westside-tools.example"
        assert recorded[uids[1]].message_id
        assert recorded[uids[1]].customer == "westside"
    finally:
        store.close()


_FIELDS = ("FROM", "SUBJECT", "DATE", "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES")


@pytest.mark.servers
def test_headers_alone_as_imapclient_reads_them(dovecot: Dovecot, imap_user: ImapUser) -> None:
    big = _message(2, b"y" * (3 << 20))
    uids = dovecot.append(
        imap_user.username, "INBOX", [_message(1), big, b"X-Only: this\r\n\r\nhi"]
    )
    item = f"BODY.PEEK[HEADER.FIELDS ({' '.join(_FIELDS)})]"
    with _mailbox(imap_user) as mailbox:
        mailbox.open_folder("INBOX")
        ours = mailbox.fetch_headers([*uids, uids[-1] + 100])
        assert ours[uids[1]] == (
            b"From: buyer@westside-tools.example\r\nSubject: PO 2024-00002-MT\r\n"
            b"Message-ID: <m2@example>\r\n\r\n"
        )
        theirs = mailbox.client.fetch(uids, [item])
        key = item.replace(".PEEK", "").encode()
        assert ours == {uid: theirs[uid][key] for uid in uids}
        assert ours[uids[2]].strip() == b""  # none of the fields: nothing but the blank line
        cut = mailbox.fetch_headers(uids, max_bytes=20)
        assert cut == {uid: ours[uid][:20] for uid in uids}
        # the slow path (a server answering in another shape) reads the same bytes
        assert mailbox._fetch_headers_slowly(uids, _FIELDS, 1 << 16) == ours
        assert mailbox._fetch_headers_slowly(uids, _FIELDS, 20) == cut
        assert mailbox.uids_after(0) == uids  # the connection is in step
        assert all(b"\\Seen" not in f for f in mailbox.client.get_flags(uids).values())


class _Transcript:
    """A server's side of a conversation, as bytes, behind imaplib's I/O methods."""

    def __init__(self, server: bytes) -> None:
        self.server = server
        self.pos = 0
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def readline(self) -> bytes:
        end = self.server.find(b"\n", self.pos)
        end = len(self.server) if end < 0 else end + 1
        line, self.pos = self.server[self.pos : end], end
        return line

    def read(self, size: int) -> bytes:
        data, self.pos = self.server[self.pos : self.pos + size], self.pos + size
        return data


def test_reader_takes_a_body_in_either_order_and_skips_the_rest() -> None:
    conn = _Transcript(
        b"* 1 FETCH (UID 7 BODY[] {5}\r\nhello)\r\n"
        b"* 4 EXISTS\r\n"
        b"* 2 FETCH (BODY[] {3}\r\nabc UID 9)\r\n"
        b"* 3 FETCH (FLAGS (\\Seen) UID 12)\r\n"
        b"T1 OK done\r\n"
        b"* 9 EXISTS\r\n"
    )
    got = fetch_bodies(conn, [9, 7, 8], b"T1")
    assert conn.sent == [b"T1 UID FETCH 7:9 (UID BODY.PEEK[])\r\n"]
    assert got.bodies == {7: b"hello", 9: b"abc"}
    assert not got.unsure
    assert conn.readline() == b"* 9 EXISTS\r\n"  # nothing read past the completion


@pytest.mark.parametrize(
    "response",
    [
        b'* 1 FETCH (UID 7 BODY[] "short")\r\n',
        b"* 1 FETCH (UID 7 BODY[] NIL)\r\n",
        b"* 1 FETCH (BODY[] {5}\r\nhello)\r\n",  # no UID
    ],
)
def test_reader_calls_other_shapes_unsure(response: bytes) -> None:
    got = fetch_bodies(_Transcript(response + b"T2 OK done\r\n"), [7], b"T2")
    assert got.bodies == {}
    assert got.unsure


def test_reader_drops_a_literal_over_the_limit_and_stays_in_step() -> None:
    conn = _Transcript(
        b"* 1 FETCH (UID 7 BODY[] {12}\r\n0123456789ab)\r\n"
        b"* 2 FETCH (UID 8 BODY[] {3}\r\nabc)\r\n"
        b"T7 OK done\r\n"
    )
    got = fetch_bodies(conn, [7, 8], b"T7", max_literal=5)
    assert got.bodies == {8: b"abc"}
    assert got.oversized == {7: 12}


def test_header_reader_sends_a_partial_peek_and_takes_the_literal() -> None:
    conn = _Transcript(
        b"* 1 FETCH (UID 7 BODY[HEADER.FIELDS (FROM SUBJECT)]<0> {18}\r\n"
        b"Subject: hello\r\n\r\n)\r\n"
        b"* 2 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {4}\r\n\r\n\r\n UID 9)\r\n"
        b"* 3 FETCH (UID 11 BODY[HEADER.FIELDS (FROM SUBJECT)]<0> {30}\r\n" + b"z" * 30 + b")\r\n"
        b"* 4 EXISTS\r\n"
        b"T8 OK done\r\n"
    )
    got = fetch_headers(conn, [7, 9, 11], b"T8", ["From", "Subject"], 25)
    assert conn.sent == [
        b"T8 UID FETCH 7,9,11 (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.25>)\r\n"
    ]
    assert got.bodies == {7: b"Subject: hello\r\n\r\n", 9: b"\r\n\r\n"}
    assert got.oversized == {11: 30}  # more than asked for: drained, not kept
    assert not got.unsure


@pytest.mark.parametrize(
    "response",
    [
        b"* 1 FETCH (UID 7 BODY[HEADER.FIELDS (FROM)]<0> NIL)\r\n",
        b'* 1 FETCH (UID 7 BODY[HEADER.FIELDS (FROM)] "From: a@b\r\n")\r\n',
        b"* 1 FETCH (BODY[HEADER.FIELDS (FROM)]<0> {4}\r\n\r\n\r\n)\r\n",  # no UID
        b"* 1 FETCH (UID 7 BODY[] {4}\r\n\r\n\r\n)\r\n",  # not what was asked for
    ],
)
def test_header_reader_calls_other_shapes_unsure_or_skips_them(response: bytes) -> None:
    got = fetch_headers(_Transcript(response + b"T9 OK done\r\n"), [7], b"T9", ["FROM"], 100)
    assert got.bodies == {}
    assert got.unsure is (b"HEADER.FIELDS" in response)


def test_header_reader_refuses_what_is_not_a_field_name() -> None:
    for fields in ([], ["FROM)] BODY[]"], ["FROM SUBJECT"]):
        with pytest.raises(ValueError, match="field names"):
            fetch_headers(_Transcript(b""), [1], b"T10", fields, 100)
    with pytest.raises(ValueError, match="positive"):
        fetch_headers(_Transcript(b""), [1], b"T10", ["FROM"], 0)


def test_reader_errors() -> None:
    with pytest.raises(FetchRefused, match="no such message"):
        fetch_bodies(_Transcript(b"T3 NO no such message\r\n"), [1], b"T3")
    with pytest.raises(ConnectionClosed, match="shutting down"):
        fetch_bodies(_Transcript(b"* BYE shutting down\r\n"), [1], b"T4")
    with pytest.raises(ConnectionClosed, match="inside a message"):
        fetch_bodies(_Transcript(b"* 1 FETCH (UID 1 BODY[] {50}\r\nshort"), [1], b"T5")
    with pytest.raises(ConnectionClosed, match="closed"):
        fetch_bodies(_Transcript(b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n"), [1], b"T6")


@pytest.mark.parametrize(
    ("uids", "text"),
    [([5], "5"), ([1, 2, 3, 7, 9, 10], "1:3,7,9:10"), ([10, 9, 9, 1], "1,9:10")],
)
def test_uid_set(uids: list[int], text: str) -> None:
    assert _uid_set(uids) == text
