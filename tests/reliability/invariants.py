"""The invariants every fault scenario must leave true, checked by one helper: ``check_invariants``.

After a scenario (a crash, a cut connection, a full disk...) and its recovery:

1. every message on the server (in the configured folders; each test message carries an
   ``X-Test-Seq`` header) has exactly one record, matched by its key (account, folder,
   UIDVALIDITY, UID) or by the SHA-256 of its bytes (after a UIDVALIDITY change the old record
   stands for the re-added message), and that record is consistent with its terminal status;
2. no key is recorded twice, no message is linked to the same PO twice, no failure row is left
   for a recorded message;
3. at most one digest was sent per local date, a reported message points at a sent digest of
   the date it names, and (given the digest emails) no message is listed twice for one date;
4. a further poll over the unchanged mailbox changes nothing (a snapshot before and after).

Violations are collected and raised together in one ``AssertionError``.
"""

from __future__ import annotations

import email.parser
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from inbox_watcher.config import Config, load_config
from inbox_watcher.model import Status
from inbox_watcher.pipeline import content_hash
from inbox_watcher.poller import PollSummary
from inbox_watcher.runtime import make_poller, make_pool, open_store
from inbox_watcher.store import Store, StoredMessage
from tests.servers import Dovecot, ImapUser, ReceivedMail

SEQ_HEADER = "X-Test-Seq"
_DIGEST_DATE = re.compile(r"\((\d{4}-\d{2}-\d{2})\)\s*$")
_LISTED_ID = re.compile(r"^#(\d+)\s", re.MULTILINE)


@dataclass(frozen=True)
class ServerMessage:
    folder: str
    uidvalidity: int
    uid: int
    seq: str | None
    sha256: str


@dataclass
class InvariantReport:
    """What was checked (for the test's own further assertions)."""

    server: list[ServerMessage] = field(default_factory=list)
    records: list[StoredMessage] = field(default_factory=list)
    repoll: PollSummary | None = None

    def record_for_seq(self, seq: int) -> StoredMessage:
        """The record of the server message with this X-Test-Seq (exactly one exists)."""
        wanted = [s for s in self.server if s.seq == str(seq)]
        if len(wanted) != 1:
            raise LookupError(f"{len(wanted)} server messages carry {SEQ_HEADER}: {seq}")
        hit = [m for m in self.records if _matches(m, wanted[0])]
        if len(hit) != 1:
            raise LookupError(f"{len(hit)} records for {SEQ_HEADER}: {seq}")
        return hit[0]


def poll_config(config_path: Path, *, store: Store | None = None) -> PollSummary:
    """One in-process poll with the configuration's own store, pool and mailbox."""
    config = load_config(config_path)
    own = store is None
    used = open_store(config) if store is None else store
    try:
        with make_pool(config) as pool:
            return make_poller(config, used, pool).poll()
    finally:
        if own:
            used.close()


def check_invariants(
    dovecot: Dovecot,
    user: ImapUser,
    target: Path | Store,
    *,
    folders: Sequence[str] | None = None,
    account: str | None = None,
    repoll: bool | Callable[[], PollSummary] = True,
    allow_gone: bool = False,
    digests: Sequence[ReceivedMail] = (),
) -> InvariantReport:
    """Check the invariants for ``user``'s mailbox on ``dovecot`` and the state in ``target``.

    ``target`` is the watcher.toml of the scenario (its store, folders and account are used, and
    ``repoll=True`` polls with it) or an open ``Store`` (then ``folders`` default to INBOX, the
    account to ``username@host``, and ``repoll`` must be a callable or False).
    ``allow_gone``: records of messages no longer on the server (a deleted folder) are fine.
    ``digests``: the digest emails an SMTP sink received, checked for repeats per date.
    """
    config: Config | None = None
    if isinstance(target, Path):
        config = load_config(target)
        store = open_store(config)
        folders = tuple(folders or config.imap.folders)
        account = account or config.imap.account
        db_url = config.database.url_with_password()
    else:
        store = target
        folders = tuple(folders or ("INBOX",))
        account = account or f"{user.username}@{user.host}"
        db_url = store.url
    problems: list[str] = []
    report = InvariantReport()
    try:
        report.server = server_messages(dovecot, user, folders)
        report.records = list(store.messages())
        problems += _check_records(report, account, folders, allow_gone)
        problems += _check_tables(db_url, report.records)
        problems += _check_digests(digests, report.records)
        if repoll:
            before = snapshot(store, db_url, account, folders)
            if callable(repoll):
                summary = repoll()
            elif isinstance(target, Path):
                summary = poll_config(target, store=store)
            else:
                raise TypeError("repoll=True needs a config path; pass a callable with a Store")
            report.repoll = summary
            after = snapshot(store, db_url, account, folders)
            if summary.recorded:
                problems.append(f"the further poll recorded {summary.recorded} message(s)")
            if after != before:
                problems.append("the further poll changed the state: " + _diff(before, after))
    finally:
        if config is not None:
            store.close()
    if problems:
        raise AssertionError(
            f"{len(problems)} invariant(s) broken:\n" + "\n".join(f"- {p}" for p in problems)
        )
    return report


