"""`po-watcher copy-database --from FILE`: a SQLite install moved to PostgreSQL (a real server)
keeps every message, link, decision, checkpoint and PO record, and goes on writing there."""

from __future__ import annotations

from pathlib import Path

from inbox_watcher.instance import InstanceLock
from inbox_watcher.model import PoRecord, Review, Status
from inbox_watcher.store import Store
from tests.setup_config import config_with_database
from tests.test_database_down import po_watcher
from tests.test_store import flagged, key, linked


def a_month_of_state(url: str) -> None:
    with Store.open(url) as store:
        store.upsert_pos([PoRecord("PO-1", "acme"), PoRecord("PO-2", "acme", status="closed")])
        store.record(
            [linked(1), flagged(2), flagged(3, Status.UNKNOWN), linked(4, "PO-2")],
            checkpoint=key(4),
        )
        by_uid = {m.key.uid: m for m in store.messages()}
        store.set_review(by_uid[2].id, Review.RESOLVED, "by hand", pos=[("acme", "PO-1")])
        store.set_review(by_uid[3].id, Review.DISMISSED, "newsletter")
        run = store.start_digest("2026-11-24")
        assert run is not None
        store.mark_digested([by_uid[3].id], "2026-11-24", run)
        store.finish_digest(run, ok=True, error=None)
        store.note_failure(key(9), "a PDF that hung")
        store.add_feed_event("login_refused", account="po@example.com", detail="refused")


def snapshot(store: Store) -> list[object]:
    """The state, with the ids the CLI shows (`resolve 12` must still mean the same message)."""
    return [*store.messages(), store.po_index(), store.folder_state("po@example.com", "INBOX")]


def test_a_sqlite_install_moves_to_postgresql_whole(tmp_path: Path, pg_url: str) -> None:
    lite = tmp_path / "state.db"
    a_month_of_state(f"sqlite:///{lite}")
    cfg = config_with_database(tmp_path, pg_url)
    done = po_watcher(cfg, "copy-database", "--from", str(lite))
    assert done.returncode == 0, done
    assert "copied into postgresql+psycopg://" in done.stdout
    assert "message 4" in done.stdout
    assert "po_record 2" in done.stdout
    with Store.open(f"sqlite:///{lite}") as before, Store.open(pg_url) as after:
        assert snapshot(after) == snapshot(before)
        assert after.digest_sent_on("2026-11-24")
        # the id sequences moved past the copied rows: the daemon goes on writing
        after.record([linked(5)], checkpoint=key(5))
        after.upsert_pos([PoRecord("PO-3", "acme")])
        assert [m.key.uid for m in after.messages()] == [1, 2, 3, 4, 5]

    again = po_watcher(cfg, "copy-database", "--from", str(lite))
    assert again.returncode == 1
    assert "already holds data" in again.stderr
    with Store.open(pg_url) as after:
        assert len(list(after.messages())) == 5  # nothing doubled


def test_no_copy_beside_a_running_daemon_or_with_a_password_on_the_command_line(
    tmp_path: Path, pg_url: str
) -> None:
    lite = tmp_path / "state.db"
    a_month_of_state(f"sqlite:///{lite}")
    cfg = config_with_database(tmp_path, pg_url)
    lock = InstanceLock.acquire_url(f"sqlite:///{lite}")  # as the daemon holds it
    try:
        refused = po_watcher(cfg, "copy-database", "--from", str(lite))
    finally:
        lock.release()
    assert refused.returncode == 75
    assert "already running on the database" in refused.stderr
    assert "stop the daemon first" in refused.stderr
    secret = po_watcher(cfg, "copy-database", "--from", "postgresql://po:hunter2@127.0.0.1/x")
    assert secret.returncode == 1
    assert "carries a password" in secret.stderr
    with Store.open(pg_url) as after:
        assert list(after.messages()) == []


def test_a_from_that_is_no_database_is_refused_and_left_as_it_was(
    tmp_path: Path, pg_url: str
) -> None:
    """A CSV or an empty file given as --from: refused in words, not written to, no lock file
    made beside it."""
    cfg = config_with_database(tmp_path, pg_url)
    for name, content in (("pos.csv", b"po_number,customer\n"), ("empty.db", b"")):
        source = tmp_path / name
        source.write_bytes(content)
        refused = po_watcher(cfg, "copy-database", "--from", str(source))
        assert refused.returncode == 1, refused
        assert "not a SQLite database" in refused.stderr
        assert source.read_bytes() == content
        assert not source.with_name(name + ".lock").exists()
