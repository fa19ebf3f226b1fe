"""`po-watcher run`, the daemon, as a user runs it: a subprocess against the real Dovecot with a
one-second poll, asserted through the SQLite database, its stderr and its HTTP endpoint.

The digest's cron trigger is not waited for; `Service.digest_job` is exercised in-process against
the real SMTP sink, and the catch-up at start (digest time already past today) through the daemon.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

from inbox_watcher.config import Config, load_config
from inbox_watcher.digest import build_digest, local_date, render_text
from inbox_watcher.health import HealthServer
from inbox_watcher.runtime import make_poller, make_pool, open_store
from inbox_watcher.service import EXIT_CONFIG, EXIT_LOCKED, Service
from inbox_watcher.store import Store, StoredMessage, StoreUnavailable
from tests.servers import Dovecot, ImapUser, SmtpSink, free_port
from tests.setup_config import REPO, make_mail, write_config

T = TypeVar("T")
WORKERS = "[limits]\nworkers = 2\n"  # fewer forks at start: the daemon is up sooner
LINKED_PO = "2024-00815-MT"


# --- helpers ------------------------------------------------------------------------------------


class Daemon:
    """`po-watcher run` as a child process; stderr goes to a file so it never blocks."""

    def __init__(self, cfg: Path, *args: str, log_name: str = "daemon.log") -> None:
        self.log_path = cfg.parent / log_name
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args, "run"],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait_for_log(self, text: str, timeout: float = 20.0, *, after: int = 0) -> None:
        wait_until(lambda: text in self.logs()[after:], timeout, f"log line {text!r}", self)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Say what the daemon was doing when it did not stop (the log is gone afterwards).
            pytest.fail(f"the daemon did not stop in {timeout} s; its log:\n{self.logs()[-4000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def wait_until(
    probe: Callable[[], T | None],
    timeout: float = 20.0,
    what: str = "condition",
    daemon: Daemon | None = None,
) -> T:
    """Call `probe` every 0.1 s until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except StoreUnavailable:  # the daemon is creating the tables right now
            value = None
        if value:
            return value
        if daemon is not None and daemon.proc.poll() is not None:
            pytest.fail(
                f"daemon exited {daemon.proc.returncode} waiting for {what}:\n{daemon.logs()}"
            )
        if time.monotonic() > deadline:
            tail = daemon.logs()[-3000:] if daemon else ""
            pytest.fail(f"no {what} after {timeout}s\n{tail}")
        time.sleep(0.1)


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    """Start daemons with `daemons(cfg, *args)`; every one is killed at the end of the test."""
    started: list[Daemon] = []

    def start(cfg: Path, *args: str, log_name: str = "daemon.log") -> Daemon:
        d = Daemon(cfg, *args, log_name=log_name)
        started.append(d)
        return d

    try:
        yield start
    finally:
        for d in started:
            d.kill()


def records(tmp_path: Path) -> list[StoredMessage]:
    if not (tmp_path / "state.db").exists():
        return []
    # create=False: never race the daemon creating the tables (a missing table reads as
    # StoreUnavailable, which wait_until treats as "not yet")
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", create=False) as store:
        return list(store.messages())


def by_subject(tmp_path: Path) -> dict[str, StoredMessage]:
    return {m.subject: m for m in records(tmp_path)}


def recorded(tmp_path: Path, subject: str) -> Callable[[], StoredMessage | None]:
    return lambda: by_subject(tmp_path).get(subject)


