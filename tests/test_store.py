"""The store on SQLite and on a real PostgreSQL: exactly-once recording, checkpoints, PO records,
threads, re-judging, reviews and digest bookkeeping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from extractors.types import Candidate
from inbox_watcher.model import (
    JudgedCandidate,
    MessageKey,
    Outcome,
    PoRecord,
    ProcessedMessage,
    Review,
    Status,
)
from inbox_watcher.store import (
    CheckpointConflict,
    Link,
    Store,
    StoreError,
    StoreUnavailable,
    UnknownMessage,
)

ACCOUNT = "po@example.com"
T0 = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)


class Clock:
    """A settable clock for the store (UTC-aware)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str, clock: Clock) -> Iterator[Store]:
    with Store.open(db_url, clock=clock) as opened:
        yield opened


def key(uid: int, *, folder: str = "INBOX", uidvalidity: int = 7) -> MessageKey:
    return MessageKey(ACCOUNT, folder, uidvalidity, uid)


def judged(
    number: str, *, known: bool, valid: bool = True, source: str = "body"
) -> JudgedCandidate:
    candidate = Candidate(
        raw=number.lower(),
        normalized=number,
        source=source,
        valid=valid,
        context=f"PO {number} attached",
        page=2 if source.startswith("attachment:") else None,
        labelled=True,
        customer="acme",
    )
    return JudgedCandidate(candidate=candidate, known=known)


def outcome(
    status: Status,
    *numbers: str,
    customer: str | None = "acme",
    candidates: tuple[JudgedCandidate, ...] = (),
) -> Outcome:
    return Outcome(
        status=status,
        po_numbers=numbers,
        reasons=() if status is Status.LINKED else (f"The message is {status.value}.",),
        customer=customer,
        candidates=candidates,
        suggestions=("PO-1000",) if status is Status.UNKNOWN else (),
    )


def processed(
    k: MessageKey,
    verdict: Outcome,
    *,
    message_id: str | None = None,
    content_hash: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    subject: str = "Order",
) -> ProcessedMessage:
    return ProcessedMessage(
        key=k,
        message_id=message_id if message_id is not None else f"<m{k.uidvalidity}.{k.uid}@ex>",
        sender="buyer@acme.example",
        subject=subject,
        date="2024-05-01T07:59:00+00:00",
        content_hash=content_hash or f"hash-{k.folder}-{k.uidvalidity}-{k.uid}",
        size=1234 + k.uid,
        in_reply_to=in_reply_to,
        references=references,
        outcome=verdict,
    )


def linked(uid: int, number: str = "PO-1", **kw: object) -> ProcessedMessage:
    verdict = outcome(Status.LINKED, number, candidates=(judged(number, known=True),))
    return processed(key(uid), verdict, **kw)  # type: ignore[arg-type]


def flagged(uid: int, status: Status = Status.MISSING, **kw: object) -> ProcessedMessage:
    return processed(key(uid), outcome(status), **kw)  # type: ignore[arg-type]


# --- opening ------------------------------------------------------------------------------------


def test_open_reports_dialect_and_hides_password(store: Store, db_url: str) -> None:
    assert store.dialect == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    unconnected = Store.open("postgresql+psycopg://po:s3cret@127.0.0.1:9/db", create=False)
    assert "s3cret" not in unconnected.url
    assert unconnected.url.startswith("postgresql+psycopg://po:")


def test_unsupported_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported"):
        Store.open("mysql://u:p@h/db")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.note_poll(ACCOUNT, "INBOX", ok=True, error=None)
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_writer_waits_for_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    Store.open(url).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with Store.open(url, busy_timeout=0.2) as impatient:
            with pytest.raises(StoreUnavailable, match="locked"):
                impatient.note_poll(ACCOUNT, "INBOX", ok=True, error=None)
            assert impatient.folder_state(ACCOUNT, "INBOX") is None  # readers are not blocked
        release = threading.Timer(0.5, holder.execute, args=("COMMIT",))
        release.start()
        with Store.open(url, busy_timeout=10) as patient:
            patient.note_poll(ACCOUNT, "INBOX", ok=True, error=None)  # waits, then succeeds
            assert patient.folder_state(ACCOUNT, "INBOX") is not None
        release.join()
    finally:
        holder.close()


