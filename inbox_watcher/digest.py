"""The daily digest: what needs a person, built from the store, rendered and sent by SMTP.

``build_digest`` reads the store (flags not yet reported, older open flags, feed health, silent
customers); ``render_text`` / ``render_html`` turn it into the two parts of one email (every
message-derived field HTML-escaped); ``send_digest`` sends it once per local day and records it.

Exactly once per day, at least once per flag: ``start_digest`` refuses a day already sent; the
flags are marked reported only after the SMTP server accepted the email, so a failed send leaves
them for the next attempt. A crash between the send and the marking reports them again the next
day (a repeat is better than a loss).

An empty digest is still sent by default (``digest.send_when_empty``): a short "nothing needs you
today" every day means that a day without an email is itself a sign that something is broken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import shlex
import smtplib
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from inbox_watcher.config import Config, ConfigError, DigestConfig
from inbox_watcher.logs import register_secret
from inbox_watcher.model import JudgedCandidate, Status
from inbox_watcher.store import FeedEvent, FolderState, Store, StoredMessage

FEED_WINDOW = dt.timedelta(hours=24)  # feed problems looked at: the last day
MAX_LISTED = 300  # flags listed in one digest; the rest follow in the next one
MAX_CANDIDATES = 8  # candidates shown per message
MAX_FIELD = 200  # characters shown of a subject, sender or detail

STATUS_WORDS: dict[Status, str] = {
    Status.UNKNOWN: "PO number not in our records",
    Status.MALFORMED: "PO number written wrongly",
    Status.MISSING: "No PO number found",
    Status.AMBIGUOUS: "More than one of our PO numbers",
    Status.UNREADABLE: "Could not be read",
    Status.LINKED: "Linked to a PO",
}
_STATUS_ORDER = [
    Status.UNKNOWN,
    Status.MALFORMED,
    Status.AMBIGUOUS,
    Status.MISSING,
    Status.UNREADABLE,
    Status.LINKED,
]

FEED_WORDS: dict[str, str] = {
    "auth_error": "could not log in to the mailbox",
    "tls_error": "the secure connection to the mail server failed",
    "connection": "could not reach the mail server",
    "folder_failed": "the folder could not be read",
    "uidvalidity_changed": "the folder was recreated on the server (no mail is lost)",
    # the watcher's own troubles, said once they are over (the database could not take them)
    "polls_failed": "polls failed for a while and recorded nothing (it caught up after)",
    "config_refused": "a changed configuration was refused; the last good one kept running",
}
WATCHER_KINDS = frozenset({"polls_failed", "config_refused"})
# Events kept to tell that a trouble is over, not news themselves: a configuration loaded
# (at start or by a reload) after one was refused.
CONFIG_LOADED = "config_loaded"
NO_CUSTOMER = "Customer not recognised"


class DigestSendError(Exception):
    """The digest could not be handed to the SMTP server (nothing was sent)."""


# --- what a digest holds ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """Feed events of one kind on one folder within the window, summed up."""

    folder: str | None
    kind: str
    count: int
    last_at: dt.datetime
    detail: str
    over: bool = False  # the folder worked (or its owed actions were done) since

    @property
    def words(self) -> str:
        return FEED_WORDS.get(self.kind, self.kind.replace("_", " "))


@dataclass(frozen=True, slots=True)
class SilentCustomer:
    customer: str
    name: str
    last_at: dt.datetime | None  # None: no mail from this customer recorded at all
    days: int | None


@dataclass(frozen=True, slots=True)
class CustomerGroup:
    customer: str | None
    name: str
    by_status: tuple[tuple[Status, tuple[StoredMessage, ...]], ...]

    @property
    def count(self) -> int:
        return sum(len(messages) for _, messages in self.by_status)


@dataclass(frozen=True, slots=True)
class Digest:
    local_date: dt.date
    tz: dt.tzinfo
    groups: tuple[CustomerGroup, ...]
    held_back: int  # new flags beyond MAX_LISTED: they come in the next digest
    older_open: int
    feed: tuple[FeedProblem, ...]
    failing_folders: tuple[FolderState, ...]
    silent: tuple[SilentCustomer, ...]
    ignored: int = 0  # messages of the last day whose flag an [ignore] rule closed
    command: str = "po-watcher"  # as the clerk types it: Config.command

    @property
    def listed(self) -> tuple[StoredMessage, ...]:
        return tuple(m for g in self.groups for _, ms in g.by_status for m in ms)

    @property
    def healthy(self) -> bool:
        return not (self.feed or self.failing_folders or self.silent)

    @property
    def all_clear(self) -> bool:
        return not self.listed and not self.held_back and not self.older_open and self.healthy


@dataclass(frozen=True, slots=True)
class DigestResult:
    """What ``send_digest`` did: ``sent``, ``already_sent`` (today's went out before), ``empty``
    (nothing to say and empty digests are off) or ``failed`` (``error`` says why)."""

    status: Literal["sent", "already_sent", "empty", "failed"]
    local_date: str
    flagged: int = 0
    error: str | None = None
    refused: tuple[str, ...] = ()  # recipients the server refused (the others got it)
    digest: Digest | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def summary(self) -> str:
        if self.status == "sent":
            text = f"digest for {self.local_date} sent: {self.flagged} flagged message(s)"
            if self.refused:
                text += f"; refused by the server for {', '.join(self.refused)}"
            return text
        if self.status == "already_sent":
            return f"the digest for {self.local_date} was already sent today: nothing sent"
        if self.status == "empty":
            return f"nothing to report for {self.local_date}: nothing sent"
        return f"digest for {self.local_date} NOT sent: {self.error}"


# --- building -----------------------------------------------------------------------------------


def local_date(config: Config, now: dt.datetime) -> dt.date:
    """The digest's day: ``now`` in the configured time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(config.schedule.tzinfo).date()


def build_digest(config: Config, store: Store, *, now: dt.datetime) -> Digest:
    flags = store.undigested_flags()
    listed, held_back = flags[:MAX_LISTED], max(0, len(flags) - MAX_LISTED)
    watched = set(config.imap.folders)  # a folder taken out of the configuration is not news
    events = [
        e for e in store.feed_events(now - FEED_WINDOW) if not e.folder or e.folder in watched
    ]
    failing = []
    states: dict[str, FolderState] = {}
    for folder in config.imap.folders:
        state = store.folder_state(config.imap.account, folder)
        if state is not None:
            states[folder] = state
        if state is not None and state.last_error:
            failing.append(state)
    loaded = max((e.at for e in events if e.kind == CONFIG_LOADED), default=None)
    feed = tuple(
        dataclasses.replace(
            p,
            over=loaded is not None and loaded > p.last_at
            if p.kind == "config_refused"
            else _over(p, states.get(p.folder or ""), store, config),
        )
        for p in _feed_problems(e for e in events if e.kind != CONFIG_LOADED)
    )
    return Digest(
        local_date=local_date(config, now),
        tz=config.schedule.tzinfo,
        groups=_groups(config, listed),
        held_back=held_back,
        older_open=store.open_flag_count_older(),
        feed=feed,
        failing_folders=tuple(failing),
        command=config.command,
        silent=_silent(config, store.last_message_at_by_customer(), now),
        ignored=store.ignored_count_since(now - FEED_WINDOW),
    )


def _name(config: Config, customer: str | None) -> str:
    if customer is None:
        return NO_CUSTOMER
    rules = config.customer(customer)
    return rules.name if rules is not None and rules.name else customer


def _groups(config: Config, flags: Sequence[StoredMessage]) -> tuple[CustomerGroup, ...]:
    by_customer: dict[str | None, list[StoredMessage]] = {}
    for m in flags:
        by_customer.setdefault(m.customer, []).append(m)
    groups = []
    for customer, messages in by_customer.items():
        by_status = tuple(
            (status, tuple(m for m in messages if m.status is status))
            for status in _STATUS_ORDER
            if any(m.status is status for m in messages)
        )
        groups.append(CustomerGroup(customer, _name(config, customer), by_status))
    groups.sort(key=lambda g: (g.customer is None, g.name.lower(), g.customer or ""))
    return tuple(groups)


def _over(p: FeedProblem, state: FolderState | None, store: Store, config: Config) -> bool:
    """Whether a problem of the last day is over: a failed mailbox action whose folder owes no
    action any more; a failed read followed by a good poll of the folder."""
    if state is None or p.kind == "uidvalidity_changed":
        return False
    if p.kind == "action_failed":
        if state.uidvalidity is None:
            return False
        return not store.pending_actions(config.imap.account, state.folder, state.uidvalidity)
    return state.last_error is None and (
        state.last_success_at is not None and state.last_success_at > p.last_at
    )


def _feed_problems(events: Iterable[FeedEvent]) -> tuple[FeedProblem, ...]:
    summed: dict[tuple[str | None, str], FeedProblem] = {}
    for e in events:
        key = (e.folder, e.kind)
        before = summed.get(key)
        summed[key] = FeedProblem(
            e.folder, e.kind, (before.count if before else 0) + 1, e.at, e.detail
        )
    return tuple(summed.values())


def _silent(
    config: Config, last: dict[str, dt.datetime], now: dt.datetime
) -> tuple[SilentCustomer, ...]:
    days = config.digest.silent_after_days
    if days <= 0:
        return ()
    silent = []
    for rules in config.customers:
        at = last.get(rules.id)
        if at is None:
            silent.append(SilentCustomer(rules.id, _name(config, rules.id), None, None))
        elif now - at > dt.timedelta(days=days):
            silent.append(SilentCustomer(rules.id, _name(config, rules.id), at, (now - at).days))
    return tuple(silent)


# --- rendering: shared words --------------------------------------------------------------------


def _clip(text: str, limit: int = MAX_FIELD) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: dt.datetime, tz: dt.tzinfo) -> str:
    """The time in the digest's zone, which is named: "2024-03-12 09:14 CET"."""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").rstrip()


