"""`po-watcher backup`: a consistent, checked copy of a SQLite database beside a running writer."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

from inbox_watcher.model import PoRecord
from inbox_watcher.store import Store
from tests.setup_config import config_with_database
from tests.test_database_down import po_watcher
from tests.test_store import key, linked


def test_backup_beside_an_open_writer_holds_what_is_still_in_its_log(tmp_path: Path) -> None:
    """The writer keeps its connection open, so its last commits are in `state.db-wal` only: a
    plain copy of `state.db` lacks them, the backup has them, and is a file on its own."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = config_with_database(tmp_path, url)
    with Store.open(url) as writer:
        writer.record([linked(uid) for uid in range(1, 6)], checkpoint=key(5))
        assert (tmp_path / "state.db-wal").stat().st_size > 0
        shutil.copyfile(tmp_path / "state.db", tmp_path / "copied.db")
        done = po_watcher(cfg, "backup", str(tmp_path / "backup.db"))
        assert done.returncode == 0, done
        assert "backed up 5 message(s) and 0 PO record(s)" in done.stdout
        writer.record([linked(6)], checkpoint=key(6))  # the daemon goes on writing
    with contextlib.closing(sqlite3.connect(tmp_path / "copied.db")) as plain:
        tables = {row[0] for row in plain.execute("SELECT name FROM sqlite_master")}
        # (here even the tables are in the log)
        assert "message" not in tables or plain.execute(
            "SELECT count(*) FROM message"
        ).fetchone() == (0,)
    assert not (tmp_path / "backup.db-wal").exists()
    with Store.open(f"sqlite:///{tmp_path / 'backup.db'}") as restored:
        assert [m.key for m in restored.messages()] == [key(uid) for uid in range(1, 6)]
        assert restored.folder_state(key(5).account, "INBOX") is not None
    assert not list(tmp_path.glob(".*.partial"))


def test_backup_never_overwrites_and_names_pg_dump_for_postgresql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = config_with_database(tmp_path / "lite", url)
    with Store.open(url) as store:
        store.upsert_pos([PoRecord("ACME-123456", "acme")])
    (tmp_path / "old.db").write_bytes(b"an earlier backup")
    refused = po_watcher(cfg, "backup", str(tmp_path / "old.db"))
    assert refused.returncode == 1
    assert "old.db exists: give the backup a new file name" in refused.stderr
    assert (tmp_path / "old.db").read_bytes() == b"an earlier backup"
    done = po_watcher(cfg, "backup", str(tmp_path / "new.db"))
    assert "and 1 PO record(s)" in done.stdout, done
    (tmp_path / "link.db").symlink_to(tmp_path / "elsewhere.db")  # dangling
    refused = po_watcher(cfg, "backup", str(tmp_path / "link.db"))
    assert refused.returncode == 1
    assert "is a symbolic link" in refused.stderr
    assert (tmp_path / "link.db").is_symlink()
    assert not (tmp_path / "elsewhere.db").exists()

    pg = config_with_database(tmp_path / "pg", "postgresql+psycopg://po@127.0.0.1:1/po_watcher")
    refused = po_watcher(pg, "backup", str(tmp_path / "pg.db"))
    assert refused.returncode == 1
    assert "back up PostgreSQL with pg_dump" in refused.stderr
    assert not (tmp_path / "pg.db").exists()


def test_a_backup_of_a_database_that_lost_a_table_says_so(tmp_path: Path) -> None:
    """The copy is what the database holds: a dropped `link` table is named, not "checked"."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = config_with_database(tmp_path, url)
    with Store.open(url) as store:
        store.record([linked(1)], checkpoint=key(1))
    with contextlib.closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        conn.execute("DROP TABLE link")
        conn.commit()
    done = po_watcher(cfg, "backup", str(tmp_path / "backup.db"))
    assert done.returncode == 0, done
    assert "but the database lacks its table(s) link, and so does the copy" in done.stdout
