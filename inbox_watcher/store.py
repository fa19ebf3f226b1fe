"""The database: processed messages, their PO links, folder checkpoints, PO records and digests.

The one importer of sqlmodel/SQLAlchemy. SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` for
writes) is the default; the same code runs on PostgreSQL (``postgresql+psycopg://...``).
Each public method is one transaction. Timestamps are UTC-aware; money is ``Decimal``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Index,
    Numeric,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from sqlmodel import Field, Session, SQLModel, col, create_engine, delete, insert, select, update

from extractors.types import Candidate
from inbox_watcher.model import (
    JudgedCandidate,
    LinkHow,
    MessageKey,
    Outcome,
    PoRecord,
    PoTable,
    ProcessedMessage,
    Review,
    Status,
)

DigestStatus = Literal["pending", "sent", "failed"]

_IMMEDIATE = "po_watcher_begin_immediate"
_MAX_ERROR_CHARS = 20_000
_PAGE = 500
IGNORED_NOTE = "ignored: "  # the review note of a flag an [ignore] rule closed begins so
_MONEY_STEP = Decimal("0.0001")
_MONEY_LIMIT = Decimal(10) ** 14  # Numeric(18, 4): 14 digits before the point


class StoreError(Exception):
    """A store operation that cannot be done as asked (not a transient database fault)."""


class UnknownMessage(StoreError, LookupError):
    """No stored message has that database id."""


class StoreUnavailable(StoreError):
    """The database is busy, locked or unreachable: a transient fault, retry later (unless
    ``permanent``)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self._permanent = permanent

    @property
    def permanent(self) -> bool:
        """Whether waiting will not help: a refused password, a database or role that does not
        exist, a missing right, a table lost (a person must fix the configuration, the server or
        the database)."""
        return self._permanent or _PERMANENT.search(str(self)) is not None


_PERMANENT = re.compile(
    r"password authentication failed|(?:database|role) \S+ does not exist|no pg_hba\.conf entry"
    r"|permission denied|must be owner of|readonly database|read-only file system"
    r"|read-only transaction|no such table|relation \S+ does not exist",
    re.IGNORECASE,
)


class CheckpointConflict(StoreError):
    """The folder's stored UIDVALIDITY differs from the checkpoint's: reset the folder first."""


# --- column types -------------------------------------------------------------------------------


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps them as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times only")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Money(TypeDecorator[Decimal]):
    """Numeric(18, 4) on PostgreSQL; exact decimal text on SQLite (whose numbers are floats)."""

    impl = String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))
        return dialect.type_descriptor(String(40))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = _money(value)
        return exact if dialect.name == "postgresql" else str(exact)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return _money(Decimal(str(value)))


def _money(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"amount {value!r} is not a finite Decimal")
    try:
        exact = value.quantize(_MONEY_STEP)
    except InvalidOperation as exc:
        raise ValueError(f"amount {value} is too large") from exc
    if exact != value:
        raise ValueError(f"amount {value} has more than 4 decimal places")
    if abs(exact) >= _MONEY_LIMIT:
        raise ValueError(f"amount {value} has more than 14 digits before the point")
    return exact


# --- tables -------------------------------------------------------------------------------------


class PoRow(SQLModel, table=True):
    __tablename__ = "po_record"
    __table_args__ = (UniqueConstraint("customer", "po_number", name="uq_po_record_number"),)

    id: int | None = Field(default=None, primary_key=True)
    customer: str
    po_number: str
    status: str
    amount: Decimal | None = Field(default=None, sa_type=Money)
    currency: str | None = None
    issued_on: dt.date | None = None
    buyer: str | None = None
    updated_at: dt.datetime = Field(sa_type=UtcDateTime)


