"""`po-watcher poll` against a real Dovecot: statuses, reasons, exactly once, read-only, TLS."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from inbox_watcher.config import load_config
from inbox_watcher.health import HealthServer, Metrics
from inbox_watcher.mailbox import ImapEndpoint, Mailbox, MailboxError, MailboxUnavailable
from inbox_watcher.model import PoRecord, Review, Status
from inbox_watcher.poller import PollSummary
from inbox_watcher.runtime import endpoint_of, make_poller, make_pool, open_store
from inbox_watcher.store import Store, StoredMessage, StoreUnavailable
from tests.pdfgen import invoice_pdf
from tests.servers import Dovecot, ImapUser
from tests.setup_config import REPO, make_mail, write_config

POS = [
    PoRecord("2024-00815-MT", "westside", amount=Decimal("1200.50"), currency="GBP"),
    PoRecord("2024-00816-MT", "westside"),
    PoRecord("2023-00125-WS", "westside"),
    PoRecord("2022-00001-OL", "westside", status="closed"),
    PoRecord("ACME-123456", "acme"),
    PoRecord("BN-2024-0815", "nordwind"),
]


def poll(config_path: Path) -> PollSummary:
    config = load_config(config_path)
    store = open_store(config)
    try:
        with make_pool(config) as pool:
            return make_poller(config, store, pool).poll()
    finally:
        store.close()


def records(tmp_path: Path) -> list[StoredMessage]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        return list(store.messages())


def by_subject(tmp_path: Path) -> dict[str, StoredMessage]:
    return {m.subject: m for m in records(tmp_path)}


def seed_pos(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.upsert_pos(POS)


def test_every_status_and_reason(dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, imap_user)
    seed_pos(tmp_path)
    original = "<original-order@westside-tools.example>"
    mails = [
        make_mail("Order 2024/815/mt", message_id=original),
        make_mail("Order update", "Our PO 2024-09999-MT is attached."),
        make_mail("Order update 2", "P.O. No. 2024-0815-M please confirm"),
        make_mail("Hello", "Just a note to say thanks for the delivery."),
        make_mail("Two orders", "PO 2024-00815-MT and also PO 2024-00816-MT."),
        make_mail("Old order", "Regarding PO 2022-00001-OL"),
        make_mail("Wrong customer", "PO ACME-123456", sender="buyer@westside-tools.example"),
        make_mail(
            "PO 2024-00815-MT",
            "Invoice attached.",
            pdf=("invoice.pdf", invoice_pdf(po="2024-00816-MT", placement="header")),
        ),
        make_mail("Re: Order 2024/815/mt thread", "Thanks, on it.", in_reply_to=original),
        make_mail("Bestellung", "Bestellnummer: BN-2024-0815", sender="x@unknown.example"),
        make_mail("Typo", "PO: 2024-0O815-MT"),
    ]
    # The reply's subject names the PO; strip it so it must inherit from the thread.
    mails[8] = make_mail("Re: your note", "Thanks, on it.", in_reply_to=original)
    dovecot.append(imap_user.username, "INBOX", mails)
    summary = poll(cfg)
    assert summary.errors == []
    got = by_subject(tmp_path)
    assert len(got) == len(mails)

    assert got["Order 2024/815/mt"].status is Status.LINKED
    assert got["Order 2024/815/mt"].po_numbers == ("2024-00815-MT",)

    unknown = got["Order update"]
    assert unknown.status is Status.UNKNOWN
    assert any("2024-09999-MT" in r and "not in the PO records" in r for r in unknown.reasons)

    malformed = got["Order update 2"]
    assert malformed.status is Status.MALFORMED
    assert "2024-00815-MT" in malformed.suggestions
    assert any("Did you mean 2024-00815-MT" in r for r in malformed.reasons)

    assert got["Hello"].status is Status.MISSING
    assert got["Hello"].reasons

    amb = got["Two orders"]
    assert amb.status is Status.AMBIGUOUS
    assert set(amb.po_numbers) == {"2024-00815-MT", "2024-00816-MT"}

    closed = got["Old order"]
    assert closed.status is Status.LINKED
    assert any("is closed" in r for r in closed.reasons)

    wrong = got["Wrong customer"]
    assert wrong.status in (Status.UNKNOWN, Status.MALFORMED)
    assert any("of Acme Corporation, not of" in r for r in wrong.reasons), wrong.reasons

    parts = got["PO 2024-00815-MT"]
    assert parts.status is Status.AMBIGUOUS
    assert any("parts disagree" in r.lower() for r in parts.reasons)
    assert any(j.candidate.source == "attachment:invoice.pdf" for j in parts.candidates)

    reply = got["Re: your note"]
    assert reply.status is Status.LINKED
    assert reply.po_numbers == ("2024-00815-MT",)
    assert any(link.how == "thread" for link in reply.links)

    unknown_sender = got["Bestellung"]
    assert unknown_sender.customer == "nordwind"
    assert unknown_sender.status is Status.LINKED

    typo = got["Typo"]
    assert typo.status is Status.MALFORMED
    assert "2024-00815-MT" in typo.suggestions


def test_second_poll_changes_nothing_and_new_mail_alone_is_fetched(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, batch_size=7)
    seed_pos(tmp_path)
    dovecot.append(
        imap_user.username, "INBOX", [make_mail(f"PO 2024-00815-MT #{i}", seq=i) for i in range(20)]
    )
    first = poll(cfg)
    assert first.recorded == 20
    before = [(m.key, m.status, m.updated_at) for m in records(tmp_path)]

    again = poll(cfg)
    assert again.recorded == 0
    assert sum(f.fetched for f in again.folders) == 0
    assert [(m.key, m.status, m.updated_at) for m in records(tmp_path)] == before

    dovecot.append(
        imap_user.username, "INBOX", [make_mail(f"new {i}", seq=100 + i) for i in range(3)]
    )
    third = poll(cfg)
    assert third.recorded == 3
    assert sum(f.fetched for f in third.folders) == 3
    assert len(records(tmp_path)) == 23


def test_seen_flags_are_not_touched(dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, imap_user)
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT")])
    dovecot.append(imap_user.username, "INBOX", [make_mail("seen one")], flags=[b"\\Seen"])
    poll(cfg)
    with dovecot.client(imap_user.username) as imap:
        imap.select_folder("INBOX", readonly=True)
        flags = imap.get_flags(imap.search(["ALL"]))
    seen = sorted(b"\\Seen" in f for f in flags.values())
    assert seen == [False, True]


def test_uidvalidity_change_records_only_new_mail(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user)
    mails = [make_mail(f"PO 2024-00815-MT ({i})", seq=i) for i in range(5)]
    dovecot.append(imap_user.username, "INBOX", mails)
    poll(cfg)
    old = dovecot.uidvalidity(imap_user.username, "INBOX")
    new = dovecot.recreate_folder_new_uidvalidity(imap_user.username, "INBOX")
    assert new != old
    dovecot.append(imap_user.username, "INBOX", [*mails, make_mail("brand new", seq=99)])
    summary = poll(cfg)
    assert summary.folders[0].reconciled
    assert summary.recorded == 1
    subjects = sorted(m.subject for m in records(tmp_path))
    assert subjects.count("brand new") == 1
    assert len(subjects) == 6
    # Reconciliation is finished: a further poll changes nothing.
    assert poll(cfg).recorded == 0


class _Counting(Mailbox):
    """A mailbox that counts the bytes it reads off the server and keeps the commands it sends."""

    def __init__(self, endpoint: ImapEndpoint) -> None:
        super().__init__(endpoint)
        self.received = 0
        self.sent: list[bytes] = []

    def connect(self) -> None:
        super().connect()
        imap = self.client._imap
        read, readline, send = imap.read, imap.readline, imap.send

        def counted_read(size: int) -> bytes:
            data: bytes = read(size)
            self.received += len(data)
            return data

        def counted_readline() -> bytes:
            line: bytes = readline()
            self.received += len(line)
            return line

        def kept_send(data: bytes) -> None:
            self.sent.append(data)
            send(data)

        # imaplib reads and writes through these instance-level lookups (documented as
        # overridable), imapclient and the streamed FETCH alike.
        imap.read, imap.readline, imap.send = counted_read, counted_readline, kept_send


def _poll_with(cfg: Path, mailbox: Callable[[ImapEndpoint], Mailbox]) -> PollSummary:
    config = load_config(cfg)
    store = open_store(config)
    try:
        with make_pool(config) as pool:
            poller = make_poller(config, store, pool)
            poller.mailbox_factory = lambda: mailbox(endpoint_of(config))
            return poller.poll()
    finally:
        store.close()


def test_a_refused_login_is_tried_once_a_poll_and_names_the_password_keys(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, folders=("INBOX", "Archive", "Sent"))
    (tmp_path / "imap-password").write_text("not-the-password\n", encoding="utf-8")
    logins = []

    def counting(ep: ImapEndpoint) -> Mailbox:
        logins.append(ep.username)
        return Mailbox(ep)

    summary = _poll_with(cfg, counting)
    assert len(logins) == 1  # not once per folder: the server would refuse each the same
    assert [f.error is not None for f in summary.folders] == [True, True, True]
    error = summary.folders[0].error or ""
    assert "refused the login of" in error
    assert f"(in the file {tmp_path / 'imap-password'})" in error  # where to look, by name
    assert "not-the-password" not in error
    assert summary.line().startswith("no folder could be read (3 tried in ")
    assert summary.line().endswith(error)


def test_over_size_message_is_unreadable_named_by_its_headers_without_download(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, extra_imap='max_message_size = "20KB"')
    original = "<order-thread@westside-tools.example>"
    huge = make_mail(
        "Drawings for PO 2024-00815-MT",
        "x" * 60_000,
        message_id="<huge-1@westside-tools.example>",
        in_reply_to=original,
    )
    big_uid, small_uid = dovecot.append(imap_user.username, "INBOX", [huge, make_mail("small")])
    mailboxes: list[_Counting] = []

    def counting(endpoint: ImapEndpoint) -> Mailbox:
        mailboxes.append(_Counting(endpoint))
        return mailboxes[-1]

    summary = _poll_with(cfg, counting)
    assert summary.errors == []
    assert sum(f.fetched for f in summary.folders) == 1  # the small one's body alone
    got = {m.key.uid: m for m in records(tmp_path)}
    big = got[big_uid]
    assert big.status is Status.UNREADABLE
    assert len(big.reasons) == 2
    assert "too large to read" in big.reasons[0]
    assert "not downloaded" in big.reasons[0]
    # Its subject was read: the clerk knows which order to open it for.
    assert big.reasons[1] == "Its subject names 2024-00815-MT (not linked: not read)."
    assert big.sender == "buyer@westside-tools.example"
    assert big.subject == "Drawings for PO 2024-00815-MT"
    assert big.message_id == "<huge-1@westside-tools.example>"
    assert big.date == "2024-03-01T09:30:00+00:00"
    assert big.in_reply_to == original
    assert big.references == (original,)
    assert big.customer == "westside"  # routed by its sender, as a readable message would be
    assert big.po_numbers == ()
    assert big.size >= len(huge)  # RFC822.SIZE (with CRLF line ends)
    assert got[small_uid].subject == "small"
    # Its header alone was read: one FETCH of the header fields, never its body.
    [mailbox] = mailboxes
    assert mailbox.received < 10_000 < len(huge)
    untagged = [c.split(b" ", 1)[1] for c in mailbox.sent if b" FETCH " in c]
    assert b"UID FETCH %d (UID BODY.PEEK[])\r\n" % small_uid in untagged
    assert [c for c in untagged if b"BODY.PEEK[" in c] == [
        b"UID FETCH %d (UID BODY.PEEK[])\r\n" % small_uid,
        b"UID FETCH %d (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID IN-REPLY-TO "
        b"REFERENCES)]<0.65536>)\r\n" % big_uid,
    ]
    with dovecot.client(imap_user.username) as imap:
        imap.select_folder("INBOX", readonly=True)
        assert b"\\Seen" not in imap.get_flags([big_uid])[big_uid]

    again = poll(cfg)
    assert again.recorded == 0
    assert sum(f.fetched for f in again.folders) == 0
    assert len(records(tmp_path)) == 2


class _HeadersRefused(Mailbox):
    error: type[MailboxError] = MailboxError

    def fetch_headers(
        self, uids: Sequence[int], *, fields: Sequence[str] = (), max_bytes: int = 0
    ) -> dict[int, bytes]:
        raise self.error("the server refused to send message headers: NO go away")


class _HeadersLost(_HeadersRefused):
    error = MailboxUnavailable


@pytest.mark.parametrize("mailbox", [_HeadersRefused, _HeadersLost], ids=["refused", "lost"])
def test_over_size_message_whose_headers_fail_is_still_recorded(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, mailbox: type[Mailbox]
) -> None:
    cfg = write_config(tmp_path, imap_user, extra_imap='max_message_size = "20KB"')
    big_uid, small_uid = dovecot.append(
        imap_user.username, "INBOX", [make_mail("huge", "x" * 60_000), make_mail("small")]
    )
    summary = _poll_with(cfg, mailbox)
    assert summary.errors == []
    got = {m.key.uid: m for m in records(tmp_path)}
    big = got[big_uid]
    assert big.status is Status.UNREADABLE
    assert "too large to read" in big.reasons[0]
    assert (big.sender, big.subject, big.message_id, big.customer) == ("", "", None, None)
    assert got[small_uid].subject == "small"
    assert poll(cfg).recorded == 0


def test_tls_without_the_ca_is_refused(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, tls=True, ca=False)
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT")])
    summary = poll(cfg)
    assert summary.recorded == 0
    assert "not trusted" in summary.errors[0]
    assert "imap.ca_file" in summary.errors[0]  # what to do about it


def test_tls_spoken_to_a_plain_text_port_says_so(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, tls=True)
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(
        text.replace(f"port = {imap_user.ssl_port}", f"port = {imap_user.port}"), encoding="utf-8"
    )
    summary = poll(cfg)
    assert summary.recorded == 0
    assert "plain-text port" in summary.errors[0]
    assert "starttls" in summary.errors[0]


def test_tls_with_a_wrong_host_name_is_refused(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, tls=True, host=dovecot.wrong_host)
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT")])
    summary = poll(cfg)
    assert summary.recorded == 0
    assert (summary.errors and "TLS" in summary.errors[0]) or "trusted" in summary.errors[0]


def test_tls_verified_with_the_ca_works(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, tls=True)
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT")])
    assert poll(cfg).recorded == 1


def test_the_same_mail_delivered_twice_by_two_routes_is_recorded_once(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    """Sent to two aliases (or through a relay): the copies differ only in their trace header
    fields (Received, Delivered-To, spam scores), so the second is no new message."""
    cfg = write_config(tmp_path, imap_user)
    seed_pos(tmp_path)
    mail = make_mail("PO 2024-09999-MT", seq=1)
    first = b"Received: from mx1.example by mail.example; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    second = (
        b"Received: from relay.example\r\n\tby mail.example; Mon, 1 Jan 2024 10:00:07 +0000\r\n"
        b"Delivered-To: orders-alias@example.com\r\nX-Spam-Score: 0.4\r\n"
    )
    dovecot.append(imap_user.username, "INBOX", [first + mail])
    assert poll(cfg).recorded == 1
    resent = make_mail("PO 2024-09999-MT", seq=1).replace(b"PO 2024-09999-MT", b"PO 2024-09998-MT")
    dovecot.append(imap_user.username, "INBOX", [second + mail, resent])
    summary = poll(cfg)
    assert summary.recorded == 1  # the changed mail only
    assert "1 already recorded (moved, copied or delivered again)" in summary.line()
    assert sorted(m.subject for m in records(tmp_path)) == ["PO 2024-09998-MT", "PO 2024-09999-MT"]


def test_the_same_mail_delivered_twice_within_one_poll_is_recorded_once(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    """Both copies arrive before the poll (one batch): the second is no new message either."""
    cfg = write_config(tmp_path, imap_user)
    seed_pos(tmp_path)
    mail = make_mail("PO 2024-09999-MT", seq=1)
    first = b"Received: from mx1.example by mail.example; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    second = b"Received: from relay.example by mail.example; Mon, 1 Jan 2024 10:00:07 +0000\r\n"
    dovecot.append(imap_user.username, "INBOX", [first + mail, second + mail])
    summary = poll(cfg)
    assert summary.recorded == 1
    assert "1 already recorded (moved, copied or delivered again)" in summary.line()
    assert [m.subject for m in records(tmp_path)] == ["PO 2024-09999-MT"]


def test_a_message_moved_to_another_watched_folder_is_not_recorded_again(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    """A person files a flagged mail into "Orders" (also watched): the same message, by its
    content, is not recorded or flagged a second time."""
    dovecot.create_folder(imap_user.username, "Orders")
    cfg = write_config(tmp_path, imap_user, folders=("INBOX", "Orders"))
    seed_pos(tmp_path)
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-09999-MT", seq=1)])
    assert poll(cfg).recorded == 1
    with dovecot.client(imap_user.username) as imap:
        imap.select_folder("INBOX")
        imap.move(imap.search(["ALL"]), "Orders")
    dovecot.append(imap_user.username, "Orders", [make_mail("PO 2024-00815-MT", seq=2)])

    summary = poll(cfg)
    assert summary.recorded == 1  # the new mail only
    assert [f.elsewhere for f in summary.folders] == [0, 1]
    assert "1 already recorded (moved, copied or delivered again): not recorded again" in (
        summary.line()
    )
    assert sorted((m.key.folder, m.subject) for m in records(tmp_path)) == [
        ("INBOX", "PO 2024-09999-MT"),
        ("Orders", "PO 2024-00815-MT"),
    ]
    assert poll(cfg).recorded == 0


def test_missing_folder_is_reported_and_others_go_on(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, folders=("Gone", "INBOX"))
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT")])
    summary = poll(cfg)
    assert summary.recorded == 1
    assert len(summary.errors) == 1
    assert summary.errors[0].startswith("Gone:")
    assert "(renamed? the server has: INBOX" in summary.errors[0]
    dovecot.create_folder(imap_user.username, "Gone")
    dovecot.append(imap_user.username, "Gone", [make_mail("back again")])
    summary = poll(cfg)
    assert summary.errors == []
    assert summary.recorded == 1


def test_server_restart_during_poll_loses_nothing(private_dovecot: Dovecot, tmp_path: Path) -> None:
    user = private_dovecot.add_user("restart@example.com", "pw-restart")
    cfg = write_config(tmp_path, user, batch_size=20)
    n = 400
    private_dovecot.append(
        user.username, "INBOX", [make_mail(f"m{i} PO 2024-00815-MT", seq=i) for i in range(n)]
    )
    result: list[PollSummary] = []
    worker = threading.Thread(target=lambda: result.append(poll(cfg)))
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (tmp_path / "state.db").exists():
        time.sleep(0.01)
    time.sleep(0.3)
    private_dovecot.stop()
    time.sleep(1.5)
    private_dovecot.start()
    worker.join(120)
    assert not worker.is_alive()
    subjects = [m.subject for m in records(tmp_path)]
    if len(subjects) < n:  # the outage outlasted the retries of that poll: the next one resumes
        poll(cfg)
        subjects = [m.subject for m in records(tmp_path)]
    assert sorted(subjects) == sorted(f"m{i} PO 2024-00815-MT" for i in range(n))


def _cli(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_9_mid_batch_then_poll_again_is_exactly_once(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, batch_size=25)
    n = 600
    dovecot.append(
        imap_user.username, "INBOX", [make_mail(f"k{i} PO 2024-00815-MT", seq=i) for i in range(n)]
    )
    proc = _cli(cfg, "poll")
    db = tmp_path / "state.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if db.exists() and 0 < len(records(tmp_path)) < n:
                break
        except StoreUnavailable:  # the poll is creating the tables right now
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    partial = len(records(tmp_path))
    assert partial < n, "the poll finished before it could be killed; make the mailbox larger"
    done = _cli(cfg, "poll")
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()
    subjects = sorted(m.subject for m in records(tmp_path))
    assert subjects == sorted(f"k{i} PO 2024-00815-MT" for i in range(n))


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_crash_at_each_commit_then_restart(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, crash_at: int
) -> None:
    cfg = write_config(tmp_path, imap_user, batch_size=4)
    n = 10  # three batches: 4 + 4 + 2
    dovecot.append(
        imap_user.username, "INBOX", [make_mail(f"c{i} PO 2024-00815-MT", seq=i) for i in range(n)]
    )
    crashed = _cli(cfg, "poll", env={"PO_WATCHER_TEST_CRASH_AT_COMMIT": str(crash_at)})
    crashed.communicate(timeout=120)
    assert crashed.returncode == 77
    assert len(records(tmp_path)) == 4 * (crash_at - 1)
    done = _cli(cfg, "poll")
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err.decode()
    assert sorted(m.subject for m in records(tmp_path)) == sorted(
        f"c{i} PO 2024-00815-MT" for i in range(n)
    )


def test_pos_import_reports_bad_rows_and_rejudges_unknown(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user)
    dovecot.append(imap_user.username, "INBOX", [make_mail("late PO", "PO 2024-00777-MT")])
    poll(cfg)
    assert by_subject(tmp_path)["late PO"].status is Status.UNKNOWN
    csv = tmp_path / "pos.csv"
    csv.write_text(
        "po_number,customer,status,amount\n"
        "2024-00777-MT,westside,open,10.00\n"
        "not-a-po,westside,open,1\n"
        "ACME-123456,nobody,open,1\n",
        encoding="utf-8",
    )
    proc = _cli(cfg, "pos", "import", str(csv))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1  # rows were refused; the good one is loaded all the same
    text = err.decode()
    assert ":3" in text or "line 3" in text
    assert ":4" in text or "line 4" in text
    assert "1 PO record(s) added" in out.decode()
    late = by_subject(tmp_path)["late PO"]
    assert late.status is Status.LINKED
    assert late.po_numbers == ("2024-00777-MT",)


def test_postgres_poll_and_folder_lease(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, pg_url: str
) -> None:
    cfg = write_config(tmp_path, imap_user, database_url=pg_url)
    config = load_config(cfg)
    dovecot.append(
        imap_user.username, "INBOX", [make_mail(f"PO 2024-00815-MT {i}") for i in range(5)]
    )
    other = Store.open(pg_url)
    try:
        with other.folder_lease(config.imap.account, "INBOX") as held:
            assert held
            busy = poll(cfg)  # another instance holds INBOX: this one leaves it alone
            assert busy.folders[0].leased_elsewhere
            assert busy.recorded == 0
        done = poll(cfg)
        assert done.recorded == 5
        assert not done.folders[0].leased_elsewhere
        assert poll(cfg).recorded == 0
        assert len(list(other.messages())) == 5
    finally:
        other.close()


def test_reprocess_refetches_and_rejudges_after_a_pattern_change(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user)
    seed_pos(tmp_path)
    westside = tmp_path / "customers" / "westside.toml"
    original = westside.read_text(encoding="utf-8")
    strict = original.replace("[A-Za-z]{2}", "[A-Z]{2}").replace(
        "[po]", "[po]\nignore_case = false"
    )
    westside.write_text(strict, encoding="utf-8")
    dovecot.append(imap_user.username, "INBOX", [make_mail("lower case", "our po 2024-00815-mt")])
    poll(cfg)
    assert by_subject(tmp_path)["lower case"].status is Status.MALFORMED
    westside.write_text(original, encoding="utf-8")
    proc = _cli(cfg, "reprocess", "--status", "malformed")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert "malformed -> linked -> 2024-00815-MT" in out.decode()
    assert "note: INBOX: 1 message(s) judged again, 1 of them fetched again" in out.decode()
    fixed = by_subject(tmp_path)["lower case"]
    assert fixed.status is Status.LINKED
    assert fixed.po_numbers == ("2024-00815-MT",)
    again = _cli(cfg, "reprocess")
    out, _ = again.communicate(timeout=120)
    assert "0 message(s) changed" in out.decode()


def test_reprocess_says_what_changed_when_the_verdict_stays(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user)
    dovecot.append(imap_user.username, "INBOX", [make_mail("typo", "our PO 2024-008I5-MT")])
    poll(cfg)  # no PO records yet: malformed, and nothing to suggest
    assert by_subject(tmp_path)["typo"].status is Status.MALFORMED
    seed_pos(tmp_path)
    proc = _cli(cfg, "reprocess", "--status", "malformed")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert "still malformed; now also: Did you mean 2024-00815-MT?" in out.decode()
    assert "malformed -> malformed" not in out.decode()


def test_mailbox_actions_flag_linked_and_move_flagged(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    actions = (
        "actions = [\n"
        '  { folder = "INBOX", on = "linked", add_flags = ["$PO-Linked"] },\n'
        '  { folder = "INBOX", on = "flagged", move_to = "Needs-PO" },\n'
        "]"
    )
    cfg = write_config(tmp_path, imap_user, extra_imap=actions)
    seed_pos(tmp_path)
    dovecot.append(
        imap_user.username,
        "INBOX",
        [
            make_mail("good PO 2024-00815-MT"),
            make_mail("no po here"),
            make_mail("PO 2024-00816-MT"),
        ],
    )
    first = poll(cfg)
    assert first.recorded == 3
    # The target folder does not exist yet: the move fails, is reported and stays owed.
    assert first.action_failures == 1
    metrics = Metrics()
    metrics.observe_poll(first)
    assert 'po_watcher_errors_total{kind="action"} 1' in metrics.render({})
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert any(e.kind == "action_failed" for e in store.feed_events(first_event_time()))
        health = HealthServer(0, store, metrics, account=imap_user.username + "@127.0.0.1",
                              folders=("INBOX",))  # fmt: skip
        code, body, _ = health.healthz()
        health.server.server_close()
    assert code == 503
    assert '"actions_owed": 1' in body
    dovecot.create_folder(imap_user.username, "Needs-PO")
    again = poll(cfg)
    assert again.recorded == 0  # the owed move is done now; nothing is recorded again
    assert again.action_failures == 0
    with dovecot.client(imap_user.username) as imap:
        imap.select_folder("INBOX", readonly=True)
        flags = imap.fetch(imap.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        inbox = {
            bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().strip(): v[b"FLAGS"]
            for v in flags.values()
        }
        imap.select_folder("Needs-PO", readonly=True)
        moved = len(imap.search(["ALL"]))
    assert set(inbox) == {"Subject: good PO 2024-00815-MT", "Subject: PO 2024-00816-MT"}
    assert all(b"$PO-Linked" in f and b"\\Seen" not in f for f in inbox.values())
    assert moved == 1
    assert len(records(tmp_path)) == 3


def test_a_closed_flag_takes_its_mailbox_flag_off(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    actions = (
        "actions = [\n"
        '  { folder = "INBOX", on = "linked", add_flags = ["$PO-Linked"] },\n'
        '  { folder = "INBOX", on = "flagged", add_flags = ["$PO-Flagged"] },\n'
        "]"
    )
    cfg = write_config(tmp_path, imap_user, extra_imap=actions)
    seed_pos(tmp_path)
    subjects = ("no po here", "typo PO 2024-008I5-MT", "new PO 2024-00999-MT", "waiting")
    dovecot.append(imap_user.username, "INBOX", [make_mail(s) for s in subjects])
    assert poll(cfg).recorded == 4

    def flags() -> dict[str, set[bytes]]:
        with dovecot.client(imap_user.username) as imap:
            imap.select_folder("INBOX", readonly=True)
            got = imap.fetch(imap.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        return {
            bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().strip()[9:]: set(v[b"FLAGS"])
            for v in got.values()
        }

    assert all(f == {b"$PO-Flagged"} for f in flags().values())
    got = by_subject(tmp_path)

    def cli(*args: str) -> str:
        proc = _cli(cfg, *args)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        return out.decode()

    said = cli("dismiss", str(got["no po here"].id), "--reason", "a thank-you note")
    assert "the flag po-watcher set on the mail comes off at the next poll" in said
    said = cli("resolve", str(got["typo PO 2024-008I5-MT"].id), "--po", "2024-00815-MT")
    assert "and what [imap] actions do to linked mail is done to it" in said
    csv = tmp_path / "new.csv"
    csv.write_text("po_number,customer\n2024-00999-MT,westside\n", encoding="utf-8")
    cli("pos", "import", str(csv))  # the unknown PO is in the records now: linked
    assert by_subject(tmp_path)["new PO 2024-00999-MT"].status is Status.LINKED
    assert flags()["no po here"] == {b"$PO-Flagged"}  # the mailbox changes at the next poll
    assert poll(cfg).recorded == 0
    assert flags() == {
        "no po here": set(),
        "typo PO 2024-008I5-MT": {b"$PO-Linked"},
        "new PO 2024-00999-MT": {b"$PO-Linked"},
        "waiting": {b"$PO-Flagged"},  # still open
    }
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert not store.pending_actions(
            imap_user.username + "@127.0.0.1", "INBOX", got["waiting"].key.uidvalidity
        )


def test_ignore_rules_record_and_close_flags_and_no_flag_action_touches_them(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    actions = 'actions = [{ folder = "INBOX", on = "flagged", move_to = "Needs-PO" }]'
    ignore = '[ignore]\nsenders = ["News@*"]\nsubjects = ["delivery status notification*"]'
    cfg = write_config(tmp_path, imap_user, extra_imap=actions, extra=ignore)
    seed_pos(tmp_path)
    dovecot.create_folder(imap_user.username, "Needs-PO")
    dovecot.append(
        imap_user.username,
        "INBOX",
        [
            make_mail("Our autumn catalogue", sender="news@shop.example"),
            make_mail("Delivery Status Notification (Failure)"),
            make_mail("Automatic reply: out of office until Monday"),
            b"Auto-Submitted: auto-replied\n" + make_mail("Back on Monday"),  # by header alone
            make_mail("Automatic reply: PO 2024-00815-MT"),  # names a known PO: linked still
            make_mail("no po here"),
        ],
    )
    assert poll(cfg).recorded == 6
    got = by_subject(tmp_path)
    news = got["Our autumn catalogue"]
    assert (news.status, news.review) == (Status.MISSING, Review.DISMISSED)
    assert news.review_note == "ignored: the sender matches 'news@*' in [ignore] senders"
    bounce = got["Delivery Status Notification (Failure)"]
    assert (bounce.status, bounce.review) == (Status.MISSING, Review.DISMISSED)
    assert bounce.review_note == (
        "ignored: the subject matches 'delivery status notification*' in [ignore] subjects"
    )
    for subject in ("Automatic reply: out of office until Monday", "Back on Monday"):
        away = got[subject]
        assert (away.status, away.review) == (Status.MISSING, Review.DISMISSED)
        assert away.review_note == "ignored: it is an automatic reply ([ignore] auto_replies)"
    linked = got["Automatic reply: PO 2024-00815-MT"]
    assert (linked.status, linked.po_numbers, linked.review) == (
        Status.LINKED,
        ("2024-00815-MT",),
        None,
    )
    assert got["no po here"].review is Review.OPEN
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert [m.subject for m in store.undigested_flags()] == ["no po here"]
    with dovecot.client(imap_user.username) as imap:
        imap.select_folder("Needs-PO", readonly=True)
        moved = imap.fetch(imap.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    subjects = [bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().strip() for v in moved.values()]
    assert subjects == ["Subject: no po here"]

    # A rule added later closes the open flag it matches when the messages are judged again.
    cfg.write_text(cfg.read_text().replace('subjects = ["', 'subjects = ["no po*", "'))
    proc = _cli(cfg, "reprocess")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert (
        "'no po here'): still missing; its flag is closed: the subject matches 'no po*' in "
        "[ignore] subjects" in out.decode()
    )
    assert by_subject(tmp_path)["no po here"].review is Review.DISMISSED


def first_event_time() -> dt.datetime:
    return dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def test_an_empty_folder_polled_twice_is_not_called_recreated(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user)
    assert poll(cfg).recorded == 0
    assert poll(cfg).folders[0].reconciled is False
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT")])
    third = poll(cfg)
    assert third.recorded == 1
    assert third.folders[0].reconciled is False
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert [e.kind for e in store.feed_events(first_event_time())] == []