def _message_date(m: StoredMessage, tz: dt.tzinfo) -> str:
    if m.date:
        try:
            parsed = dt.datetime.fromisoformat(m.date)
        except ValueError:
            return _clip(m.date, 40)
        return _when(parsed, tz) if parsed.tzinfo else parsed.strftime("%Y-%m-%d %H:%M")
    return _when(m.created_at, tz) + " (received)"


def _candidate_parts(j: JudgedCandidate) -> tuple[str, str, str]:
    """(the number as shown, where it stands, what the records say)."""
    c = j.candidate
    shown = c.raw if c.raw == c.normalized else f"{c.raw} (read as {c.normalized})"
    where = _source_words(c.source)
    if c.page is not None:
        where += f", page {c.page}"
    if c.quoted:
        where += ", in quoted earlier mail"
    if not c.valid:
        verdict = "not a valid number for this customer"
    elif j.known:
        verdict = "in our records"
    else:
        verdict = "not in our records"
    return shown, where, verdict


def _source_words(source: str) -> str:
    if source == "body":
        return "message text"
    if source.startswith("attachment:"):
        return f"attachment {source.removeprefix('attachment:')}"
    if source.startswith("filename:"):
        return f"file name {source.removeprefix('filename:')}"
    if source.startswith("embedded:"):
        return f"e-invoice XML inside {source.removeprefix('embedded:')}"
    return source


