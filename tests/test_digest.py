"""The daily digest, sent to a real SMTP server (aiosmtpd) and parsed back with the email package:
recipients, both parts, escaping, grouping, "did you mean", exactly-once across days, failed
sends, feed health, the empty digest and the dry run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import shutil
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from extractors.types import Candidate
from inbox_watcher.cli import main
from inbox_watcher.config import Config, load_config
from inbox_watcher.digest import (
    build_digest,
    render_html,
    render_text,
    send_digest,
    subject_line,
)
from inbox_watcher.model import (
    JudgedCandidate,
    MessageKey,
    Outcome,
    ProcessedMessage,
    Review,
    Status,
)
from inbox_watcher.store import Store
from tests.servers import ReceivedMail, SmtpSink

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "po@example.com@127.0.0.1"
RECIPIENTS = ("ap@example.com", "controller@example.com")
# 2024-05-01 07:00 in Berlin (summer time, UTC+2)
DAY1 = dt.datetime(2024, 5, 1, 5, 0, tzinfo=dt.UTC)
XSS = "<script>alert(1)</script>"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


# --- building state -----------------------------------------------------------------------------


def write_config(
    root: Path,
    *,
    smtp_port: int,
    security: str = "none",
    silent_after_days: int = 14,
    subject: str | None = None,
    send_when_empty: bool = True,
) -> Path:
    """A watcher.toml (with the example customers) in `root`, the digest pointed at the sink."""
    shutil.copytree(REPO / "config" / "customers", root / "customers")
    (root / "imap-password").write_text("not-used\n")
    subject_line = "" if subject is None else f'subject = "{subject}"\n'  # TOML escapes stay
    path = root / "watcher.toml"
    path.write_text(
        f"""
[imap]
host = "127.0.0.1"
port = 10143
security = "none"
username = "po@example.com"
password_file = "imap-password"
folders = ["INBOX", "Orders"]

[database]
url = "sqlite:///{root / "state.db"}"

[schedule]
digest_at = "07:00"
timezone = "Europe/Berlin"

