"""A database that cannot be used (down, a refused login, no rights to create the tables): every
command says so in one line and exits 75; /healthz and /metrics answer instead of dropping the
connection. PostgreSQL tests use the real server the suite starts."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from inbox_watcher.health import HealthServer, Metrics
from inbox_watcher.store import Store, StoreUnavailable
from tests.servers import Postgres, free_port
from tests.setup_config import config_with_database

REPO = Path(__file__).resolve().parents[1]


def po_watcher(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


def import_one_record(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    """`pos import` of one PO record into the database at ``url``."""
    csv_file = tmp_path / "pos.csv"
    csv_file.write_text("po_number,customer\nACME-123456,acme\n", encoding="utf-8")
    return po_watcher(config_with_database(tmp_path, url), "pos", "import", str(csv_file))


@pytest.mark.parametrize("command", [["check"], ["flagged"], ["messages"], ["pos", "list"]])
def test_a_database_that_is_down_is_one_line_and_exit_75(
    tmp_path: Path, command: list[str]
) -> None:
    down = f"postgresql+psycopg://po_watcher@127.0.0.1:{free_port('127.0.0.1')}/po_watcher"
    done = po_watcher(config_with_database(tmp_path, down), *command)
    assert done.returncode == 75, done
    assert "Traceback" not in done.stderr
    assert "the database is not usable now: cannot connect to the database" in done.stderr


def test_health_answers_when_the_database_is_down() -> None:
    down = f"postgresql+psycopg://po_watcher@127.0.0.1:{free_port('127.0.0.1')}/po_watcher"
    store = Store.open(down, create=False)
    metrics = Metrics()
    port = free_port("127.0.0.1")
    server = HealthServer(port, store, metrics, account="a", folders=("INBOX",))
    server.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as health:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.value.code == 503
        doc = json.loads(health.value.read())
        assert doc["status"] == "degraded"
        assert doc["folders"]["database"].startswith("database unavailable: ")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            assert "po_watcher_database_up 0" in page.read().decode()
    finally:
        server.stop()
        store.close()


def test_health_is_degraded_while_the_digest_or_a_reload_failed(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    metrics = Metrics()
    server = HealthServer(free_port("127.0.0.1"), store, metrics, account="a", folders=())
    try:
        assert server.healthz()[0] == 200
        metrics.problem("digest", "digest for 2026-11-27 NOT sent: connection refused")
        code, body, _ = server.healthz()
        assert code == 503
        assert json.loads(body)["problems"] == {
            "digest": "digest for 2026-11-27 NOT sent: connection refused"
        }
        metrics.problem("digest", None)  # the retry went out
        assert server.healthz()[0] == 200
    finally:
        server.server.server_close()
        store.close()


def test_check_notes_a_database_without_po_records(tmp_path: Path, pg_url: str) -> None:
    Store.open(pg_url).close()  # the tables exist (a poll ran), no records (or a dropped table)
    done = po_watcher(config_with_database(tmp_path, pg_url), "check")
    assert done.returncode == 0, done
    assert "note: the database holds no PO records" in done.stdout


def test_check_on_a_new_postgres_database_has_nothing_to_say(tmp_path: Path, pg_url: str) -> None:
    done = po_watcher(config_with_database(tmp_path, pg_url), "check")
    assert done.returncode == 0, done
    assert "note:" not in done.stdout
    assert "relation" not in done.stdout + done.stderr


def test_a_user_who_may_not_create_tables_is_told_what_to_grant(
    tmp_path: Path, postgres: Postgres
) -> None:
    if not postgres.running:
        postgres.start()
    suffix = secrets.token_hex(4)
    url = postgres.create_database(f"t_no_create_{suffix}")
    with psycopg.connect(postgres.dsn(f"t_no_create_{suffix}"), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE limited_{suffix} LOGIN")  # a hex suffix: no injection
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    limited = url.replace("postgres@", f"limited_{suffix}@", 1)
    done = import_one_record(tmp_path, limited)
    assert done.returncode == 78, done  # waiting will not help
    assert "Traceback" not in done.stderr
    assert "the database user may not create the tables" in done.stderr
    assert "grant it CREATE on the schema, or make it the database's owner" in done.stderr


def test_a_read_only_database_is_one_line_without_the_sql(
    tmp_path: Path, postgres: Postgres
) -> None:
    """A replica or a database switched to read only: the refused write is named in one line,
    and neither the SQL nor its values (senders, subjects, PO numbers) reach the output."""
    if not postgres.running:
        postgres.start()
    name = f"t_read_only_{secrets.token_hex(4)}"
    url = postgres.create_database(name)
    Store.open(url).close()  # the tables exist
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    done = import_one_record(tmp_path, url)
    assert done.returncode == 78, done  # waiting will not help: the database is set read only
    assert "Traceback" not in done.stderr
    assert "read-only transaction" in done.stderr
    assert "[SQL:" not in done.stderr
    assert "parameters" not in done.stderr
    assert "ACME-123456" not in done.stderr


@pytest.mark.parametrize(
    ("command", "code", "said"),
    [
        # `run` exits 78 (EX_CONFIG), which the systemd unit does not restart, not 75 for ever
        ("run", 78, "fix [database] or the database server, then start again"),
        # a clerk's command too (a scheduled `pos import` must not just retry), saying what to do
        ("flagged", 78, "the database refuses: "),
        ("check", 78, "the database refuses: "),
    ],
)
def test_a_database_that_does_not_exist_is_said_to_need_a_fix_not_waiting(
    tmp_path: Path, pg_url: str, command: str, code: int, said: str
) -> None:
    """A missing database (or role, or a refused password) will not come back by waiting."""
    missing = pg_url.rsplit("/", 1)[0] + "/no_such_database_" + secrets.token_hex(4)
    done = po_watcher(config_with_database(tmp_path, missing), command)
    assert done.returncode == code, done
    assert "Traceback" not in done.stderr
    assert "does not exist" in done.stderr
    assert said in done.stderr
    if command != "run":
        assert "waiting will not help: fix [database] in the configuration" in done.stderr


def test_check_says_a_database_that_takes_no_writes_will_stop_the_daemon(
    tmp_path: Path, postgres: Postgres
) -> None:
    """A role granted SELECT only, and a database switched to read only: the tables can be read,
    so only a write shows it; `check` tries one (on no row, rolled back) and names the table."""
    if not postgres.running:
        postgres.start()
    suffix = secrets.token_hex(4)
    name = f"t_no_write_{suffix}"
    url = postgres.create_database(name)
    Store.open(url).close()  # the tables exist
    with psycopg.connect(postgres.dsn(name), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE reader_{suffix} LOGIN")  # a hex suffix: no injection
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader_{suffix}")
    reader = url.replace("postgres@", f"reader_{suffix}@", 1)
    reader_cfg = config_with_database(tmp_path / "reader", reader)
    # check says it; poll and run stop at it (78: no restart loop), before the mailbox
    for command in ("check", "poll", "run"):
        done = po_watcher(reader_cfg, command)
        assert done.returncode == 78, done
        assert "does not take writes to table" in done.stderr
        assert "permission denied" in done.stderr
        assert "Traceback" not in done.stderr
    # a write refused past those checks (the right revoked while it runs) is the database's
    # answer, said in one line, not a crash
    with Store.open(reader, create=False) as store:
        with pytest.raises(StoreUnavailable, match="permission denied") as refused:
            store.set_checkpoint("a@example.com", "INBOX", 7, 1)
        assert refused.value.permanent

    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    done = po_watcher(config_with_database(tmp_path / "owner", url), "check")
    assert done.returncode == 78, done
    assert "read-only transaction" in done.stderr
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
    done = po_watcher(config_with_database(tmp_path / "again", url), "check")
    assert done.returncode == 0, done
    assert Store.existing_po_index(url) == {}  # the probe wrote nothing


def test_a_lost_table_stops_check_and_poll_with_what_to_do(tmp_path: Path) -> None:
    """SQLite: a `link` table dropped by hand from a database holding messages."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert import_one_record(tmp_path, url).returncode == 0
    cfg = tmp_path / "watcher.toml"  # the one the import wrote
    with Store.open(url) as store, store._engine.begin() as conn:
        conn.execute(text("DROP TABLE link"))
    for command in ("check", "poll"):
        done = po_watcher(cfg, command)
        assert done.returncode == 78, done
        assert "not its table(s) link" in done.stderr
        assert "restore the whole database from a backup" in done.stderr
        assert "Traceback" not in done.stderr