class DigestRunRow(SQLModel, table=True):
    __tablename__ = "digest_run"
    __table_args__ = (
        Index(
            "ux_digest_run_sent",
            "local_date",
            unique=True,
            sqlite_where=text("status = 'sent'"),
            postgresql_where=text("status = 'sent'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    local_date: str = Field(index=True)
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    status: str
    message_count: int = 0
    error: str | None = None


class MessageRow(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("account", "folder", "uidvalidity", "uid", name="uq_message_key"),
        Index("ix_message_flags", "review", "digest_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str
    folder: str
    uidvalidity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    message_id: str | None = Field(default=None, index=True)
    sender: str
    subject: str
    date: str | None = None
    customer: str | None = Field(default=None, index=True)
    status: str = Field(index=True)
    reasons: list[str] = Field(sa_type=JSON)
    suggestions: list[str] = Field(sa_type=JSON)
    content_hash: str = Field(index=True)
    size: int = Field(sa_type=BigInteger)
    in_reply_to: str | None = None
    references: list[str] = Field(sa_type=JSON)
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    updated_at: dt.datetime = Field(sa_type=UtcDateTime)
    review: str | None = None
    review_note: str | None = None
    digest_date: str | None = None
    digest_run_id: int | None = Field(default=None, foreign_key="digest_run.id")
    attempts: int = 0


class CandidateRow(SQLModel, table=True):
    __tablename__ = "candidate"

    id: int | None = Field(default=None, primary_key=True)
    msg_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    position: int
    raw: str
    normalized: str
    source: str
    valid: bool
    known: bool
    page: int | None = None
    quoted: bool = False
    labelled: bool = False
    context: str = ""
    customer: str | None = None


class LinkRow(SQLModel, table=True):
    __tablename__ = "link"
    __table_args__ = (
        UniqueConstraint("msg_id", "po_number", name="uq_link_message_po"),
        Index("ix_link_po", "customer", "po_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    msg_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    customer: str | None = None
    po_number: str
    how: str


# The tables behind the rows, for the batch path's Core statements.
_MESSAGE: Table = MessageRow.__table__  # type: ignore[attr-defined]
_CANDIDATE: Table = CandidateRow.__table__  # type: ignore[attr-defined]
_LINK: Table = LinkRow.__table__  # type: ignore[attr-defined]


class FolderRow(SQLModel, table=True):
    __tablename__ = "folder_state"
    __table_args__ = (UniqueConstraint("account", "folder", name="uq_folder_state"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str
    folder: str
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    last_poll_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_success_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_error: str | None = None
    reconciling: bool = False  # after a UIDVALIDITY change, until one full pass is done


class FailureRow(SQLModel, table=True):
    __tablename__ = "failure"
    __table_args__ = (
        UniqueConstraint("account", "folder", "uidvalidity", "uid", name="uq_failure_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str
    folder: str
    uidvalidity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    attempts: int
    last_error: str
    updated_at: dt.datetime = Field(sa_type=UtcDateTime)


class PendingActionRow(SQLModel, table=True):
    """A mailbox action (flag or move) owed to a recorded message: written in the same
    transaction as the record, deleted once the server has done it, so a crash in between
    leaves the action to the next poll rather than losing it."""

    __tablename__ = "pending_action"
    __table_args__ = (
        UniqueConstraint("account", "folder", "uidvalidity", "uid", name="uq_pending_action_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str
    folder: str
    uidvalidity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    kind: str  # "linked" | "flagged"


class FeedEventRow(SQLModel, table=True):
    __tablename__ = "feed_event"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_type=UtcDateTime, index=True)
    account: str | None = None
    folder: str | None = None
    kind: str
    detail: str = ""


# --- values returned ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FolderState:
    account: str
    folder: str
    uidvalidity: int | None  # None: polled but never selected successfully
    last_uid: int
    last_success_at: dt.datetime | None
    last_error: str | None
    last_poll_at: dt.datetime | None = None
    reconciling: bool = False  # True after a UIDVALIDITY change until ``finish_reconcile``


@dataclass(frozen=True, slots=True)
class Link:
    customer: str | None
    po_number: str
    how: str  # LinkHow


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A recorded message with its candidates and links.

    ``review`` is None for messages that never needed one (linked). ``attempts`` counts the
    processing tries that raised before the message was recorded (0: recorded first time).
    """

    id: int
    key: MessageKey
    message_id: str | None
    sender: str
    subject: str
    date: str | None
    customer: str | None
    status: Status
    reasons: tuple[str, ...]
    suggestions: tuple[str, ...]
    content_hash: str
    size: int
    in_reply_to: str | None
    references: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    review: Review | None
    review_note: str | None
    digest_date: str | None
    attempts: int
    candidates: tuple[JudgedCandidate, ...]
    po_numbers: tuple[str, ...]
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class FeedEvent:
    at: dt.datetime
    kind: str
    account: str | None
    folder: str | None
    detail: str


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the store ----------------------------------------------------------------------------------


class Store:
    """The daemon's state. Open with ``Store.open(url)``; one transaction per method call."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime]) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**{_IMMEDIATE: True})
        self._clock = clock

    @classmethod
    def open(
        cls,
        url: str,
        *,
        busy_timeout: float = 30.0,
        create: bool = True,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> Store:
        """Connect (and by default create missing tables). ``busy_timeout`` is in seconds: SQLite's
        busy timeout, PostgreSQL's lock timeout."""
        engine = _engine(url, busy_timeout)
        if create:
            try:
                with engine.connect() as conn:
                    lost = _lost_tables(conn)
            except DBAPIError as exc:  # down, a refused login, no such database
                engine.dispose()
                raise StoreUnavailable(f"cannot connect to the database: {_words(exc)}") from exc
            if lost:
                engine.dispose()
                raise StoreUnavailable(_lost_words(lost), permanent=True)
            # Two processes creating the tables of a new SQLite file at once get SQLITE_BUSY at
            # once (the busy timeout does not apply to a read-to-write upgrade): try again.
            deadline = time.monotonic() + busy_timeout
            while True:
                try:
                    SQLModel.metadata.create_all(engine)
                    break
                except OperationalError as exc:
                    if "locked" in str(exc.orig or exc) and time.monotonic() < deadline:
                        time.sleep(0.05)
                        continue
                    engine.dispose()
                    raise StoreUnavailable(f"cannot create the tables: {_words(exc)}") from exc
                except DBAPIError as exc:  # PostgreSQL 15+: no CREATE on "public" for others
                    engine.dispose()
                    raise StoreUnavailable(
                        f"the database user may not create the tables ({_words(exc)}): grant it "
                        "CREATE on the schema, or make it the database's owner"
                    ) from exc
        return cls(engine, clock)

    @classmethod
    def problems(cls, url: str) -> list[str]:
        """What would stop the daemon from keeping its state in the database at ``url`` that
        connecting does not show: tables lost from a database that holds data, tables the user
        may read but not write (a missing right, a read-only database or replica). Writes
        nothing: each write is tried on no row and rolled back. Empty for a database not made
        yet; raises StoreUnavailable when it cannot be reached."""
        if _no_database_file(url):
            return []
        store = cls.open(url, create=False)
        found: list[str] = []
        try:
            with store._engine.connect() as conn:
                lost = _lost_tables(conn)
                if lost:
                    found.append(_lost_words(lost))
                present = set(sa_inspect(conn).get_table_names())
                conn.rollback()
                for name in FIRST_TABLES:
                    if name not in present:
                        continue
                    table = SQLModel.metadata.tables[name]
                    key = next(iter(table.primary_key.columns))
                    try:
                        with conn.begin() as probe:
                            conn.execute(update(table).where(text("1 = 0")).values({key: key}))
                            probe.rollback()
                    except DBAPIError as exc:
                        found.append(
                            f"the database does not take writes to table {name}: {_words(exc)} "
                            "(a missing right, or a read-only database)"
                        )
                        break  # one refusal says it; the others would repeat it
        except DBAPIError as exc:
            raise StoreUnavailable(f"cannot connect to the database: {_words(exc)}") from exc
        finally:
            store.close()
        return found

    @classmethod
    def existing_po_index(cls, url: str) -> dict[str, PoTable] | None:
        """The PO records of a database that exists, creating nothing: None when its SQLite file
        does not exist yet. Raises StoreUnavailable when it cannot be read (no tables, no
        connection)."""
        if _no_database_file(url):
            return None
        store = cls.open(url, create=False)
        try:
            try:
                if not sa_inspect(store._engine).has_table(PoRow.__tablename__):
                    return None  # a new database: the first poll or import creates the tables
            except DBAPIError as exc:
                raise StoreUnavailable(f"cannot connect to the database: {_words(exc)}") from exc
            try:
                return store.po_index()
            except DBAPIError as exc:
                raise StoreUnavailable(f"database unreadable: {_words(exc)}") from exc
        finally:
            store.close()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL with any password hidden (safe to log)."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def copy_into(self, target: Store) -> dict[str, int]:
        """Copy every table of this database, rows with their ids, into ``target``, which must
        hold no data, in one transaction whose row counts are compared before it commits;
        returns the rows copied per table. Raises StoreError when the target holds data or the
        counts differ (nothing kept), StoreUnavailable when a database fails."""
        tables = SQLModel.metadata.sorted_tables  # parents before the rows that name them
        counts: dict[str, int] = {}
        try:
            with self._engine.connect() as reader, target._engine.begin() as writer:
                present = set(sa_inspect(reader).get_table_names())
                if MessageRow.__tablename__ not in present and PoRow.__tablename__ not in present:
                    raise StoreError("the source holds no po-watcher tables")
                for table in tables:
                    if writer.execute(sa_select(func.count()).select_from(table)).scalar_one():
                        raise StoreError(
                            f"the configured database already holds data (table {table.name}): "
                            "copy into an empty database"
                        )
                for table in tables:
                    if table.name not in present:  # a table a later version added
                        counts[table.name] = 0
                        continue
                    result = reader.execution_options(yield_per=_COPY_BATCH).execute(
                        sa_select(table).order_by(table.c.id)
                    )
                    copied = 0
                    for batch in result.partitions():
                        writer.execute(table.insert(), [dict(row._mapping) for row in batch])
                        copied += len(batch)
                    counts[table.name] = copied
                for table in tables:
                    there = writer.execute(sa_select(func.count()).select_from(table)).scalar_one()
                    if there != counts[table.name]:
                        raise StoreError(
                            f"table {table.name}: {counts[table.name]:,} rows read, {there:,} "
                            "written; nothing was kept"
                        )
                if writer.dialect.name == "postgresql":
                    # Rows came with their ids: each id sequence moves past the highest, so the
                    # next row the daemon writes does not collide.
                    for table in tables:
                        highest = sa_select(func.max(table.c.id)).scalar_subquery()
                        sequence = func.pg_get_serial_sequence(table.name, "id")
                        writer.execute(
                            sa_select(func.setval(sequence, func.coalesce(highest, 0) + 1, False))
                        )
        except DBAPIError as exc:
            raise StoreUnavailable(f"the copy stopped, nothing was kept: {_words(exc)}") from exc
        return counts

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
                yield session
        except (OperationalError, InternalError) as exc:  # down, full, read-only
            raise StoreUnavailable(f"database unavailable: {_words(exc)}") from exc
        except ProgrammingError as exc:
            # A right the database user lacks (PostgreSQL's InsufficientPrivilege is a
            # ProgrammingError); any other is a bug, not the database's answer.
            if not _PERMANENT.search(str(exc.orig or exc)):
                raise
            raise StoreUnavailable(_words(exc)) from exc

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with Session(self._engine) as session, session.begin():
                yield session
        except (OperationalError, InternalError) as exc:
            raise StoreUnavailable(f"database unavailable: {_words(exc)}") from exc
        except ProgrammingError as exc:
            if not _PERMANENT.search(str(exc.orig or exc)):
                raise
            raise StoreUnavailable(_words(exc)) from exc

    # --- folders and checkpoints ----------------------------------------------------------------

    def folder_state(self, account: str, folder: str) -> FolderState | None:
        with self._read() as s:
            row = s.exec(_folder_query(account, folder)).first()
            return None if row is None else _folder_state(row)

    def set_checkpoint(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        with self._write() as s:
            row = _locked_folder(s, account, folder)
            row.uidvalidity = uidvalidity
            row.last_uid = last_uid

    def reset_folder(self, account: str, folder: str, new_uidvalidity: int) -> None:
        """After a UIDVALIDITY change: the new validity, nothing seen yet under it, and the folder
        marked as reconciling (mail is matched by content) until ``finish_reconcile``."""
        with self._write() as s:
            row = _locked_folder(s, account, folder)
            row.uidvalidity = new_uidvalidity
            row.last_uid = 0
            row.reconciling = True

    def finish_reconcile(self, account: str, folder: str) -> None:
        """One full pass over a recreated folder is done: back to plain UID checkpoints."""
        with self._write() as s:
            row = _locked_folder(s, account, folder)
            row.reconciling = False

    def recorded_uids(
        self, account: str, folder: str, uidvalidity: int, uids: Sequence[int]
    ) -> set[int]:
        """Which of these UIDs (under this UIDVALIDITY) are recorded already."""
        keys = [MessageKey(account, folder, uidvalidity, uid) for uid in uids]
        with self._read() as s:
            return {k.uid for k in _batch_lookup(s, keys)[0]}

    def note_poll(self, account: str, folder: str, *, ok: bool, error: str | None) -> None:
        now = self._clock()
        with self._write() as s:
            row = _locked_folder(s, account, folder)
            row.last_poll_at = now
            if ok:
                row.last_success_at = now
                row.last_error = None
            else:
                row.last_error = _clip(error or "unknown error")

    # --- recording messages ---------------------------------------------------------------------

    def record(
        self,
        messages: Sequence[ProcessedMessage],
        *,
        checkpoint: MessageKey | None,
        link_how: Mapping[MessageKey, LinkHow] | None = None,
        actions: Mapping[MessageKey, str] | None = None,
    ) -> int:
        """Record messages (with candidates and links) and move the folder checkpoint, all in one
        transaction. A message whose key is already recorded is skipped. ``link_how`` gives the
        link kind per message ("thread" for POs inherited from the thread; default "found").
        Returns how many messages were inserted. Raises ``CheckpointConflict`` (recording
        nothing) when the folder's stored UIDVALIDITY differs from the checkpoint's."""
        now = self._clock()
        hows = link_how or {}
        inserted = 0
        with self._write() as s:
            seen, failures = _batch_lookup(s, [m.key for m in messages])
            fresh = list({m.key: m for m in messages if m.key not in seen}.values())
            try:
                with s.begin_nested():  # the fast path: three multi-row INSERTs for the batch
                    _insert_batch(s, fresh, hows, failures, now)
                done = fresh
            except IntegrityError:
                # Another instance recorded some of these keys meanwhile: one at a time, skipping
                # those (the slow path, only in that race).
                done = []
                for message in fresh:
                    attempts = failures.get(message.key, 0)
                    how = hows.get(message.key, "found")
                    if _insert_message(s, message, how, attempts, now):
                        done.append(message)
            inserted = len(done)
            owed = [(m.key, (actions or {}).get(m.key)) for m in done]
            for k, kind in owed:
                if kind is not None:
                    s.add(_pending(k, kind))
            for failed in failures:
                s.exec(delete(FailureRow).where(*_key_filter(FailureRow, failed)))
            if checkpoint is not None:
                _advance(s, checkpoint)
        return inserted

    def already_recorded(
        self, account: str, folder: str, message_id: str | None, content_hash: str
    ) -> bool:
        """True when this folder holds a recorded message with the same content hash, under any
        UIDVALIDITY. The hash decides alone: a Message-ID match with different bytes is read as
        new mail (processing twice is better than missing one). ``message_id`` is accepted for
        the caller's logs and future use."""
        del message_id
        with self._read() as s:
            query = (
                select(MessageRow.id)
                .where(MessageRow.account == account, MessageRow.folder == folder)
                .where(MessageRow.content_hash == content_hash)
                .limit(1)
            )
            return s.exec(query).first() is not None

    def recorded_hashes(self, account: str, hashes: Sequence[str]) -> set[str]:
        """The content hashes among ``hashes`` recorded for this account in any folder: the same
        message moved or copied (by a person or an action) into another watched folder."""
        wanted = list(dict.fromkeys(hashes))
        found: set[str] = set()
        with self._read() as s:
            for start in range(0, len(wanted), _PAGE):
                query = (
                    select(MessageRow.content_hash)
                    .where(MessageRow.account == account)
                    .where(col(MessageRow.content_hash).in_(wanted[start : start + _PAGE]))
                )
                found.update(s.exec(query))
        return found

    def note_failure(self, key: MessageKey, error: str) -> int:
        """Count one more failed try of a message; returns the tries so far."""
        now = self._clock()
        with self._write() as s:
            row = s.exec(
                select(FailureRow).where(*_key_filter(FailureRow, key)).with_for_update()
            ).first()
            if row is None:
                row = FailureRow(
                    account=key.account,
                    folder=key.folder,
                    uidvalidity=key.uidvalidity,
                    uid=key.uid,
                    attempts=0,
                    last_error="",
                    updated_at=now,
                )
                s.add(row)
            row.attempts += 1
            row.last_error = _clip(error)
            row.updated_at = now
            return row.attempts

    # --- PO records -----------------------------------------------------------------------------

    def po_index(self) -> dict[str, PoTable]:
        """customer -> canonical number -> record, in one query."""
        index: dict[str, PoTable] = {}
        with self._read() as s:
            for row in s.exec(select(PoRow)):
                index.setdefault(row.customer, PoTable())[row.po_number] = _po_record(row)
        return index

    def upsert_pos(
        self,
        records: Sequence[PoRecord],
        *,
        replace: bool = False,
        columns: Collection[str] | None = None,
    ) -> tuple[int, int, int]:
        """Insert new PO records and update changed ones; with ``replace`` the records are the
        whole list of the customers they name, whose other records are removed (links of
        messages to them stay). ``columns``: the fields the source had; an existing record keeps
        the others (an export without a status column does not reopen closed POs). Returns
        (inserted, updated, removed), in one transaction."""
        kept = [f for f in _PO_FIELDS if columns is not None and f not in columns]
        wanted = {(r.customer, r.po_number): r for r in records}
        for r in wanted.values():
            if r.amount is not None:
                try:
                    _money(r.amount)
                except ValueError as exc:
                    raise ValueError(f"PO {r.po_number} of {r.customer}: {exc}") from exc
        if not wanted:
            return (0, 0, 0)
        now = self._clock()
        customers = sorted({customer for customer, _ in wanted})
        with self._write() as s:
            existing = {
                (row.customer, row.po_number): row
                for row in s.exec(select(PoRow).where(col(PoRow.customer).in_(customers)))
            }
            fresh = [_po_values(r, now) for key, r in wanted.items() if key not in existing]
            changed = []
            for key, r in wanted.items():
                if key not in existing:
                    continue
                old = _po_record(existing[key])
                merged = dataclasses.replace(r, **{f: getattr(old, f) for f in kept})
                if merged != old:
                    changed.append({"id": existing[key].id, **_po_values(merged, now)})
            if fresh:
                s.exec(insert(PoRow), params=fresh)
            if changed:
                s.exec(update(PoRow), params=changed)
            gone = [row.id for key, row in existing.items() if replace and key not in wanted]
            for start in range(0, len(gone), _PAGE):
                s.exec(delete(PoRow).where(col(PoRow.id).in_(gone[start : start + _PAGE])))
        return (len(fresh), len(changed), len(gone))

    # --- threads --------------------------------------------------------------------------------

    def linked_pos_for_message_ids(self, message_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(customer, po_number) links of the recorded messages with these Message-IDs, in the
        order of the given ids (nearest parent first), without repeats."""
        ids = list(dict.fromkeys(i for i in message_ids if i))
        found: dict[str, list[tuple[str, str]]] = {}
        with self._read() as s:
            for start in range(0, len(ids), _PAGE):
                chunk = ids[start : start + _PAGE]
                query = (
                    select(MessageRow.message_id, LinkRow.customer, LinkRow.po_number)
                    .join(LinkRow, col(LinkRow.msg_id) == col(MessageRow.id))
                    .where(col(MessageRow.message_id).in_(chunk))
                    .order_by(col(LinkRow.id))
                )
                for message_id, customer, po_number in s.exec(query):
                    if message_id is not None and customer is not None:
                        found.setdefault(message_id, []).append((customer, po_number))
        result: list[tuple[str, str]] = []
        for message_id in ids:
            for link in found.get(message_id, []):
                if link not in result:
                    result.append(link)
        return result

    # --- reading messages -----------------------------------------------------------------------

    def messages(
        self,
        *,
        status: Status | None = None,
        customer: str | None = None,
        review: Review | None = None,
    ) -> Iterator[StoredMessage]:
        """Stored messages ordered by id, read in pages (each page its own transaction)."""
        last_id = 0
        while True:
            with self._read() as s:
                query = select(MessageRow).where(col(MessageRow.id) > last_id)
                if status is not None:
                    query = query.where(MessageRow.status == status.value)
                if customer is not None:
                    query = query.where(MessageRow.customer == customer)
                if review is not None:
                    query = query.where(MessageRow.review == review.value)
                rows = list(s.exec(query.order_by(col(MessageRow.id)).limit(_PAGE)))
                page = _stored(s, rows)
            yield from page
            if len(rows) < _PAGE:
                return
            last_id = page[-1].id

    def message(self, ref: str) -> StoredMessage | None:
        """A message by database id ("42") or by Message-ID (with or without angle brackets)."""
        ref = ref.strip()
        if not ref:
            return None
        with self._read() as s:
            if ref.isascii() and ref.isdigit():
                row = s.get(MessageRow, int(ref))
            else:
                bare = ref.strip("<>")
                row = s.exec(
                    select(MessageRow)
                    .where(col(MessageRow.message_id).in_([ref, bare, f"<{bare}>"]))
                    .order_by(col(MessageRow.id))
                    .limit(1)
                ).first()
            return None if row is None else _stored(s, [row])[0]

    def pending_actions(self, account: str, folder: str, uidvalidity: int) -> dict[str, list[int]]:
        """UIDs owed a mailbox action in this folder, by kind ("linked" / "flagged")."""
        with self._read() as s:
            rows = s.exec(
                select(PendingActionRow.kind, PendingActionRow.uid)
                .where(
                    PendingActionRow.account == account,
                    PendingActionRow.folder == folder,
                    PendingActionRow.uidvalidity == uidvalidity,
                )
                .order_by(col(PendingActionRow.uid))
            ).all()
        out: dict[str, list[int]] = {}
        for kind, uid in rows:
            out.setdefault(kind, []).append(int(uid))
        return out

    def actions_done(
        self, account: str, folder: str, uidvalidity: int, uids: Sequence[int]
    ) -> None:
        if not uids:
            return
        with self._write() as s:
            s.exec(
                delete(PendingActionRow).where(
                    col(PendingActionRow.account) == account,
                    col(PendingActionRow.folder) == folder,
                    col(PendingActionRow.uidvalidity) == uidvalidity,
                    col(PendingActionRow.uid).in_(list(uids)),
                )
            )

    @contextmanager
    def folder_lease(self, account: str, folder: str) -> Iterator[bool]:
        """Hold the folder's lease while the block runs; yields False when another instance
        holds it. On PostgreSQL a session advisory lock on a connection of its own (released
        with it, also when the process dies); on SQLite always True (one instance per database
        is enforced by the instance lock)."""
        if self.dialect != "postgresql":
            yield True
            return
        key = _lease_key(account, folder)
        try:
            conn = self._engine.connect()
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig or exc}") from exc
        try:
            yield held
        finally:
            # The lock belongs to this connection: closing it releases the lock, also when the
            # server is gone and the explicit unlock fails.
            with contextlib.suppress(OperationalError):
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
            with contextlib.suppress(OperationalError):
                conn.close()

    def stats(self) -> dict[str, int]:
        """Message count by status (every status present, zero when none)."""
        counts = dict.fromkeys((s.value for s in Status), 0)
        with self._read() as s:
            query = select(MessageRow.status, func.count()).group_by(col(MessageRow.status))
            for status, count in s.exec(query):
                counts[status] = count
        return counts

    # --- changing verdicts ----------------------------------------------------------------------

    def rejudge(
        self,
        message_db_id: int,
        outcome: Outcome,
        *,
        how: LinkHow = "found",
        owe: str | None = None,
    ) -> bool:
        """Replace a stored message's verdict: status, reasons, suggestions, customer,
        candidates (with their known flags) and its non-manual links. Manual links stay, alone: a
        message a person linked by hand gets no links found besides. A message
        that becomes linked no longer needs review (open -> none); one that becomes flagged
        without a review gets an open one. ``owe``: a mailbox action now owed to the message
        (``runtime.follow_up_for``), done by the next poll. Returns True when something changed."""
        with self._write() as s:
            row = _message_row(s, message_db_id)
            changed = _replace_candidates(s, row, outcome.candidates)
            changed |= _replace_links(s, row, outcome, how)
            fields: dict[str, Any] = {
                "status": outcome.status.value,
                "reasons": [_clean(r) for r in outcome.reasons],
                "suggestions": [_clean(r) for r in outcome.suggestions],
                "customer": outcome.customer,
                "review": _review_after(row.review, outcome),
            }
            if fields["review"] == Review.DISMISSED.value and row.review != fields["review"]:
                fields["review_note"] = _clean(f"{IGNORED_NOTE}{outcome.ignored}")
            for name, value in fields.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
                    changed = True
            if changed:
                row.updated_at = self._clock()
                if owe is not None:
                    _owe(s, row, owe)
            return changed

    def set_review(
        self,
        message_db_id: int,
        review: Review,
        note: str,
        *,
        pos: Sequence[tuple[str, str]] = (),
        owe: str | None = None,
    ) -> None:
        """Record what a person did. ``pos`` ((customer, number) pairs) are only allowed with
        ``Review.RESOLVED``: those POs become the message's links (a person's decision replaces
        the links found and any earlier manual ones). Dismissing ("not a PO matter") removes
        manual links and keeps the ones found. ``owe``: a mailbox action now owed to the message
        (``runtime.follow_up_for``), done by the next poll."""
        if pos and review is not Review.RESOLVED:
            raise StoreError("a PO link can only be added when resolving a message")
        with self._write() as s:
            row = _message_row(s, message_db_id)
            row.review = review.value
            row.review_note = _clean(note)
            row.updated_at = self._clock()
            if owe is not None:
                _owe(s, row, owe)
            msg_id = _id(row)
            if pos:
                s.exec(delete(LinkRow).where(col(LinkRow.msg_id) == msg_id))
                s.flush()
                for customer, po_number in dict.fromkeys(pos):
                    s.add(
                        LinkRow(msg_id=msg_id, customer=customer, po_number=po_number, how="manual")
                    )
            elif review is Review.DISMISSED:
                s.exec(
                    delete(LinkRow).where(
                        col(LinkRow.msg_id) == msg_id, col(LinkRow.how) == "manual"
                    )
                )

    # --- digest ---------------------------------------------------------------------------------

    def undigested_flags(self, before: dt.datetime | None = None) -> list[StoredMessage]:
        """Flagged messages with an open review that no digest has reported yet (recorded before
        ``before`` when given), ordered by id."""
        with self._read() as s:
            query = _open_flags().where(col(MessageRow.digest_date).is_(None))
            if before is not None:
                query = query.where(col(MessageRow.created_at) < before)
            rows = list(s.exec(query.order_by(col(MessageRow.id))))
            return _stored(s, rows)

    def open_flag_count_older(self) -> int:
        """Flagged messages still open that an earlier digest already reported."""
        with self._read() as s:
            query = (
                select(func.count())
                .select_from(MessageRow)
                .where(col(MessageRow.status) != Status.LINKED.value)
                .where(MessageRow.review == Review.OPEN.value)
                .where(col(MessageRow.digest_date).is_not(None))
            )
            return s.exec(query).one()

    def ignored_count_since(self, since: dt.datetime) -> int:
        """Messages recorded since ``since`` whose flag an [ignore] rule closed."""
        with self._read() as s:
            query = (
                select(func.count())
                .select_from(MessageRow)
                .where(MessageRow.review == Review.DISMISSED.value)
                .where(col(MessageRow.review_note).startswith(IGNORED_NOTE))
                .where(col(MessageRow.created_at) >= since)
            )
            return s.exec(query).one()

    def start_digest(self, local_date: str) -> int | None:
        """A new pending digest run for the local date, or None when one was already sent."""
        with self._write() as s:
            sent = s.exec(
                select(DigestRunRow.id).where(
                    DigestRunRow.local_date == local_date, DigestRunRow.status == "sent"
                )
            ).first()
            if sent is not None:
                return None
            run = DigestRunRow(local_date=local_date, created_at=self._clock(), status="pending")
            s.add(run)
            s.flush()
            return _id(run)

    def digest_sent_on(self, local_date: str) -> bool:
        """Whether a digest for this local date was sent."""
        with self._read() as s:
            query = select(DigestRunRow.id).where(
                DigestRunRow.local_date == local_date, DigestRunRow.status == "sent"
            )
            return s.exec(query).first() is not None

    def watching_since(self) -> dt.datetime | None:
        """When this store recorded its first message or digest run (None: neither yet): how
        long po-watcher has been in service on this database."""
        with self._read() as s:
            firsts = (
                s.exec(select(func.min(MessageRow.created_at))).one(),
                s.exec(select(func.min(DigestRunRow.created_at))).one(),
            )
        found = [first for first in firsts if first is not None]
        return min(found) if found else None

    def mark_digested(self, message_db_ids: Sequence[int], local_date: str, run_id: int) -> int:
        """Mark messages as reported by a digest (only those not reported before); returns the
        number marked."""
        ids = list(dict.fromkeys(message_db_ids))
        marked = 0
        with self._write() as s:
            for start in range(0, len(ids), _PAGE):
                result = s.exec(
                    update(MessageRow)
                    .where(col(MessageRow.id).in_(ids[start : start + _PAGE]))
                    .where(col(MessageRow.digest_date).is_(None))
                    .values(digest_date=local_date, digest_run_id=run_id)
                    .execution_options(synchronize_session=False)
                )
                marked += result.rowcount
            count = s.exec(
                select(func.count())
                .select_from(MessageRow)
                .where(MessageRow.digest_run_id == run_id)
            ).one()
            s.exec(
                update(DigestRunRow)
                .where(col(DigestRunRow.id) == run_id)
                .values(message_count=count)
                .execution_options(synchronize_session=False)
            )
        return marked

    def finish_digest(self, run_id: int, *, ok: bool, error: str | None) -> bool:
        """Close a digest run as sent or failed. Returns False when it could not be marked sent
        because another run for the same date was sent first (it is then marked failed)."""
        now = self._clock()
        try:
            with self._write() as s:
                run = _digest_run(s, run_id)
                run.status = "sent" if ok else "failed"
                run.sent_at = now if ok else None
                run.error = None if ok else _clip(error or "unknown error")
            return ok
        except IntegrityError:
            with self._write() as s:
                run = _digest_run(s, run_id)
                run.status = "failed"
                run.error = "another digest for this date was sent first"
            return False

    def last_message_at_by_customer(self) -> dict[str, dt.datetime]:
        """When each customer's latest message was recorded (processing time, UTC)."""
        with self._read() as s:
            query = (
                select(MessageRow.customer, func.max(col(MessageRow.created_at)))
                .where(col(MessageRow.customer).is_not(None))
                .group_by(col(MessageRow.customer))
            )
            return {c: at for c, at in s.exec(query) if c is not None and at is not None}

    def add_feed_event(
        self,
        kind: str,
        *,
        account: str | None = None,
        folder: str | None = None,
        detail: str = "",
        at: dt.datetime | None = None,
    ) -> None:
        with self._write() as s:
            s.add(
                FeedEventRow(
                    at=at or self._clock(),
                    kind=kind,
                    account=account,
                    folder=folder,
                    detail=_clip(detail),
                )
            )

    def feed_events(self, since: dt.datetime) -> list[FeedEvent]:
        """Feed events at or after ``since``, oldest first."""
        with self._read() as s:
            query = (
                select(FeedEventRow)
                .where(col(FeedEventRow.at) >= since)
                .order_by(col(FeedEventRow.at), col(FeedEventRow.id))
            )
            return [
                FeedEvent(at=r.at, kind=r.kind, account=r.account, folder=r.folder, detail=r.detail)
                for r in s.exec(query)
            ]


# --- engine -------------------------------------------------------------------------------------


def _lease_key(account: str, folder: str) -> int:
    """A stable signed 64-bit advisory-lock key for a folder."""
    digest = hashlib.sha256(f"po-watcher\0{account}\0{folder}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# The tables of the store's first schema. A table a later version adds goes not here: on an older
# database its absence is an upgrade (created empty at start), not a loss.
FIRST_TABLES = (
    "po_record",
    "digest_run",
    "message",
    "candidate",
    "link",
    "folder_state",
    "failure",
    "pending_action",
    "feed_event",
)


def _lost_tables(conn: Connection) -> list[str]:
    """Tables of the first schema missing from a database whose other tables hold rows (one
    dropped, or a restore in part): making them again empty would lose links, decisions or
    checkpoints silently. A database without data (new, or its first start cut short) has
    none lost."""
    present = set(sa_inspect(conn).get_table_names())
    missing = [name for name in FIRST_TABLES if name not in present]
    if not missing or len(missing) == len(FIRST_TABLES):
        return []
    for name in FIRST_TABLES:
        if name in present:
            table = SQLModel.metadata.tables[name]
            if conn.execute(sa_select(text("1")).select_from(table).limit(1)).first():
                return missing
    return []


def _lost_words(lost: Sequence[str]) -> str:
    return (
        f"the database holds po-watcher's data but not its table(s) {', '.join(lost)} (dropped, "
        "or restored in part): starting would make them again, empty, and lose what they held; "
        "restore the whole database from a backup"
    )


_COPY_BATCH = 1000  # rows read and written at a time by `copy_into`


def _no_database_file(url: str) -> bool:
    """Whether ``url`` names a SQLite file that does not exist yet (a new install)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    path = parsed.database
    return not path or path == ":memory:" or not Path(path).is_file()


def url_parts(url: str) -> tuple[str, str | None, str | None]:
    """(backend, database, password) of a database URL; StoreError when it is none."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(str(exc)) from None
    return parsed.get_backend_name(), parsed.database, parsed.password


def _words(exc: DBAPIError) -> str:
    """The driver's message on one line, without the SQL statement SQLAlchemy appends."""
    return " ".join(str(exc.orig or exc).split())[:300]


def _engine(url: str, busy_timeout: float) -> Engine:
    for bare in ("postgresql://", "postgres://"):  # the driver we ship is psycopg 3
        if url.startswith(bare):
            url = "postgresql+psycopg://" + url.removeprefix(bare)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, busy_timeout)
    if url.startswith("postgresql"):
        millis = max(1, int(busy_timeout * 1000))
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"options": f"-c lock_timeout={millis}"},
        )
    raise StoreError(f"unsupported database URL scheme in {url.split(':', 1)[0]!r}")


def _sqlite_engine(url: str, busy_timeout: float) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout})
    millis = max(1, int(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own BEGIN handling is switched off: the "begin" hook below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={millis}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front: a deferred transaction that reads and then writes
        # fails at once (no busy wait) when another writer committed in between.
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# --- helpers ------------------------------------------------------------------------------------


def _id(row: MessageRow | DigestRunRow) -> int:
    if row.id is None:
        raise StoreError("row has no id: it was not flushed")
    return row.id


def _clip(textual: str) -> str:
    textual = _clean(textual)
    return textual if len(textual) <= _MAX_ERROR_CHARS else textual[:_MAX_ERROR_CHARS] + " [...]"


def _clean(textual: str) -> str:
    """PostgreSQL text cannot hold NUL: hostile mail gets U+FFFD in its place (on every backend)."""
    return textual.replace("\x00", "\ufffd")


def _clean_opt(textual: str | None) -> str | None:
    return None if textual is None else _clean(textual)


def _clean_candidate(judged: JudgedCandidate) -> JudgedCandidate:
    c = judged.candidate
    fields = (c.raw, c.normalized, c.source, c.context, c.customer or "")
    if not any("\x00" in f for f in fields):
        return judged
    cleaned = replace(
        c,
        raw=_clean(c.raw),
        normalized=_clean(c.normalized),
        source=_clean(c.source),
        context=_clean(c.context),
        customer=_clean_opt(c.customer),
    )
    return JudgedCandidate(candidate=cleaned, known=judged.known)


def _owe(s: Session, row: MessageRow, kind: str) -> None:
    """Owe the message's mailbox action ``kind``, in place of one still owed (a flag owed and
    not yet added needs no removing; taking off one that is absent does nothing)."""
    key = MessageKey(row.account, row.folder, row.uidvalidity, row.uid)
    s.exec(delete(PendingActionRow).where(*_key_filter(PendingActionRow, key)))
    s.add(_pending(key, kind))


def _pending(key: MessageKey, kind: str) -> PendingActionRow:
    return PendingActionRow(
        account=key.account, folder=key.folder, uidvalidity=key.uidvalidity, uid=key.uid, kind=kind
    )


def _key_filter(
    table: type[MessageRow] | type[FailureRow] | type[PendingActionRow], key: MessageKey
) -> tuple[Any, ...]:
    return (
        col(table.account) == key.account,
        col(table.folder) == key.folder,
        col(table.uidvalidity) == key.uidvalidity,
        col(table.uid) == key.uid,
    )


def _folder_query(account: str, folder: str) -> Any:
    return select(FolderRow).where(FolderRow.account == account, FolderRow.folder == folder)


def _folder_state(row: FolderRow) -> FolderState:
    return FolderState(
        account=row.account,
        folder=row.folder,
        uidvalidity=row.uidvalidity,
        last_uid=row.last_uid,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_poll_at=row.last_poll_at,
        reconciling=row.reconciling,
    )


def _locked_folder(s: Session, account: str, folder: str) -> FolderRow:
    """The folder's row, locked for update, created (and flushed) when absent."""
    row: FolderRow | None = s.exec(_folder_query(account, folder).with_for_update()).first()
    if row is not None:
        return row
    try:
        with s.begin_nested():
            row = FolderRow(account=account, folder=folder)
            s.add(row)
    except IntegrityError:  # another instance created it just now
        row = s.exec(_folder_query(account, folder).with_for_update()).one()
    return row


def _advance(s: Session, checkpoint: MessageKey) -> None:
    row = _locked_folder(s, checkpoint.account, checkpoint.folder)
    if row.uidvalidity is None:
        row.uidvalidity = checkpoint.uidvalidity
    elif row.uidvalidity != checkpoint.uidvalidity:
        raise CheckpointConflict(
            f"{checkpoint.account}/{checkpoint.folder}: stored UIDVALIDITY {row.uidvalidity}, "
            f"checkpoint has {checkpoint.uidvalidity}"
        )
    row.last_uid = max(row.last_uid, checkpoint.uid)


def _batch_lookup(
    s: Session, keys: Sequence[MessageKey]
) -> tuple[set[MessageKey], dict[MessageKey, int]]:
    """Which of these keys are recorded already, and the failed tries counted for the others."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    for k in dict.fromkeys(keys):
        groups.setdefault((k.account, k.folder, k.uidvalidity), []).append(k.uid)
    seen: set[MessageKey] = set()
    failures: dict[MessageKey, int] = {}
    for (account, folder, validity), uids in groups.items():
        for start in range(0, len(uids), _PAGE):
            chunk = uids[start : start + _PAGE]
            wanted = set(chunk)
            for table in (MessageRow, FailureRow):
                query = select(table.uid, table.attempts).where(
                    col(table.account) == account,
                    col(table.folder) == folder,
                    col(table.uidvalidity) == validity,
                    _uids_among(col(table.uid), chunk),
                )
                for uid, attempts in s.exec(query):
                    if uid not in wanted:
                        continue  # in the range asked for, not in the batch
                    found = MessageKey(account, folder, validity, uid)
                    if table is MessageRow:
                        seen.add(found)
                    else:
                        failures[found] = attempts
    return seen, failures


def _uids_among(column: Any, uids: Sequence[int]) -> Any:
    """A condition on a UID column that holds for these UIDs: a range when they are nearly
    consecutive (a batch usually is), else an IN list. A range may also hold for other UIDs, so
    callers keep only those they asked for. (SQLAlchemy renders an IN list of 200 values in
    ~0.8 ms; a range costs two parameters.)"""
    low, high = min(uids), max(uids)
    if high - low < 2 * len(uids) + 16:
        return column.between(low, high)
    return column.in_(uids)


def _message_values(message: ProcessedMessage, attempts: int, now: dt.datetime) -> dict[str, Any]:
    key = message.key
    outcome = message.outcome
    review, note = _first_review(outcome)
    return {
        "account": key.account,
        "folder": key.folder,
        "uidvalidity": key.uidvalidity,
        "uid": key.uid,
        "message_id": _clean_opt(message.message_id),
        "sender": _clean(message.sender),
        "subject": _clean(message.subject),
        "date": _clean_opt(message.date),
        "customer": outcome.customer,
        "status": outcome.status.value,
        "reasons": [_clean(r) for r in outcome.reasons],
        "suggestions": [_clean(r) for r in outcome.suggestions],
        "content_hash": message.content_hash,
        "size": message.size,
        "in_reply_to": _clean_opt(message.in_reply_to),
        "references": [_clean(r) for r in message.references],
        "created_at": now,
        "updated_at": now,
        "review": review,
        "review_note": note,
        "attempts": attempts,
    }


def _candidate_values(msg_id: int, candidates: Sequence[JudgedCandidate]) -> list[dict[str, Any]]:
    rows = []
    for position, judged in enumerate(candidates):
        c = _clean_candidate(judged).candidate
        rows.append(
            {
                "msg_id": msg_id,
                "position": position,
                "raw": c.raw,
                "normalized": c.normalized,
                "source": c.source,
                "valid": c.valid,
                "known": judged.known,
                "page": c.page,
                "quoted": c.quoted,
                "labelled": c.labelled,
                "context": c.context,
                "customer": c.customer,
            }
        )
    return rows


def _insert_batch(
    s: Session,
    messages: Sequence[ProcessedMessage],
    hows: Mapping[MessageKey, LinkHow],
    failures: Mapping[MessageKey, int],
    now: dt.datetime,
) -> None:
    """Messages, candidates and links of a batch in three multi-row INSERTs (IntegrityError when
    a key is taken)."""
    if not messages:
        return
    values = [_message_values(m, failures.get(m.key, 0), now) for m in messages]
    # Core executemany, then the new ids by key: an INSERT ... RETURNING that must keep the rows'
    # order runs row by row on SQLite (one statement a message: the costliest part of storing).
    conn = s.connection()
    conn.execute(_MESSAGE.insert(), values)
    ids = _ids_by_key(conn, [m.key for m in messages])
    candidates: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for msg_id, m in zip(ids, messages, strict=True):
        candidates.extend(_candidate_values(msg_id, m.outcome.candidates))
        how = hows.get(m.key, "found")
        links.extend(
            {"msg_id": msg_id, "customer": _owner(m.outcome, n), "po_number": n, "how": how}
            for n in _numbers(m.outcome)
        )
    if candidates:
        conn.execute(_CANDIDATE.insert(), candidates)
    if links:
        conn.execute(_LINK.insert(), links)


def _ids_by_key(conn: Connection, keys: Sequence[MessageKey]) -> list[int]:
    """The row ids of recorded messages, in the order of ``keys``."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    for k in keys:
        groups.setdefault((k.account, k.folder, k.uidvalidity), []).append(k.uid)
    found: dict[MessageKey, int] = {}
    t = _MESSAGE.c
    for (account, folder, validity), uids in groups.items():
        for start in range(0, len(uids), _PAGE):
            chunk = uids[start : start + _PAGE]
            query = sa_select(t.id, t.uid).where(
                t.account == account,
                t.folder == folder,
                t.uidvalidity == validity,
                _uids_among(t.uid, chunk),
            )
            for row_id, uid in conn.execute(query):
                found[MessageKey(account, folder, validity, uid)] = row_id
    return [found[k] for k in keys]


def _insert_message(
    s: Session, message: ProcessedMessage, how: str, attempts: int, now: dt.datetime
) -> bool:
    key = message.key
    outcome = message.outcome
    review, note = _first_review(outcome)
    row = MessageRow(
        account=key.account,
        folder=key.folder,
        uidvalidity=key.uidvalidity,
        uid=key.uid,
        message_id=_clean_opt(message.message_id),
        sender=_clean(message.sender),
        subject=_clean(message.subject),
        date=_clean_opt(message.date),
        customer=outcome.customer,
        status=outcome.status.value,
        reasons=[_clean(r) for r in outcome.reasons],
        suggestions=[_clean(r) for r in outcome.suggestions],
        content_hash=message.content_hash,
        size=message.size,
        in_reply_to=_clean_opt(message.in_reply_to),
        references=[_clean(r) for r in message.references],
        created_at=now,
        updated_at=now,
        review=review,
        review_note=note,
        attempts=attempts,
    )
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
            _add_candidates(s, _id(row), outcome.candidates)
            for po_number in _numbers(outcome):
                s.add(
                    LinkRow(
                        msg_id=_id(row),
                        customer=_owner(outcome, po_number),
                        po_number=po_number,
                        how=how,
                    )
                )
            s.flush()
    except IntegrityError:
        # A concurrent instance recorded the same key; anything else is a real error.
        if s.exec(select(MessageRow.id).where(*_key_filter(MessageRow, key))).first() is None:
            raise
        return False
    return True


def _add_candidates(s: Session, msg_id: int, candidates: Sequence[JudgedCandidate]) -> None:
    for position, judged in enumerate(candidates):
        c = _clean_candidate(judged).candidate
        s.add(
            CandidateRow(
                msg_id=msg_id,
                position=position,
                raw=c.raw,
                normalized=c.normalized,
                source=c.source,
                valid=c.valid,
                known=judged.known,
                page=c.page,
                quoted=c.quoted,
                labelled=c.labelled,
                context=c.context,
                customer=c.customer,
            )
        )


def _judged(row: CandidateRow) -> JudgedCandidate:
    candidate = Candidate(
        raw=row.raw,
        normalized=row.normalized,
        source=row.source,
        valid=row.valid,
        context=row.context,
        page=row.page,
        quoted=row.quoted,
        labelled=row.labelled,
        customer=row.customer,
    )
    return JudgedCandidate(candidate=candidate, known=row.known)


def _candidate_rows(s: Session, msg_ids: Sequence[int]) -> list[CandidateRow]:
    query = (
        select(CandidateRow)
        .where(col(CandidateRow.msg_id).in_(msg_ids))
        .order_by(col(CandidateRow.msg_id), col(CandidateRow.position))
    )
    return list(s.exec(query))


def _link_rows(s: Session, msg_ids: Sequence[int]) -> list[LinkRow]:
    query = select(LinkRow).where(col(LinkRow.msg_id).in_(msg_ids)).order_by(col(LinkRow.id))
    return list(s.exec(query))


def _stored(s: Session, rows: Sequence[MessageRow]) -> list[StoredMessage]:
    ids = [r.id for r in rows if r.id is not None]
    candidates: dict[int, list[JudgedCandidate]] = {}
    links: dict[int, list[Link]] = {}
    if ids:
        for c in _candidate_rows(s, ids):
            candidates.setdefault(c.msg_id, []).append(_judged(c))
        for link in _link_rows(s, ids):
            links.setdefault(link.msg_id, []).append(Link(link.customer, link.po_number, link.how))
    result = []
    for r in rows:
        own_links = tuple(links.get(_id(r), ()))
        result.append(
            StoredMessage(
                id=_id(r),
                key=MessageKey(r.account, r.folder, r.uidvalidity, r.uid),
                message_id=r.message_id,
                sender=r.sender,
                subject=r.subject,
                date=r.date,
                customer=r.customer,
                status=Status(r.status),
                reasons=tuple(r.reasons),
                suggestions=tuple(r.suggestions),
                content_hash=r.content_hash,
                size=r.size,
                in_reply_to=r.in_reply_to,
                references=tuple(r.references),
                created_at=r.created_at,
                updated_at=r.updated_at,
                review=None if r.review is None else Review(r.review),
                review_note=r.review_note,
                digest_date=r.digest_date,
                attempts=r.attempts,
                candidates=tuple(candidates.get(_id(r), ())),
                po_numbers=tuple(link.po_number for link in own_links),
                links=own_links,
            )
        )
    return result


def _message_row(s: Session, message_db_id: int) -> MessageRow:
    row = s.get(MessageRow, message_db_id, with_for_update=True)
    if row is None:
        raise UnknownMessage(f"no stored message with id {message_db_id}")
    return row


def _replace_candidates(s: Session, row: MessageRow, new: Sequence[JudgedCandidate]) -> bool:
    msg_id = _id(row)
    old = tuple(_judged(c) for c in _candidate_rows(s, [msg_id]))
    if old == tuple(_clean_candidate(c) for c in new):
        return False
    s.exec(delete(CandidateRow).where(col(CandidateRow.msg_id) == msg_id))
    _add_candidates(s, msg_id, new)
    return True


def _numbers(outcome: Outcome) -> list[str]:
    return list(dict.fromkeys(_clean(n) for n in outcome.po_numbers))


def _owner(outcome: Outcome, number: str) -> str | None:
    """The customer a linked number belongs to: the one whose records hold it (a message naming
    two customers' POs links each to its own, as does a reply inheriting such links), else the
    message's customer."""
    for customer, inherited in outcome.owners:
        if inherited == number:
            return customer
    for judged in outcome.candidates:
        c = judged.candidate
        if judged.known and c.normalized == number and c.customer is not None:
            return c.customer
    return outcome.customer


def _replace_links(s: Session, row: MessageRow, outcome: Outcome, how: str) -> bool:
    msg_id = _id(row)
    current = _link_rows(s, [msg_id])
    manual = {link.po_number for link in current if link.how == "manual"}
    old = {(link.customer, link.po_number, link.how) for link in current if link.how != "manual"}
    # A message a person linked by hand keeps that link alone: re-judging does not add others.
    numbers = [] if manual else _numbers(outcome)
    if old == {(_owner(outcome, n), n, how) for n in numbers}:
        return False
    s.exec(delete(LinkRow).where(col(LinkRow.msg_id) == msg_id, col(LinkRow.how) != "manual"))
    s.flush()
    for number in numbers:
        s.add(LinkRow(msg_id=msg_id, customer=_owner(outcome, number), po_number=number, how=how))
    return True


def _first_review(outcome: Outcome) -> tuple[str | None, str | None]:
    """The review and its note of a newly recorded message: open when flagged, dismissed at
    once when an [ignore] rule matched (the rule is the note)."""
    if not outcome.status.flagged:
        return None, None
    if outcome.ignored:
        return Review.DISMISSED.value, _clean(f"{IGNORED_NOTE}{outcome.ignored}")
    return Review.OPEN.value, None


def _review_after(review: str | None, outcome: Outcome) -> str | None:
    if outcome.status.flagged:
        if outcome.ignored and review in (None, Review.OPEN.value):
            return Review.DISMISSED.value
        return Review.OPEN.value if review is None else review
    return None if review == Review.OPEN.value else review


def _open_flags() -> Any:
    return (
        select(MessageRow)
        .where(col(MessageRow.status) != Status.LINKED.value)
        .where(MessageRow.review == Review.OPEN.value)
    )


def _digest_run(s: Session, run_id: int) -> DigestRunRow:
    run = s.get(DigestRunRow, run_id, with_for_update=True)
    if run is None:
        raise StoreError(f"no digest run with id {run_id}")
    return run


def _po_record(row: PoRow) -> PoRecord:
    return PoRecord(
        po_number=row.po_number,
        customer=row.customer,
        status=row.status,
        amount=row.amount,
        currency=row.currency,
        issued_on=row.issued_on,
        buyer=row.buyer,
    )


_PO_FIELDS = ("status", "amount", "currency", "issued_on", "buyer")  # besides the key


def _po_values(record: PoRecord, now: dt.datetime) -> dict[str, Any]:
    return {
        "customer": record.customer,
        "po_number": record.po_number,
        "status": record.status,
        "amount": record.amount,
        "currency": record.currency,
        "issued_on": record.issued_on,
        "buyer": record.buyer,
        "updated_at": now,
    }