[digest]
to = {list(RECIPIENTS)!r}
from = "po-watcher@example.com"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "{security}"
silent_after_days = {silent_after_days}
timeout = "5s"
send_when_empty = {str(send_when_empty).lower()}
{subject_line}
[customers]
dir = "customers"
""".replace("'", '"')
    )
    return path


def judged(raw: str, normalized: str, *, valid: bool, known: bool) -> JudgedCandidate:
    candidate = Candidate(
        raw=raw, normalized=normalized, source="body", valid=valid, labelled=True, customer=None
    )
    return JudgedCandidate(candidate=candidate, known=known)


def processed(
    uid: int,
    status: Status,
    *,
    customer: str | None,
    subject: str,
    candidates: tuple[JudgedCandidate, ...] = (),
    suggestions: tuple[str, ...] = (),
    po_numbers: tuple[str, ...] = (),
    folder: str = "INBOX",
) -> ProcessedMessage:
    reasons: tuple[str, ...] = ()
    if status is not Status.LINKED:  # as triage words them, "Did you mean" included
        reasons = (f"Flagged as {status.value} (test {uid}).",)
        reasons += tuple(f"Did you mean {s}?" for s in suggestions)
    return ProcessedMessage(
        key=MessageKey(ACCOUNT, folder, 1, uid),
        message_id=f"<m{uid}@customer.example>",
        sender=f"buyer{uid}@customer.example",
        subject=subject,
        date="2024-04-30T16:45:00+00:00",
        content_hash=f"hash-{uid}",
        size=1000 + uid,
        in_reply_to=None,
        references=(),
        outcome=Outcome(
            status=status,
            po_numbers=po_numbers,
            reasons=reasons,
            customer=customer,
            candidates=candidates,
            suggestions=suggestions,
        ),
    )


def acme_unknown(uid: int, subject: str = "Order for May") -> ProcessedMessage:
    return processed(
        uid,
        Status.UNKNOWN,
        customer="acme",
        subject=subject,
        candidates=(judged("ACME-PO-123457", "ACME-123457", valid=True, known=False),),
        suggestions=("ACME-123456",),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY1 - dt.timedelta(hours=1))


@pytest.fixture
def config(tmp_path: Path, smtp_sink: SmtpSink) -> Config:
    return load_config(write_config(tmp_path, smtp_port=smtp_sink.port))


@pytest.fixture
def store(config: Config, clock: Clock) -> Iterator[Store]:
    with Store.open(config.database.url, clock=clock) as opened:
        yield opened


def parse(mail: ReceivedMail) -> EmailMessage:
    message = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    assert isinstance(plain, EmailMessage)
    assert isinstance(rich, EmailMessage)
    return plain.get_content(), rich.get_content()


# --- the email ----------------------------------------------------------------------------------


def test_digest_email_has_both_parts_escaped_and_grouped(
    config: Config, store: Store, smtp_sink: SmtpSink
) -> None:
    store.record(
        [
            processed(
                1,
                Status.MALFORMED,
                customer="westside",
                subject="PO 2024/08l5/MT",
                suggestions=("2024-00815-MT",),
            ),
            acme_unknown(2, subject=XSS),
            processed(3, Status.MISSING, customer=None, subject="Hello"),
            processed(
                4, Status.LINKED, customer="acme", subject="Fine order", po_numbers=("ACME-123456",)
            ),
            acme_unknown(5, subject="Second Acme order"),
        ],
        checkpoint=None,
    )
    result = send_digest(config, store, now=DAY1)
    assert result.status == "sent", result.summary
    assert result.flagged == 4

    [mail] = smtp_sink.wait_for(1)
    assert sorted(mail.rcpt_tos) == sorted(RECIPIENTS)
    message = parse(mail)
    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == "po-watcher@example.com"
    assert "4 message(s)" in message["Subject"]
    assert "2024-05-01" in message["Subject"]
    text, rich = parts(message)

    # every message-derived field is escaped in the HTML; the text part shows it as written
    assert "<script>" not in rich
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rich
    assert XSS in text

    # grouped by customer (by name, the unrecognised last), then by status
    acme, westside, nobody = (
        text.index("== Acme Corporation (2) =="),
        text.index("== Westside Tools Ltd (1) =="),
        text.index("== Customer not recognised (1) =="),
    )
    assert acme < westside < nobody
    assert text.index(XSS) < text.index("Second Acme order") < westside
    assert text.count("-- PO number not in our records (2) --") == 1
    assert "-- PO number written wrongly (1) --" in text
    assert "Fine order" not in text  # linked: nothing to do

    # each message: sender, date (in the configured zone), folder, what was found, did you mean
    assert "From: buyer2@customer.example" in text
    assert "Date: 2024-04-30 18:45 CEST   Folder: INBOX" in text
    assert "ACME-PO-123457 (read as ACME-123457) in the message text: not in our records" in text
    assert text.count("Did you mean ACME-123456?") == 2  # once a message, not twice
    # with one PO to choose for a number written wrongly, the command that links that message
    # to it, naming the configuration the daemon runs with (not the default one: a bare command
    # would fail); for a well-formed number not in the records no ready command: it may be a
    # new PO one keystroke from a recent one
    command = f"po-watcher --config {config.path}"
    assert f"Did you mean 2024-00815-MT?  If so: {command} resolve 1 --po 2024-00815-MT" in text
    assert text.count("Did you mean ACME-123456?  Or a new PO, not imported yet?") == 2
    assert text.count(f"If so: {command} resolve ") == 1
    assert f"To link a message to a PO by hand:  {command} resolve NUMBER" in text
    assert f"{command} dismiss NUMBER" in rich
    assert rich.count("Did you mean ACME-123456?") == 2
    assert "Acme Corporation (2)" in rich


def test_header_injection_through_the_subject_template_is_stripped(
    tmp_path: Path, smtp_sink: SmtpSink, clock: Clock
) -> None:
    path = write_config(
        tmp_path,
        smtp_port=smtp_sink.port,
        subject="PO digest {date}\\r\\nBcc: thief@evil.example",
    )
    config = load_config(path)
    with Store.open(config.database.url, clock=clock) as store:
        store.record([acme_unknown(1)], checkpoint=None)
        assert send_digest(config, store, now=DAY1).status == "sent"
    [mail] = smtp_sink.wait_for(1)
    assert "thief@evil.example" not in mail.rcpt_tos
    message = parse(mail)
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    assert message["Subject"].startswith("PO digest 2024-05-01")


def test_the_subject_can_name_the_mailbox(tmp_path: Path, clock: Clock) -> None:
    """Two daemons watching two mailboxes send two digests: `{mailbox}` tells them apart."""
    config = load_config(
        write_config(tmp_path, smtp_port=25, subject="{mailbox}: {count} open ({date})")
    )
    with Store.open(config.database.url, clock=clock) as store:
        store.record([acme_unknown(1)], checkpoint=None)
        digest = build_digest(config, store, now=DAY1)
    assert subject_line(config, digest) == f"{config.imap.account}: 1 open (2024-05-01)"


# --- exactly once -------------------------------------------------------------------------------


def test_each_flag_is_reported_in_exactly_one_daily_digest(
    config: Config, store: Store, smtp_sink: SmtpSink, clock: Clock
) -> None:
    store.record([acme_unknown(1, subject="Flag A")], checkpoint=None)
    first = send_digest(config, store, now=DAY1)
    assert (first.status, first.local_date, first.flagged) == ("sent", "2024-05-01", 1)
    [mail1] = smtp_sink.wait_for(1)
    text1, _ = parts(parse(mail1))
    assert "Flag A" in text1

    # later the same local day: nothing new goes out
    again = send_digest(config, store, now=DAY1 + dt.timedelta(hours=3))
    assert again.status == "already_sent"

    clock.now = DAY1 + dt.timedelta(hours=5)
    store.record([acme_unknown(2, subject="Flag B")], checkpoint=None)
    # 23:30 UTC is already 01:30 on 2 May in Berlin: a new local day
    day2 = dt.datetime(2024, 5, 1, 23, 30, tzinfo=dt.UTC)
    second = send_digest(config, store, now=day2)
    assert (second.status, second.local_date, second.flagged) == ("sent", "2024-05-02", 1)
    mails = smtp_sink.wait_for(2)
    text2, _ = parts(parse(mails[1]))
    assert "Flag B" in text2
    assert "Flag A" not in text2
    assert "1 flagged message(s) from earlier digests are still open" in text2
    # the subject counts every flag still open, the earlier one too
    assert "2 message(s) need a person" in parse(mails[1])["Subject"]

    third = send_digest(config, store, now=day2 + dt.timedelta(hours=2))
    assert third.status == "already_sent"
    assert len(smtp_sink.messages) == 2
    assert [m.digest_date for m in store.messages()] == ["2024-05-01", "2024-05-02"]


def test_a_failed_send_is_not_marked_and_the_next_attempt_includes_the_flags(
    config: Config, store: Store, smtp_sink: SmtpSink
) -> None:
    store.record([acme_unknown(1, subject="Flag A")], checkpoint=None)
    smtp_sink.stop()
    failed = send_digest(config, store, now=DAY1)
    assert failed.status == "failed"
    assert not failed.ok
    assert failed.error is not None
    assert f"127.0.0.1:{smtp_sink.port}" in failed.error
    assert [m.id for m in store.undigested_flags()] == [1]

    smtp_sink.start()
    store.record([acme_unknown(2, subject="Flag B")], checkpoint=None)
    retried = send_digest(config, store, now=DAY1 + dt.timedelta(minutes=30))
    assert retried.status == "sent", retried.summary
    [mail] = smtp_sink.wait_for(1)
    text, _ = parts(parse(mail))
    assert "Flag A" in text
    assert "Flag B" in text
    assert store.undigested_flags() == []


def test_starttls_not_offered_is_refused_rather_than_sent_in_clear(
    tmp_path: Path, smtp_sink: SmtpSink, clock: Clock
) -> None:
    config = load_config(write_config(tmp_path, smtp_port=smtp_sink.port, security="starttls"))
    with Store.open(config.database.url, clock=clock) as store:
        store.record([acme_unknown(1)], checkpoint=None)
        result = send_digest(config, store, now=DAY1)
        assert result.status == "failed"
        assert "does not offer STARTTLS" in (result.error or "")
        assert len(store.undigested_flags()) == 1
    assert smtp_sink.messages == []


# --- feed health --------------------------------------------------------------------------------


def test_a_feed_problem_that_is_over_says_so(config: Config, store: Store, clock: Clock) -> None:
    now = DAY1 + dt.timedelta(hours=12)
    store.add_feed_event(
        "folder_failed",
        account=ACCOUNT,
        folder="INBOX",
        detail="timed out",
        at=now - dt.timedelta(hours=2),
    )
    store.add_feed_event(
        "connection",
        account=ACCOUNT,
        folder="Orders",
        detail="refused",
        at=now - dt.timedelta(hours=2),
    )
    clock.now = now - dt.timedelta(hours=1)
    store.note_poll(ACCOUNT, "INBOX", ok=True, error=None)  # INBOX has worked since; Orders not
    text = render_text(build_digest(config, store, now=now))
    [inbox] = [line for line in text.splitlines() if line.startswith('- Folder "INBOX"')]
    [orders] = [line for line in text.splitlines() if line.startswith('- Folder "Orders"')]
    assert inbox.endswith("(over: it has worked since)")
    assert "over" not in orders


def test_a_failed_mailbox_action_is_over_once_no_action_is_owed(
    config: Config, store: Store, clock: Clock
) -> None:
    now = DAY1 + dt.timedelta(hours=12)
    owed = processed(1, Status.UNKNOWN, customer="acme", subject="x", folder="Orders")
    store.record([owed], checkpoint=owed.key, actions={owed.key: "flagged"})
    store.add_feed_event(
        "action_failed", account=ACCOUNT, folder="Orders", detail="no such folder", at=now
    )

    def line() -> str:
        text = render_text(build_digest(config, store, now=now + dt.timedelta(minutes=5)))
        [found] = [t for t in text.splitlines() if t.startswith('- Folder "Orders"')]
        return found

    assert "over" not in line()
    store.actions_done(ACCOUNT, "Orders", 1, [1])
    assert line().endswith("(over: it has worked since)")


def test_feed_health_lists_failures_and_silent_customers(
    config: Config, store: Store, smtp_sink: SmtpSink, clock: Clock
) -> None:
    now = DAY1 + dt.timedelta(days=20)
    store.record([acme_unknown(1)], checkpoint=None)  # acme's last mail: 20 days before `now`
    clock.now = now - dt.timedelta(days=2)
    store.record(
        [
            processed(
                2, Status.LINKED, customer="westside", subject="ok", po_numbers=("2024-00815-MT",)
            )
        ],
        checkpoint=None,
    )
    store.add_feed_event(
        "auth_error",
        account=ACCOUNT,
        folder="INBOX",
        detail="LOGIN failed: wrong password",
        at=now - dt.timedelta(hours=3),
    )
    store.add_feed_event(
        "auth_error",
        account=ACCOUNT,
        folder="INBOX",
        detail="LOGIN failed: wrong password",
        at=now - dt.timedelta(hours=2),
    )
    store.add_feed_event(
        "folder_failed",
        account=ACCOUNT,
        folder="Archive",
        detail="old trouble",
        at=now - dt.timedelta(days=3),
    )
    store.add_feed_event(
        "folder_failed",
        account=ACCOUNT,
        folder="Old-Orders",  # taken out of the configuration since
        detail="gone for good",
        at=now - dt.timedelta(hours=1),
    )
    clock.now = now - dt.timedelta(minutes=5)
    store.note_poll(ACCOUNT, "Orders", ok=False, error="SELECT failed: no such folder")

    assert send_digest(config, store, now=now).status == "sent"
    [mail] = smtp_sink.wait_for(1)
    text, rich = parts(parse(mail))
    health = text[text.index("== Mailbox health ==") :]
    assert 'Folder "INBOX": could not log in to the mailbox (2 times in the last day' in health
    assert "LOGIN failed: wrong password" in health
    assert "old trouble" not in health  # older than a day
    assert "gone for good" not in health  # a folder no longer watched
    assert 'Folder "Orders" is failing right now: SELECT failed: no such folder' in health
    assert "Acme Corporation: no mail for 20 days (the last arrived on 2024-05-01)." in health
    assert "Nordwind Handel GmbH: no mail from this customer has been received yet." in health
    assert "Westside" not in health  # mail two days ago: not silent
    assert "Nordwind Handel GmbH: no mail from this customer has been received yet." in rich


def test_empty_digest_says_nothing_needs_you(
    tmp_path: Path, smtp_sink: SmtpSink, clock: Clock
) -> None:
    config = load_config(write_config(tmp_path, smtp_port=smtp_sink.port, silent_after_days=0))
    with Store.open(config.database.url, clock=clock) as store:
        store.record(
            [
                processed(
                    1, Status.LINKED, customer="acme", subject="ok", po_numbers=("ACME-123456",)
                )
            ],
            checkpoint=None,
        )
        result = send_digest(config, store, now=DAY1)
    assert (result.status, result.flagged) == ("sent", 0)
    [mail] = smtp_sink.wait_for(1)
    message = parse(mail)
    assert "nothing needs you today" in message["Subject"]
    text, rich = parts(message)
    assert "Nothing needs you today" in text
    assert "Nothing needs you today" in rich
    assert "The mailbox was read without problems." in text


def test_empty_digest_is_not_sent_when_switched_off_and_the_day_counts_as_done(
    tmp_path: Path, smtp_sink: SmtpSink, clock: Clock
) -> None:
    path = write_config(
        tmp_path, smtp_port=smtp_sink.port, silent_after_days=0, send_when_empty=False
    )
    config = load_config(path)
    with Store.open(config.database.url, clock=clock) as store:
        result = send_digest(config, store, now=DAY1)
        assert result.status == "empty"
        assert "nothing sent" in result.summary
        assert send_digest(config, store, now=DAY1).status == "already_sent"
        # A flag the next day is sent as usual.
        store.record([acme_unknown(1)], checkpoint=None)
        assert send_digest(config, store, now=DAY1 + dt.timedelta(days=1)).status == "sent"
    [mail] = smtp_sink.wait_for(1)
    assert "1 message(s) need a person" in parse(mail)["Subject"]


# --- the command --------------------------------------------------------------------------------


def test_dry_run_prints_the_text_marks_nothing_and_writes_html(
    tmp_path: Path, smtp_sink: SmtpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, smtp_port=smtp_sink.port)
    config = load_config(path)
    with Store.open(config.database.url) as store:
        store.record([acme_unknown(1, subject=XSS)], checkpoint=None)
    html_file = tmp_path / "digest.html"

    assert main(["--config", str(path), "digest", "--html", str(html_file)]) == 0
    out = capsys.readouterr().out
    assert "Subject: PO watcher: 1 message(s) need a person" in out
    assert "== Acme Corporation (1) ==" in out
    assert XSS in out
    assert "&lt;script&gt;" in html_file.read_text(encoding="utf-8")
    assert "<script>" not in html_file.read_text(encoding="utf-8")
    assert smtp_sink.messages == []
    with Store.open(config.database.url) as store:
        assert len(store.undigested_flags()) == 1

    assert main(["--config", str(path), "digest", "--send"]) == 0
    assert "sent: 1 flagged message(s)" in capsys.readouterr().out
    assert len(smtp_sink.wait_for(1)) == 1
    assert main(["--config", str(path), "digest", "--send"]) == 0
    assert "already sent" in capsys.readouterr().out
    assert len(smtp_sink.messages) == 1
    assert "already sent" not in out  # the first dry run: nothing was sent yet
    assert main(["--config", str(path), "digest"]) == 0  # a dry run after sending says so
    after = capsys.readouterr().out
    assert "(the digest for 20" in after
    assert "these go in tomorrow's digest" in after
    assert "digest --send" not in after  # it would only say that today's went out
    sent_on = after.split("(the digest for ", 1)[1][:10]
    tomorrow = (dt.date.fromisoformat(sent_on) + dt.timedelta(days=1)).isoformat()
    subject = after.split("Subject: ", 1)[1].splitlines()[0]
    assert subject.endswith(f"({tomorrow})"), subject  # not dated as today's, which went out


def test_reviewed_flags_leave_the_digest(config: Config, store: Store) -> None:
    store.record(
        [
            acme_unknown(1, subject="resolved one"),
            acme_unknown(2, subject="dismissed one"),
            acme_unknown(3, subject="still open"),
        ],
        checkpoint=None,
    )
    store.set_review(1, Review.RESOLVED, "by hand", pos=[("acme", "ACME-123456")])
    store.set_review(2, Review.DISMISSED, "a newsletter")
    text = render_text(build_digest(config, store, now=DAY1))
    assert "still open" in text
    assert "resolved one" not in text
    assert "dismissed one" not in text
    assert "1 new message(s) need a person." in text


def test_the_digest_counts_the_last_days_ignored_mail(
    config: Config, store: Store, clock: Clock
) -> None:
    rule = "the sender matches 'news@*' in [ignore] senders"
    news = processed(1, Status.MISSING, customer=None, subject="Autumn catalogue")
    older = processed(2, Status.MISSING, customer=None, subject="Summer catalogue")
    ignored = [
        dataclasses.replace(m, outcome=dataclasses.replace(m.outcome, ignored=rule))
        for m in (older, news)
    ]
    store.record([ignored[0]], checkpoint=None)
    clock.now += dt.timedelta(hours=30)  # the older one is more than a day before the digest
    store.record([ignored[1], acme_unknown(3, subject="still open")], checkpoint=None)
    text = render_text(build_digest(config, store, now=clock.now))
    assert "Autumn catalogue" not in text
    assert "1 new message(s) need a person." in text
    assert (
        "1 message(s) of the last day matched the [ignore] rules and were not flagged (see them "
        f"with: po-watcher --config {config.path} messages --review dismissed)." in text
    )
    store.set_review(3, Review.DISMISSED, "not an order")
    quiet = render_text(build_digest(config, store, now=clock.now))
    assert "No new messages need a person today." in quiet
    assert "1 message(s) of the last day matched the [ignore] rules" in quiet


def test_found_lines_name_each_number_once_and_leave_out_what_did_not_count(
    config: Config, store: Store
) -> None:
    def at(raw: str, source: str, *, labelled: bool = True, valid: bool = True) -> JudgedCandidate:
        c = Candidate(
            raw=raw, normalized=raw, source=source, valid=valid, labelled=labelled, customer="acme"
        )
        return JudgedCandidate(candidate=c, known=False)

    unknown = processed(
        1,
        Status.UNKNOWN,
        customer="acme",
        subject="Order",
        candidates=(
            at("ACME-123457", "subject"),
            at("ACME-123457", "body"),
            at("24123456", "body", labelled=False),  # weak: a register number, not counted
        ),
    )
    missing = processed(
        2,
        Status.MISSING,
        customer="acme",
        subject="Newsletter",
        candidates=(at("2024-00451", "body", labelled=False),),
    )
    store.record([unknown, missing], checkpoint=None)
    text = render_text(build_digest(config, store, now=DAY1))
    found = [line.strip() for line in text.splitlines() if line.strip().startswith("Found:")]
    assert found == ["Found: ACME-123457 in the subject and the message text: not in our records"]


def test_no_po_mail_from_senders_on_no_list_is_one_line_each(config: Config, store: Store) -> None:
    """Shops, carriers, banks and newsletters: listed one line each after the real flags, so
    the wrong and unknown PO numbers are what the clerk reads first."""
    store.record(
        [
            processed(1, Status.MISSING, customer=None, subject="Your parcel is on its way"),
            processed(2, Status.UNKNOWN, customer=None, subject="PO from a new address"),
            processed(3, Status.MISSING, customer="acme", subject="Acme without PO"),
            processed(
                4,
                Status.MISSING,
                customer=None,
                subject="New order",
                candidates=(judged("2026-117", "2026-117", valid=False, known=False),),
            ),
        ],
        checkpoint=None,
    )
    d = build_digest(config, store, now=DAY1)
    text = render_text(d)
    strangers = text[text.index("== Customer not recognised") :]
    assert "#1  2024-04-30  Your parcel is on its way  (from buyer1@customer.example)" in strangers
    assert "Why: Flagged as missing (test 1)" not in text  # no full entry for it
    # A number set aside (a labelled value): maybe a new customer's order, so in full, first.
    assert "Why: Flagged as missing (test 4)" in strangers
    assert strangers.index("#4  New order") < strangers.index("#1  2024-04-30")
    assert "Why: Flagged as unknown (test 2)" in text  # a full entry: a PO number matters
    assert "Why: Flagged as missing (test 3)" in text  # a customer's mail without a PO: full
    html_part = render_html(d)
    assert "<li>#1  2024-04-30  Your parcel is on its way  (from buyer1@customer.example)</li>" in (
        html_part
    )


def test_a_stranger_line_without_a_sender_says_so(config: Config, store: Store) -> None:
    nameless = replace(
        processed(1, Status.MISSING, customer=None, subject="Undeliverable"), sender=""
    )
    store.record([nameless], checkpoint=None)
    text = render_text(build_digest(config, store, now=DAY1))
    assert "#1  2024-04-30  Undeliverable  (from no usable From address)" in text


def test_several_pos_come_with_the_command_that_confirms_them_all_and_no_from_is_escaped(
    config: Config, store: Store, smtp_sink: SmtpSink
) -> None:
    both = ("ACME-123456", "ACME-123457")
    store.record(
        [
            processed(1, Status.AMBIGUOUS, customer="acme", subject="Two", po_numbers=both),
            processed(2, Status.MISSING, customer=None, subject="Newsletter"),
        ],
        checkpoint=None,
    )
    assert send_digest(config, store, now=DAY1).status == "sent"
    [mail] = smtp_sink.wait_for(1)
    text, rich = parts(parse(mail))
    command = f"po-watcher --config {config.path} resolve 1 --po ACME-123456 --po ACME-123457"
    assert f"If it is about all of them: {command}" in text
    assert f"If it is about all of them: {command}" in rich
    # a line starting "From " would reach the reader as ">From " (mbox escaping on the way)
    assert ">From" not in text
    assert "Mail from senders on no customer's list" in text
