"""PO records: CSV import into the store, then re-judging what the new records may settle.

A PO often reaches the ERP after the email that names it: after every import, messages flagged
``unknown`` (and ``malformed``, whose "did you mean" may change) are judged again against the
records from their stored candidates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from extractors.message import Extraction
from extractors.rules import CustomerRules
from inbox_watcher.config import Config
from inbox_watcher.model import Outcome, Review, Status
from inbox_watcher.po_import import import_pos_csv
from inbox_watcher.runtime import follow_up_for, open_store
from inbox_watcher.store import Store, StoredMessage
from inbox_watcher.triage import PoIndex, judge


@dataclass(frozen=True, slots=True)
class Change:
    message: StoredMessage
    new_status: Status
    po_numbers: tuple[str, ...]


def normalizer(customers: Sequence[CustomerRules]) -> Callable[[str, str], str | None]:
    """(customer id, raw number) -> canonical number; None for a customer without rules; a
    number that is not well-formed raises ValueError saying why (so that an admin sees whether
    the record or the customer's file is wrong)."""
    by_id = {c.id: c for c in customers}

    def normalize(customer: str, raw: str) -> str | None:
        rules = by_id.get(customer)
        if rules is None:
            return None
        text = raw.strip()
        if rules.is_valid(text):
            return text
        try:
            m = rules.pattern.fullmatch(text, timeout=0.5) or rules.pattern.search(
                text, timeout=0.5
            )
        except TimeoutError:
            raise ValueError("the customer's pattern took too long on it") from None
        if m is None:
            raise ValueError("the customer's pattern does not match it")
        if len(text) - (m.end() - m.start()) > 4:
            raise ValueError(f"the customer's pattern matches only {m.group(0)!r} of it")
        number = rules.normalize(m)
        if number is None:
            raise ValueError("the customer's format cannot be applied to it")
        if not rules.is_valid(number):
            raise ValueError(
                f"the customer's format makes it {number!r}, which its `valid` pattern refuses"
            )
        return number

    return normalize


def judge_stored(
    m: StoredMessage, store: Store, config: Config, index: PoIndex | None = None
) -> Outcome:
    """Judge a stored message again from its stored candidates (no mail is fetched)."""
    extraction = Extraction(
        customer=m.customer,
        routed_by="sender" if m.customer else "none",
        candidates=tuple(j.candidate for j in m.candidates),
        problems=(),
    )
    thread: list[tuple[str, str]] = []
    parents = [p for p in (m.in_reply_to, *reversed(m.references)) if p]
    if parents and not any(j.candidate.valid and not j.candidate.quoted for j in m.candidates):
        thread = store.linked_pos_for_message_ids(parents)
    return judge(
        extraction,
        index if index is not None else store.po_index(),
        rules={c.id: c for c in config.customers},
        thread_pos=thread,
        names={c.id: c.name for c in config.customers},
        ignored=config.ignore.rule_for(m.sender, m.subject),
        sender=m.sender,
    )


def rejudge(
    store: Store,
    config: Config,
    *,
    statuses: Sequence[Status] = (Status.UNKNOWN, Status.MALFORMED),
    customer: str | None = None,
) -> list[Change]:
    """Judge stored messages again from their stored candidates; returns what changed."""
    index = store.po_index()
    changes: list[Change] = []
    for status in statuses:
        for m in list(store.messages(status=status, customer=customer)):
            if m.review in (Review.RESOLVED, Review.DISMISSED):
                continue  # a person decided: an import does not reopen or restate it
            outcome = judge_stored(m, store, config, index)
            if outcome.status is status and outcome.po_numbers == m.po_numbers:
                continue
            owe = follow_up_for(config, m, linked=True) if outcome.status is Status.LINKED else None
            if outcome.status is Status.LINKED:  # the clerk saw the flag: say why it closed
                day = dt.datetime.now(config.schedule.tzinfo).date().isoformat()
                said = f"Linked when the PO records were imported on {day}; it was {status.value}."
                outcome = dataclasses.replace(outcome, reasons=(*outcome.reasons, said))
            if store.rejudge(m.id, outcome, how=outcome.link_how, owe=owe):
                changes.append(Change(m, outcome.status, outcome.po_numbers))
    return changes


def import_and_rejudge(config: Config, path: Path, *, replace: bool = False) -> int:
    """``replace``: the file is the whole list of the customers it names; their records it does
    not list are removed, unless a row was refused (its PO would be removed with it)."""
    result = import_pos_csv(
        path,
        normalize=normalizer(config.customers),
        known_customers={c.id for c in config.customers},
        customer_names={c.name: c.id for c in config.customers},
    )
    for err in result.errors:
        print(f"{path}: {err}", file=sys.stderr)
    for note in result.notes:
        print(f"{path}: note: {note}", file=sys.stderr)
    if result.file_refused:
        print(f"{path}: nothing imported: the file was refused")
        return 1
    if replace and result.errors:
        print(
            f"{path}: note: --replace removes nothing while rows are refused (a refused row's PO "
            "would be removed): fix them and import again",
            file=sys.stderr,
        )
    store = open_store(config)
    try:
        inserted, updated, removed = store.upsert_pos(
            result.records, replace=replace and not result.errors, columns=result.columns
        )
        changes = rejudge(store, config)
    finally:
        store.close()
    print(
        f"{path}: {inserted} PO record(s) added, {updated} updated"
        f"{f', {removed} removed' if replace else ''}, {len(result.errors)} row(s) refused"
    )
    for ch in changes:
        m = ch.message
        pos = f" -> {', '.join(ch.po_numbers)}" if ch.po_numbers else ""
        change = (
            f"still {m.status.value} (its reasons changed)"
            if ch.new_status is m.status and not ch.po_numbers
            else f"{m.status.value} -> {ch.new_status.value}{pos}"
        )
        print(f"  message {m.id} ({m.key.folder} UID {m.key.uid}): {change}")
    return 1 if result.errors else 0  # a row refused: a scheduled import must notice
