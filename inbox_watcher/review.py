"""What a person does with flags: ``flagged`` lists the open ones, ``resolve`` links a message to
a PO by hand, ``dismiss`` closes a flag that is not a PO matter. Resolved and dismissed messages
leave the digest (the store's open flags are those whose review is still open).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping, Sequence

from extractors.rules import CustomerRules
from inbox_watcher.config import Config
from inbox_watcher.digest import resolve_command
from inbox_watcher.model import PoTable, Review, Status
from inbox_watcher.poller import CLOSED, CLOSED_LINKED
from inbox_watcher.runtime import follow_up_for, open_store
from inbox_watcher.store import Store, StoredMessage
from inbox_watcher.textcells import aligned, cell

EXIT_OK = 0
EXIT_REFUSED = 1  # the message or the number given does not fit


def command(config: Config, args: argparse.Namespace) -> int:
    store = open_store(config, existing=True)
    try:
        if args.command == "flagged":
            return list_flagged(config, store, full=args.full)
        if args.command == "resolve":
            return resolve(config, store, args.message, args.po, force=args.force)
        if args.command == "dismiss":
            return dismiss(config, store, args.message, args.reason, force=args.force)
    finally:
        store.close()
    raise ValueError(f"not a review command: {args.command!r}")


# --- flagged ------------------------------------------------------------------------------------


def open_flags(store: Store) -> list[StoredMessage]:
    """Open flags, oldest first (newest last, nearest the prompt)."""
    return [m for m in store.messages(review=Review.OPEN) if m.status.flagged]


_MAX_REASONS = 25  # a statement naming hundreds of POs: the first reasons, then a count


def list_flagged(config: Config, store: Store, *, full: bool = False) -> int:
    flags = open_flags(store)
    if not flags:
        print("No open flags: nothing needs a person.")
        return EXIT_OK
    headers = ("id", "date", "folder", "customer", "status", "reason", "subject")
    rows = [
        (
            str(m.id),
            _local_day(m, config),
            m.key.folder,
            m.customer or "-",
            m.status.value,
            m.reasons[0] if m.reasons else "",
            m.subject,
        )
        for m in flags
    ]
    limits = (8, 10, 20, 16, 10, 60, 60)
    table = [[cell(v, w) for v, w in zip(row, limits, strict=True)] for row in rows]
    header, *lines = aligned(headers, table)
    print(header)
    for line, m in zip(lines, flags, strict=True):
        print(line)
        if full:
            for reason in m.reasons[:_MAX_REASONS]:
                print(f"      why: {cell(reason, 400)}")
            if len(m.reasons) > _MAX_REASONS:
                print(f"      ... and {len(m.reasons) - _MAX_REASONS} more reasons")
        if m.suggestions:  # the hint a clerk acts on, even when the reason is cut short
            hint = f"      did you mean: {', '.join(cell(h, 60) for h in m.suggestions[:3])}"
            if len(m.suggestions) == 1 and m.status is not Status.UNKNOWN:  # as the digest
                hint += f"  (if so: {resolve_command(config.command, m.id, m.suggestions[0])})"
            elif m.status is Status.UNKNOWN:
                hint += "  (or a new PO, not imported yet?)"
            print(hint)
    print(
        f"({len(flags)} open flag(s); close one with `{config.command} "
        f"resolve ID --po NUMBER` or `{config.command} dismiss ID --reason "
        "TEXT`)"
    )
    return EXIT_OK


def _local_day(m: StoredMessage, config: Config) -> str:
    """The message's date in the configured time zone, as the digest shows it."""
    try:
        when = dt.datetime.fromisoformat(m.date) if m.date else m.created_at
    except ValueError:
        return (m.date or "")[:10]
    if when.tzinfo is None:
        return when.date().isoformat()
    return when.astimezone(config.schedule.tzinfo).date().isoformat()


# --- resolve and dismiss ------------------------------------------------------------------------


MAX_ID = 2**31 - 1  # database ids are 32-bit on PostgreSQL; a larger number names no message


def _find(store: Store, ref: str) -> StoredMessage | None:
    text = ref.strip()
    too_large = text.isascii() and text.isdigit() and int(text) > MAX_ID
    message = None if too_large else store.message(text)
    if message is None:
        print(
            f"no recorded message {cell(ref, 100)!r}: give the id shown by "
            "`po-watcher flagged` or the message's Message-ID",
            file=sys.stderr,
        )
    return message


def canonical_number(rules: CustomerRules, text: str) -> str | None:
    """The customer's canonical form of a PO number typed by a person, or None when it is not a
    well-formed number of that customer."""
    typed = " ".join(text.split())
    if not typed:
        return None
    if rules.is_valid(typed):
        return typed
    try:
        match = rules.pattern.fullmatch(typed, timeout=0.5)
    except TimeoutError:
        return None
    if match is None:
        return None
    number = rules.normalize(match)
    return number if number is not None and rules.is_valid(number) else None


