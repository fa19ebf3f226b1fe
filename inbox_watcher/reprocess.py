"""``po-watcher reprocess``: judge stored messages again after a customer's patterns changed.

po-watcher keeps no message bodies, so each message is fetched again from its folder (read-only,
BODY.PEEK[]) and read with the current configuration. A message no longer at its UID (expunged,
or the folder was recreated) is judged again from its stored candidates, and the output says so.
Manual links made with ``resolve`` are kept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from inbox_watcher.config import Config
from inbox_watcher.isolation import IsolatedPool
from inbox_watcher.mailbox import MailboxError
from inbox_watcher.model import Outcome, Review, Status
from inbox_watcher.pipeline import AnalysisFailed
from inbox_watcher.records import judge_stored
from inbox_watcher.runtime import follow_up_for, make_poller, make_pool, open_store
from inbox_watcher.store import Store, StoredMessage

BATCH = 200


@dataclass(frozen=True, slots=True)
class Rejudged:
    message: StoredMessage
    outcome: Outcome
    refetched: bool


def reprocess(
    config: Config, *, status: Status | None = None, customer: str | None = None
) -> tuple[list[Rejudged], list[str]]:
    """Re-judge the selected messages; returns the changes and plain-word notes."""
    store = open_store(config, existing=True)
    notes: list[str] = []
    changes: list[Rejudged] = []
    try:
        selected = [
            m
            for m in store.messages(status=status, customer=customer)
            if m.key.account == config.imap.account
        ]
        by_folder: dict[str, list[StoredMessage]] = defaultdict(list)
        for m in selected:
            by_folder[m.key.folder].append(m)
        with make_pool(config) as pool:
            for folder, messages in by_folder.items():
                changes.extend(
                    _folder(config, store, pool, folder=folder, messages=messages, notes=notes)
                )
    finally:
        store.close()
    return changes, notes


def _folder(
    config: Config,
    store: Store,
    pool: IsolatedPool,
    *,
    folder: str,
    messages: list[StoredMessage],
    notes: list[str],
) -> list[Rejudged]:
    poller = make_poller(config, store, pool)
    po_index = store.po_index()
    raws: dict[int, bytes] = {}
    try:
        with poller.mailbox_factory() as mailbox:
            info = mailbox.open_folder(folder)
            current = [m for m in messages if m.key.uidvalidity == info.uidvalidity]
            if len(current) < len(messages):
                notes.append(
                    f"{folder}: {len(messages) - len(current)} message(s) were recorded "
                    "before the folder was recreated; judged from their stored "
                    "candidates"
                )
            uids = [m.key.uid for m in current]
            for i in range(0, len(uids), BATCH):
                got = mailbox.fetch(uids[i : i + BATCH], max_size=poller.settings.max_message_size)
                raws.update(got.bodies)
    except MailboxError as exc:
        notes.append(
            f"{folder}: cannot fetch the messages again ({exc}); judged from their "
            "stored candidates"
        )
    analyses = poller.analyse_many(raws) if raws else {}
    notes.append(
        f"{folder}: {len(messages)} message(s) judged again, {len(raws)} of them fetched again"
    )
    out: list[Rejudged] = []
    for m in messages:
        analysis = analyses.get(m.key.uid) if m.key.uid in raws else None
        if analysis is not None and not isinstance(analysis, AnalysisFailed):
            outcome = poller.judge_one(analysis, po_index, {})
            refetched = True
        elif m.status is Status.UNREADABLE:
            continue  # nothing stored to judge from: it stays as it is
        else:
            outcome = judge_stored(m, store, config, po_index)
            refetched = False
        owe = follow_up_for(config, m, linked=True) if outcome.status is Status.LINKED else None
        if store.rejudge(m.id, outcome, how=outcome.link_how, owe=owe):
            out.append(Rejudged(m, outcome, refetched))
    return out


def reprocess_command(config: Config, *, status: Status | None, customer: str | None) -> int:
    changes, notes = reprocess(config, status=status, customer=customer)
    for note in notes:
        print(f"note: {note}")
    for ch in changes:
        m = ch.message
        pos = f" -> {', '.join(ch.outcome.po_numbers)}" if ch.outcome.po_numbers else ""
        how = "" if ch.refetched else " (from stored candidates)"
        # An [ignore] rule added since: the open flag is closed.
        closed = f"its flag is closed: {ch.outcome.ignored}" if m.review is Review.OPEN else ""
        closed = closed if ch.outcome.ignored else ""
        if ch.outcome.status is m.status and ch.outcome.po_numbers == m.po_numbers:
            # Still the same verdict: what changed is the reasons (or the candidates behind them).
            new = [r for r in ch.outcome.reasons if r not in m.reasons]
            said = closed or (f"now also: {new[0][:120]}" if new else "reasons changed")
            change = f"still {m.status.value}; {said}"
        else:
            change = f"{m.status.value} -> {ch.outcome.status.value}{pos}"
            change += f"; {closed}" if closed else ""
        print(f"message {m.id} ({m.key.folder} UID {m.key.uid}, {m.subject[:50]!r}): {change}{how}")
    print(f"{len(changes)} message(s) changed")
    return 0
