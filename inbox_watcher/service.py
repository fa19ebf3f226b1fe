"""``po-watcher run``: the daemon (the one importer of apscheduler).

APScheduler 3 runs the poll every ``poll_every`` (one at a time, missed runs coalesced) and the
digest daily at ``digest_at`` in the configured time zone; a digest that fails is retried every
``DIGEST_RETRY`` until it goes out, and a digest whose time passed today while the daemon was down
goes out right after the first poll (so it includes the mail that came in meanwhile), unless the
database was first written after today's digest time (a new install). The store
decides "once per local date", so restarts and clock jumps cannot send two.

The scheduler's thread only marks a poll or a digest due; both run on the main thread, one after
the other. So polls and digests use the store from one thread, and a stop never waits on a
thread it cannot see: at most for the poll's batch or the digest in hand.

Signals: SIGTERM/SIGINT set the stop flag: the poll in hand finishes its batch, commits and the
process exits 0. SIGHUP reloads the configuration; a broken one is logged and the last good one
stays in force. The database and the health endpoint's port are fixed at start (a change to them
is logged as needing a restart).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from inbox_watcher.config import Config, ConfigError, load_config
from inbox_watcher.digest import CONFIG_LOADED, DigestResult, local_date, send_digest
from inbox_watcher.health import HealthServer, Metrics
from inbox_watcher.instance import (
    InstanceLock,
    InstanceLockError,
    LockFileUnusable,
    sqlite_path,
)
from inbox_watcher.runtime import make_poller, make_pool, open_store_to_poll
from inbox_watcher.store import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

DIGEST_RETRY = dt.timedelta(minutes=10)
EXIT_OK = 0
EXIT_LOCKED = 75  # EX_TEMPFAIL: another instance holds the database, or the health port is taken
EXIT_CANTCREAT = 73  # EX_CANTCREAT: the lock file next to the database cannot be created
EXIT_CONFIG = 78
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
RETRY_JOB = "digest-retry"


class Service:
    def __init__(self, config: Config, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.poll_due = threading.Event()
        self.digest_due = threading.Event()
        self.store = open_store_to_poll(config)
        with contextlib.suppress(StoreError):  # started on a sound configuration
            self.store.add_feed_event(CONFIG_LOADED)
        self.pool = make_pool(config)
        self.metrics = Metrics()
        self.scheduler = BackgroundScheduler(timezone=config.schedule.tzinfo)
        self.health: HealthServer | None = None
        self._poll_lock = threading.Lock()
        self._polled_once = False
        self._failing: tuple[dt.datetime, str] | None = None  # polls failing since, and why

    # -- jobs -----------------------------------------------------------------------------------
    def poll_job(self) -> None:
        """One poll (on the main thread; the scheduler only marks it due)."""
        if not self._poll_lock.acquire(blocking=False):
            return
        try:
            self._database_still_there()
            poller = make_poller(self.config, self.store, self.pool, stop=self.stop)
            summary = poller.poll()
            self.metrics.observe_poll(summary)
            self.metrics.problem("poll", None)
            self._polls_work_again()
            log.info(
                summary.line(),
                extra={"recorded": summary.recorded, "seconds": round(summary.seconds, 3)},
            )
        except StoreUnavailable as exc:  # down, restarting, a refused login: said in one line
            self.metrics.error("database_unavailable")
            # /healthz says so: the folders' states cannot, when the database takes no writes
            self.metrics.problem("poll", f"the last poll failed: the database is not usable: {exc}")
            self._poll_failed(f"the database is not usable: {exc}")
            log.error(
                "poll failed: the database refuses; waiting will not help (the next poll tries "
                "again, for a fix made meanwhile)"
                if exc.permanent
                else "poll failed: the database is not usable now; the next poll will try again",
                extra={"error": str(exc)},
            )
        except Exception as exc:
            self.metrics.error("poll_crashed")
            self.metrics.problem("poll", f"the last poll failed: {exc}")
            self._poll_failed(str(exc))
            log.exception("poll failed; the next poll will try again")
        finally:
            self._poll_lock.release()

    def _database_still_there(self) -> None:
        """A SQLite file deleted or moved while the daemon runs: what it wrote now would go into
        a file no one can open again, so polls stop until it is back (a restart on a restored
        file, or the file put back)."""
        path = sqlite_path(self.config.database.url)
        if path is not None and not path.exists():
            raise StoreUnavailable(
                f"the database file {path} is gone (deleted or moved while po-watcher ran): "
                "nothing is polled into it; put it back or restore a backup, then restart",
                permanent=True,
            )

    def _poll_failed(self, why: str) -> None:
        if self._failing is None:
            self._failing = (dt.datetime.now(dt.UTC), why)

    def _polls_work_again(self) -> None:
        """After polls that failed as a whole (nothing could be written then), the digest's
        health section learns of them."""
        if self._failing is None:
            return
        since, why = self._failing
        self._failing = None
        detail = f"from {since:%Y-%m-%d %H:%M} UTC: {why}"
        with contextlib.suppress(StoreError):
            self.store.add_feed_event("polls_failed", detail=detail[:500])

    def digest_job(self) -> None:
        """Send today's digest (the store refuses a second one for the same local date). On
        failure nothing is marked sent and a retry is scheduled; on success a pending retry is
        dropped."""
        now = dt.datetime.now(dt.UTC)
        result: DigestResult | None
        try:
            result = send_digest(self.config, self.store, now=now)
        except Exception as exc:  # a job boundary: logged with the traceback, then retried
            result = None
            log.exception("digest failed", extra={"error": str(exc)})
        if result is not None:
            level = logging.INFO if result.ok else logging.ERROR
            log.log(level, result.summary, extra={"digest": result.status})
        if result is not None and result.ok:
            self._drop_job(RETRY_JOB)
            self.metrics.problem("digest", None)
            return
        self.metrics.error("digest_failed")
        self.metrics.problem(
            "digest", result.summary if result is not None else "the digest failed (see the log)"
        )
        if self.stop.is_set():
            return
        retry_at = dt.datetime.now(dt.UTC) + DIGEST_RETRY
        self.scheduler.add_job(
            self.digest_due.set, "date", run_date=retry_at, id=RETRY_JOB, replace_existing=True
        )
        log.warning("digest will be retried", extra={"at": retry_at.isoformat()})

    def _drop_job(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):  # not scheduled, or it is the one running now
            self.scheduler.remove_job(job_id)

    # -- lifecycle --------------------------------------------------------------------------------
    def schedule(self) -> None:
        sched = self.config.schedule
        self.scheduler.add_job(
            self.poll_due.set,
            IntervalTrigger(seconds=max(1.0, sched.poll_every)),
            id="poll",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=dt.datetime.now(dt.UTC),
            replace_existing=True,
        )
        at = sched.digest_at
        self.scheduler.add_job(
            self.digest_due.set,
            CronTrigger(hour=at.hour, minute=at.minute, timezone=sched.tzinfo),
            id="digest",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )

    def catch_up_digest(self) -> None:
        """When today's digest time has passed and no digest went out today (the daemon was
        down, or ``digest_at`` moved earlier on reload), send it now (next on the main thread).
        Not when this database was first written after today's digest time (a new install)."""
        tz = self.config.schedule.tzinfo
        now = dt.datetime.now(tz)
        at = self.config.schedule.digest_at
        if (now.hour, now.minute) < (at.hour, at.minute):
            return
        day = local_date(self.config, now).isoformat()
        try:
            if self.store.digest_sent_on(day):
                log.info("today's digest was already sent", extra={"date": day})
                return
            since = self.store.watching_since()
        except StoreUnavailable as exc:  # the digest job asks the store again, and retries
            log.warning("cannot tell whether today's digest was sent", extra={"error": str(exc)})
            since = None
        due = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
        if since is not None and since >= due:
            # A new install (or a new database) was not watching at today's digest time: nothing
            # was missed, and a digest minutes after the first poll of a backlog surprises.
            log.info(
                "watching since after today's digest time: the first digest goes out at the next "
                "digest_at ('po-watcher digest' sends one now)",
                extra={"since": since.isoformat(), "digest_at": at.strftime("%H:%M")},
            )
            return
        log.info("the digest time has passed today: sending it now", extra={"date": day})
        self.digest_due.set()

    def reload(self) -> None:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error(
                "configuration reload refused; the last good configuration stays",
                extra={"problems": str(exc).replace("\n", " | ")},
            )
            self.metrics.error("config_reload_failed")
            self.metrics.problem(
                "config", f"a reload was refused; the last good configuration runs: {exc}"
            )
            with contextlib.suppress(StoreError):
                self.store.add_feed_event("config_refused", detail=str(exc)[:500])
            return
        old = self.config
        if new.database.url_with_password() != old.database.url_with_password():
            log.warning("database.url changed: it takes effect at the next restart")
        if new.service_port() != old.service_port() or (
            new.service.health_host != old.service.health_host
        ):
            log.warning("[service] health endpoint changed: it takes effect at the next restart")
        self.config = new
        self.metrics.problem("config", None)
        with contextlib.suppress(StoreError):  # a refusal the digest names is over now
            self.store.add_feed_event(CONFIG_LOADED)
        # Workers hold the rules they were forked with: a new pool holds the new ones.
        stale_pool, self.pool = self.pool, make_pool(new)
        stale_pool.close()
        if self.health is not None:
            self.health.watch(new.imap.account, tuple(new.imap.folders))
        self.schedule()
        if self._polled_once:
            self.catch_up_digest()
        log.info(
            "configuration reloaded",
            extra={
                "customers": len(new.customers),
                "folders": ",".join(new.imap.folders),
            },
        )

    def run(self) -> int:
        self.schedule()
        self.scheduler.start()
        log.info(
            "po-watcher running",
            extra={
                "folders": ",".join(self.config.imap.folders),
                "account": self.config.imap.account,
            },
        )
        try:
            # Polls run on this (the main) thread: the worker processes are forked from it and
            # tied to its life, and a signal finds the poll loop where it checks the stop flag.
            while not self.stop.is_set():
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.reload()
                if self.digest_due.is_set() and not self.stop.is_set():
                    self.digest_due.clear()
                    self.digest_job()
                if self.poll_due.wait(0.2):
                    self.poll_due.clear()
                    self.poll_job()
                    if not self._polled_once and not self.stop.is_set():
                        self._polled_once = True
                        self.catch_up_digest()
        finally:
            self.scheduler.shutdown(wait=True)  # its jobs only set flags
            self.close()
        log.info("po-watcher stopped")
        return EXIT_OK

    def close(self) -> None:
        if self.health is not None:
            self.health.stop()
            self.health = None
        self.pool.close()
        self.store.close()

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested.set()
        else:
            self.stop.set()


