"""The composition root: config in, wired mailbox, store, worker pool and poller out."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from extractors.pdf_extract import PdfLimits
from inbox_watcher.config import Config
from inbox_watcher.isolation import IsolatedPool
from inbox_watcher.logs import register_secret
from inbox_watcher.mailbox import ImapEndpoint, Mailbox
from inbox_watcher.mime import MimeLimits
from inbox_watcher.model import ProcessedMessage
from inbox_watcher.pipeline import Limits, install_context
from inbox_watcher.poller import FolderAction, Poller, PollSettings
from inbox_watcher.store import Store


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


def open_store(config: Config) -> Store:
    return Store.open(
        config.database.url_with_password(), busy_timeout=config.database.busy_timeout
    )


def make_pool(config: Config) -> IsolatedPool:
    """A worker pool that holds this configuration's rules (installed before the workers fork)."""
    install_context(tuple(config.customers), limits_of(config))
    workers = config.limits.workers or (os.cpu_count() or 1)
    return IsolatedPool(processes=workers, memory_limit=config.limits.pdf_memory_limit)


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
