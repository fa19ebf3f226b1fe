"""`po-watcher backup`: a consistent copy of a SQLite database, safe beside a running daemon.

Copying the file with `cp` while the daemon writes can miss what is still in its write-ahead log
(`po-watcher.db-wal`) or catch a page half written; SQLite's online backup copies a snapshot
taken under a read lock, so the daemon keeps polling. A PostgreSQL database is backed up with
its own tool (`pg_dump`), which the command names instead of copying anything.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inbox_watcher.instance import sqlite_path
from inbox_watcher.store import FIRST_TABLES


class BackupRefused(Exception):
    """The backup cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BackupDone:
    target: Path
    messages: int
    po_records: int
    size: int
    lost: list[str]  # tables of the first schema the database (and so the copy) lacks

    def line(self) -> str:
        said = (
            f"backed up {self.messages:,} message(s) and {self.po_records:,} PO record(s) to "
            f"{self.target} ({self.size / 1_048_576:.1f} MiB, checked)"
        )
        if self.lost and len(self.lost) < len(FIRST_TABLES):
            said += (
                f"; but the database lacks its table(s) {', '.join(self.lost)}, and so does the "
                "copy: `check` says more; restore an older backup"
            )
        return said


def backup(url: str, target: Path, *, busy_timeout: float = 30.0) -> BackupDone:
    """Copy the SQLite database at ``url`` to the new file ``target`` and check the copy."""
    source = sqlite_path(url)
    if source is None:
        raise BackupRefused(
            "the database is not a SQLite file: back up PostgreSQL with pg_dump, such as "
            "`pg_dump --format=custom --file=po-watcher.dump <database>` (restore with "
            "pg_restore into an empty database)"
        )
    if not source.is_file():
        raise BackupRefused(f"{source}: no such database file (nothing was recorded yet?)")
    if target.exists():
        raise BackupRefused(f"{target} exists: give the backup a new file name")
    if not target.parent.is_dir():
        raise BackupRefused(f"{target.parent}: no such folder")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise BackupRefused(f"{target.parent}: this user may not write in that folder")
    if target.is_symlink():  # a dangling link: write where the name is, not where it points
        raise BackupRefused(f"{target} is a symbolic link: give the backup a new file name")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=busy_timeout)) as src,
            contextlib.closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst)
            # The copy is a file on its own: no write-ahead log beside it to lose.
            dst.execute("PRAGMA journal_mode=DELETE")
            ok = dst.execute("PRAGMA integrity_check").fetchone()
            if ok is None or ok[0] != "ok":
                raise BackupRefused(f"the copy fails SQLite's integrity check: {ok}")
            messages = _count(dst, "message")
            records = _count(dst, "po_record")
            present = {row[0] for row in dst.execute("SELECT name FROM sqlite_master")}
            lost = [name for name in FIRST_TABLES if name not in present]
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupRefused(f"{source}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    # (a database without data lacks them all: a new install's file, nothing lost)
    return BackupDone(target, messages, records, target.stat().st_size, lost if present else [])


def _count(conn: sqlite3.Connection, table: Literal["message", "po_record"]) -> int:
    try:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608 (fixed names)
    except sqlite3.OperationalError:  # a database no poll or import has written yet
        return 0
    return int(row[0]) if row else 0
