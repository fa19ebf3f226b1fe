"""One pass over every configured folder: fetch new mail, judge it, record it exactly once.

For each folder: open it read-only, compare UIDVALIDITY with the stored one (a change means the
folder was recreated: start from UID 0 and skip what is already recorded by content hash), list
the UIDs above the checkpoint, and walk them in batches. Each batch is sized first (an over-size
message is recorded as unreadable without downloading it: only its From, Subject, Date and
message ids are fetched, in one FETCH a batch, and read in a worker, so that people can find it;
when that fails it is recorded without them), fetched with BODY.PEEK[], analysed in the worker
pool, judged, and committed in one transaction together with the folder checkpoint.

Exactly once: the record key (account, folder, uidvalidity, uid) is unique, the checkpoint moves
in the same transaction as the records, and a batch re-fetched after a crash skips keys already
recorded. A message whose analysis fails is retried on later polls (the checkpoint stays below
it, later messages are still recorded) until ``max_attempts``, then recorded as unreadable.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from extractors.message import extract_email, route
from extractors.rules import CustomerRules
from extractors.types import Email
from inbox_watcher.isolation import Done, Failed, IsolatedPool
from inbox_watcher.mailbox import (
    AuthFailed,
    FolderMissing,
    Mailbox,
    MailboxError,
    MailboxUnavailable,
    TlsRefused,
)
from inbox_watcher.model import LinkHow, MessageKey, Outcome, PoRecord, ProcessedMessage, Status
from inbox_watcher.pipeline import (
    STALE,
    Analysis,
    AnalysisFailed,
    Limits,
    MessageTask,
    analyse,
    analyse_carefully,
    analyse_light,
    content_hash,
    context_token,
    read_only,
)
from inbox_watcher.store import Store
from inbox_watcher.triage import judge

log = logging.getLogger(__name__)

CRASH_HOOK_ENV = "PO_WATCHER_TEST_CRASH_AT_COMMIT"  # test-only: exit hard at the k-th commit


@dataclass
class FolderReport:
    folder: str
    fetched: int = 0
    recorded: int = 0
    already: int = 0
    elsewhere: int = 0  # recorded before under another folder or UID (moved or copied)
    held: int = 0  # failed this time, will be retried
    error: str | None = None
    reconciled: bool = False
    leased_elsewhere: bool = False  # another instance holds this folder's lease
    first_held: int | None = None  # lowest UID held back for a retry in this poll


@dataclass
class PollSummary:
    folders: list[FolderReport] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    stopped: bool = False
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    action_failures: int = 0  # mailbox actions (flag, move) that failed and stay owed

    @property
    def recorded(self) -> int:
        return sum(f.recorded for f in self.folders)

    @property
    def errors(self) -> list[str]:
        return [f"{f.folder}: {f.error}" for f in self.folders if f.error]

    def line(self) -> str:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "nothing new"
        errs = f"; {len(self.errors)} folder error(s)" if self.errors else ""
        moved = sum(f.elsewhere for f in self.folders)
        if moved:
            parts += (
                f"; {moved} already recorded (moved, copied or delivered again): not recorded again"
            )
        if self.folders and len(self.errors) == len(self.folders):
            first = self.folders[0].error
            return (
                f"no folder could be read ({len(self.folders)} tried in {self.seconds:.1f}s): "
                f"{first}"
            )
        return f"polled {len(self.folders)} folder(s) in {self.seconds:.1f}s: {parts}{errs}"


@dataclass(frozen=True, slots=True)
class FolderAction:
    """After a record is committed: flag and/or move the message (only when configured)."""

    folder: str
    on: str  # "linked" | "flagged"
    add_flags: tuple[str, ...] = ()
    move_to: str | None = None


# Owed when a flag is closed after its message got the "flagged" action's flags: take them off
# (a dismiss), and then do what is done to a linked message (a resolve, or a PO import).
CLOSED = "closed"
CLOSED_LINKED = "closed_linked"


def follow_up(actions: Sequence[FolderAction], *, linked: bool) -> str | None:
    """The action owed to a flagged message of a folder with these actions once its flag is
    closed: None unless a "flagged" action flags messages there without moving them (a moved
    message left the folder; its new place is not followed)."""
    if not any(a.on == "flagged" and a.add_flags and a.move_to is None for a in actions):
        return None
    return CLOSED_LINKED if linked else CLOSED


@dataclass(frozen=True)
class PollSettings:
    account: str
    folders: tuple[str, ...]
    batch_size: int = 200
    max_message_size: int = 25 * 1024 * 1024
    max_attempts: int = 3
    retries: int = 4  # reconnects per folder and poll
    backoff_first: float = 1.0
    backoff_max: float = 30.0
    actions: tuple[FolderAction, ...] = ()
    # (sender, subject, auto-reply headers) -> the [ignore] rule that matches, in words, or None
    ignore: Callable[[str, str, bool], str | None] | None = None

    def actions_for(self, folder: str) -> tuple[FolderAction, ...]:
        return tuple(a for a in self.actions if a.folder == folder)


class Poller:
    def __init__(
        self,
        *,
        settings: PollSettings,
        customers: Sequence[CustomerRules],
        limits: Limits,
        store: Store,
        pool: IsolatedPool,
        mailbox: Callable[[], Mailbox],
        stop: threading.Event | None = None,
        progress: bool = False,
        on_committed: Callable[[Sequence[ProcessedMessage]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.customers = tuple(customers)
        self.rules = {c.id: c for c in self.customers}
        self.names = {c.id: c.name for c in self.customers}
        self.limits = limits
        self.store = store
        self.pool = pool
        self.mailbox_factory = mailbox
        self.stop = stop or threading.Event()
        self.progress = progress and sys.stderr.isatty()
        self.on_committed = on_committed
        self._commits = 0
        self._refused: tuple[str, str] | None = None  # (kind, error) of a refused login or TLS
        crash_at = os.environ.get(CRASH_HOOK_ENV, "")
        self._crash_at = int(crash_at) if crash_at.isdigit() else 0

    # -- the whole pass ---------------------------------------------------------------------
    def poll(self, folders: Sequence[str] | None = None) -> PollSummary:
        started = time.monotonic()
        summary = PollSummary()
        mailbox: Mailbox | None = None
        self._refused = None
        try:
            for folder in folders if folders is not None else self.settings.folders:
                if self.stop.is_set():
                    summary.stopped = True
                    break
                report = FolderReport(folder)
                summary.folders.append(report)
                with self.store.folder_lease(self.settings.account, folder) as held:
                    if not held:
                        report.leased_elsewhere = True
                        log.info("folder polled by another instance", extra={"folder": folder})
                        continue
                    mailbox = self._poll_with_retries(mailbox, folder, report, summary)
        finally:
            if mailbox is not None:
                mailbox.close()
        summary.seconds = time.monotonic() - started
        summary.stopped = summary.stopped or self.stop.is_set()
        return summary

    def _poll_with_retries(
        self, mailbox: Mailbox | None, folder: str, report: FolderReport, summary: PollSummary
    ) -> Mailbox | None:
        if self._refused is not None:  # the server refused the login or TLS: once a poll
            self._fail(folder, report, *self._refused)
            return mailbox
        delay = self.settings.backoff_first
        for attempt in range(self.settings.retries + 1):
            try:
                if mailbox is None:
                    mailbox = self.mailbox_factory()
                    mailbox.connect()
                self._poll_folder(mailbox, folder, report, summary)
                self.store.note_poll(self.settings.account, folder, ok=True, error=None)
                report.error = None
                return mailbox
            except (AuthFailed, TlsRefused, FolderMissing) as exc:
                kind = {AuthFailed: "auth_error", TlsRefused: "tls_error"}.get(
                    type(exc), "folder_failed"
                )
                self._fail(folder, report, kind, str(exc))
                if not isinstance(exc, FolderMissing):
                    self._refused = (kind, str(exc))  # the other folders would be refused too
                    if mailbox is not None:
                        mailbox.close()
                        mailbox = None
                return mailbox
            except MailboxUnavailable as exc:
                if mailbox is not None:
                    mailbox.close()
                mailbox = None
                report.error = str(exc)
                if attempt == self.settings.retries or self.stop.is_set():
                    self._fail(folder, report, "connection", str(exc))
                    return None
                log.warning(
                    "mailbox unavailable, retrying",
                    extra={"folder": folder, "error": str(exc), "in_seconds": delay},
                )
                if self.stop.wait(delay):
                    return None
                delay = min(delay * 2, self.settings.backoff_max)
        return mailbox

    def _fail(self, folder: str, report: FolderReport, kind: str, error: str) -> None:
        report.error = error
        log.error("folder not polled", extra={"folder": folder, "kind": kind, "error": error})
        self.store.note_poll(self.settings.account, folder, ok=False, error=error)
        self.store.add_feed_event(kind, account=self.settings.account, folder=folder, detail=error)

    # -- one folder -------------------------------------------------------------------------
    def _poll_folder(
        self, mailbox: Mailbox, folder: str, report: FolderReport, summary: PollSummary
    ) -> None:
        account = self.settings.account
        acts = self.settings.actions_for(folder)
        info = mailbox.open_folder(folder, readonly=not acts)  # BODY.PEEK keeps \\Seen either way
        if acts:  # left over from a crash, or failed on an earlier poll
            summary.action_failures += self._apply_actions(mailbox, folder, info.uidvalidity)
        state = self.store.folder_state(account, folder)
        known_validity = state.uidvalidity if state is not None else None
        changed = known_validity is not None and known_validity != info.uidvalidity
        if known_validity is None:  # first sight of the folder (or it was empty until now)
            self.store.set_checkpoint(account, folder, info.uidvalidity, 0)
        if changed:
            old = state.uidvalidity if state else None
            log.warning(
                "UIDVALIDITY changed: reconciling the folder by content",
                extra={"folder": folder, "old": old, "new": info.uidvalidity},
            )
            self.store.reset_folder(account, folder, info.uidvalidity)
            self.store.add_feed_event(
                "uidvalidity_changed",
                account=account,
                folder=folder,
                detail=f"the folder was recreated (UIDVALIDITY {old} -> {info.uidvalidity}); mail "
                "already recorded is recognised by its content and not recorded again",
            )
        last = 0 if state is None or changed or known_validity is None else state.last_uid
        reconcile = changed or (state is not None and state.reconciling)
        report.reconciled = reconcile
        uids = mailbox.uids_after(last)
        if not uids:
            if reconcile:
                self.store.finish_reconcile(account, folder)
            return
        po_index = self.store.po_index()
        total = len(uids)
        done = 0
        batches = list(mailbox.iter_batches(uids, self.settings.batch_size))
        # The next batch is fetched (network-bound, in a thread) while this one is analysed in
        # the worker processes and recorded; not when mailbox actions share the connection.
        prefetch = not self.settings.actions_for(folder)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch") as fetcher:
            pending: Future[_Fetched] | None = fetcher.submit(self._fetch, mailbox, batches[0])
            for i, batch in enumerate(batches):
                if self.stop.is_set() or pending is None:
                    summary.stopped = True
                    return
                clock = time.monotonic()
                fetched = pending.result() if prefetch or i == 0 else self._fetch(mailbox, batch)
                summary.stage_seconds["fetch (waiting)"] += time.monotonic() - clock
                pending = None
                if i + 1 < len(batches) and not self.stop.is_set():
                    pending = (
                        fetcher.submit(self._fetch, mailbox, batches[i + 1])
                        if prefetch
                        else _done_future()
                    )
                self._batch(
                    mailbox,
                    folder=folder,
                    uidvalidity=info.uidvalidity,
                    batch=batch,
                    fetched=fetched,
                    po_index=po_index,
                    report=report,
                    summary=summary,
                    reconcile=reconcile,
                )
                done += len(batch)
                if self.progress and total >= 500:
                    print(f"\r{folder}: {done}/{total}", end="", file=sys.stderr, flush=True)
                if pending is None and i + 1 < len(batches):
                    summary.stopped = True
                    return
        if self.progress and total >= 500:
            print(file=sys.stderr)
        if reconcile:
            self.store.finish_reconcile(account, folder)

    def _fetch(self, mailbox: Mailbox, batch: list[int]) -> _Fetched:
        """Sizes, then the messages under the size limit, then the headers of those over it
        (runs in the fetch thread)."""
        limit = self.settings.max_message_size
        sizes = mailbox.sizes(batch)
        big = {u for u, n in sizes.items() if n > limit}
        got = mailbox.fetch([u for u in batch if u in sizes and u not in big], max_size=limit)
        # A server sending more than the size it reported: recorded as too large, not dropped.
        sizes.update(got.oversized)
        big |= set(got.oversized)
        return _Fetched(sizes, big, got.bodies, self._fetch_heads(mailbox, big))

    def _fetch_heads(self, mailbox: Mailbox, uids: set[int]) -> dict[int, bytes]:
        """The naming headers of messages too large to download, in one FETCH. Best effort: when
        it fails the messages are recorded without them (a lost connection shows again at the
        next command, and the folder is retried as usual)."""
        if not uids:
            return {}
        try:
            return mailbox.fetch_headers(sorted(uids))
        except Exception as exc:  # never worth losing or holding back the message
            log.warning(
                "headers of messages too large to download not read; recorded without them",
                extra={"uids": ",".join(map(str, sorted(uids))), "error": str(exc)[:200]},
            )
            return {}

    def _batch(
        self,
        mailbox: Mailbox,
        *,
        folder: str,
        uidvalidity: int,
        batch: list[int],
        fetched: _Fetched,
        po_index: Mapping[str, Mapping[str, PoRecord]],
        report: FolderReport,
        summary: PollSummary,
        reconcile: bool,
    ) -> None:
        account = self.settings.account
        recorded = self.store.recorded_uids(account, folder, uidvalidity, batch)
        sizes, big = fetched.sizes, fetched.big
        # Expunged meanwhile (no size) or already recorded (a crash before the checkpoint):
        # nothing to record.
        todo = [u for u in batch if u not in recorded and u in sizes]
        report.already += sum(1 for u in batch if u in recorded)
        raws = {u: fetched.raws[u] for u in todo if u in fetched.raws}
        report.fetched += len(raws)

        clock = time.monotonic()
        analyses = self.analyse_many(raws)
        heads = self._read_heads({u: fetched.heads[u] for u in todo if u in fetched.heads})
        summary.stage_seconds["analyse"] += time.monotonic() - clock

        clock = time.monotonic()
        # A message moved or copied here from another watched folder (or from its old UID):
        # recorded already, by its content.
        elsewhere = self.store.recorded_hashes(
            account, [a.content_hash for a in analyses.values() if isinstance(a, Analysis)]
        )
        messages: list[ProcessedMessage] = []
        held: list[int] = []
        batch_threads: dict[str, tuple[tuple[str, str], ...]] = {}
        for uid in todo:
            key = MessageKey(account, folder, uidvalidity, uid)
            if uid in big:
                messages.append(self._too_large(key, sizes[uid], heads.get(uid)))
                continue
            if uid not in raws:
                continue  # expunged between SIZE and FETCH
            result = analyses[uid]
            if isinstance(result, AnalysisFailed):
                attempts = self.store.note_failure(key, result.error)
                if attempts < self.settings.max_attempts:
                    log.warning(
                        "message failed, will retry",
                        extra={"key": str(key), "error": result.error, "attempt": attempts},
                    )
                    held.append(uid)
                    continue
                messages.append(self._unreadable(key, raws[uid], result))
                continue
            if reconcile and self.store.already_recorded(
                account, folder, result.message_id, result.content_hash
            ):
                report.already += 1
                continue
            if result.content_hash in elsewhere:
                report.elsewhere += 1
                log.info(
                    "message recorded before (moved, copied or delivered again): not recorded "
                    "again",
                    extra={"key": str(key), "message_id": result.message_id or ""},
                )
                continue
            outcome = self.judge_one(result, po_index, batch_threads)
            if result.message_id and outcome.po_numbers and outcome.customer:
                batch_threads[result.message_id] = tuple(
                    (outcome.customer, n) for n in outcome.po_numbers
                )
            messages.append(_processed(key, result, outcome))
            elsewhere.add(result.content_hash)  # delivered twice within this batch: once
        if held:
            report.first_held = min([*held, *([report.first_held] if report.first_held else [])])
        # The checkpoint never passes a message that will be tried again on the next poll.
        checkpoint_uid = (
            batch[-1] if report.first_held is None else min(batch[-1], report.first_held - 1)
        )
        checkpoint = MessageKey(account, folder, uidvalidity, checkpoint_uid)
        acts = self.settings.actions_for(folder)
        owed = {m.key: _action_kind(m) for m in messages} if acts else {}
        kinds = {a.on for a in acts}
        self._commit(messages, checkpoint, {k: v for k, v in owed.items() if v in kinds})
        if acts:
            summary.action_failures += self._apply_actions(mailbox, folder, uidvalidity)
        summary.stage_seconds["judge+store"] += time.monotonic() - clock
        report.recorded += len(messages)
        report.held += len(held)
        for m in messages:
            summary.statuses[m.outcome.status.value] += 1
            log.info(
                "recorded",
                extra={
                    "key": str(m.key),
                    "status": m.outcome.status.value,
                    "customer": m.outcome.customer,
                    "po": ",".join(m.outcome.po_numbers),
                    # what was found when nothing is linked: "unknown" and "malformed" numbers
                    "found": ",".join(
                        dict.fromkeys(j.candidate.normalized for j in m.outcome.candidates)
                    )[:200],
                    # what reading it cost (a slow kind of mail shows in the log)
                    "bytes": len(raws.get(m.key.uid, b"")),
                    "cpu_ms": getattr(analyses.get(m.key.uid), "cpu_ms", None),
                },
            )
        if self.on_committed is not None and messages:
            self.on_committed(messages)

    def _commit(
        self,
        messages: list[ProcessedMessage],
        checkpoint: MessageKey,
        actions: Mapping[MessageKey, str],
    ) -> None:
        self._commits += 1
        if self._crash_at and self._commits == self._crash_at:
            os._exit(77)  # test hook: die hard before the k-th commit
        hows: dict[MessageKey, LinkHow] = {
            m.key: m.outcome.link_how for m in messages if m.outcome.link_how != "found"
        }
        self.store.record(messages, checkpoint=checkpoint, link_how=hows, actions=actions)

    def _apply_actions(self, mailbox: Mailbox, folder: str, uidvalidity: int) -> int:
        """Do the owed mailbox actions; returns how many kinds of them failed (they stay owed
        and are tried again on the next poll)."""
        failed = 0
        account = self.settings.account
        pending = self.store.pending_actions(account, folder, uidvalidity)
        for kind, uids in pending.items():
            try:
                acts = self.settings.actions_for(folder)
                if kind in (CLOSED, CLOSED_LINKED):
                    for action in acts:
                        if action.on == "flagged" and action.add_flags and not action.move_to:
                            mailbox.remove_flags(uids, action.add_flags)
                for action in acts:
                    if action.on != kind and not (kind == CLOSED_LINKED and action.on == "linked"):
                        continue
                    if action.add_flags:
                        mailbox.add_flags(uids, action.add_flags)
                    if action.move_to:
                        mailbox.move(uids, action.move_to)
            except MailboxUnavailable:
                raise
            except MailboxError as exc:
                log.error(
                    "mailbox action failed; it will be tried again",
                    extra={
                        "folder": folder,
                        "kind": kind,
                        "messages": len(uids),
                        "error": str(exc),
                    },
                )
                self.store.add_feed_event(
                    "action_failed", account=account, folder=folder, detail=str(exc)
                )
                failed += 1
                continue
            self.store.actions_done(account, folder, uidvalidity, uids)
            log.info(
                "mailbox actions done",
                extra={"folder": folder, "kind": kind, "messages": len(uids)},
            )
        return failed

    # -- analysis ---------------------------------------------------------------------------
    def analyse_many(self, raws: Mapping[int, bytes]) -> dict[int, Analysis | AnalysisFailed]:
        uids = list(raws)
        token = context_token(self.customers, self.limits)
        results: list[Done[Analysis | AnalysisFailed] | Failed] = []
        if token:
            light = self.pool.map(
                analyse_light,
                [(token, raws[u]) for u in uids],
                time_limit=self.limits.message_time_limit,
            )
            stale = [i for i, r in enumerate(light) if isinstance(r, Done) and r.value == STALE]
            heavy = (
                self.pool.map(
                    analyse,
                    [MessageTask(raws[uids[i]], self.customers, self.limits) for i in stale],
                    time_limit=self.limits.message_time_limit,
                )
                if stale
                else []
            )
            redo = dict(zip(stale, heavy, strict=True))
            for i, r in enumerate(light):
                if i in redo:
                    results.append(redo[i])
                elif isinstance(r, Done) and not isinstance(r.value, str):
                    results.append(Done(r.value))
                elif isinstance(r, Failed):
                    results.append(r)
        else:
            results = self.pool.map(
                analyse,
                [MessageTask(raws[u], self.customers, self.limits) for u in uids],
                time_limit=self.limits.message_time_limit,
            )
        out: dict[int, Analysis | AnalysisFailed] = {}
        for uid, res in zip(uids, results, strict=True):
            if isinstance(res, Done) and not isinstance(res.value, AnalysisFailed):
                out[uid] = res.value
                continue
            first = res.value if isinstance(res, Done) else None
            if isinstance(first, AnalysisFailed):
                why = first.error
            else:
                why = res.kind.value if not isinstance(res, Done) else "unknown"
            log.warning(
                "message task failed; reading it again with each PDF isolated",
                extra={"uid": uid, "why": why},
            )
            careful = analyse_carefully(self.pool, raws[uid], self.customers, self.limits)
            if isinstance(careful, AnalysisFailed) and isinstance(first, AnalysisFailed):
                careful = first  # the first error says more than the second
            out[uid] = careful
        return out

    def _read_heads(self, heads: Mapping[int, bytes]) -> dict[int, Email]:
        """Header lines alone read as messages (mime.read_message, in a worker with the message
        time limit); one that cannot be read is left out."""
        uids = list(heads)
        if not uids:
            return {}
        results = self.pool.map(
            read_only,
            [MessageTask(heads[u], (), self.limits) for u in uids],
            time_limit=self.limits.message_time_limit,
        )
        out: dict[int, Email] = {}
        for uid, res in zip(uids, results, strict=True):
            if isinstance(res, Done) and isinstance(res.value, Email):
                out[uid] = res.value
            else:
                log.warning(
                    "headers of a message too large to download not read", extra={"uid": uid}
                )
        return out

    def judge_one(
        self,
        a: Analysis,
        po_index: Mapping[str, Mapping[str, PoRecord]],
        batch_threads: Mapping[str, tuple[tuple[str, str], ...]],
    ) -> Outcome:
        thread: list[tuple[str, str]] = []
        parents = [p for p in (a.in_reply_to, *reversed(a.references)) if p]
        if parents and not any(c.valid and not c.quoted for c in a.extraction.candidates):
            for p in parents:
                thread.extend(batch_threads.get(p, ()))
            if not thread:
                thread = self.store.linked_pos_for_message_ids(parents)
        ignore = self.settings.ignore
        return judge(
            a.extraction,
            po_index,
            rules=self.rules,
            thread_pos=thread,
            names=self.names,
            ignored=ignore(a.sender, a.subject, a.auto_reply) if ignore else None,
            sender=a.sender,
        )

    def _too_large(self, key: MessageKey, size: int, head: Email | None) -> ProcessedMessage:
        """Unreadable, named by its headers when they were read (``head``), given to the one
        customer whose sender globs match its From address."""
        limit_mb = self.settings.max_message_size / 1_048_576
        routed = route(head.sender, self.customers) if head is not None else []
        reasons = [
            f"The message is too large to read ({size / 1_048_576:.1f} MB; the limit "
            f"is {limit_mb:.0f} MB). It was not downloaded."
        ]
        if head is not None and head.subject:
            # Its subject was read: a PO there tells the clerk which order to open it for.
            found = extract_email(head, routed or self.customers).candidates
            named = list(dict.fromkeys(c.normalized for c in found if c.valid and not c.weak))
            if named:
                reasons.append(f"Its subject names {', '.join(named)} (not linked: not read).")
        outcome = Outcome(
            status=Status.UNREADABLE,
            po_numbers=(),
            reasons=tuple(reasons),
            customer=routed[0].id if len(routed) == 1 else None,
        )
        if head is None:
            return ProcessedMessage(
                key, None, "", "", None, f"size:{size}", size, None, (), outcome
            )
        return ProcessedMessage(
            key=key,
            message_id=head.message_id,
            sender=head.sender,
            subject=head.subject,
            date=head.date,
            content_hash=f"size:{size}",
            size=size,
            in_reply_to=head.in_reply_to,
            references=head.references,
            outcome=outcome,
        )

    def _unreadable(self, key: MessageKey, raw: bytes, failed: AnalysisFailed) -> ProcessedMessage:
        outcome = Outcome(
            status=Status.UNREADABLE,
            po_numbers=(),
            reasons=(
                f"The message could not be read after {self.settings.max_attempts} tries: "
                f"{failed.error}",
            ),
            customer=None,
        )
        return ProcessedMessage(
            key, None, "", "", None, content_hash(raw), len(raw), None, (), outcome
        )


@dataclass(frozen=True, slots=True)
class _Fetched:
    sizes: dict[int, int]
    big: set[int]
    raws: dict[int, bytes]
    heads: dict[int, bytes] = field(default_factory=dict)  # header lines of the big ones


def _done_future() -> Future[_Fetched]:
    """A placeholder meaning "fetch the next batch on this thread" (no prefetch)."""
    future: Future[_Fetched] = Future()
    future.set_result(_Fetched({}, set(), {}))
    return future


def _action_kind(m: ProcessedMessage) -> str:
    """ "linked", "flagged", or "ignored" (a flag an [ignore] rule closed: no action is for it)."""
    if m.outcome.status is Status.LINKED:
        return "linked"
    return "flagged" if m.outcome.needs_review else "ignored"


def _processed(key: MessageKey, a: Analysis, outcome: Outcome) -> ProcessedMessage:
    return ProcessedMessage(
        key=key,
        message_id=a.message_id,
        sender=a.sender,
        subject=a.subject,
        date=a.date,
        content_hash=a.content_hash,
        size=a.size,
        in_reply_to=a.in_reply_to,
        references=a.references,
        outcome=outcome,
    )