def test_unreachable_postgresql_is_unavailable_not_a_crash() -> None:
    with pytest.raises(StoreUnavailable, match="cannot connect to the database"):
        Store.open("postgresql://po@127.0.0.1:1/nothing", busy_timeout=1)


def test_existing_po_index_reads_and_creates_nothing(db_url: str, tmp_path: Path) -> None:
    """What `try` and `check` use: None before a SQLite file or the tables exist (a new
    database), the records once they do; no tables or files are made along the way."""
    assert Store.existing_po_index(db_url) is None
    assert Store.existing_po_index(db_url) is None  # the first call made nothing
    if db_url.startswith("sqlite"):
        assert not (tmp_path / "state.db").exists()
    with Store.open(db_url) as store:
        store.upsert_pos([PoRecord("PO-1", "westside"), PoRecord("PO-2", "acme", status="closed")])
    index = Store.existing_po_index(db_url)
    assert index is not None
    assert {c: sorted(t) for c, t in index.items()} == {"westside": ["PO-1"], "acme": ["PO-2"]}
    assert index["acme"]["PO-2"].closed


def test_a_table_dropped_from_a_database_with_data_is_refused_not_made_again_empty(
    db_url: str, clock: Clock
) -> None:
    """Making a dropped `link` table again, empty, would lose every link silently: opening says
    which table is lost and that waiting will not help; `problems` (what `check` runs) says the
    same, and the database is left as it was."""
    with Store.open(db_url, clock=clock) as first:
        first.record([linked(1)], checkpoint=key(1))
        assert Store.problems(db_url) == []
        with first._engine.begin() as conn:
            conn.execute(text("DROP TABLE link"))
    with pytest.raises(StoreUnavailable, match=r"not its table\(s\) link \(dropped") as refused:
        Store.open(db_url, clock=clock)
    assert refused.value.permanent
    assert "restore the whole database from a backup" in str(refused.value)
    [problem] = Store.problems(db_url)
    assert "not its table(s) link" in problem
    with Store.open(db_url, create=False) as still, still._engine.connect() as conn:
        assert "link" not in sa_inspect(conn).get_table_names()


def test_a_read_only_sqlite_file_is_a_refusal_waiting_will_not_help(
    tmp_path: Path, clock: Clock
) -> None:
    """A database file the user may read but not write (here opened read-only, as a file
    without write permission is to a user without root's override): waiting will not help."""
    path = tmp_path / "state.db"
    with Store.open(f"sqlite:///{path}", clock=clock) as first:
        first.record([linked(1)], checkpoint=key(1))
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    with (
        Store.open(read_only, clock=clock) as store,
        pytest.raises(StoreUnavailable, match="readonly database") as refused,
    ):
        store.record([linked(2)], checkpoint=key(2))
    assert refused.value.permanent


def test_a_first_start_cut_short_leaves_no_data_to_lose(db_url: str, clock: Clock) -> None:
    """Tables made in part by a start that stopped before any data: the rest are made."""
    with Store.open(db_url, clock=clock) as first, first._engine.begin() as conn:
        conn.execute(text("DROP TABLE link"))
        conn.execute(text("DROP TABLE failure"))
    with Store.open(db_url, clock=clock) as second:
        second.record([linked(1)], checkpoint=key(1))
        assert [m.key for m in second.messages()] == [key(1)]


def test_reopen_keeps_data(db_url: str, clock: Clock) -> None:
    with Store.open(db_url, clock=clock) as first:
        first.record([linked(1)], checkpoint=key(1))
    with Store.open(db_url, clock=clock) as second:
        assert [m.key for m in second.messages()] == [key(1)]


# --- recording ----------------------------------------------------------------------------------


