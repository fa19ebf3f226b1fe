"""`po-watcher copy-database --from URL`: move the state from one database to another.

The way from SQLite (where most installs start) to PostgreSQL (several instances, a database
server the company already backs up): every table is copied, row for row with its ids, into the
configured database, which must be empty, in one transaction, and the counts are compared
before it commits. The source is only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inbox_watcher.store import Store, StoreError, StoreUnavailable, url_parts

_SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


class CopyRefused(Exception):
    """The copy cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class CopyDone:
    target: str  # the URL, password hidden
    counts: dict[str, int]

    def lines(self) -> list[str]:
        rows = ", ".join(f"{table} {n:,}" for table, n in self.counts.items() if n)
        return [
            f"copied into {self.target}: {rows or 'no rows (the source is empty)'}",
            "the source was only read; start po-watcher on this configuration",
        ]


def source_url(given: str) -> str:
    """A URL as given, or a plain file path as a SQLite URL (relative to the current folder)."""
    if "://" in given:
        return given
    return f"sqlite:///{Path(given).resolve()}"


def copy_database(source: str, target: str) -> CopyDone:
    """Copy every po-watcher table of ``source`` into ``target`` (created if need be, empty)."""
    try:
        backend, database, password = url_parts(source)
    except StoreError as exc:
        raise CopyRefused(f"--from {source!r} is no database URL or file: {exc}") from None
    if password:
        raise CopyRefused(
            "--from carries a password: leave it out of the URL (command lines are seen by "
            "every user of the machine) and give it in PGPASSWORD or ~/.pgpass"
        )
    if backend == "sqlite":
        if not Path(database or "").is_file():
            raise CopyRefused(f"--from {database}: no such database file")
        with open(database or "", "rb") as handle:
            if handle.read(16) != _SQLITE_MAGIC:
                raise CopyRefused(f"--from {database}: not a SQLite database")
    src = Store.open(source, create=False)
    try:
        dst = Store.open(target)
        try:
            if src.url == dst.url:
                raise CopyRefused("--from names the configured database itself")
            try:
                counts = src.copy_into(dst)
            except StoreError as exc:
                if isinstance(exc, StoreUnavailable):
                    raise
                raise CopyRefused(str(exc)) from None
            return CopyDone(dst.url, counts)
        finally:
            dst.close()
    finally:
        src.close()
