"""``po-watcher run``: the daemon (the one importer of apscheduler).

APScheduler 3 runs the poll every ``poll_every`` (one at a time, missed runs coalesced) and the
digest daily at ``digest_at`` in the configured time zone; a digest that fails is retried every
``DIGEST_RETRY`` until it goes out, and a digest whose time passed while the daemon was down
goes out at start. The store decides "once per local date", so clock jumps cannot send two.

Signals: SIGTERM/SIGINT set the stop flag: the poll in hand finishes its batch, commits and the
process exits 0. SIGHUP reloads the configuration; a broken one is logged and the last good one
stays in force.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from inbox_watcher.config import Config, ConfigError, load_config
from inbox_watcher.digest import send_digest
from inbox_watcher.health import HealthServer, Metrics
from inbox_watcher.instance import InstanceLock, InstanceLocked
from inbox_watcher.runtime import make_poller, make_pool, open_store

log = logging.getLogger(__name__)

DIGEST_RETRY = dt.timedelta(minutes=10)
EXIT_OK = 0
EXIT_LOCKED = 75  # EX_TEMPFAIL: another instance holds the database
EXIT_CONFIG = 78


class Service:
    def __init__(self, config: Config, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.poll_due = threading.Event()
        self.store = open_store(config)
        self.pool = make_pool(config)
        self.metrics = Metrics()
        self.scheduler = BackgroundScheduler(timezone=config.schedule.tzinfo)
        self._poll_lock = threading.Lock()

    # -- jobs -----------------------------------------------------------------------------------
    def poll_job(self) -> None:
        """One poll (on the main thread; the scheduler only marks it due)."""
        if not self._poll_lock.acquire(blocking=False):
            return
        try:
            poller = make_poller(self.config, self.store, self.pool, stop=self.stop)
            summary = poller.poll()
            self.metrics.observe_poll(summary)
            log.info(
                summary.line(),
                extra={"recorded": summary.recorded, "seconds": round(summary.seconds, 3)},
            )
        except Exception:
            self.metrics.error("poll_crashed")
            log.exception("poll failed; the next poll will try again")
        finally:
            self._poll_lock.release()

    def digest_job(self) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            result = send_digest(self.config, self.store, now=now)
        except Exception as exc:
            result = None
            log.exception("digest failed", extra={"error": str(exc)})
        ok = result is not None and getattr(result, "ok", False)
        if result is not None:
            log.info("digest", extra={"result": str(getattr(result, "summary", result))})
        if not ok and not self.stop.is_set():
            self.metrics.error("digest_failed")
            retry_at = dt.datetime.now(dt.UTC) + DIGEST_RETRY
            self.scheduler.add_job(
                self.digest_job, "date", run_date=retry_at, id="digest-retry", replace_existing=True
            )
            log.warning("digest will be retried", extra={"at": retry_at.isoformat()})

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
            self.digest_job,
            CronTrigger(hour=at.hour, minute=at.minute, timezone=sched.tzinfo),
            id="digest",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )
        if self._digest_overdue():
            # The daemon was down at digest time today: send it now (the store refuses a second
            # digest for the same local date, so this cannot double up).
            self.scheduler.add_job(self.digest_job, id="digest-catch-up", replace_existing=True)

    def _digest_overdue(self) -> bool:
        tz = self.config.schedule.tzinfo
        now = dt.datetime.now(tz)
        at = self.config.schedule.digest_at
        return (now.hour, now.minute) >= (at.hour, at.minute)

    def reload(self) -> None:
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error(
                "configuration reload refused; the last good configuration stays",
                extra={"problems": str(exc).replace("\n", " | ")},
            )
            self.metrics.error("config_reload_failed")
            return
        self.config = new
        self.schedule()
        log.warning("configuration reloaded", extra={"customers": len(new.customers)})

    def run(self) -> int:
        self.schedule()
        self.scheduler.start()
        log.warning(
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
                if self.poll_due.wait(0.2):
                    self.poll_due.clear()
                    self.poll_job()
        finally:
            self.scheduler.shutdown(wait=True)  # the poll in hand finishes and commits
            self.pool.close()
            self.store.close()
        log.warning("po-watcher stopped")
        return EXIT_OK

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested.set()
        else:
            self.stop.set()


def run_service(
    config: Config, config_path: Path, *, log_format: str = "auto", once: bool = False
) -> int:
    del log_format  # logging is configured by the CLI
    try:
        lock = InstanceLock.acquire(config)
    except InstanceLocked as exc:
        log.error(str(exc))
        print(f"po-watcher: {exc}")
        return EXIT_LOCKED
    try:
        service = Service(config, config_path)
        health: HealthServer | None = None
        port = config.service_port()
        if port:
            health = HealthServer(
                port,
                service.store,
                service.metrics,
                account=config.imap.account,
                folders=tuple(config.imap.folders),
                host=config.service.health_host,
            )
            health.start()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, service.handle)
        if once:
            service.poll_job()
            return EXIT_OK
        try:
            return service.run()
        finally:
            if health is not None:
                health.stop()
    finally:
        lock.release()


__all__: list[Any] = ["Service", "run_service"]