def cli(cfg: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def seed_pos(tmp_path: Path) -> None:
    from inbox_watcher.model import PoRecord

    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.upsert_pos([PoRecord(LINKED_PO, "westside")])


def http_get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


GLOBEX = """name = "Globex Corporation"
senders = ["*@globex.example"]

[po]
pattern = 'GLX-\\d{4}'
"""


# --- polling --------------------------------------------------------------------------------------


def test_new_mail_is_picked_up_while_running(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    cfg = write_config(tmp_path, imap_user, extra=WORKERS)
    seed_pos(tmp_path)
    dovecot.append(imap_user.username, "INBOX", [make_mail("first", f"PO {LINKED_PO}")])
    d = daemons(cfg)
    wait_until(recorded(tmp_path, "first"), what="the first message", daemon=d)
    appended = time.monotonic()
    dovecot.append(imap_user.username, "INBOX", [make_mail("second", "PO 2024-09999-MT")])
    second = wait_until(recorded(tmp_path, "second"), 10, "the new message", d)
    assert time.monotonic() - appended < 10
    assert second.status.value == "unknown"
    assert by_subject(tmp_path)["first"].status.value == "linked"
    assert d.stop() == 0
    assert len(records(tmp_path)) == 2


def test_sigterm_mid_poll_exits_0_and_loses_nothing(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    cfg = write_config(tmp_path, imap_user, batch_size=5, extra=WORKERS)
    n = 300
    subjects = [f"t{i} PO {LINKED_PO}" for i in range(n)]
    dovecot.append(
        imap_user.username, "INBOX", [make_mail(s, seq=i) for i, s in enumerate(subjects)]
    )
    d = daemons(cfg)
    wait_until(lambda: len(records(tmp_path)) > 0, what="a first batch", daemon=d)
    d.signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert d.proc.wait(15) == 0, d.logs()
    assert time.monotonic() - stopped_at < 10
    partial = [m.subject for m in records(tmp_path)]
    assert len(partial) < n, "the poll finished before SIGTERM; make the mailbox larger"
    assert len(partial) == len(set(partial))
    assert "po-watcher stopped" in d.logs()
    done = cli(cfg, "poll")
    assert done.returncode == 0, done.stderr
    assert sorted(m.subject for m in records(tmp_path)) == sorted(subjects)


# --- configuration: start and reload --------------------------------------------------------------


def test_sighup_with_a_broken_config_keeps_the_last_good_one(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    cfg = write_config(tmp_path, imap_user, extra=WORKERS)
    seed_pos(tmp_path)
    d = daemons(cfg, "--log-level", "INFO")
    d.wait_for_log("po-watcher running")
    westside = tmp_path / "customers" / "westside.toml"
    good = westside.read_text(encoding="utf-8")
    westside.write_text(good.replace("(?P<year>20\\d{2})", "(?P<year>20\\d{2}"), encoding="utf-8")
    assert cli(cfg, "check").returncode != 0  # really broken
    mark = len(d.logs())
    d.signal(signal.SIGHUP)
    d.wait_for_log("configuration reload refused", after=mark)
    assert "westside.toml" in d.logs()[mark:]
    dovecot.append(imap_user.username, "INBOX", [make_mail("after", "PO 2024/815/mt")])
    after = wait_until(recorded(tmp_path, "after"), what="mail after the refused reload", daemon=d)
    assert after.status.value == "linked"  # the old westside rules still normalise it
    assert after.po_numbers == (LINKED_PO,)
    assert d.proc.poll() is None

    def watcher_line() -> str:
        good_config = load_config(cfg, skip_broken_customers=True)
        with open_store(good_config) as store:
            text = render_text(build_digest(good_config, store, now=dt.datetime.now(dt.UTC)))
        (line,) = [x for x in text.splitlines() if "The watcher:" in x]
        return line

    # the next digest's health section says a reload was refused, and, once a sound file was
    # loaded, that this is over (an admin reading it next morning looks for no broken file)
    assert "a changed configuration was refused; the last good one kept" in watcher_line()
    assert "(over" not in watcher_line()
    westside.write_text(good, encoding="utf-8")
    mark = len(d.logs())
    d.signal(signal.SIGHUP)
    d.wait_for_log("configuration reloaded", after=mark)
    assert watcher_line().endswith("(over: a sound configuration was loaded since)")
    assert d.stop() == 0


def test_sighup_with_a_good_config_takes_effect(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    cfg = write_config(tmp_path, imap_user, extra=WORKERS)
    d = daemons(cfg, "--log-level", "INFO")
    dovecot.append(
        imap_user.username, "INBOX", [make_mail("before", "PO GLX-1234", sender="a@globex.example")]
    )
    before = wait_until(recorded(tmp_path, "before"), what="mail before the reload", daemon=d)
    assert before.customer is None
    (tmp_path / "customers" / "globex.toml").write_text(GLOBEX, encoding="utf-8")
    mark = len(d.logs())
    d.signal(signal.SIGHUP)
    d.wait_for_log("configuration reloaded", after=mark)
    dovecot.append(
        imap_user.username, "INBOX", [make_mail("after", "PO GLX-5678", sender="a@globex.example")]
    )
    after = wait_until(recorded(tmp_path, "after"), what="mail after the reload", daemon=d)
    assert after.customer == "globex"
    assert [j.candidate.normalized for j in after.candidates] == ["GLX-5678"]
    assert d.stop() == 0


def test_broken_config_at_start_exits_78_with_the_lines_of_check(
    imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, extra='[service]\nhealth_port = "many"\n')
    (tmp_path / "customers" / "acme.toml").write_text(
        'name = "Acme"\nsenders = ["*@acme.example"]\n[po]\npattern = "ACME-(\\\\d+"\n',
        encoding="utf-8",
    )
    run = cli(cfg, "run", timeout=30)
    check = cli(cfg, "check", timeout=30)
    assert run.returncode == EXIT_CONFIG == 78
    assert check.returncode == 2
    # the lines of check, then what became of the daemon
    assert run.stderr == check.stderr + "po-watcher did not start: fix the configuration above\n"
    lines = run.stderr.splitlines()
    assert any("acme.toml" in line for line in lines), run.stderr
    assert any("health_port" in line for line in lines), run.stderr
    assert not (tmp_path / "state.db").exists()


def test_second_instance_on_the_same_sqlite_refuses(
    imap_user: ImapUser, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    cfg = write_config(tmp_path, imap_user, extra=WORKERS)
    first = daemons(cfg)
    first.wait_for_log("po-watcher running")
    second = daemons(cfg, log_name="second.log")
    assert second.proc.wait(30) == EXIT_LOCKED == 75
    text = second.logs()
    assert "already running" in text
    assert str(tmp_path / "state.db") in text
    assert f"pid {first.proc.pid}" in text
    assert first.proc.poll() is None
    assert first.stop() == 0
    third = daemons(cfg, log_name="third.log")  # the lock went with the first
    third.wait_for_log("po-watcher running")
    third.signal(signal.SIGINT)  # Ctrl-C stops it as cleanly as SIGTERM
    assert third.proc.wait(15) == 0
    assert "po-watcher stopped" in third.logs()
    assert "Traceback" not in third.logs()


# --- logs and health ------------------------------------------------------------------------------


def test_json_logs_carry_keys_and_statuses_never_bodies(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    cfg = write_config(tmp_path, imap_user, extra=WORKERS)
    marker = "Zyxwquartz" + os.urandom(4).hex()
    dovecot.append(
        imap_user.username,
        "INBOX",
        [
            make_mail("with body", f"PO 2024-09999-MT\n{marker} secret contents\n"),
            make_mail("html only", html=f"<p>{marker}</p><p>P.O. 12</p>", body=marker),
        ],
    )
    d = daemons(cfg, "--log-format", "json", "--log-level", "DEBUG")
    wait_until(lambda: len(records(tmp_path)) == 2, what="both messages", daemon=d)
    d.signal(signal.SIGHUP)
    d.wait_for_log("configuration reloaded")
    assert d.stop() == 0
    text = d.logs()
    assert marker not in text
    assert imap_user.password not in text
    events = [json.loads(line) for line in text.splitlines()]  # every line is one object
    assert all(isinstance(e, dict) and {"time", "level", "event"} <= e.keys() for e in events)
    recorded_events = [e for e in events if e["event"] == "recorded"]
    assert len(recorded_events) == 2
    stored = {str(m.key): m.status.value for m in records(tmp_path)}
    assert {e["key"]: e["status"] for e in recorded_events} == stored
    # an unknown PO is named in its log line, though nothing is linked
    assert any(e["found"] == "2024-09999-MT" and e["po"] == "" for e in recorded_events)
    # what reading each message cost, to find a slow kind of mail in the log
    for e in recorded_events:
        assert e["bytes"] > 100
        assert isinstance(e["cpu_ms"], float)
        assert e["cpu_ms"] >= 0


def test_healthz_and_metrics(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    port = free_port()
    cfg = write_config(
        tmp_path,
        imap_user,
        folders=("INBOX", "Orders"),
        extra=f"{WORKERS}\n[service]\nhealth_port = {port}\n",
    )
    dovecot.create_folder(imap_user.username, "Orders")
    seed_pos(tmp_path)
    dovecot.append(
        imap_user.username,
        "INBOX",
        [make_mail("a", f"PO {LINKED_PO}"), make_mail("b", "PO 2024-09999-MT")],
    )
    dovecot.append(imap_user.username, "Orders", [make_mail("c", "nothing here")])
    started = dt.datetime.now(dt.UTC)
    d = daemons(cfg)

    def healthy() -> dict[str, Any] | None:
        try:
            code, body = http_get(port, "/healthz")
        except OSError:  # not listening yet
            return None
        doc: dict[str, Any] = json.loads(body)
        return doc if code == 200 else None

    doc = wait_until(healthy, what="a healthy /healthz", daemon=d)
    assert doc["status"] == "ok"
    assert set(doc["folders"]) == {"INBOX", "Orders"}
    for folder in ("INBOX", "Orders"):
        last = dt.datetime.fromisoformat(doc["folders"][folder]["last_success"])
        assert started - dt.timedelta(seconds=1) <= last <= dt.datetime.now(dt.UTC)
    wait_until(lambda: len(records(tmp_path)) == 3, what="three records", daemon=d)
    code, metrics = http_get(port, "/metrics")
    assert code == 200
    lines = set(metrics.splitlines())
    assert 'po_watcher_messages{status="linked"} 1' in lines
    assert 'po_watcher_messages{status="unknown"} 1' in lines
    assert 'po_watcher_messages{status="missing"} 1' in lines
    assert any(line.startswith("po_watcher_poll_duration_seconds ") for line in lines)
    assert http_get(port, "/nope")[0] == 404

    # A folder that goes missing on the server turns the health to degraded (503).
    dovecot.delete_folder(imap_user.username, "Orders")

    def degraded() -> dict[str, Any] | None:
        code, body = http_get(port, "/healthz")
        doc: dict[str, Any] = json.loads(body)
        return doc if code == 503 else None

    doc = wait_until(degraded, 30, "a degraded /healthz", d)
    assert doc["folders"]["Orders"]["last_error"]
    assert doc["folders"]["INBOX"]["last_error"] is None
    # (the poll's summary reaches the metrics when the poll ends, just after /healthz sees it)
    wait_until(
        lambda: 'po_watcher_errors_total{kind="folder"}' in http_get(port, "/metrics")[1],
        what="a folder error in /metrics",
        daemon=d,
    )
    assert d.stop() == 0


def test_health_port_taken_refuses_with_a_clear_message(
    imap_user: ImapUser, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = write_config(
            tmp_path, imap_user, extra=f"{WORKERS}\n[service]\nhealth_port = {port}\n"
        )
        run = cli(cfg, "run", timeout=30)
    assert run.returncode == EXIT_LOCKED
    assert f"127.0.0.1:{port}" in run.stderr
    assert "health_port" in run.stderr
    assert "Traceback" not in run.stderr


# --- the digest -----------------------------------------------------------------------------------


def _poll_once(cfg: Path) -> None:
    config = load_config(cfg)
    store = open_store(config)
    try:
        with make_pool(config) as pool:
            make_poller(config, store, pool).poll()
    finally:
        store.close()


def test_digest_job_failure_is_retried_and_not_marked_sent(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    cfg = write_config(tmp_path, imap_user, smtp_port=smtp_sink.port, extra=WORKERS)
    dovecot.append(imap_user.username, "INBOX", [make_mail("needs a person", "PO 2024-09999-MT")])
    _poll_once(cfg)
    config = load_config(cfg)
    service = Service(config, cfg)
    try:
        day = local_date(config, dt.datetime.now(dt.UTC)).isoformat()
        smtp_sink.stop()  # the mail server is down
        service.digest_job()
        retry = service.scheduler.get_job("digest-retry")
        assert retry is not None
        # The scheduler's thread only marks the digest due; the main thread sends it.
        assert retry.func == service.digest_due.set
        service.schedule()
        assert {job.func for job in service.scheduler.get_jobs()} == {
            service.poll_due.set,
            service.digest_due.set,
        }
        assert not service.store.digest_sent_on(day)
        assert [m.subject for m in service.store.undigested_flags()] == ["needs a person"]

        smtp_sink.start()
        service.digest_job()  # what the retry runs
        (mail,) = smtp_sink.wait_for(1)
        assert "needs a person" in message_from_bytes(mail.data).as_string()
        assert service.store.digest_sent_on(day)
        assert service.store.undigested_flags() == []
        assert service.scheduler.get_job("digest-retry") is None

        service.digest_job()  # a late retry or a second trigger the same day sends nothing
        time.sleep(0.3)
        assert len(smtp_sink.messages) == 1
    finally:
        service.pool.close()
        service.store.close()


def _zone_at_midday() -> str:
    """An IANA fixed-offset zone where it is now about noon, so "a minute ago" is today."""
    offset = 12 - dt.datetime.now(dt.UTC).hour  # hours east of UTC, -11..12
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # Etc/ signs are inverted


def _config_with_digest_a_minute_ago(tmp_path: Path, imap_user: ImapUser, sink: SmtpSink) -> Path:
    """A configuration whose digest time passed a minute ago, today, in a zone where it is
    about noon now."""
    from zoneinfo import ZoneInfo

    zone = _zone_at_midday()
    cfg = write_config(tmp_path, imap_user, smtp_port=sink.port, extra=WORKERS)
    a_minute_ago = (dt.datetime.now(ZoneInfo(zone)) - dt.timedelta(minutes=1)).strftime("%H:%M")
    text = cfg.read_text(encoding="utf-8")
    text = text.replace('digest_at = "07:00"', f'digest_at = "{a_minute_ago}"')
    text = text.replace('timezone = "UTC"', f'timezone = "{zone}"')
    cfg.write_text(text, encoding="utf-8")
    return cfg


def test_digest_overdue_at_start_is_sent_once(
    dovecot: Dovecot,
    imap_user: ImapUser,
    tmp_path: Path,
    smtp_sink: SmtpSink,
    daemons: Callable[..., Daemon],
) -> None:
    cfg = _config_with_digest_a_minute_ago(tmp_path, imap_user, smtp_sink)
    config = load_config(cfg)
    # In service since yesterday (its digest run then was left pending): today's was missed.
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with Store.open(config.database.url, clock=lambda: yesterday) as store:
        assert store.start_digest(local_date(config, yesterday).isoformat()) is not None
    dovecot.append(imap_user.username, "INBOX", [make_mail("flag me", "no number at all")])

    d = daemons(cfg, "--log-level", "INFO")
    (mail,) = smtp_sink.wait_for(1, timeout=20)
    assert "flag me" in message_from_bytes(mail.data).as_string()
    assert mail.rcpt_tos == ("ap@example.com",)
    assert d.stop() == 0

    again = daemons(cfg, "--log-level", "INFO", log_name="again.log")
    again.wait_for_log("already sent")  # the catch-up ran and the store refused a second
    assert again.stop() == 0
    assert len(smtp_sink.messages) == 1
    with Store.open(config.database.url) as store:
        assert store.digest_sent_on(local_date(config, dt.datetime.now(dt.UTC)).isoformat())


def test_new_install_after_digest_time_waits_for_the_next_digest(
    dovecot: Dovecot,
    imap_user: ImapUser,
    tmp_path: Path,
    smtp_sink: SmtpSink,
    daemons: Callable[..., Daemon],
) -> None:
    """A first start after today's digest time missed nothing: no digest minutes after the
    first poll of a backlog; the log says when the first one goes out."""
    cfg = _config_with_digest_a_minute_ago(tmp_path, imap_user, smtp_sink)
    config = load_config(cfg)
    dovecot.append(imap_user.username, "INBOX", [make_mail("flag me", "no number at all")])

    d = daemons(cfg, "--log-level", "INFO")
    d.wait_for_log("the first digest goes out at the next digest_at")
    assert d.stop() == 0
    assert smtp_sink.messages == []
    with Store.open(config.database.url) as store:
        assert [m.subject for m in store.undigested_flags()] == ["flag me"]
        assert not store.digest_sent_on(local_date(config, dt.datetime.now(dt.UTC)).isoformat())


@contextlib.contextmanager
def service_with_health(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> Iterator[tuple[Config, Service, HealthServer]]:
    """An in-process service (its polls run by the test) with /healthz, one order waiting."""
    cfg = write_config(tmp_path, imap_user, extra=WORKERS)
    dovecot.append(imap_user.username, "INBOX", [make_mail("an order", "PO 2024-00815-MT")])
    config = load_config(cfg)
    service = Service(config, cfg)
    health = HealthServer(
        0, service.store, service.metrics, account=config.imap.account, folders=("INBOX",)
    )
    try:
        yield config, service, health
    finally:
        health.server.server_close()
        service.pool.close()
        service.store.close()


def test_a_database_file_deleted_under_the_daemon_stops_its_polls_and_says_so(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    """An admin deletes (or moves) the live SQLite file: a poll would write into a file no one
    can open again, so none is made; /healthz names the file; putting it back lets polls on."""
    from inbox_watcher.instance import sqlite_path

    with service_with_health(dovecot, imap_user, tmp_path) as (config, service, health):
        path = sqlite_path(config.database.url)
        assert path is not None
        service.poll_job()
        assert health.healthz()[0] == 200
        path.rename(path.with_name("moved.db"))
        dovecot.append(imap_user.username, "INBOX", [make_mail("another", "PO 2024-00816-MT")])
        service.poll_job()
        code, body, _ = health.healthz()
        assert code == 503
        assert f"the database file {path} is gone" in json.loads(body)["problems"]["poll"]
        path.with_name("moved.db").rename(path)
        service.poll_job()
        assert health.healthz()[0] == 200
        assert sorted(m.subject for m in records(tmp_path)) == ["an order", "another"]


def test_a_poll_the_database_refuses_makes_healthz_degraded_until_one_succeeds(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: reads work, writes fail, so the folders' states still look fine; the
    failed poll itself must make /healthz say so."""
    with service_with_health(dovecot, imap_user, tmp_path) as (config, service, health):
        service.poll_job()  # a good poll first: the folder's state is fine
        assert health.healthz()[0] == 200

        def full(*_: Any, **__: Any) -> int:
            raise StoreUnavailable("database or disk is full")

        monkeypatch.setattr(service.store, "record", full)
        dovecot.append(imap_user.username, "INBOX", [make_mail("another", "PO 2024-00816-MT")])
        service.poll_job()
        code, body, _ = health.healthz()
        assert code == 503
        assert "database or disk is full" in json.loads(body)["problems"]["poll"]
        monkeypatch.undo()
        service.poll_job()
        assert health.healthz()[0] == 200
        # once over, the digest's health section says it happened
        digest = build_digest(config, service.store, now=dt.datetime.now(dt.UTC))
        (line,) = [x for x in render_text(digest).splitlines() if "The watcher" in x]
        assert "polls failed for a while and recorded nothing (it caught up after)" in line
        assert "database or disk is full" in line