def test_record_stores_every_field(store: Store, clock: Clock) -> None:
    cands = (judged("PO-1", known=True), judged("PO-9", known=False, source="attachment:a.pdf"))
    verdict = outcome(Status.LINKED, "PO-1", candidates=cands)
    message = processed(key(3), verdict, in_reply_to="<p@ex>", references=("<a@ex>", "<p@ex>"))
    assert store.record([message], checkpoint=key(3)) == 1

    [stored] = store.messages()
    assert stored.key == key(3)
    assert stored.message_id == message.message_id
    assert (stored.sender, stored.subject, stored.date) == (
        message.sender,
        message.subject,
        message.date,
    )
    assert stored.status is Status.LINKED
    assert stored.customer == "acme"
    assert stored.candidates == cands
    assert stored.po_numbers == ("PO-1",)
    assert stored.links == (Link("acme", "PO-1", "found"),)
    assert stored.references == ("<a@ex>", "<p@ex>")
    assert stored.in_reply_to == "<p@ex>"
    assert (stored.content_hash, stored.size) == (message.content_hash, message.size)
    assert stored.review is None  # linked: nothing to review
    assert stored.created_at == clock.now
    assert stored.created_at.tzinfo is not None
    assert stored.attempts == 0


def test_each_link_carries_the_customer_whose_po_it_is(store: Store) -> None:
    """A platform's digest naming two customers' POs links each PO under its own customer."""
    other = Candidate(
        raw="GX-7", normalized="GX-7", source="body", valid=True, context="PO GX-7",
        page=None, labelled=True, customer="globex",
    )  # fmt: skip
    cands = (judged("PO-1", known=True), JudgedCandidate(other, known=True))
    verdict = outcome(Status.AMBIGUOUS, "PO-1", "GX-7", candidates=cands)
    assert store.record([processed(key(4), verdict)], checkpoint=key(4)) == 1
    [stored] = store.messages()
    assert set(stored.links) == {Link("acme", "PO-1", "found"), Link("globex", "GX-7", "found")}


def test_a_reply_inheriting_two_customers_links_keeps_each_owner(store: Store) -> None:
    verdict = Outcome(
        status=Status.AMBIGUOUS,
        po_numbers=("PO-1", "GX-7"),
        reasons=("No PO in this message; it replies to a linked one.",),
        customer="acme",
        link_how="thread",
        owners=(("acme", "PO-1"), ("globex", "GX-7")),
    )
    k = key(5)
    assert store.record([processed(k, verdict)], checkpoint=k, link_how={k: "thread"}) == 1
    [stored] = store.messages()
    assert set(stored.links) == {Link("acme", "PO-1", "thread"), Link("globex", "GX-7", "thread")}


def test_flagged_message_starts_with_open_review(store: Store) -> None:
    store.record([flagged(1, Status.UNKNOWN)], checkpoint=None)
    [stored] = store.messages()
    assert stored.review is Review.OPEN
    assert stored.reasons == ("The message is unknown.",)
    assert stored.suggestions == ("PO-1000",)


def test_record_is_idempotent(store: Store) -> None:
    batch = [linked(1), flagged(2)]
    assert store.record(batch, checkpoint=key(2)) == 2
    assert store.record(batch, checkpoint=key(2)) == 0
    assert store.record([batch[0], flagged(3)], checkpoint=key(3)) == 1
    assert [m.key.uid for m in store.messages()] == [1, 2, 3]


def test_checkpoint_moves_with_records_and_never_back(store: Store) -> None:
    assert store.folder_state(ACCOUNT, "INBOX") is None
    store.record([linked(5)], checkpoint=key(5))
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert (state.uidvalidity, state.last_uid) == (7, 5)

    store.record([linked(3)], checkpoint=key(3))  # a late, lower UID
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert state.last_uid == 5
    store.record([linked(6)], checkpoint=None)
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert state.last_uid == 5


def test_checkpoint_conflict_records_nothing(store: Store) -> None:
    store.record([linked(1)], checkpoint=key(1))
    stale = [processed(key(2, uidvalidity=6), outcome(Status.MISSING))]
    with pytest.raises(CheckpointConflict, match="UIDVALIDITY"):
        store.record(stale, checkpoint=key(2, uidvalidity=6))
    assert [m.key.uid for m in store.messages()] == [1]  # the message rolled back with it
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert (state.uidvalidity, state.last_uid) == (7, 1)