# --- the server side --------------------------------------------------------------------------


def server_messages(
    dovecot: Dovecot, user: ImapUser, folders: Sequence[str]
) -> list[ServerMessage]:
    """Every message in these folders (a folder absent from the server is skipped)."""
    out: list[ServerMessage] = []
    parser = email.parser.BytesHeaderParser()
    with dovecot.client(user.username) as imap:
        existing = {name for _, _, name in imap.list_folders()}
        for folder in folders:
            if folder not in existing:
                continue
            info = imap.select_folder(folder, readonly=True)
            validity = int(info[b"UIDVALIDITY"])
            uids = imap.search(["ALL"])
            if not uids:
                continue
            for uid, item in sorted(imap.fetch(uids, ["BODY.PEEK[]"]).items()):
                raw = item[b"BODY[]"]
                seq = parser.parsebytes(raw).get(SEQ_HEADER)
                sha = content_hash(raw)  # as the poll names a message
                out.append(ServerMessage(folder, validity, int(uid), seq, sha))
            imap.unselect_folder()
    return out


# --- the records --------------------------------------------------------------------------------


def _matches(m: StoredMessage, s: ServerMessage) -> bool:
    if m.key.folder != s.folder:
        return False
    return m.content_hash == s.sha256 or (m.key.uidvalidity, m.key.uid) == (s.uidvalidity, s.uid)


def _check_records(
    report: InvariantReport, account: str, folders: Sequence[str], allow_gone: bool
) -> list[str]:
    problems: list[str] = []
    for s in report.server:
        if s.seq is None:
            problems.append(f"{s.folder}/{s.uid}: a test message without {SEQ_HEADER}")
    seqs = Counter((s.folder, s.seq) for s in report.server if s.seq is not None)
    problems += [f"{SEQ_HEADER} {q} is twice in {f}" for (f, q), n in seqs.items() if n > 1]

    by_hash: dict[tuple[str, str], list[StoredMessage]] = defaultdict(list)
    by_key: dict[tuple[str, int, int], StoredMessage] = {}
    for m in report.records:
        by_hash[(m.key.folder, m.content_hash)].append(m)
        by_key[(m.key.folder, m.key.uidvalidity, m.key.uid)] = m
    matched: set[int] = set()
    for s in report.server:
        found = {m.id: m for m in by_hash.get((s.folder, s.sha256), [])}
        same_key = by_key.get((s.folder, s.uidvalidity, s.uid))
        if same_key is not None:
            found[same_key.id] = same_key
            oversize = same_key.content_hash.startswith("size:")
            if not oversize and same_key.content_hash != s.sha256:
                problems.append(
                    f"seq {s.seq}: record #{same_key.id} under its key holds other content "
                    "(a UID read as another message)"
                )
        where = f"seq {s.seq} ({s.folder} UIDVALIDITY {s.uidvalidity} UID {s.uid})"
        if len(found) != 1:
            problems.append(f"{where} has {len(found)} records: {sorted(found)}")
        matched |= set(found)

    for m in report.records:
        name = f"record #{m.id} ({m.key.folder}/{m.key.uid}, {m.subject[:40]!r})"
        if m.key.account != account:
            problems.append(f"{name} belongs to account {m.key.account!r}, not {account!r}")
        if m.id not in matched and not allow_gone:
            problems.append(f"{name} matches no message on the server")
        if m.key.folder not in folders and not allow_gone:
            problems.append(f"{name} is in a folder that is not configured")
        problems += _consistent(name, m)
    return problems


def _consistent(name: str, m: StoredMessage) -> list[str]:
    """The record is complete for its terminal status (nothing half-written)."""
    problems = []
    if m.status is Status.LINKED and not m.links:
        problems.append(f"{name} is linked but has no link")
    if m.status.flagged and m.review is None:
        problems.append(f"{name} is {m.status.value} but has no review state")
    if m.status is not Status.LINKED and not m.reasons:
        problems.append(f"{name} is {m.status.value} without a reason")
    numbers = [link.po_number for link in m.links]
    if len(numbers) != len(set(numbers)):
        problems.append(f"{name} is linked to the same PO twice: {numbers}")
    return problems


