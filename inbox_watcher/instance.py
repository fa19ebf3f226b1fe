"""One daemon per SQLite database: a lock file next to it.

On PostgreSQL several instances may run; they split the folders through per-folder leases
(advisory locks, see ``Store.folder_lease``), so no instance lock is taken there.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from inbox_watcher.config import Config


class InstanceLockError(Exception):
    """The daemon may not start on this database; the message says why."""


class InstanceLocked(InstanceLockError):
    """Another po-watcher already runs on this database."""


class LockFileUnusable(InstanceLockError):
    """The lock file next to the database cannot be created or locked (permissions, read-only
    file system)."""


@dataclass
class InstanceLock:
    handle: IO[str] | None

    @classmethod
    def acquire(cls, config: Config) -> InstanceLock:
        return cls.acquire_url(config.database.url)

    @classmethod
    def acquire_url(cls, url: str, *, create: bool = True) -> InstanceLock:
        """The lock of the SQLite database at ``url``; with ``create=False`` (a database only
        read, as `copy-database --from`) no lock file is made: none there, no daemon runs."""
        path = sqlite_path(url)
        if path is None:
            return cls(None)
        lock_path = path.with_name(path.name + ".lock")
        if not create and not lock_path.is_file():
            return cls(None)
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = lock_path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise LockFileUnusable(
                f"cannot create the lock file {lock_path} next to the database: "
                f"{exc.strerror or exc} (the daemon needs write access to that folder)"
            ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InstanceLocked(
                f"another po-watcher ({holder}) is already running on the database {path}; "
                "one instance per SQLite database (use PostgreSQL to run several)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL, None for other databases or in-memory SQLite."""
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    if not rest or rest == ":memory:":
        return None
    return Path(rest.split("?", 1)[0])