def _candidates(m: StoredMessage) -> list[str]:
    """What was found, one line a number ("2024-00812 in the subject and the message text: not
    in our records"). Weak numbers that did not count are left out (the reasons name them on a
    `missing` verdict); a `missing` verdict found nothing that counts, so it lists nothing."""
    if m.status is Status.MISSING:
        return []
    places: dict[tuple[str, str], list[str]] = {}
    for j in m.candidates:
        if j.candidate.weak and not j.known:
            continue
        shown, where, verdict = _candidate_parts(j)
        wheres = places.setdefault((shown, verdict), [])
        if where not in wheres:
            wheres.append(where)
    lines = [
        _clip(f"{shown} in the {' and the '.join(wheres)}: {verdict}", 2 * MAX_FIELD)
        for (shown, verdict), wheres in places.items()
    ]
    more = len(lines) - MAX_CANDIDATES
    return lines[:MAX_CANDIDATES] + ([f"and {more} more"] if more > 0 else [])


def _why(m: StoredMessage) -> list[str]:
    """The reasons to show; a "Did you mean" among them is left to the suggestion line."""
    reasons = [r for r in m.reasons if not (m.suggestions and r.startswith("Did you mean"))]
    return [_clip(r, 2 * MAX_FIELD) for r in reasons[:5]]