def _check_tables(db_url: str, records: Sequence[StoredMessage]) -> list[str]:
    """What the database itself says: no repeated key or link, no failure left for a record,
    at most one sent digest per date, every reported message pointing at a sent digest."""
    problems: list[str] = []
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            for row in conn.execute(
                text(
                    "SELECT account, folder, uidvalidity, uid, count(*) FROM message "
                    "GROUP BY account, folder, uidvalidity, uid HAVING count(*) > 1"
                )
            ):
                problems.append(f"key {tuple(row[:4])} recorded {row[4]} times")
            for row in conn.execute(
                text(
                    "SELECT msg_id, po_number, count(*) FROM link "
                    "GROUP BY msg_id, po_number HAVING count(*) > 1"
                )
            ):
                problems.append(f"message #{row[0]} linked to {row[1]} {row[2]} times")
            failures = {
                tuple(r)
                for r in conn.execute(text("SELECT account, folder, uidvalidity, uid FROM failure"))
            }
            for m in records:
                key = (m.key.account, m.key.folder, m.key.uidvalidity, m.key.uid)
                if key in failures:
                    problems.append(f"record #{m.id} still has a failure row")
            runs = {
                r[0]: (r[1], r[2])
                for r in conn.execute(text("SELECT id, local_date, status FROM digest_run"))
            }
            run_of = {
                r[0]: r[1]
                for r in conn.execute(
                    text("SELECT id, digest_run_id FROM message WHERE digest_date IS NOT NULL")
                )
            }
    finally:
        engine.dispose()
    sent = Counter(day for day, status in runs.values() if status == "sent")
    problems += [f"{n} digests sent for {day}" for day, n in sent.items() if n > 1]
    for m in records:
        if m.digest_date is None:
            continue
        run = run_of.get(m.id)
        if run is None or run not in runs:
            problems.append(f"record #{m.id} reported on {m.digest_date} by no digest run")
        elif runs[run] != (m.digest_date, "sent"):
            problems.append(
                f"record #{m.id} reported on {m.digest_date} by run {run} {runs[run]}, "
                "which is not a sent digest of that date"
            )
    return problems


def _check_digests(digests: Sequence[ReceivedMail], records: Sequence[StoredMessage]) -> list[str]:
    problems: list[str] = []
    flagged = {m.id: m for m in records if m.status.flagged}
    per_date: Counter[str] = Counter()
    listed: Counter[tuple[str, int]] = Counter()
    for mail in digests:
        msg = email.message_from_bytes(mail.data)
        found = _DIGEST_DATE.search(str(msg["Subject"] or ""))
        if found is None:
            problems.append(f"a digest without a date in its subject: {msg['Subject']!r}")
            continue
        day = found.group(1)
        per_date[day] += 1
        plain = _plain_text(msg)
        for ident in map(int, _LISTED_ID.findall(plain)):
            listed[(day, ident)] += 1
            m = flagged.get(ident)
            if m is None:
                problems.append(f"the digest of {day} lists #{ident}, which is not flagged")
            elif m.digest_date != day:
                problems.append(f"the digest of {day} lists #{ident}, recorded as {m.digest_date}")
    problems += [f"{n} digests received for {day}" for day, n in per_date.items() if n > 1]
    problems += [f"#{i} listed {n} times on {d}" for (d, i), n in listed.items() if n > 1]
    return problems


def _plain_text(part: Any) -> str:
    if part.is_multipart():
        return "\n".join(_plain_text(p) for p in part.get_payload())
    if part.get_content_type() != "text/plain":
        return ""
    payload = part.get_payload(decode=True) or b""
    return bytes(payload).decode(part.get_content_charset() or "utf-8", "replace")


# --- "a further poll changes nothing" -----------------------------------------------------------


def snapshot(store: Store, db_url: str, account: str, folders: Sequence[str]) -> dict[str, Any]:
    """Everything a poll may change, without the poll's own bookkeeping (time of the last poll)."""
    messages = [
        (
            m.id,
            m.key,
            m.status,
            m.reasons,
            m.suggestions,
            m.customer,
            m.candidates,
            m.links,
            m.review,
            m.digest_date,
            m.attempts,
            m.content_hash,
            m.updated_at,
        )
        for m in store.messages()
    ]
    states = []
    for folder in folders:
        st = store.folder_state(account, folder)
        states.append(None if st is None else (folder, st.uidvalidity, st.last_uid, st.reconciling))
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            failures = sorted(
                tuple(r)
                for r in conn.execute(
                    text("SELECT account, folder, uidvalidity, uid, attempts FROM failure")
                )
            )
            runs = sorted(
                tuple(r)
                for r in conn.execute(text("SELECT id, local_date, status FROM digest_run"))
            )
    finally:
        engine.dispose()
    return {"messages": messages, "folders": states, "failures": failures, "digest_runs": runs}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    for name, was in before.items():
        now = after[name]
        if was != now:
            old, new = set(map(repr, was)), set(map(repr, now))
            parts.append(
                f"{name}: -{sorted(old - new)[:3]} +{sorted(new - old)[:3]}"
                f" ({len(was)} -> {len(now)})"
            )
    return "; ".join(parts)
