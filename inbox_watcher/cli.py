"""The ``po-watcher`` command line."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractors.rules import missed_punctuated, slow_on
from inbox_watcher import __version__
from inbox_watcher.config import DEFAULT_PATH, Config, ConfigError, load_config
from inbox_watcher.textcells import aligned, cell

if TYPE_CHECKING:
    from inbox_watcher.store import StoredMessage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG_CHECK = 2
EXIT_CANTCREAT = 73  # EX_CANTCREAT: the lock file next to the SQLite database cannot be made
EXIT_UNAVAILABLE = 75  # EX_TEMPFAIL: the database is locked, full or unreachable: try again
EXIT_CONFIG = 78  # EX_CONFIG: the daemon does not start on a broken configuration

log = logging.getLogger("po-watcher")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="po-watcher",
        description="Ties purchase-order email to PO records and flags what needs a person.",
    )
    p.add_argument("--version", action="version", version=f"po-watcher {__version__}")
    p.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_PATH,
        help="the main configuration file (default: ./config/watcher.toml)",
    )
    p.add_argument(
        "--log-level",
        default=None,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level on stderr (default: INFO for run, WARNING otherwise)",
    )
    p.add_argument(
        "--log-format",
        default="auto",
        choices=["auto", "text", "json"],
        help="log format on stderr: text lines (auto, text) or one JSON object a line (json)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("check", help="validate the configuration; exit 0 when sound, 2 otherwise")

    t = sub.add_parser("try", help="show what po-watcher finds in an .eml or .pdf file")
    t.add_argument("file", type=Path)

    sub.add_parser("poll", help="one pass over every configured folder")

    m = sub.add_parser("messages", help="list recorded messages")
    m.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    m.add_argument("--status", default=None)
    m.add_argument("--customer", default=None)
    m.add_argument(
        "--review",
        choices=["open", "resolved", "dismissed"],  # model.Review, not imported at start
        default=None,
        help="only messages with this review (dismissed: by hand or by an [ignore] rule)",
    )

    pos = sub.add_parser("pos", help="PO records")
    pos_sub = pos.add_subparsers(dest="pos_command", required=True, metavar="ACTION")
    imp = pos_sub.add_parser("import", help="load PO records from a CSV file (upsert)")
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--replace",
        action="store_true",
        help="the file is the whole list of the customers it names: remove their other records",
    )
    lst = pos_sub.add_parser("list", help="the PO records as CSV (what an import left)")
    lst.add_argument("--customer", default=None)

    r = sub.add_parser("run", help="the daemon: poll on a schedule and send the daily digest")
    r.add_argument("--once", action="store_true", help=argparse.SUPPRESS)

    d = sub.add_parser("digest", help="the daily digest of flagged messages")
    dg = d.add_mutually_exclusive_group()
    dg.add_argument("--dry-run", action="store_true", help="print it (the default)")
    dg.add_argument("--send", action="store_true", help="send it now")
    d.add_argument("--html", type=Path, default=None, help="also write the HTML to this file")

    fl = sub.add_parser("flagged", help="list open flags")
    fl.add_argument("--full", action="store_true", help="every reason in full under its row")
    res = sub.add_parser("resolve", help="link a flagged message to a PO by hand")
    res.add_argument("message", help="the message's number (from `flagged`) or its Message-ID")
    res.add_argument(
        "--po",
        required=True,
        action="append",
        help="the PO number; give --po again for each further PO the message concerns",
    )
    force = "also for a message that is not flagged (it is linked): its link is replaced"
    res.add_argument("--force", action="store_true", help=force)
    dis = sub.add_parser("dismiss", help="close a flag that is not a PO matter")
    dis.add_argument("message", help="the message's number (from `flagged`) or its Message-ID")
    dis.add_argument("--reason", required=True)
    dis.add_argument("--force", action="store_true", help=force)
    bk = sub.add_parser(
        "backup", help="a consistent copy of the SQLite database (safe while the daemon runs)"
    )
    bk.add_argument("file", type=Path, help="the new file to write (never overwritten)")
    cp = sub.add_parser(
        "copy-database",
        help="copy the state of another database (the SQLite file) into the configured one",
    )
    cp.add_argument(
        "--from",
        dest="source",
        required=True,
        help="the database to copy: a SQLite file's path or a URL (its password in PGPASSWORD)",
    )
    rep = sub.add_parser("reprocess", help="re-judge stored messages after patterns changed")
    rep.add_argument("--status", default=None)
    rep.add_argument("--customer", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from inbox_watcher.logs import configure_logging

    level = args.log_level or ("INFO" if args.command == "run" else "WARNING")
    configure_logging(level, args.log_format)
    clerk = args.command in CLERK_COMMANDS
    try:
        config = load_config(
            args.config,
            defer_secrets=args.command in DEFER_SECRETS,
            skip_broken_customers=clerk,
        )
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        if args.command == "run":
            print("po-watcher did not start: fix the configuration above", file=sys.stderr)
            return EXIT_CONFIG
        return EXIT_BAD_CONFIG_CHECK
    for problem in config.skipped:  # an admin's broken customer file: the flags stay workable
        print(f"warning: customer file left out: {problem}", file=sys.stderr)
    handler = COMMANDS[args.command]
    from inbox_watcher.store import StoreUnavailable

    try:
        return handler(config, args)
    except ConfigError as exc:  # a password file read when needed (see DEFER_SECRETS)
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        return EXIT_BAD_CONFIG_CHECK
    except StoreUnavailable as exc:  # any command: down, a refused login, no such database
        if exc.permanent:  # waiting will not help: say what to fix
            print(
                f"po-watcher: the database refuses: {exc}; waiting will not help: fix [database] "
                "in the configuration or the database server",
                file=sys.stderr,
            )
            return EXIT_CONFIG  # as `run`: a scheduled job should not just retry
        else:
            print(f"po-watcher: the database is not usable now: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except BrokenPipeError:
        # "po-watcher messages | head": the reader left; say nothing more, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


# Commands that may need no password (or only the database's or the SMTP one): their password
# files are read when needed, so a finance user can list flags without the IMAP secret.
DEFER_SECRETS = frozenset(
    {"messages", "flagged", "resolve", "dismiss", "pos", "digest", "try", "backup"}
)
# Commands that work the flags (and `backup`): a broken customer file leaves that customer out,
# with a warning (`check`, `poll`, `run` and `pos` refuse it: they would judge or store with it
# missing).
CLERK_COMMANDS = frozenset({"messages", "flagged", "resolve", "dismiss", "digest", "backup"})


# -- commands --------------------------------------------------------------------------------


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    print(
        f"{config.path}: configuration is sound: {len(config.customers)} customer(s) "
        f"({', '.join(c.id for c in config.customers)}), folders {', '.join(config.imap.folders)}"
    )
    claimed: dict[str, list[str]] = {}
    for customer in config.customers:
        for glob in customer.senders:
            claimed.setdefault(glob, []).append(customer.id)
    for glob, owners in claimed.items():
        if len(owners) > 1:
            copied = "" if glob.strip("*") == "" else " (a copied customer file?)"
            print(
                f"note: customers {', '.join(owners)} share the sender glob {glob!r}: their mail "
                f"is told apart by PO pattern, then by the PO records{copied}"
            )
    budget = config.limits.pattern_timeout / 5
    for customer in config.customers:
        slow = slow_on(customer, budget)
        if slow is not None:
            print(
                f"warning: customer {customer.id}: its PO pattern needs more than "
                f"{budget:.2g} s to search a text of {slow} (it backtracks badly): "
                f"mail with such text would cost up to {config.limits.pattern_timeout:.2g} s "
                "a text and be searched only in part. Simplify the pattern (no repeat inside "
                "a repeat, such as (\\d+)+ or (\\w+-?)*)."
            )
    same: dict[tuple[str, str | None], list[str]] = {}
    for customer in config.customers:
        same.setdefault((customer.pattern.pattern.strip(), customer.format), []).append(customer.id)
    for owners in same.values():
        if len(owners) > 1:
            print(
                f"note: customers {', '.join(owners)} have the same PO pattern and format: mail "
                "from a sender on none of their lists is told apart by their PO records only"
            )
    return _check_records(config)


def _check_records(config: Config) -> int:
    """Notes on PO records the customers' rules no longer fit (``format`` or ``valid`` changed
    after the import: every message naming them would be flagged unknown) and on records of
    customers no longer configured. Read only; a database that is not there yet is no note."""
    from inbox_watcher.store import Store

    # A database that cannot be reached raises StoreUnavailable: `main` says it in one line.
    url = config.database.url_with_password()
    refusals = Store.problems(url)
    for problem in refusals:  # the daemon would stop at them too: waiting will not help
        print(f"error: {problem}", file=sys.stderr)
    if refusals:
        return EXIT_CONFIG
    index = Store.existing_po_index(url)
    if index is None:
        return EXIT_OK
    if not index:  # the tables exist, the records do not (never imported, or a table dropped)
        print(
            "note: the database holds no PO records: every PO named in mail is flagged unknown "
            "until `pos import` loads them"
        )
    for customer in config.customers:
        table = index.get(customer.id)
        if table is None:
            continue
        sample = next((n for n, r in table.items() if not r.closed and customer.is_valid(n)), None)
        missed = missed_punctuated(customer, sample) if sample else None
        if missed is not None:
            print(
                f"note: customer {customer.id}: its pattern does not find its PO {sample} in "
                f"{missed.strip()!r}, though it does in 'PO {sample} is late': people end "
                "numbers with commas, full stops and brackets; check the pattern's end: "
                "(?![\\w-]) allows them, and (?![\\w-]|[.,]\\d) still keeps amounts such as "
                "1,228.50 out."
            )
        unfit = sorted(number for number in table if not customer.is_valid(number))
        if unfit:
            print(
                f"note: {len(unfit)} of {len(table)} PO record(s) of customer {customer.id} do not "
                f"fit its `valid` pattern (such as {unfit[0]}): messages naming them cannot link. "
                "Was `format` or `valid` changed after the import? Import the records again "
                "with `pos import --replace` (it also removes the old forms)."
            )
    configured = {c.id for c in config.customers}
    for orphan in sorted(set(index) - configured):
        print(
            f"note: {len(index[orphan])} PO record(s) belong to customer {orphan!r}, which has no "
            "customer file"
        )
    return EXIT_OK


def cmd_try(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.trying import try_file

    return try_file(config, args.file)


def cmd_poll(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.instance import InstanceLock, InstanceLockError, LockFileUnusable
    from inbox_watcher.runtime import make_poller, make_pool, open_store_to_poll
    from inbox_watcher.store import StoreError, StoreUnavailable

    # On SQLite one process polls a database: a poll beside the daemon would fetch and read the
    # same messages twice (the store keeps one record of each, but the work and the counts
    # would be doubled).
    try:
        lock = InstanceLock.acquire(config)
    except InstanceLockError as exc:
        print(f"po-watcher: {exc}", file=sys.stderr)
        return EXIT_CANTCREAT if isinstance(exc, LockFileUnusable) else EXIT_UNAVAILABLE
    try:
        store = open_store_to_poll(config)
        try:
            with make_pool(config) as pool:
                poller = make_poller(config, store, pool, progress=True)
                summary = poller.poll()
        finally:
            store.close()
    except StoreUnavailable:
        raise  # `main` says it, and whether waiting will help
    except StoreError as exc:
        print(f"po-watcher: the database is not usable now: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        lock.release()
    print(summary.line())
    for error in summary.errors:
        print(f"  error: {error}", file=sys.stderr)
    # A folder that failed fails the run, whatever the other folders recorded (that is kept).
    return EXIT_FAILED if summary.errors else EXIT_OK


def cmd_backup(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.backup import BackupRefused, backup

    try:
        done = backup(config.database.url_with_password(), args.file)
    except BackupRefused as exc:
        print(f"po-watcher: no backup: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(done.line())
    return EXIT_OK


def cmd_copy_database(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.db_copy import CopyRefused, copy_database, source_url
    from inbox_watcher.instance import InstanceLock, InstanceLockError

    source = source_url(args.source)
    # Mail the daemon recorded during the copy would be missing from it: refuse beside one.
    try:
        locks = [InstanceLock.acquire_url(source, create=False), InstanceLock.acquire(config)]
    except InstanceLockError as exc:
        print(f"po-watcher: no copy: {exc}; stop the daemon first", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        done = copy_database(source, config.database.url_with_password())
    except CopyRefused as exc:
        print(f"po-watcher: no copy: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        for lock in locks:
            lock.release()
    for line in done.lines():
        print(line)
    return EXIT_OK


MESSAGE_FIELDS = (
    "id",  # what `resolve` and `dismiss` take, as `flagged` and the digest show it
    "message_id",
    "folder",
    "uid",
    "uidvalidity",
    "sender",
    "subject",
    "customer",
    "status",
    "po_numbers",
    "candidates",
    "reasons",
    "review",
    "review_note",
)


def cmd_messages(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.model import Review, Status
    from inbox_watcher.runtime import open_store

    status = _status_arg(args.status)
    if status is False or not _customer_arg(config, args.customer):
        return EXIT_BAD_CONFIG_CHECK
    store = open_store(config, existing=True)
    try:
        rows = [
            _message_row(m)
            for m in store.messages(
                status=status if isinstance(status, Status) else None,
                customer=args.customer,
                review=Review(args.review) if args.review else None,
            )
        ]
    finally:
        store.close()
    out = sys.stdout
    if args.format == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif args.format == "csv":
        writer = csv.DictWriter(out, fieldnames=MESSAGE_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    else:
        _print_table(rows)
    return EXIT_OK


def _status_arg(value: str | None) -> Any:
    from inbox_watcher.model import Status

    if value is None:
        return None
    try:
        return Status(value)
    except ValueError:
        print(
            f"unknown status {value!r}; one of: {', '.join(s.value for s in Status)}",
            file=sys.stderr,
        )
        return False


def _message_row(m: StoredMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "message_id": m.message_id,
        "folder": m.key.folder,
        "uid": m.key.uid,
        "uidvalidity": m.key.uidvalidity,
        "sender": m.sender,
        "subject": m.subject,
        "customer": m.customer,
        "status": m.status.value,
        "po_numbers": list(m.po_numbers),
        "candidates": [
            {
                "raw": j.candidate.raw,
                "normalized": j.candidate.normalized,
                "source": j.candidate.source,
                "page": j.candidate.page,
                "quoted": j.candidate.quoted,
                "labelled": j.candidate.labelled,
                "valid": j.candidate.valid,
                "known": j.known,
            }
            for j in m.candidates
        ],
        "reasons": list(m.reasons),
        "review": m.review.value if m.review is not None else None,
        "review_note": m.review_note,
    }


def _csv_cell(value: Any) -> str:
    if isinstance(value, list):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = "" if value is None else str(value)
    # A cell starting with a formula character is neutralised for spreadsheet users.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _print_table(rows: list[dict[str, Any]]) -> None:
    headers = ("id", "folder", "uid", "status", "customer", "po_numbers", "subject", "why")
    table = [
        [_short(_status_cell(row) if h == "status" else row[h], 30) for h in headers[:-1]]
        + [_short(_why_cell(row), 70)]
        for row in rows
    ]
    for line in aligned(headers, table, rule=True):
        print(line)
    print(f"({len(rows)} message(s))")


def _status_cell(row: dict[str, Any]) -> str:
    """ "unknown, resolved": what a person decided shows next to the verdict."""
    done = row["review"] in ("resolved", "dismissed")
    return f"{row['status']}, {row['review']}" if done else str(row["status"])


def _why_cell(row: dict[str, Any]) -> str:
    if row["review"] in ("resolved", "dismissed") and row["review_note"]:
        return str(row["review_note"])
    return row["reasons"][0] if row["reasons"] else ""  # linked too: a closed PO


def _short(value: Any, width: int = 40) -> str:
    text = ", ".join(value) if isinstance(value, list) else ("" if value is None else str(value))
    return cell(text, width)


def cmd_pos(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.records import import_and_rejudge
    from inbox_watcher.runtime import open_store

    if args.pos_command == "import":
        return import_and_rejudge(config, args.file, replace=args.replace)
    if not _customer_arg(config, args.customer):
        return EXIT_BAD_CONFIG_CHECK
    store = open_store(config, existing=True)
    try:
        index = store.po_index()
    finally:
        store.close()
    columns = ("po_number", "customer", "status", "closed", "amount", "currency", "issued_on",
               "buyer")  # fmt: skip
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for customer in sorted(index):
        if args.customer is not None and customer != args.customer:
            continue
        for number in sorted(index[customer]):
            r = index[customer][number]
            row = (r.po_number, r.customer, r.status, "yes" if r.closed else "no",
                   _money(r.amount), r.currency, r.issued_on, r.buyer)  # fmt: skip
            writer.writerow([_csv_cell(v) for v in row])
    return EXIT_OK


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.service import run_service

    return run_service(config, args.config, log_format=args.log_format, once=args.once)


def cmd_digest(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.digest_cli import digest_command

    return digest_command(config, send=args.send, html=args.html)


def cmd_review(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher import review

    return review.command(config, args)


def cmd_reprocess(config: Config, args: argparse.Namespace) -> int:
    from inbox_watcher.model import Status
    from inbox_watcher.reprocess import reprocess_command

    status = _status_arg(args.status)
    if status is False or not _customer_arg(config, args.customer):
        return EXIT_BAD_CONFIG_CHECK
    chosen = status if isinstance(status, Status) else None
    return reprocess_command(config, status=chosen, customer=args.customer)


def _money(amount: Decimal | None) -> str:
    """1234.5000 as stored -> "1234.50"; more decimals than two are kept."""
    if amount is None:
        return ""
    plain = amount.normalize()
    exponent = plain.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        plain = plain.quantize(Decimal("0.01"))
    return f"{plain:f}"


def _customer_arg(config: Config, value: str | None) -> bool:
    """Whether ``--customer`` names a configured customer (or is absent); says so when not."""
    if value is None or config.customer(value) is not None:
        return True
    known = ", ".join(c.id for c in config.customers)
    print(f"po-watcher: no customer {value!r}: the customers are {known}", file=sys.stderr)
    return False


COMMANDS = {
    "check": cmd_check,
    "try": cmd_try,
    "poll": cmd_poll,
    "messages": cmd_messages,
    "pos": cmd_pos,
    "run": cmd_run,
    "digest": cmd_digest,
    "flagged": cmd_review,
    "resolve": cmd_review,
    "dismiss": cmd_review,
    "reprocess": cmd_reprocess,
    "backup": cmd_backup,
    "copy-database": cmd_copy_database,
}