def _customer_and_number(
    config: Config, message: StoredMessage, typed: str, index: Mapping[str, PoTable]
) -> tuple[str, str] | str:
    """(customer, canonical number), or the reason it is refused."""
    shown = cell(typed, 60)
    if message.customer is not None:
        rules = config.customer(message.customer)
        if rules is None:
            return (
                f"the message belongs to customer {message.customer!r}, which is no longer "
                "configured: its PO numbers cannot be checked"
            )
        number = canonical_number(rules, typed)
        if number is None:
            table = index.get(rules.id, PoTable())
            example = next((n for n, r in table.items() if not r.closed), None)
            like = (
                f"its PO numbers are written like {example} (one of its POs, for the form only)"
                if example
                else f"its PO numbers match the pattern {rules.valid.pattern}"
            )
            return f"{shown!r} is not a valid PO number for {rules.name or rules.id} ({like})"
        return rules.id, number
    fits = [(r, n) for r in config.customers if (n := canonical_number(r, typed)) is not None]
    if len(fits) == 1:
        return fits[0][0].id, fits[0][1]
    if not fits:
        return (
            f"{shown!r} is not a valid PO number for any configured customer (the message "
            "was not routed to a customer)"
        )
    names = ", ".join(r.id for r, _ in fits)
    return (
        f"{shown!r} is a valid PO number for several customers ({names}) and the message "
        "was not routed to one: it cannot be linked by hand safely"
    )


def resolve(
    config: Config, store: Store, ref: str, typed: Sequence[str], *, force: bool = False
) -> int:
    """Link the message to the POs typed (one ``--po`` each: a message about two orders keeps
    both); all or nothing."""
    message = _find(store, ref)
    if message is None or not _may_change(message, force, "linked"):
        return EXIT_REFUSED
    links: list[tuple[str, str]] = []
    index = store.po_index()
    for one in typed:
        found = _customer_and_number(config, message, one, index)
        if isinstance(found, str):
            print(f"not linked: {found}", file=sys.stderr)
            return EXIT_REFUSED
        links.append(found)
    for customer, number in links:
        record = index.get(customer, PoTable()).get(number)
        if record is None:
            print(
                f"warning: PO {number} is not in the records of {customer} (linked anyway; "
                "import the PO records to check it)",
                file=sys.stderr,
            )
        elif record.closed:
            print(
                f"warning: PO {number} of {customer} is {record.status} in the records",
                file=sys.stderr,
            )
    _note_earlier(message)
    numbers = ", ".join(dict.fromkeys(number for _, number in links))
    owe = follow_up_for(config, message, linked=True)
    store.set_review(
        message.id, Review.RESOLVED, f"linked by hand to {numbers}", pos=links, owe=owe
    )
    owners = ", ".join(dict.fromkeys(customer for customer, _ in links))
    print(f"message {message.id} linked to PO {numbers} ({owners}); its flag is resolved")
    _say_owed(owe)
    return EXIT_OK


def dismiss(config: Config, store: Store, ref: str, reason: str, *, force: bool = False) -> int:
    note = " ".join(reason.split())
    if not note:
        print(
            "not dismissed: give a reason with --reason (it is kept with the message)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    message = _find(store, ref)
    if message is None or not _may_change(message, force, "dismissed"):
        return EXIT_REFUSED
    _note_earlier(message)
    owe = follow_up_for(config, message, linked=False)
    store.set_review(message.id, Review.DISMISSED, note, owe=owe)
    print(f"message {message.id} dismissed: {cell(note, 100)}")
    _say_owed(owe)
    return EXIT_OK


def _say_owed(owe: str | None) -> None:
    if owe == CLOSED:
        print("the flag po-watcher set on the mail comes off at the next poll")
    elif owe == CLOSED_LINKED:
        print(
            "the flag po-watcher set on the mail comes off at the next poll, and what "
            "[imap] actions do to linked mail is done to it"
        )


def _may_change(message: StoredMessage, force: bool, what: str) -> bool:
    """A message that is not flagged (po-watcher linked it), or whose flag a person already
    resolved or dismissed, changes only with --force: an id typed from the wrong list must not
    replace a good link or a colleague's decision."""
    if force:
        return True
    if message.status.flagged and message.review in (None, Review.OPEN):
        return True
    if message.status.flagged:
        earlier = f" ({cell(message.review_note, 80)})" if message.review_note else ""
        print(
            f"not {what}: message {message.id} ({cell(message.subject, 60)!r}) was already "
            f"{message.review}{earlier}. Give --force to replace that decision.",
            file=sys.stderr,
        )
        return False
    linked = f" to PO {', '.join(message.po_numbers)}" if message.po_numbers else ""
    print(
        f"not {what}: message {message.id} ({message.key.folder} UID {message.key.uid}, "
        f"{cell(message.subject, 60)!r}) is not flagged: it is {message.status.value}{linked}. "
        "Check the id (`po-watcher flagged` lists the open flags); give --force to change it "
        "anyway.",
        file=sys.stderr,
    )
    return False


def _note_earlier(message: StoredMessage) -> None:
    if not message.status.flagged:
        print(
            f"note: message {message.id} was not flagged (it is {message.status.value})",
            file=sys.stderr,
        )
    elif message.review not in (None, Review.OPEN):
        earlier = f" ({cell(message.review_note, 80)})" if message.review_note else ""
        print(
            f"note: message {message.id} was already {message.review}{earlier}; replacing that",
            file=sys.stderr,
        )
