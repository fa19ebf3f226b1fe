"""deploy/: the compose database's first-start script, run against the real PostgreSQL the suite
starts, and the compose file's shape (no container engine runs here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import yaml

from tests.servers import Postgres
from tests.setup_config import config_with_database

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
INIT_SCRIPT = DEPLOY / "postgres-init" / "10-po-watcher-role.sh"


def run_init_script(server: Postgres, password_file: Path) -> subprocess.CompletedProcess[str]:
    """The script as the postgres image runs it: as the superuser, PG* pointing at the server."""
    env = {
        **os.environ,
        "POSTGRES_USER": "postgres",
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PO_WATCHER_DB_PASSWORD_FILE": str(password_file),
    }
    return subprocess.run(
        ["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_init_script_makes_a_role_that_owns_its_database_and_is_no_superuser(
    tmp_path: Path, private_postgres: Postgres
) -> None:
    password_file = tmp_path / "db-password"
    password_file.write_text('it\'s a "pass" word; DROP ROLE postgres', encoding="utf-8")
    done = run_init_script(private_postgres, password_file)
    assert done.returncode == 0, done.stderr
    assert "role po_watcher and database po_watcher created" in done.stdout

    with psycopg.connect(private_postgres.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolpassword"
            " FROM pg_authid WHERE rolname = 'po_watcher'"
        ).fetchone()
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'po_watcher'"
        ).fetchone()
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'").fetchone()
    assert row is not None
    superuser, createdb, createrole, login, stored_password = row
    assert (superuser, createdb, createrole, login) == (False, False, False, True)
    assert stored_password.startswith("SCRAM-SHA-256$")  # the odd password was taken whole
    assert owner == ("po_watcher",)

    # po-watcher, logged in as that role, creates its tables and imports records.
    url = f"postgresql+psycopg://po_watcher@{private_postgres.host}:{private_postgres.port}/po_watcher"
    cfg = config_with_database(tmp_path, url)
    csv_file = tmp_path / "pos.csv"
    csv_file.write_text("po_number,customer\nACME-123456,acme\n", encoding="utf-8")
    for args in (["pos", "import", str(csv_file)], ["check"]):
        ran = subprocess.run(
            [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args],
            capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
        )  # fmt: skip
        assert ran.returncode == 0, ran
    with psycopg.connect(private_postgres.dsn("po_watcher")) as conn:
        tables = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    assert tables == [("po_watcher",)]


def test_the_init_script_refuses_a_missing_password_file(
    tmp_path: Path, private_postgres: Postgres
) -> None:
    done = run_init_script(private_postgres, tmp_path / "no-such-file")
    assert done.returncode != 0
    assert "no-such-file is missing or empty" in done.stderr
    with psycopg.connect(private_postgres.dsn(), autocommit=True) as conn:
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'po_watcher'").fetchone()
    assert role is None


def test_compose_gives_po_watcher_no_superuser_and_every_secret_a_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    db = compose["services"]["db"]
    # POSTGRES_USER is the image's superuser: it must not be po-watcher's role.
    assert db["environment"].get("POSTGRES_USER", "postgres") == "postgres"
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert INIT_SCRIPT.stat().st_mode & 0o111, "the image runs executable scripts"
    used = {*db["secrets"], *compose["services"]["po-watcher"]["secrets"]}
    assert used == set(compose["secrets"])
    assert all(s["file"].startswith("./secrets/") for s in compose["secrets"].values())
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for name in compose["secrets"]:
        assert f"secrets/{name}" in readme, f"deploy/README.md does not say how to make {name}"