def run_service(
    config: Config, config_path: Path, *, log_format: str = "auto", once: bool = False
) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the process's exit code."""
    del log_format  # logging is configured by the CLI
    # Signals that arrive while starting up are kept and handled once the service exists (a
    # SIGHUP's default action would kill the process, a SIGTERM's would skip the clean-up).
    early: list[int] = []
    previous = {sig: signal.signal(sig, lambda n, _f: early.append(n)) for sig in SIGNALS}
    try:
        return _run_locked(config, config_path, early, once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_locked(config: Config, config_path: Path, early: list[int], *, once: bool) -> int:
    try:
        lock = InstanceLock.acquire(config)
    except InstanceLockError as exc:
        log.error(str(exc))
        return EXIT_CANTCREAT if isinstance(exc, LockFileUnusable) else EXIT_LOCKED
    try:
        try:
            service = Service(config, config_path)
        except StoreUnavailable as exc:
            if exc.permanent:  # waiting will not help: no restart loop under systemd (78)
                log.error(
                    f"cannot open the database: {exc}; fix [database] or the database server, "
                    "then start again"
                )
                return EXIT_CONFIG
            log.error(f"cannot open the database: {exc}")
            return EXIT_LOCKED
        for sig in SIGNALS:
            signal.signal(sig, service.handle)
        for signum in early:
            service.handle(signum, None)
        try:
            service.health = _health_server(config, service)
        except OSError as exc:
            service.close()
            log.error(
                f"cannot serve /healthz on {config.service.health_host}:{config.service_port()}: "
                f"{exc.strerror or exc} ([service] health_port)"
            )
            return EXIT_LOCKED
        if once:
            try:
                service.poll_job()
            finally:
                service.close()
            return EXIT_OK
        return service.run()
    finally:
        lock.release()


def _health_server(config: Config, service: Service) -> HealthServer | None:
    port = config.service_port()
    if not port:
        return None
    server = HealthServer(
        port,
        service.store,
        service.metrics,
        account=config.imap.account,
        folders=tuple(config.imap.folders),
        host=config.service.health_host,
    )
    server.start()
    return server


__all__: list[Any] = ["Service", "run_service"]
