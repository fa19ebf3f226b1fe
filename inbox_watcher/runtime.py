"""The composition root: config in, wired mailbox, store, worker pool and poller out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from extractors.pdf_extract import PdfLimits
from inbox_watcher.config import Config
from inbox_watcher.instance import sqlite_path
from inbox_watcher.isolation import IsolatedPool
from inbox_watcher.logs import register_secret
from inbox_watcher.mailbox import ImapEndpoint, Mailbox
from inbox_watcher.mime import MimeLimits
from inbox_watcher.model import ProcessedMessage
from inbox_watcher.pipeline import Limits, install_context
from inbox_watcher.poller import FolderAction, Poller, PollSettings, follow_up
from inbox_watcher.store import Store, StoredMessage, StoreUnavailable

log = logging.getLogger(__name__)

# What the daemon itself may hold beside its workers (measured peak ~100 MiB; see bench/).
PARENT_ALLOWANCE = 300 * 1024 * 1024


def limits_of(config: Config) -> Limits:
    lim = config.limits
    return Limits(
        mime=MimeLimits(max_parts=lim.max_mime_parts, max_depth=lim.max_depth),
        pdf=PdfLimits(max_pages=lim.pdf_max_pages, max_bytes=lim.pdf_max_bytes),
        pattern_timeout=lim.pattern_timeout,
        message_time_limit=max(lim.pdf_time_limit * 3, 30.0),
        pdf_time_limit=lim.pdf_time_limit,
    )


def endpoint_of(config: Config) -> ImapEndpoint:
    imap = config.imap
    return ImapEndpoint(
        host=imap.host,
        port=imap.port,
        security=imap.security,
        username=imap.username,
        password=lambda: _secret(imap.password()),
        ca_file=str(imap.ca_file) if imap.ca_file else None,
        timeout=imap.timeout,
        password_source=(
            f"in the file {imap.password_file}"
            if imap.password_file
            else f"in the variable {imap.password_env}"
            if imap.password_env
            else "written in watcher.toml"
        ),
    )


def _secret(value: str) -> str:
    register_secret(value)
    return value


def settings_of(config: Config) -> PollSettings:
    imap = config.imap
    return PollSettings(
        account=imap.account,
        folders=tuple(imap.folders),
        batch_size=imap.batch_size,
        max_message_size=imap.max_message_size,
        max_attempts=config.limits.max_attempts,
        retries=imap.reconnect_retries,
        backoff_max=imap.reconnect_wait_max,
        actions=tuple(
            FolderAction(a.folder, a.on, tuple(a.add_flags), a.move_to) for a in imap.actions
        ),
        ignore=config.ignore.rule_for,
    )


def follow_up_for(config: Config, message: StoredMessage, *, linked: bool) -> str | None:
    """The mailbox action owed when ``message``'s flag is closed (by a person, or by a PO import
    that links it): the flags its "flagged" action added come off; with ``linked``, the linked
    actions follow. None when it was not flagged or its folder flags nothing."""
    if not message.status.flagged:
        return None
    return follow_up(settings_of(config).actions_for(message.key.folder), linked=linked)


def open_store(config: Config, *, existing: bool = False) -> Store:
    """The configured database; ``existing``: for the commands that read what polls recorded
    (`messages`, `flagged`, `resolve`, `dismiss`, `digest`, `reprocess`, `pos list`), a SQLite
    file that is not there is refused rather than made anew and empty ("no open flags" on a
    wrong path, and a daemon started on it would read the whole mailbox again)."""
    path = sqlite_path(config.database.url) if existing else None
    if path is not None and not path.exists():
        raise StoreUnavailable(
            f"there is no database at {path}: nothing was polled or imported with this "
            "configuration yet (is [database] url right, or was the file moved or deleted? "
            "restore it from a backup)",
            permanent=True,
        )
    return Store.open(
        config.database.url_with_password(), busy_timeout=config.database.busy_timeout
    )


def open_store_to_poll(config: Config) -> Store:
    """``open_store`` for `poll` and `run`, which write: a database that takes no writes (a
    missing right, a read-only database) is refused now, as waiting will not help, rather than
    failing at each poll's first commit."""
    store = open_store(config)
    try:
        refused = Store.problems(config.database.url_with_password())
    except StoreUnavailable:
        store.close()
        raise
    if refused:
        store.close()
        raise StoreUnavailable(refused[0], permanent=True)
    return store


def make_pool(config: Config) -> IsolatedPool:
    """A worker pool that holds this configuration's rules (installed before the workers fork)."""
    install_context(tuple(config.customers), limits_of(config))
    workers = config.limits.worker_count
    ceiling = cgroup_memory_limit()
    needed = workers * config.limits.pdf_memory_limit + PARENT_ALLOWANCE
    if ceiling is not None and needed > ceiling:
        log.warning(
            "this service's memory limit (%d MiB, systemd's MemoryMax or the container's) is "
            "below what its %d workers may use (%d MiB each, [limits] pdf_memory_limit, plus "
            "~300 MiB): a large PDF can get a worker killed by the kernel instead of refused "
            "by its own limit; raise the limit or lower [limits] workers",
            ceiling >> 20,
            workers,
            config.limits.pdf_memory_limit >> 20,
        )
    return IsolatedPool(processes=workers, memory_limit=config.limits.pdf_memory_limit)


def cgroup_memory_limit(
    proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """The lowest ``memory.max`` (cgroup v2) on this process's cgroup and its parents, in bytes;
    None when there is none or it cannot be read (cgroup v1, not Linux)."""
    try:
        lines = proc_cgroup.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    path = next((line[3:] for line in lines if line.startswith("0::")), None)
    if path is None:
        return None
    found: list[int] = []
    here = root / path.lstrip("/")
    while True:
        try:
            value = (here / "memory.max").read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            value = ""
        if value.isdigit():
            found.append(int(value))
        if here == root or root not in here.parents:
            break
        here = here.parent
    return min(found, default=None)


def make_poller(
    config: Config,
    store: Store,
    pool: IsolatedPool,
    *,
    stop: threading.Event | None = None,
    progress: bool = False,
    on_committed: Callable[[Sequence[ProcessedMessage]], None] | None = None,
) -> Poller:
    endpoint = endpoint_of(config)
    return Poller(
        settings=settings_of(config),
        customers=config.customers,
        limits=limits_of(config),
        store=store,
        pool=pool,
        mailbox=lambda: Mailbox(endpoint),
        stop=stop,
        progress=progress,
        on_committed=on_committed,
    )
