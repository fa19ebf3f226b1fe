"""A private PostgreSQL cluster for tests."""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import psycopg

from tests.servers._process import (
    LOOPBACK,
    ManagedServer,
    RunAs,
    ServerError,
    ServerNotInstalled,
    free_port,
    log_tail,
    make_root,
)

_SAFE_DBNAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _postgres_bindir() -> Path | None:
    candidates = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    versions = sorted(
        candidates, key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parts[-3])]
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("postgres")
    return Path(found).parent if found else None


_template_lock = threading.Lock()
_templates: dict[tuple[Path, int], Path] = {}


def _template_cluster(bindir: Path, owner: RunAs) -> Path:
    """A data dir made by initdb once per process, copied for every cluster (initdb: ~2 s)."""
    with _template_lock:
        key = (bindir, owner.uid)
        if key in _templates:
            return _templates[key]
        root, _ = make_root(None, "pw-pg-template-")
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        owner.chown(root)
        data = root / "data"
        as_owner = os.geteuid() == 0
        result = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            cwd=root,
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
            user=owner.uid if as_owner else None,
            group=owner.gid if as_owner else None,
            extra_groups=[] if as_owner else None,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerError(f"initdb failed: {result.stdout!r} {result.stderr!r}")
        _templates[key] = data
        return data


class Postgres(ManagedServer):
    """A private PostgreSQL cluster: trust auth for user `postgres`, TCP on 127.0.0.1:port,
    unix socket in its temp dir. Durability settings are off for speed (it is thrown away).

    The first cluster of a process runs initdb (about 2 s); later ones copy that template.
    """

    stop_signal = signal.SIGINT  # "fast" shutdown: end sessions, checkpoint, exit

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(root, "pw-pg-")
        self.host = LOOPBACK
        self.port = free_port()

    @staticmethod
    def missing() -> str | None:
        bindir = _postgres_bindir()
        if bindir is None or not (bindir / "initdb").exists():
            return "PostgreSQL server is not installed (apt-get install postgresql)"
        return None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for the psycopg 3 driver."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq URL, for psycopg.connect()."""
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def _bindir(self) -> Path:
        bindir = _postgres_bindir()
        if bindir is None:
            raise ServerNotInstalled("PostgreSQL server is not installed")
        return bindir

    def _prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        owner = self._owner()
        owner.chown(self.root)
        self.root.chmod(0o700)
        template = _template_cluster(self._bindir(), owner)
        subprocess.run(["cp", "-a", str(template), str(self.data_dir)], check=True)

    def _argv(self) -> list[str]:
        return [
            str(self._bindir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-k", str(self.root), "-c", f"listen_addresses={self.host}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=300",
        ]  # fmt: skip

    def _owner(self) -> RunAs:
        return RunAs.for_server("postgres")

    def _ready(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _held_ports(self) -> list[tuple[str, int]]:
        return [(self.host, self.port)]

    def logs(self) -> str:
        return log_tail(self.log_file)

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its SQLAlchemy URL."""
        if not _SAFE_DBNAME.fullmatch(name):
            raise ValueError(f"unusable test database name: {name!r}")
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name checked above
        return self.url(name)