def _suggestion(m: StoredMessage, command: str) -> str | None:
    """The "did you mean" line; with one PO to choose for a number written wrongly, the command
    that links the message to it. Not for a well-formed number not in the records: POs are
    numbered in sequence, so a new one is often one keystroke from a recent one, and a ready
    command would link a new order to an old PO. For several POs, the command that confirms
    them all."""
    if m.status is Status.AMBIGUOUS and 1 < len(m.po_numbers) <= 5:
        return f"If it is about all of them: {resolve_command(command, m.id, *m.po_numbers)}"
    if not m.suggestions:
        return None
    text = "Did you mean " + " or ".join(_clip(s, 60) for s in m.suggestions[:3]) + "?"
    if len(m.suggestions) == 1 and m.status is not Status.UNKNOWN:
        text += f"  If so: {resolve_command(command, m.id, m.suggestions[0])}"
    elif m.status is Status.UNKNOWN:
        text += "  Or a new PO, not imported yet?"
    return text


def resolve_command(command: str, message_id: int, *pos: str) -> str:
    """The `resolve` command that links message ``message_id`` to ``pos``, quoted for a shell;
    ``command`` is how po-watcher is called (``Config.command``)."""
    given = " ".join(f"--po {shlex.quote(_clip(po, 60))}" for po in pos)
    return f"{command} resolve {message_id} {given}"


def _headline(d: Digest) -> list[str]:
    lines = []
    count = len(d.listed) + d.held_back
    if count:
        lines.append(f"{count} new message(s) need a person.")
    else:
        lines.append("No new messages need a person today.")
    if d.held_back:
        lines.append(
            f"The first {len(d.listed)} are listed here; the other {d.held_back} come in "
            f"the next digest (or see them now with: {d.command} flagged)."
        )
    if d.older_open:
        lines.append(
            f"{d.older_open} flagged message(s) from earlier digests are still open "
            f"(see them with: {d.command} flagged)."
        )
    if d.all_clear:
        lines = [
            "Nothing needs you today: no flagged messages, and the mailbox was read without "
            "problems.",
            "This email comes every day, so a day without it means something is broken.",
        ]
    if d.ignored:
        lines.append(
            f"{d.ignored} message(s) of the last day matched the [ignore] rules and were not "
            f"flagged (see them with: {d.command} messages --review dismissed)."
        )
    return lines


def _health_lines(d: Digest) -> list[str]:
    lines = []
    for state in d.failing_folders:
        lines.append(
            f'Folder "{_clip(state.folder, 80)}" is failing right now: '
            f"{_clip(state.last_error or '')}"
        )
    for p in d.feed:
        where = (
            f'Folder "{_clip(p.folder, 80)}"'
            if p.folder
            else "The watcher"
            if p.kind in WATCHER_KINDS
            else "The mailbox"
        )
        times = "once" if p.count == 1 else f"{p.count} times"
        text = f"{where}: {p.words} ({times} in the last day, last at {_when(p.last_at, d.tz)})"
        if p.detail:
            text += f": {_clip(p.detail)}"
        if p.over:
            text += (
                " (over: a sound configuration was loaded since)"
                if p.kind == "config_refused"
                else " (over: it has worked since)"
            )
        lines.append(text)
    for s in d.silent:
        if s.last_at is None:
            lines.append(f"{s.name}: no mail from this customer has been received yet.")
        else:
            lines.append(
                f"{s.name}: no mail for {s.days} days "
                f"(the last arrived on {s.last_at.astimezone(d.tz):%Y-%m-%d})."
            )
    return lines


def _help_lines(command: str) -> tuple[str, str]:
    return (
        f"To link a message to a PO by hand:  {command} resolve NUMBER --po PO-NUMBER",
        f'To close a flag that is not about a PO:  {command} dismiss NUMBER --reason "why"',
    )


