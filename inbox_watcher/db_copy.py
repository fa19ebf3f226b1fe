"""`po-watcher copy-database --from URL`: move the state from one database to another.

The way from SQLite (where most installs start) to PostgreSQL (several instances, a database
server the company already backs up): every table is copied, row for row with its ids, into the
configured database, which must be empty, in one transaction, and the counts are compared
before it commits. The source is only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import SQLModel

from inbox_watcher.store import Store, StoreUnavailable

_BATCH = 1000


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
        parsed = make_url(source)
    except ArgumentError as exc:
        raise CopyRefused(f"--from {source!r} is no database URL or file: {exc}") from None
    if parsed.password:
        raise CopyRefused(
            "--from carries a password: leave it out of the URL (command lines are seen by "
            "every user of the machine) and give it in PGPASSWORD or ~/.pgpass"
        )
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise CopyRefused(f"--from {parsed.database}: no such database file")
    src = Store.open(source, create=False)
    try:
        dst = Store.open(target)
        try:
            if src.url == dst.url:
                raise CopyRefused("--from names the configured database itself")
            counts = _copy(src, dst)
            return CopyDone(dst.url, counts)
        finally:
            dst.close()
    finally:
        src.close()


def _copy(src: Store, dst: Store) -> dict[str, int]:
    tables = SQLModel.metadata.sorted_tables  # parents before the rows that name them
    counts: dict[str, int] = {}
    try:
        with src.engine.connect() as reader, dst.engine.begin() as writer:
            present = set(src.table_names())
            if "message" not in present and "po_record" not in present:
                raise CopyRefused("the source holds no po-watcher tables")
            for table in tables:
                if writer.execute(select(func.count()).select_from(table)).scalar_one():
                    raise CopyRefused(
                        f"the configured database already holds data (table {table.name}): "
                        "copy into an empty database"
                    )
            for table in tables:
                if table.name not in present:  # a table a later version added
                    counts[table.name] = 0
                    continue
                copied = 0
                result = reader.execution_options(yield_per=_BATCH).execute(
                    select(table).order_by(table.c.id)
                )
                for batch in result.partitions():
                    writer.execute(table.insert(), [dict(row._mapping) for row in batch])
                    copied += len(batch)
                counts[table.name] = copied
            for table in tables:
                there = writer.execute(select(func.count()).select_from(table)).scalar_one()
                if there != counts[table.name]:
                    raise CopyRefused(
                        f"table {table.name}: {counts[table.name]:,} rows read, {there:,} "
                        "written; nothing was kept"
                    )
            if writer.dialect.name == "postgresql":
                _advance_sequences(writer)
    except DBAPIError as exc:
        words = " ".join(str(exc.orig or exc).split())[:300]
        raise StoreUnavailable(f"the copy stopped, nothing was kept: {words}") from exc
    return counts


def _advance_sequences(conn: Connection) -> None:
    """Rows came with their ids: each id sequence moves past the highest, so the next row the
    daemon writes does not collide."""
    for table in SQLModel.metadata.sorted_tables:
        highest = select(func.max(table.c.id)).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, "id")
        conn.execute(select(func.setval(sequence, func.coalesce(highest, 0) + 1, False)))