def test_concurrent_writers_record_a_key_once(db_url: str, clock: Clock) -> None:
    stores = [Store.open(db_url, clock=clock) for _ in range(2)]
    batch = [linked(uid) for uid in range(1, 21)]
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run(s: Store) -> None:
        try:
            barrier.wait()
            counts.append(s.record(batch, checkpoint=key(20)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert sum(counts) == 20
        assert [m.key.uid for m in stores[0].messages()] == list(range(1, 21))
    finally:
        for s in stores:
            s.close()


def test_nul_characters_are_stored_replaced(store: Store) -> None:
    verdict = outcome(Status.MALFORMED, candidates=(judged("PO\x00-1", known=False, valid=False),))
    store.record([flagged(1, subject="hi\x00there"), processed(key(2), verdict)], checkpoint=None)
    first, second = store.messages()
    assert first.subject == "hi\ufffdthere"
    assert second.candidates[0].candidate.normalized == "PO\ufffd-1"


# --- folders ------------------------------------------------------------------------------------


def test_reset_folder_starts_a_new_validity(store: Store) -> None:
    store.record([linked(9)], checkpoint=key(9))
    store.reset_folder(ACCOUNT, "INBOX", 8)
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert (state.uidvalidity, state.last_uid) == (8, 0)

    # a reused UID under the new validity is new mail
    reused = processed(key(9, uidvalidity=8), outcome(Status.MISSING))
    assert store.record([reused], checkpoint=key(9, uidvalidity=8)) == 1
    with pytest.raises(CheckpointConflict):
        store.record([], checkpoint=key(10))  # the old validity


def test_reconciling_lasts_until_finished(store: Store) -> None:
    store.record([linked(2)], checkpoint=key(2))
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert not state.reconciling
    store.reset_folder(ACCOUNT, "INBOX", 8)
    store.record([], checkpoint=key(40, uidvalidity=8))  # a batch; still reconciling
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert (state.reconciling, state.last_uid) == (True, 40)
    store.finish_reconcile(ACCOUNT, "INBOX")
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert (state.reconciling, state.uidvalidity, state.last_uid) == (False, 8, 40)


def test_recorded_uids(store: Store) -> None:
    other_folder = processed(key(4, folder="x"), outcome(Status.MISSING))
    store.record([linked(1), linked(3), other_folder], checkpoint=None)
    store.record([processed(key(2, uidvalidity=6), outcome(Status.MISSING))], checkpoint=None)
    assert store.recorded_uids(ACCOUNT, "INBOX", 7, [1, 2, 3, 4, 5]) == {1, 3}
    assert store.recorded_uids(ACCOUNT, "INBOX", 6, [1, 2]) == {2}
    assert store.recorded_uids(ACCOUNT, "INBOX", 7, []) == set()
    assert store.recorded_uids(ACCOUNT, "INBOX", 7, list(range(1, 1500))) == {1, 3}


def test_recorded_uids_asks_for_a_range_or_a_list_and_answers_only_what_was_asked(
    store: Store,
) -> None:
    """Nearly consecutive UIDs are looked up as a range, scattered ones as a list: either way
    only the UIDs asked for come back, and a new batch gets the ids of its own rows."""
    store.record([linked(u) for u in (10, 11, 13, 14, 16)], checkpoint=None)
    assert store.recorded_uids(ACCOUNT, "INBOX", 7, [10, 12, 16]) == {10, 16}  # a range
    assert store.recorded_uids(ACCOUNT, "INBOX", 7, [11, 50_000]) == {11}  # a list
    assert store.recorded_uids(ACCOUNT, "INBOX", 7, [12, 15]) == set()  # 13, 14 lie between
    # A batch whose UIDs interleave with recorded ones: each message gets its own candidates.
    store.record([linked(12, "PO-12"), linked(15, "PO-15")], checkpoint=None)
    rows = {m.key.uid: m for m in store.messages()}
    assert {u for u in rows if 10 <= u <= 16} == {10, 11, 12, 13, 14, 15, 16}
    assert (rows[12].po_numbers, rows[15].po_numbers) == (("PO-12",), ("PO-15",))
    assert rows[13].po_numbers == ("PO-1",)


def test_set_checkpoint_sets_exactly(store: Store) -> None:
    store.set_checkpoint(ACCOUNT, "Archive", 99, 40)
    store.set_checkpoint(ACCOUNT, "Archive", 99, 12)
    state = store.folder_state(ACCOUNT, "Archive")
    assert state is not None
    assert (state.uidvalidity, state.last_uid) == (99, 12)


def test_note_poll_before_any_record_then_record_adopts_validity(
    store: Store, clock: Clock
) -> None:
    store.note_poll(ACCOUNT, "INBOX", ok=False, error="NO [UNAVAILABLE]")
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert (state.uidvalidity, state.last_error, state.last_success_at) == (
        None,
        "NO [UNAVAILABLE]",
        None,
    )
    assert state.last_poll_at == clock.now

    clock.advance(minutes=5)
    store.note_poll(ACCOUNT, "INBOX", ok=True, error=None)
    store.record([linked(4)], checkpoint=key(4))
    state = store.folder_state(ACCOUNT, "INBOX")
    assert state is not None
    assert (state.uidvalidity, state.last_uid, state.last_error) == (7, 4, None)
    assert state.last_success_at == clock.now


def test_already_recorded_matches_content_hash_in_folder_across_validities(store: Store) -> None:
    store.record([linked(1, content_hash="abc", message_id="<x@ex>")], checkpoint=None)
    assert store.already_recorded(ACCOUNT, "INBOX", "<x@ex>", "abc")
    assert store.already_recorded(ACCOUNT, "INBOX", None, "abc")
    assert not store.already_recorded(ACCOUNT, "INBOX", "<x@ex>", "other-bytes")
    assert not store.already_recorded(ACCOUNT, "Archive", "<x@ex>", "abc")
    assert not store.already_recorded("else@example.com", "INBOX", "<x@ex>", "abc")


def test_failures_count_and_clear_on_record(store: Store) -> None:
    assert store.note_failure(key(4), "ValueError: boom") == 1
    assert store.note_failure(key(4), "ValueError: boom again") == 2
    assert store.note_failure(key(5), "x" * 50_000) == 1  # long tracebacks are clipped, not refused
    store.record([flagged(4, Status.UNREADABLE)], checkpoint=key(4))
    [stored] = store.messages()
    assert stored.attempts == 2
    assert store.note_failure(key(4), "after the record") == 1  # the row was cleared


# --- PO records ---------------------------------------------------------------------------------


def test_po_records_round_trip_exact_decimals(store: Store) -> None:
    records = [
        PoRecord(
            "PO-1",
            "acme",
            amount=Decimal("12345678901234.5678"),
            currency="EUR",
            issued_on=dt.date(2024, 2, 29),
            buyer="Zoë",
        ),
        PoRecord("PO-2", "acme", status="closed", amount=Decimal("-0.0001")),
        PoRecord("PO-1", "globex"),
    ]
    assert store.upsert_pos(records) == (3, 0, 0)
    index = store.po_index()
    assert index["acme"]["PO-1"] == records[0]
    assert index["acme"]["PO-1"].amount == Decimal("12345678901234.5678")
    assert isinstance(index["acme"]["PO-2"].amount, Decimal)
    assert index["acme"]["PO-2"] == records[1]
    assert index["globex"]["PO-1"] == records[2]


def test_upsert_is_idempotent_and_counts_updates(store: Store) -> None:
    records = [PoRecord("PO-1", "acme", amount=Decimal("10.50")), PoRecord("PO-2", "acme")]
    assert store.upsert_pos(records) == (2, 0, 0)
    assert store.upsert_pos(records) == (0, 0, 0)
    changed = [PoRecord("PO-1", "acme", status="closed", amount=Decimal("10.5"))]
    assert store.upsert_pos(changed) == (0, 1, 0)
    assert store.po_index()["acme"]["PO-1"].closed
    assert len(store.po_index()["acme"]) == 2
    assert store.upsert_pos([]) == (0, 0, 0)


def test_upsert_with_replace_removes_the_named_customers_other_records(store: Store) -> None:
    store.upsert_pos(
        [PoRecord(n, "acme") for n in ("PO-1", "PO-2", "PO-3")] + [PoRecord("G-1", "globex")]
    )
    assert store.upsert_pos([PoRecord("PO-2", "acme"), PoRecord("PO-4", "acme")], replace=True) == (
        1,
        0,
        2,
    )
    index = store.po_index()
    assert sorted(index["acme"]) == ["PO-2", "PO-4"]
    assert sorted(index["globex"]) == ["G-1"]  # a customer the file does not name is untouched
    assert store.upsert_pos([], replace=True) == (0, 0, 0)  # an empty list removes nothing
    assert sorted(store.po_index()["acme"]) == ["PO-2", "PO-4"]


def test_upsert_refuses_amounts_the_column_cannot_hold(store: Store) -> None:
    with pytest.raises(ValueError, match=r"PO-1 of acme: .*4 decimal places"):
        store.upsert_pos([PoRecord("PO-1", "acme", amount=Decimal("1.00001"))])
    with pytest.raises(ValueError, match="14 digits"):
        store.upsert_pos([PoRecord("PO-1", "acme", amount=Decimal("1e14"))])
    assert store.po_index() == {}


# --- threads ------------------------------------------------------------------------------------


def test_thread_links_nearest_parent_first(store: Store) -> None:
    root = linked(1, "PO-1", message_id="<root@ex>")
    reply = processed(
        key(2),
        outcome(Status.LINKED, "PO-2", "PO-1"),
        message_id="<reply@ex>",
        in_reply_to="<root@ex>",
    )
    store.record([root, reply], checkpoint=key(2), link_how={reply.key: "thread"})
    assert store.linked_pos_for_message_ids(["<reply@ex>", "<root@ex>", "<nobody@ex>"]) == [
        ("acme", "PO-2"),
        ("acme", "PO-1"),
    ]
    assert store.linked_pos_for_message_ids(["<root@ex>"]) == [("acme", "PO-1")]
    assert store.linked_pos_for_message_ids([]) == []
    stored = store.message("<reply@ex>")
    assert stored is not None
    assert {link.how for link in stored.links} == {"thread"}


# --- lookups ------------------------------------------------------------------------------------


def test_message_by_id_or_message_id(store: Store) -> None:
    store.record([linked(1, message_id="<a@ex>"), flagged(2, message_id="b@ex")], checkpoint=None)
    first = store.message("1")
    assert first is not None
    assert first.key == key(1)
    for ref in ("<a@ex>", "a@ex", " <a@ex> "):
        found = store.message(ref)
        assert found is not None
        assert found.id == first.id
    by_bare = store.message("<b@ex>")
    assert by_bare is not None
    assert by_bare.key == key(2)
    assert store.message("999") is None
    assert store.message("<missing@ex>") is None
    assert store.message("") is None


def test_messages_filters_and_pages(store: Store) -> None:
    batch = [linked(u) if u % 3 else flagged(u, Status.UNKNOWN) for u in range(1, 1201)]
    assert store.record(batch, checkpoint=key(1200)) == 1200
    every = list(store.messages())
    assert [m.key.uid for m in every] == list(range(1, 1201))
    unknown = list(store.messages(status=Status.UNKNOWN))
    assert len(unknown) == 400
    assert all(m.review is Review.OPEN for m in unknown)
    assert len(list(store.messages(customer="acme", review=Review.OPEN))) == 400
    assert list(store.messages(customer="globex")) == []
    stats = store.stats()
    assert stats["linked"] == 800
    assert stats["unknown"] == 400
    assert stats["missing"] == 0


# --- re-judging and reviews ---------------------------------------------------------------------


def test_rejudge_after_po_import(store: Store, clock: Clock) -> None:
    cands = (judged("PO-7", known=False),)
    store.record([processed(key(1), outcome(Status.UNKNOWN, candidates=cands))], checkpoint=None)
    [before] = store.messages()
    assert before.review is Review.OPEN

    clock.advance(hours=1)
    now_known = outcome(Status.LINKED, "PO-7", candidates=(judged("PO-7", known=True),))
    assert store.rejudge(before.id, now_known) is True
    after = store.message(str(before.id))
    assert after is not None
    assert after.status is Status.LINKED
    assert after.candidates[0].known is True
    assert after.po_numbers == ("PO-7",)
    assert after.reasons == ()
    assert after.review is None  # no longer needs a person
    assert after.updated_at == clock.now
    assert after.created_at == before.created_at

    assert store.rejudge(before.id, now_known) is False  # nothing new
    with pytest.raises(UnknownMessage):
        store.rejudge(12345, now_known)


def test_rejudge_keeps_manual_links_and_closed_reviews(store: Store) -> None:
    store.record([flagged(1, Status.MISSING)], checkpoint=None)
    [stored] = store.messages()
    store.set_review(stored.id, Review.RESOLVED, "phoned the buyer", pos=[("acme", "PO-3")])
    assert store.rejudge(stored.id, outcome(Status.UNKNOWN, "PO-8")) is True
    after = store.message(str(stored.id))
    assert after is not None
    # The person's link stands alone: what re-judging finds is in the verdict, not in the links.
    assert after.links == (Link("acme", "PO-3", "manual"),)
    assert after.status is Status.UNKNOWN
    assert after.review is Review.RESOLVED
    assert after.review_note == "phoned the buyer"
    assert store.rejudge(stored.id, outcome(Status.MISSING)) is True
    after = store.message(str(stored.id))
    assert after is not None
    assert after.links == (Link("acme", "PO-3", "manual"),)


def test_an_ignored_flag_is_dismissed_on_record_and_on_rejudge(store: Store) -> None:
    rule = "the sender matches 'news@*' in [ignore] senders"
    ignored = dataclasses.replace(outcome(Status.MISSING), ignored=rule)
    store.record(
        [processed(key(1), ignored), flagged(2), flagged(3), linked(4, "PO-4")], checkpoint=None
    )
    first, second, third, fourth = store.messages()
    assert (first.review, first.review_note) == (Review.DISMISSED, f"ignored: {rule}")
    assert (second.review, second.review_note) == (Review.OPEN, None)
    assert fourth.review is None
    assert [m.id for m in store.undigested_flags()] == [second.id, third.id]

    # An [ignore] rule added later closes an open flag when the message is judged again ...
    unknown = dataclasses.replace(outcome(Status.UNKNOWN, "PO-8"), ignored=rule)
    assert store.rejudge(second.id, unknown) is True
    after = store.message(str(second.id))
    assert after is not None
    assert (after.review, after.review_note) == (Review.DISMISSED, f"ignored: {rule}")
    # ... but not a person's decision.
    store.set_review(third.id, Review.RESOLVED, "phoned the buyer", pos=[("acme", "PO-3")])
    store.rejudge(third.id, unknown)
    kept = store.message(str(third.id))
    assert kept is not None
    assert (kept.review, kept.review_note) == (Review.RESOLVED, "phoned the buyer")


def test_set_review(store: Store) -> None:
    store.record([flagged(1), linked(2, "PO-2")], checkpoint=None)
    first, second = store.messages()
    store.set_review(first.id, Review.DISMISSED, "newsletter")
    dismissed = store.message(str(first.id))
    assert dismissed is not None
    assert (dismissed.review, dismissed.review_note, dismissed.po_numbers) == (
        Review.DISMISSED,
        "newsletter",
        (),
    )
    store.set_review(second.id, Review.RESOLVED, "confirmed", pos=[("acme", "PO-2")])
    resolved = store.message(str(second.id))
    assert resolved is not None
    assert resolved.links == (Link("acme", "PO-2", "manual"),)  # the found link became manual
    with pytest.raises(StoreError, match="resolving"):
        store.set_review(first.id, Review.DISMISSED, "x", pos=[("acme", "PO-1")])
    with pytest.raises(UnknownMessage):
        store.set_review(999, Review.DISMISSED, "x")


# --- digest -------------------------------------------------------------------------------------


def test_each_flag_is_digested_once(store: Store, clock: Clock) -> None:
    store.record([flagged(1), linked(2), flagged(3, Status.UNKNOWN)], checkpoint=key(3))
    pending = store.undigested_flags()
    assert [m.key.uid for m in pending] == [1, 3]
    assert store.open_flag_count_older() == 0

    run = store.start_digest("2024-05-01")
    assert run is not None
    assert store.mark_digested([m.id for m in pending], "2024-05-01", run) == 2
    assert not store.digest_sent_on("2024-05-01")
    assert store.finish_digest(run, ok=True, error=None) is True
    assert store.digest_sent_on("2024-05-01")
    assert not store.digest_sent_on("2024-05-02")
    assert store.undigested_flags() == []
    assert store.open_flag_count_older() == 2
    assert store.start_digest("2024-05-01") is None  # already sent today

    clock.advance(days=1)
    store.record([flagged(4)], checkpoint=key(4))
    run2 = store.start_digest("2024-05-02")
    assert run2 is not None
    pending2 = store.undigested_flags()
    assert [m.key.uid for m in pending2] == [4]
    # marking an already-digested message again changes nothing
    assert store.mark_digested([pending[0].id, pending2[0].id], "2024-05-02", run2) == 1
    first = store.message(str(pending[0].id))
    assert first is not None
    assert first.digest_date == "2024-05-01"

    store.set_review(pending[0].id, Review.DISMISSED, "spam")
    assert store.open_flag_count_older() == 2  # messages 3 and 4 stay open


def test_undigested_flags_before(store: Store, clock: Clock) -> None:
    store.record([flagged(1)], checkpoint=None)
    cutoff = clock.now + dt.timedelta(minutes=1)
    clock.advance(minutes=2)
    store.record([flagged(2)], checkpoint=None)
    assert [m.key.uid for m in store.undigested_flags(before=cutoff)] == [1]
    assert [m.key.uid for m in store.undigested_flags()] == [1, 2]


def test_failed_digest_can_be_retried(store: Store) -> None:
    run = store.start_digest("2024-05-01")
    assert run is not None
    assert store.finish_digest(run, ok=False, error="SMTP 451") is False
    assert not store.digest_sent_on("2024-05-01")
    retry = store.start_digest("2024-05-01")
    assert retry is not None
    assert retry != run


def test_only_one_digest_per_date_can_be_marked_sent(store: Store) -> None:
    first = store.start_digest("2024-05-01")
    second = store.start_digest("2024-05-01")  # another instance, before the first finished
    assert first is not None
    assert second is not None
    assert store.finish_digest(first, ok=True, error=None) is True
    assert store.finish_digest(second, ok=True, error=None) is False
    assert store.start_digest("2024-05-01") is None


def test_feed_health(store: Store, clock: Clock) -> None:
    store.record([linked(1)], checkpoint=None)
    first_at = clock.now
    clock.advance(hours=3)
    store.record([flagged(2)], checkpoint=None)
    store.record([processed(key(3), outcome(Status.MISSING, customer=None))], checkpoint=None)
    assert store.last_message_at_by_customer() == {"acme": clock.now}
    assert first_at < clock.now

    store.add_feed_event("auth_error", account=ACCOUNT, detail="LOGIN failed")
    clock.advance(hours=1)
    store.add_feed_event("folder_failed", account=ACCOUNT, folder="INBOX", detail="gone")
    events = store.feed_events(since=clock.now - dt.timedelta(minutes=30))
    assert [(e.kind, e.folder, e.detail) for e in events] == [("folder_failed", "INBOX", "gone")]
    assert [e.kind for e in store.feed_events(since=T0)] == ["auth_error", "folder_failed"]
    assert all(e.at.tzinfo is not None for e in store.feed_events(since=T0))