def subject_line(config: Config, d: Digest) -> str:
    count = len(d.listed) + d.held_back + d.older_open  # every flag still open
    if d.all_clear:
        return _header(f"PO watcher: nothing needs you today ({d.local_date.isoformat()})")
    return _header(
        config.digest.subject.format(
            count=count, date=d.local_date.isoformat(), mailbox=config.imap.account
        )
    )


def _header(text: str) -> str:
    """Header text with CR, LF and other control characters removed (no header injection)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


# --- rendering: text ----------------------------------------------------------------------------


def render_text(d: Digest) -> str:
    out = [f"PO watcher digest for {d.local_date:%A %d %B %Y}", ""]
    out += _headline(d)
    for g in d.groups:
        out += ["", f"== {_clip(g.name, 80)} ({g.count}) =="]
        for status, messages in g.by_status:
            out += ["", f"-- {STATUS_WORDS[status]} ({len(messages)}) --"]
            brief = [m for m in messages if _compact(g, status, m)]
            for m in (m for m in messages if m not in brief):
                out += ["", f"#{m.id}  {_clip(m.subject) or '(no subject)'}"]
                out.append(f"     From: {_clip(m.sender)}")
                out.append(
                    f"     Date: {_message_date(m, d.tz)}   Folder: {_clip(m.key.folder, 80)}"
                )
                out += [f"     Why: {r}" for r in _why(m)]
                out += [f"     Found: {c}" for c in _candidates(m)]
                suggestion = _suggestion(m, d.command)
                if suggestion:
                    out.append(f"     {suggestion}")
            if brief:
                out += ["", COMPACT_NOTE, ""]
                out += [_compact_line(m, d.tz) for m in brief]
    out += ["", "== Mailbox health =="]
    health = _health_lines(d)
    out += [f"- {line}" for line in health] or ["The mailbox was read without problems."]
    if d.listed or d.older_open:
        out += ["", "The number after # identifies the message:", *_help_lines(d.command)]
    return "\n".join(out) + "\n"


# --- rendering: HTML ----------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def render_html(d: Digest) -> str:
    title = f"PO watcher digest for {d.local_date:%A %d %B %Y}"
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title></head>",
        '<body style="font-family: Arial, sans-serif; font-size: 14px; color: #222">',
        f'<h1 style="font-size: 20px">{_e(title)}</h1>',
    ]
    out += [f"<p>{_e(line)}</p>" for line in _headline(d)]
    for g in d.groups:
        out.append(
            f'<h2 style="font-size: 17px; border-bottom: 1px solid #ccc">'
            f"{_e(_clip(g.name, 80))} ({g.count})</h2>"
        )
        for status, messages in g.by_status:
            out.append(
                f'<h3 style="font-size: 15px">{_e(STATUS_WORDS[status])} ({len(messages)})</h3>'
            )
            brief = [m for m in messages if _compact(g, status, m)]
            for m in (m for m in messages if m not in brief):
                out.append(_html_message(m, d.tz, d.command))
            if brief:
                lines = "".join(f"<li>{_e(_compact_line(m, d.tz))}</li>" for m in brief)
                out.append(f'<p style="color: #555">{_e(COMPACT_NOTE)}</p><ul>{lines}</ul>')
    out.append('<h2 style="font-size: 17px; border-bottom: 1px solid #ccc">Mailbox health</h2>')
    health = _health_lines(d)
    if health:
        out.append("<ul>" + "".join(f"<li>{_e(line)}</li>" for line in health) + "</ul>")
    else:
        out.append("<p>The mailbox was read without problems.</p>")
    if d.listed or d.older_open:
        out.append(
            '<p style="color: #555">The number after # identifies the message.<br>'
            + "<br>".join(_e(line) for line in _help_lines(d.command))
            + "</p>"
        )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


COMPACT_NOTE = (  # not "From ..." at a line's start: mail transports escape it as ">From"
    "Mail from senders on no customer's list (shops, carriers, banks, newsletters): most need "
    "nothing; dismiss what is not a PO matter."
)


def _compact(g: CustomerGroup, status: Status, m: StoredMessage) -> bool:
    """Mail with no PO from senders on no customer's list is listed one line each, after the
    rest: it is mostly not a PO matter. Not one with a number set aside (a labelled value, a
    number shaped like a PO): that may be a new customer's order."""
    return g.customer is None and status is Status.MISSING and not m.candidates


