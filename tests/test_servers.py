"""The test servers themselves: quick checks that they behave like the real thing they stand for."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import psycopg
import pytest
import sqlalchemy
from imapclient import IMAPClient

from tests.servers import Dovecot, ImapUser, Postgres, SmtpSink
from tests.servers.dovecot import _parse_uid_set


def _mail(subject: str) -> bytes:
    return (
        f"From: buyer@example.com\r\nTo: orders@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.com>\r\n\r\nPlease ship PO 4711.\r\n"
    ).encode()


def test_uid_set_parsing() -> None:
    assert _parse_uid_set("7") == [7]
    assert _parse_uid_set("1:3,9,12:11") == [1, 2, 3, 9, 11, 12]


def test_plain_login_offers_the_capabilities_we_rely_on(imap_user: ImapUser) -> None:
    with IMAPClient(imap_user.host, port=imap_user.port, ssl=False, timeout=10) as imap:
        imap.login(imap_user.username, imap_user.password)
        caps = set(imap.capabilities())
    assert {b"IDLE", b"UIDPLUS", b"MOVE", b"CONDSTORE", b"MULTIAPPEND"} <= caps


def test_wrong_password_is_refused(imap_user: ImapUser) -> None:
    with (
        IMAPClient(imap_user.host, port=imap_user.port, ssl=False, timeout=10) as imap,
        pytest.raises(IMAPClient.Error, match=r"(?i)authentication failed"),
    ):
        imap.login(imap_user.username, imap_user.password + "x")


def test_tls_login_verified_against_the_test_ca(imap_user: ImapUser) -> None:
    context = ssl.create_default_context(cafile=str(imap_user.ca_file))
    with IMAPClient(
        "localhost", port=imap_user.ssl_port, ssl=True, ssl_context=context, timeout=10
    ) as imap:
        imap.login(imap_user.username, imap_user.password)
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def test_tls_without_the_ca_is_refused(imap_user: ImapUser) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match=r"self-signed|unable to get local"):
        IMAPClient(
            "localhost",
            port=imap_user.ssl_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=10,
        )


def test_tls_to_a_host_name_not_in_the_certificate_is_refused(
    dovecot: Dovecot, imap_user: ImapUser
) -> None:
    # The wrong host reaches the same server (plain IMAP answers there) ...
    with IMAPClient(dovecot.wrong_host, port=imap_user.port, ssl=False, timeout=10) as imap:
        imap.login(imap_user.username, imap_user.password)
    # ... so the TLS refusal is the certificate's name check, nothing else.
    context = ssl.create_default_context(cafile=str(imap_user.ca_file))
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        IMAPClient(dovecot.wrong_host, port=imap_user.ssl_port, ssl=True, ssl_context=context)


def test_append_then_body_peek_leaves_seen_unset(dovecot: Dovecot, imap_user: ImapUser) -> None:
    messages = [_mail("order one"), _mail("order two")]
    uids = dovecot.append(imap_user.username, "INBOX", messages, flags=[r"\Flagged"])
    assert len(uids) == 2
    with dovecot.client(imap_user.username) as imap:
        imap.select_folder("INBOX")
        assert imap.search("ALL") == uids
        fetched = imap.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
        assert [fetched[uid][b"BODY[]"] for uid in uids] == messages
        assert all(b"\\Seen" not in fetched[uid][b"FLAGS"] for uid in uids)
        assert all(b"\\Flagged" in fetched[uid][b"FLAGS"] for uid in uids)
        # The check above can fail: a plain BODY[] fetch does set \Seen.
        imap.fetch([uids[0]], ["BODY[]"])
        assert b"\\Seen" in imap.get_flags([uids[0]])[uids[0]]


def test_users_do_not_see_each_other(dovecot: Dovecot, imap_user: ImapUser) -> None:
    other = dovecot.add_user(imap_user.username + "x", "other-pw")
    dovecot.append(imap_user.username, "INBOX", [_mail("mine")])
    with dovecot.client(other.username) as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def test_append_many_in_batches(dovecot: Dovecot, imap_user: ImapUser) -> None:
    count = Dovecot.APPEND_BATCH + 7
    uids = dovecot.append(imap_user.username, "INBOX", (_mail(f"m {i}") for i in range(count)))
    assert uids == list(range(1, count + 1))


@pytest.mark.parametrize("folder", ["INBOX", "Orders"])
def test_recreated_folder_gets_new_uidvalidity_and_reuses_uids(
    dovecot: Dovecot, imap_user: ImapUser, folder: str
) -> None:
    user = imap_user.username
    if folder != "INBOX":
        dovecot.create_folder(user, folder)
    first = dovecot.append(user, folder, [_mail("a"), _mail("b")])
    before = dovecot.uidvalidity(user, folder)

    after = dovecot.recreate_folder_new_uidvalidity(user, folder)

    assert after != before
    assert dovecot.uidvalidity(user, folder) == after
    with dovecot.client(user) as imap:
        assert imap.select_folder(folder)[b"EXISTS"] == 0
    assert dovecot.append(user, folder, [_mail("c")]) == first[:1]  # UID 1 again


def test_rename_and_delete_folder(dovecot: Dovecot, imap_user: ImapUser) -> None:
    user = imap_user.username
    dovecot.create_folder(user, "Old")
    dovecot.append(user, "Old", [_mail("kept")])
    dovecot.rename_folder(user, "Old", "New")
    with dovecot.client(user) as imap:
        names = {name for _, _, name in imap.list_folders()}
        assert {"INBOX", "New"} <= names
        assert "Old" not in names
        assert imap.select_folder("New")[b"EXISTS"] == 1
    dovecot.delete_folder(user, "New")
    with dovecot.client(user) as imap:
        assert not imap.folder_exists("New")


def test_restart_keeps_mail_and_uidvalidity(private_dovecot: Dovecot) -> None:
    user = private_dovecot.add_user("carol", "pw")
    uids = private_dovecot.append(user.username, "INBOX", [_mail("survives")])
    validity = private_dovecot.uidvalidity(user.username, "INBOX")

    private_dovecot.restart()

    assert private_dovecot.running
    assert private_dovecot.uidvalidity(user.username, "INBOX") == validity
    with private_dovecot.client(user.username, tls=True) as imap:
        imap.select_folder("INBOX")
        assert imap.search("ALL") == uids


def test_stopped_dovecot_refuses_connections(private_dovecot: Dovecot) -> None:
    private_dovecot.stop()
    assert not private_dovecot.running
    with pytest.raises(ConnectionRefusedError):
        IMAPClient(private_dovecot.host, port=private_dovecot.port, ssl=False, timeout=5)


def test_postgres_fresh_database_create_table(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = sqlalchemy.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                sqlalchemy.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
            assert tables == 0
            conn.execute(sqlalchemy.text("CREATE TABLE po (number text PRIMARY KEY)"))
            conn.execute(sqlalchemy.text("INSERT INTO po VALUES ('4711')"))
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT number FROM po")).scalars().all() == [
                "4711"
            ]
    finally:
        engine.dispose()


def test_postgres_restart_keeps_data(private_postgres: Postgres) -> None:
    private_postgres.create_database("kept")
    with psycopg.connect(private_postgres.dsn("kept"), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (42)")

    private_postgres.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(private_postgres.dsn("kept"), connect_timeout=2)
    private_postgres.start()

    with psycopg.connect(private_postgres.dsn("kept")) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]


def test_smtp_sink_keeps_what_smtplib_sends(smtp_sink: SmtpSink) -> None:
    message = EmailMessage()
    message["From"] = "po-watcher@example.com"
    message["To"] = "team@example.com"
    message["Subject"] = "Daily PO digest"
    message.set_content("3 messages need a person.")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as smtp:
        smtp.send_message(message, to_addrs=["team@example.com", "boss@example.com"])

    [received] = smtp_sink.wait_for(1)
    assert received.mail_from == "po-watcher@example.com"
    assert received.rcpt_tos == ("team@example.com", "boss@example.com")
    assert b"Subject: Daily PO digest" in received.data
    assert b"3 messages need a person." in received.data