def _compact_line(m: StoredMessage, tz: dt.tzinfo) -> str:
    subject = _clip(m.subject, 80) or "(no subject)"
    sender = _clip(m.sender, 60) or "no usable From address"
    return f"#{m.id}  {_message_date(m, tz)[:10]}  {subject}  (from {sender})"


def _html_message(m: StoredMessage, tz: dt.tzinfo, command: str) -> str:
    rows = [
        ("From", _e(_clip(m.sender))),
        ("Date", _e(_message_date(m, tz))),
        ("Folder", _e(_clip(m.key.folder, 80))),
    ]
    rows += [("Why", _e(r)) for r in _why(m)]
    rows += [("Found", _e(c)) for c in _candidates(m)]
    suggestion = _suggestion(m, command)
    if suggestion:
        rows.append(("", f"<strong>{_e(suggestion)}</strong>"))
    cells = "".join(
        f'<tr><td style="color: #555; padding-right: 8px; vertical-align: top">{_e(k)}</td>'
        f"<td>{v}</td></tr>"
        for k, v in rows
    )
    subject = _clip(m.subject) or "(no subject)"
    return (
        f'<div style="margin: 0 0 14px 0"><div><strong>#{m.id}</strong> {_e(subject)}</div>'
        f"<table>{cells}</table></div>"
    )


# --- sending ------------------------------------------------------------------------------------


def compose(config: Config, d: Digest, *, now: dt.datetime) -> EmailMessage:
    """The digest as one multipart/alternative email: plain text, then HTML."""
    settings = config.digest
    message = EmailMessage()
    message["Subject"] = subject_line(config, d)
    message["From"] = _header(settings.sender)
    message["To"] = ", ".join(_header(a) for a in settings.to)
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    domain = _header(settings.sender.rpartition("@")[2]) or None
    message["Message-ID"] = make_msgid("po-watcher.digest", domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_text(d))
    message.add_alternative(render_html(d), subtype="html")
    return message


def deliver(settings: DigestConfig, message: EmailMessage) -> tuple[str, ...]:
    """Hand the message to the SMTP server; returns the recipients it refused (the others got
    it). Raises DigestSendError when nobody got it."""
    context = ssl.create_default_context()
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DigestSendError(
                        f"the mail server {where} does not offer STARTTLS; the digest was not "
                        "sent rather than sent unencrypted"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                password = settings.password()
                if password is None:
                    raise DigestSendError("digest.username is set but no password source is")
                register_secret(password)
                smtp.login(settings.username, password)
            refused = smtp.send_message(
                message, from_addr=settings.sender, to_addrs=list(settings.to)
            )
    except DigestSendError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise DigestSendError(
            f"the mail server {where} refused every recipient: {', '.join(exc.recipients)}"
        ) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DigestSendError(
            f"the mail server {where} refused the login ({exc.smtp_code})"
        ) from exc
    except ConfigError as exc:
        raise DigestSendError(f"the SMTP password could not be read: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError and timeouts are OSErrors
        raise DigestSendError(f"sending through {where} failed: {exc}") from exc
    return tuple(sorted(refused))


def send_digest(config: Config, store: Store, *, now: dt.datetime) -> DigestResult:
    """Send today's digest unless it was sent already; record what it reported."""
    day = local_date(config, now).isoformat()
    run_id = store.start_digest(day)
    if run_id is None:
        return DigestResult("already_sent", day)
    digest = build_digest(config, store, now=now)
    listed = digest.listed
    if digest.all_clear and not config.digest.send_when_empty:
        store.finish_digest(run_id, ok=True, error=None)
        return DigestResult("empty", day, digest=digest)
    try:
        refused = deliver(config.digest, compose(config, digest, now=now))
    except DigestSendError as exc:
        store.finish_digest(run_id, ok=False, error=str(exc))
        return DigestResult("failed", day, len(listed), error=str(exc), digest=digest)
    store.mark_digested([m.id for m in listed], day, run_id)
    store.finish_digest(run_id, ok=True, error=None)
    return DigestResult("sent", day, len(listed), refused=refused, digest=digest)
