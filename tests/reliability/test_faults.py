"""Fault scenarios against real servers; ``check_invariants`` after each one.

Each test breaks something real (a process killed at a commit, Dovecot or PostgreSQL stopped, a
TCP connection cut inside a FETCH, a full file system, a moved clock...), lets po-watcher recover,
and then checks the invariants of ``tests/reliability/invariants.py``: every message on the server
recorded exactly once, nothing doubled, digests once per local date, and a further poll that
changes nothing.

Scenarios already covered in ``tests/test_poll.py`` (one ``kill -9``, crash hook at commits 1..3,
one Dovecot restart, TLS wrong CA / wrong host with ``ssl``, a folder missing from the start) are
generalised here rather than repeated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import pytest

import inbox_watcher.pipeline
from extractors.types import Email
from inbox_watcher.config import load_config
from inbox_watcher.digest import send_digest
from inbox_watcher.mime import MimeLimits, read_message
from inbox_watcher.model import PoRecord, ProcessedMessage, Status
from inbox_watcher.poller import Poller, PollSummary
from inbox_watcher.runtime import make_poller, make_pool, open_store
from inbox_watcher.store import Store, StoreUnavailable
from tests.ci import skip_or_fail
from tests.reliability.invariants import check_invariants, poll_config
from tests.servers import Dovecot, ImapUser, Postgres, SmtpSink
from tests.setup_config import REPO, make_mail, write_config

POS = [
    PoRecord("2024-00815-MT", "westside", amount=Decimal("10.00"), currency="GBP"),
    PoRecord("2024-00816-MT", "westside"),
]
BODIES = (
    "Please ship against PO 2024-00815-MT.",  # linked
    "Our PO 2024-09999-MT is attached.",  # unknown
    "Thanks for the delivery last week.",  # missing
    "P.O. No. 2024-0815-M please confirm",  # malformed
)


# --- set-up helpers -------------------------------------------------------------------------------


def mails(count: int, *, start: int = 0, tag: str = "m", size: int = 0) -> list[bytes]:
    """Test messages whose subject carries their sequence number (also in X-Test-Seq); a mix of
    linked, unknown, missing and malformed. ``size`` pads the body (bytes) for a long FETCH."""
    padding = b"filler text line\n" * (size // 17)
    return [
        make_mail(f"{tag} #{i}", BODIES[i % len(BODIES)], seq=i) + padding
        for i in range(start, start + count)
    ]


def setup(
    tmp: Path,
    user: ImapUser,
    *,
    batch_size: int = 50,
    folders: tuple[str, ...] = ("INBOX",),
    database_url: str | None = None,
    smtp_port: int = 25,
    timeout: str = "2s",
    limits: str = "",
) -> Path:
    """write_config with a short IMAP timeout and two workers; the PO records seeded."""
    path = write_config(
        tmp,
        user,
        batch_size=batch_size,
        folders=folders,
        database_url=database_url,
        smtp_port=smtp_port,
        extra=f"[limits]\nworkers = 2\n{limits}\n",
    )
    text = path.read_text(encoding="utf-8").replace('timeout = "5s"', f'timeout = "{timeout}"', 1)
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    with Store.open(config.database.url_with_password()) as store:
        store.upsert_pos(POS)
    return path


def edit_imap(path: Path, **values: str | int) -> None:
    """Replace (or add) keys of the [imap] section of a written watcher.toml."""
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("[database]")
    for key, value in values.items():
        line = f"{key} = {json.dumps(value)}"
        pattern = re.compile(rf"^{key} = .*$", re.MULTILINE)
        head = pattern.sub(line, head) if pattern.search(head) else head.rstrip() + f"\n{line}\n\n"
    path.write_text(head + sep + rest, encoding="utf-8")


def db_path(cfg: Path) -> Path:
    return cfg.parent / "state.db"


def count_records(db: Path) -> int:
    """Records in a SQLite state file, read without the store (0 before the tables exist)."""
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            return int(conn.execute("SELECT count(*) FROM message").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def fast(poller: Poller, *, retries: int = 2) -> Poller:
    """Reconnect quickly: the production back-off (1 s doubling, 4 tries) is for real outages."""
    poller.settings = dataclasses.replace(
        poller.settings, retries=retries, backoff_first=0.05, backoff_max=0.2
    )
    return poller


def poll_with(
    cfg: Path,
    store: Store,
    *,
    retries: int = 2,
    on_committed: Callable[[Sequence[ProcessedMessage]], None] | None = None,
) -> PollSummary:
    config = load_config(cfg)
    with make_pool(config) as pool:
        return fast(
            make_poller(config, store, pool, on_committed=on_committed), retries=retries
        ).poll()


def cli(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_cli(cfg: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = cli(cfg, *args, env=env)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def logins(dovecot: Dovecot, user: ImapUser) -> int:
    """Successful IMAP logins of this user in Dovecot's log."""
    log = dovecot.log_file.read_text(encoding="utf-8", errors="replace")
    return log.count(f"Login: user=<{user.username}>")


# --- 0. the invariants themselves catch a lost and a doubled message ----------------------------


def test_invariants_catch_a_lost_and_a_doubled_message(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = setup(tmp_path, imap_user)
    dovecot.append(imap_user.username, "INBOX", mails(3))
    assert poll_config(cfg).recorded == 3
    check_invariants(dovecot, imap_user, cfg)
    db = db_path(cfg)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(message)")]
        copied = ", ".join("uid + 100" if c == "uid" else f'"{c}"' for c in columns if c != "id")
        kept = ", ".join(f'"{c}"' for c in columns if c != "id")
        conn.execute(f"INSERT INTO message ({kept}) SELECT {copied} FROM message WHERE uid = 2")  # noqa: S608
    with pytest.raises(AssertionError, match=r"seq 1 .* has 2 records"):
        check_invariants(dovecot, imap_user, cfg, repoll=False)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM message WHERE uid IN (3, 102)")
    with pytest.raises(AssertionError, match=r"seq 2 .* has 0 records"):
        check_invariants(dovecot, imap_user, cfg, repoll=False)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE folder_state SET last_uid = 2")
    with pytest.raises(AssertionError, match="the further poll recorded 1 message"):
        check_invariants(dovecot, imap_user, cfg)
    check_invariants(dovecot, imap_user, cfg)  # that further poll repaired the loss


# --- 1. a crash at every commit point, then a restart --------------------------------------------


def _copy_state(src: Path, dst: Path) -> None:
    dst.mkdir(exist_ok=True)
    for f in src.parent.glob(src.name + "*"):
        shutil.copy2(f, dst / f.name)


def _restore_state(saved: Path, db: Path) -> None:
    for f in db.parent.glob(db.name + "*"):
        f.unlink()
    for f in saved.iterdir():
        shutil.copy2(f, db.parent / f.name)


@pytest.mark.parametrize("mode", ["fresh", "reconciling"])
def test_crash_at_every_commit_point_then_restart(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, mode: str
) -> None:
    """For every k, exit hard before the k-th commit of a poll; the state left is a clean prefix
    (the checkpoint and the records agree) and the restarted poll completes it exactly once. In
    ``reconciling`` mode the folder was recreated (new UIDVALIDITY) with its mail re-added, so
    the crash lands in the middle of the reconciliation."""
    batch = 3
    cfg = setup(tmp_path, imap_user, batch_size=batch)
    user = imap_user.username
    first = mails(7)
    dovecot.append(user, "INBOX", first)
    old_validity = dovecot.uidvalidity(user, "INBOX")
    if mode == "reconciling":
        assert poll_config(cfg).recorded == 7
        dovecot.recreate_folder_new_uidvalidity(user, "INBOX")
        dovecot.append(user, "INBOX", [*reversed(first), *mails(4, start=7)])
    on_server = 11 if mode == "reconciling" else 7
    commits = -(-on_server // batch)
    db = db_path(cfg)
    saved = tmp_path / "saved"
    _copy_state(db, saved)
    account = load_config(cfg).imap.account
    for k in range(1, commits + 2):  # commits + 1: the hook never fires, the poll just ends
        _restore_state(saved, db)
        code, _, err = run_cli(cfg, "poll", env={"PO_WATCHER_TEST_CRASH_AT_COMMIT": str(k)})
        if k <= commits:
            assert code == 77, f"k={k}: expected the hook's hard exit, got {code}: {err}"
        else:
            assert code == 0, err
        with Store.open(f"sqlite:///{db}") as store:
            state = store.folder_state(account, "INBOX")
            records = list(store.messages())
        checkpoint = min(batch * (k - 1), on_server)
        last_uid = 0 if state is None else state.last_uid
        assert last_uid == checkpoint, f"k={k}: checkpoint {last_uid}, want {checkpoint}"
        if mode == "fresh":
            assert sorted(m.key.uid for m in records) == list(range(1, checkpoint + 1))
        else:  # UIDs 1-7: the old mail re-added (skipped by content); 8-11: new mail
            assert sum(m.key.uidvalidity == old_validity for m in records) == 7
            new = sorted(m.key.uid for m in records if m.key.uidvalidity != old_validity)
            assert new == [u for u in range(8, 12) if u <= checkpoint], f"k={k}"
            assert state is not None
            assert state.reconciling == (k <= commits), f"k={k}"
        restarted = poll_config(cfg)
        assert restarted.errors == []
        check_invariants(dovecot, imap_user, cfg)


def test_crash_before_every_second_commit_still_progresses(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    """A process that dies at its second commit every time it runs still gets through the
    mailbox one batch per run, and never records anything twice."""
    batch = 4
    cfg = setup(tmp_path, imap_user, batch_size=batch)
    dovecot.append(imap_user.username, "INBOX", mails(10))
    runs = 0
    while True:
        runs += 1
        code, _, err = run_cli(cfg, "poll", env={"PO_WATCHER_TEST_CRASH_AT_COMMIT": "2"})
        if code == 0:
            break
        assert code == 77, err
        assert count_records(db_path(cfg)) == min(batch * runs, 10)
        assert runs < 5
    assert runs == 3  # 4 + 4 in two crashed runs; the third has only one commit left
    check_invariants(dovecot, imap_user, cfg)


# --- 2. random kill -9 during a large poll, several times in a row -------------------------------


def test_random_kill_9_several_times_in_a_row(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    n = 400
    cfg = setup(tmp_path, imap_user, batch_size=20)
    dovecot.append(imap_user.username, "INBOX", mails(n))
    db = db_path(cfg)
    kills = 0
    for _ in range(3):
        before = count_records(db)
        target = before + rng.randint(1, max(1, (n - before) // 3))
        proc = cli(cfg, "poll")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if count_records(db) >= target:
                time.sleep(rng.uniform(0, 0.05))  # land anywhere: fetch, analysis or commit
                break
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
        after = count_records(db)
        assert after >= before, f"seed {seed}: records went from {before} to {after}"
    assert kills >= 2, f"seed {seed}: the poll finished before it could be killed"
    code, _, err = run_cli(cfg, "poll")
    assert code == 0, f"seed {seed}: {err}"
    check_invariants(dovecot, imap_user, cfg)


# --- 4. the connection cut (or stalled) inside a FETCH -------------------------------------------


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in front of Dovecot that breaks chosen connections in the middle
    of a FETCH response: after the server has sent the ``at``-th ``BODY[] {`` literal on that
    connection, it forwards a few more bytes and then cuts (closes both sides), stalls (keeps
    both open and forwards nothing more) or holds (calls ``on_hold``, then forwards whatever the
    server still sends). Connections not listed in ``faults`` pass through."""

    MARK = b"BODY[] {"

    def __init__(
        self,
        target: tuple[str, int],
        faults: dict[int, tuple[str, int]],
        on_hold: Callable[[], None] | None = None,
    ) -> None:
        self.target = target
        self.faults = faults  # connection number (1-based) -> ("cut" | "stall" | "hold", at)
        self.on_hold = on_hold
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self.tripped: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._held: list[socket.socket] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            fault = self.faults.get(self.connections)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:  # the server is down: so is the proxied connection
                client.close()
                continue
            upstream.settimeout(None)
            # A small window: a server that dies mid-answer cannot have the rest buffered here.
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
            self._held += [client, upstream]
            for src, dst, watch in ((client, upstream, None), (upstream, client, fault)):
                t = threading.Thread(target=self._pump, args=(src, dst, watch), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, fault: tuple[str, int] | None) -> None:
        seen = 0
        tail = b""
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if fault is not None:
                    window = tail + data
                    hits = [m.end() for m in re.finditer(re.escape(self.MARK), window)]
                    hits = [h - len(tail) for h in hits if h > len(tail)]
                    if seen + len(hits) >= fault[1]:
                        cut = max(0, hits[fault[1] - seen - 1] + 40)
                        dst.sendall(data[:cut])
                        self.tripped.append(fault[0])
                        if fault[0] == "hold" and self.on_hold is not None:
                            self.on_hold()  # the server goes away with its answer half sent
                            dst.sendall(data[cut:])
                            fault = None
                            continue
                        if fault[0] == "stall":
                            self._stop.wait()
                        break
                    seen += len(hits)
                    tail = window[-len(self.MARK) :]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for s in self._held:
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(5)
        self._accept.join(5)


@pytest.mark.parametrize(
    "faults",
    [
        {1: ("cut", 15), 2: ("cut", 3)},  # cut twice: in the 2nd batch, then right after resuming
        {1: ("stall", 12)},  # the server goes silent inside a FETCH: the 2 s timeout fires
    ],
    ids=["cut-twice", "stall"],
)
def test_connection_broken_inside_fetch(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, faults: dict[int, tuple[str, int]]
) -> None:
    n = 40
    dovecot.append(imap_user.username, "INBOX", mails(n, size=3000))
    proxy = FaultyProxy((imap_user.host, imap_user.port), faults)
    try:
        via_proxy = dataclasses.replace(imap_user, port=proxy.port)
        cfg = setup(tmp_path, via_proxy, batch_size=10)
        config = load_config(cfg)
        started = time.monotonic()
        with open_store(config) as store:
            summary = poll_with(cfg, store, retries=3)
        took = time.monotonic() - started
    finally:
        proxy.close()
    assert proxy.tripped == [kind for kind, _ in faults.values()]
    assert summary.errors == [], "the poll did not get past the broken connection(s)"
    assert summary.recorded == n
    assert took < 20, f"the poll took {took:.1f}s"
    edit_imap(cfg, port=imap_user.port)  # the invariants' further poll goes straight to Dovecot
    check_invariants(dovecot, imap_user, cfg)


# --- 3. Dovecot stopped (or killed) mid-fetch, started again later -------------------------------


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_dovecot_gone_mid_fetch_then_back(
    private_dovecot: Dovecot, tmp_path: Path, how: str
) -> None:
    """Dovecot is stopped (SIGTERM) or killed (SIGKILL) while its answer to a FETCH of bodies is
    half way to the client: a proxy holds the response at the 12th message (in the second batch)
    while the server goes away. Messages 12 to 15 are 1.5 MB, so more of the batch is unsent than
    the socket buffers (4 MB) can hold: the answer is cut for sure. The poll reports the folder, the
    first batch stays recorded and nothing of the broken one; once Dovecot is back the next poll
    completes the mailbox."""
    user = private_dovecot.add_user("gone@example.com", "pw-gone-1")
    n = 15
    big = mails(4, start=11, size=1_500_000)
    private_dovecot.append(user.username, "INBOX", [*mails(11), *big])
    proxy = FaultyProxy(
        (user.host, user.port), {1: ("hold", 12)}, on_hold=getattr(private_dovecot, how)
    )
    try:
        cfg = setup(tmp_path, dataclasses.replace(user, port=proxy.port), batch_size=10)
        config = load_config(cfg)
        with open_store(config) as store:
            summary = poll_with(cfg, store, retries=1)
            partial = list(store.messages())
            state = store.folder_state(config.imap.account, "INBOX")
    finally:
        proxy.close()
    assert proxy.tripped == ["hold"]
    assert not private_dovecot.running
    assert summary.errors, "the poll did not notice that Dovecot went away"
    assert summary.errors[0].startswith("INBOX:"), summary.errors
    assert state is not None
    assert state.last_error
    assert state.last_uid == 10
    assert sorted(m.key.uid for m in partial) == list(range(1, state.last_uid + 1))
    private_dovecot.start()
    edit_imap(cfg, port=user.port)
    assert poll_config(cfg).recorded == n - state.last_uid
    check_invariants(private_dovecot, user, cfg)


# --- 5. a server that accepts the connection and never answers -----------------------------------


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_silent_server_times_out(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, security: str
) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody ever writes
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(silent.accept()[0])

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    dovecot.append(imap_user.username, "INBOX", mails(3))
    cfg = setup(tmp_path, imap_user)
    edit_imap(cfg, port=int(silent.getsockname()[1]), security=security)
    config = load_config(cfg)
    try:
        with open_store(config) as store:
            started = time.monotonic()
            summary = poll_with(cfg, store, retries=1)
            took = time.monotonic() - started
            state = store.folder_state(config.imap.account, "INBOX")
            events = store.feed_events(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    finally:
        stop.set()
        acceptor.join(5)
        silent.close()
        for s in held:
            s.close()
    assert summary.recorded == 0
    assert len(summary.errors) == 1, summary.errors
    assert "timed out" in summary.errors[0], summary.errors
    assert 2 * 2 <= took < 15, f"two tries of a 2 s timeout took {took:.1f}s"
    assert state is not None
    assert state.last_error
    assert "timed out" in state.last_error
    assert [e.kind for e in events] == ["connection"]
    # Back to the real server: everything is read, once.
    edit_imap(cfg, port=imap_user.port, security="none")
    assert poll_config(cfg).recorded == 3
    check_invariants(dovecot, imap_user, cfg)


# --- 6. UIDVALIDITY change: folder deleted and recreated, mail re-added --------------------------


def test_folder_recreated_with_mail_re_added(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    user = imap_user.username
    dovecot.create_folder(user, "Orders")
    cfg = setup(tmp_path, imap_user, folders=("Orders", "INBOX"), batch_size=4)
    old = mails(8, tag="orders")
    dovecot.append(user, "Orders", old)
    dovecot.append(user, "INBOX", mails(3, start=100, tag="inbox"))
    assert poll_config(cfg).recorded == 11
    dovecot.delete_folder(user, "Orders")
    dovecot.create_folder(user, "Orders")
    # Re-added in another order (UIDs now point at other messages), two left out, two new.
    kept = [old[i] for i in (7, 5, 3, 1, 0, 2)]
    dovecot.append(user, "Orders", [*kept, *mails(2, start=8, tag="orders")])
    dovecot.append(user, "INBOX", mails(1, start=103, tag="inbox"))
    summary = poll_config(cfg)
    assert summary.errors == []
    assert summary.recorded == 3  # the two new Orders messages and the new INBOX one
    orders = next(f for f in summary.folders if f.folder == "Orders")
    assert orders.reconciled
    report = check_invariants(dovecot, imap_user, cfg, allow_gone=True)
    assert report.record_for_seq(8).subject == "orders #8"
    assert report.record_for_seq(7).key.uidvalidity != report.record_for_seq(8).key.uidvalidity


# --- 7. a configured folder renamed or deleted: reported, the others go on, resumed when back -----


def test_folder_renamed_and_deleted_then_back(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    user = imap_user.username
    for folder in ("Orders", "Archive"):
        dovecot.create_folder(user, folder)
    folders = ("Orders", "INBOX", "Archive")
    cfg = setup(tmp_path, imap_user, folders=folders)
    dovecot.append(user, "Orders", mails(3, tag="orders"))
    dovecot.append(user, "INBOX", mails(3, start=10, tag="inbox"))
    dovecot.append(user, "Archive", archived := mails(3, start=20, tag="archive"))
    assert poll_config(cfg).recorded == 9

    dovecot.rename_folder(user, "Orders", "Orders-old")
    dovecot.delete_folder(user, "Archive")
    dovecot.append(user, "INBOX", mails(2, start=13, tag="inbox"))
    summary = poll_config(cfg)
    assert summary.recorded == 2  # INBOX goes on between the two failing folders
    assert sorted(e.split(":")[0] for e in summary.errors) == ["Archive", "Orders"]
    config = load_config(cfg)
    with open_store(config) as store:
        for folder in ("Orders", "Archive"):
            state = store.folder_state(config.imap.account, folder)
            assert state is not None
            assert state.last_error
        kinds = [e.kind for e in store.feed_events(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))]
    assert kinds.count("folder_failed") == 2

    dovecot.rename_folder(user, "Orders-old", "Orders")
    dovecot.append(user, "Orders", mails(2, start=3, tag="orders"))
    dovecot.create_folder(user, "Archive")
    dovecot.append(user, "Archive", [archived[0], *mails(1, start=23, tag="archive")])
    summary = poll_config(cfg)
    assert summary.errors == []
    assert summary.recorded == 3  # two new in Orders (checkpoint kept), one new in Archive
    with open_store(config) as store:
        assert all(
            (s := store.folder_state(config.imap.account, f)) is not None and s.last_error is None
            for f in folders
        )
    check_invariants(dovecot, imap_user, cfg, allow_gone=True)


# --- 8. the database locked by another process longer than the busy timeout ----------------------

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def test_database_locked_longer_than_busy_timeout(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = setup(tmp_path, imap_user, batch_size=5)
    dovecot.append(imap_user.username, "INBOX", mails(4))
    assert poll_config(cfg).recorded == 4
    dovecot.append(imap_user.username, "INBOX", mails(8, start=4))
    db = db_path(cfg)
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline() == b"locked\n"
        with Store.open(f"sqlite:///{db}", busy_timeout=0.5) as store:
            started = time.monotonic()
            try:
                summary = poll_with(cfg, store)
            except StoreUnavailable as exc:
                error = str(exc)
            else:
                error = "; ".join(summary.errors)
            took = time.monotonic() - started
        assert "locked" in error, f"the poll did not report the lock: {error!r}"
        assert 0.5 <= took < 10
        assert locker.poll() is None, "the lock holder was disturbed"
    finally:
        if locker.stdin is not None:
            locker.stdin.close()
        locker.wait(10)
    assert count_records(db) == 4  # nothing of the locked poll was recorded
    assert poll_config(cfg).recorded == 8
    check_invariants(dovecot, imap_user, cfg)


# --- 9. PostgreSQL stopped and started again ----------------------------------------------------


def _poll_lost_postgres(
    private_postgres: Postgres, cfg: Path, store: Store
) -> tuple[PollSummary | None, Exception | None]:
    """Poll, stopping PostgreSQL right after the first batch is committed; returns what the poll
    gave back: its summary, or the exception it raised."""
    stopped: list[int] = []

    def stop_after_first(batch: Sequence[ProcessedMessage]) -> None:
        if not stopped:
            stopped.append(len(batch))
            private_postgres.stop()

    try:
        return poll_with(cfg, store, on_committed=stop_after_first), None
    except Exception as exc:  # the outcome is checked by the caller
        return None, exc


def test_postgres_stopped_mid_poll_and_started_again(
    private_postgres: Postgres, dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    url = private_postgres.create_database("faults")
    n = 30
    cfg = setup(tmp_path, imap_user, batch_size=10, database_url=url)
    dovecot.append(imap_user.username, "INBOX", mails(n))
    config = load_config(cfg)
    with open_store(config) as store:
        summary, raised = _poll_lost_postgres(private_postgres, cfg, store)
        assert raised is not None or (summary is not None and summary.errors), (
            "the poll did not notice that PostgreSQL went away"
        )
        private_postgres.start()
        assert len(list(store.messages())) == 10  # the committed batch, nothing half-done
        summary = poll_with(cfg, store)  # the same store: its pooled connections were cut
        assert summary.errors == []
        assert summary.recorded == n - 10
    check_invariants(dovecot, imap_user, cfg)


def test_postgres_lost_mid_poll_is_reported_as_unavailable(
    private_postgres: Postgres, dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    """The store's contract: a database that went away is ``StoreUnavailable`` (transient,
    retried by the next poll), whatever the poll was doing."""
    url = private_postgres.create_database("faults")
    cfg = setup(tmp_path, imap_user, batch_size=10, database_url=url)
    dovecot.append(imap_user.username, "INBOX", mails(20))
    with open_store(load_config(cfg)) as store:
        summary, raised = _poll_lost_postgres(private_postgres, cfg, store)
    if raised is not None:
        assert isinstance(raised, StoreUnavailable), repr(raised)
    else:
        assert summary is not None
        assert summary.errors


# --- 10. disk full under the SQLite database ------------------------------------------------------


def _fill(directory: Path) -> Path:
    """Fill the file system under ``directory`` to the last byte; returns the filler file."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as f:
        while _written(f, chunk):
            pass
    return filler


def _written(f: BinaryIO, chunk: bytes) -> bool:
    """Write and flush one chunk: False once the file system is full (ENOSPC)."""
    try:
        f.write(chunk)
        f.flush()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return False
    return True


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _no_bigger_files_than(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death

    return apply


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_disk_full_under_sqlite(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, how: str
) -> None:
    """The poll fails loudly, records nothing half-done, and once there is room again the next
    poll completes exactly once.

    ``tmpfs``: the database on a 2 MB tmpfs filled to the last byte (needs mount rights: root
    with CAP_SYS_ADMIN; skipped elsewhere). ``rlimit``: ``po-watcher poll`` runs under an
    RLIMIT_FSIZE of 36 KB: the WAL index (32 KB) fits, the write-ahead log cannot grow as far
    as the batch needs (works anywhere)."""
    folder = tmp_path / "db"
    with contextlib.ExitStack() as stack:
        if how == "tmpfs":
            stack.enter_context(small_tmpfs(folder, "2m"))
        else:
            folder.mkdir()
        db = folder / "state.db"
        cfg = setup(tmp_path, imap_user, batch_size=20, database_url=f"sqlite:///{db}")
        dovecot.append(imap_user.username, "INBOX", mails(3))
        assert poll_config(cfg).recorded == 3
        dovecot.append(imap_user.username, "INBOX", mails(12, start=3))
        with contextlib.closing(sqlite3.connect(db)) as conn:  # an empty WAL: every write grows it
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if how == "tmpfs":
            config = load_config(cfg)
            with open_store(config) as store:
                store.stats()  # the WAL and its index exist before the disk fills
                filler = _fill(folder)
                with pytest.raises(StoreUnavailable, match="full"):
                    poll_with(cfg, store)
                assert len(list(store.messages())) == 3
            filler.unlink()  # room again (the database is as the failed poll left it)
        else:
            proc = subprocess.Popen(
                [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), "poll"],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=_no_bigger_files_than(36864),  # noqa: PLW1509 (no threads start in it)
            )
            _, err = proc.communicate(timeout=120)
            assert proc.returncode != 0, "the poll did not fail on a file it could not grow"
            text = err.decode()
            assert "the database is not usable now: database unavailable" in text, text
            assert "Traceback" not in text, text
            assert proc.returncode == 75, text
        assert count_records(db) == 3  # nothing of the failed poll is in the database
        with Store.open(f"sqlite:///{db}") as store:
            state = store.folder_state(load_config(cfg).imap.account, "INBOX")
            assert state is not None
            assert state.last_uid == 3
        summary = poll_config(cfg)
        assert summary.errors == []
        assert summary.recorded == 12
        check_invariants(dovecot, imap_user, cfg)


# --- 11. the clock jumps forward a day and back an hour: one digest per local date ----------------


def test_digest_once_per_local_date_when_the_clock_jumps(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    cfg = setup(tmp_path, imap_user, smtp_port=smtp_sink.port)
    config = load_config(cfg)
    user = imap_user.username
    day = dt.datetime(2031, 5, 6, 7, 0, tzinfo=dt.UTC)  # the config's time zone is UTC
    dovecot.append(user, "INBOX", mails(4))
    poll_config(cfg)
    statuses: list[str] = []
    with open_store(config) as store:

        def digest_at(now: dt.datetime) -> None:
            statuses.append(send_digest(config, store, now=now).status)

        digest_at(day)  # D 07:00: sent
        digest_at(day + dt.timedelta(minutes=5))  # D again: already
        dovecot.append(user, "INBOX", mails(4, start=4))
        poll_config(cfg, store=store)
        digest_at(day + dt.timedelta(days=1))  # forward a day, D+1 07:00: sent
        digest_at(day + dt.timedelta(days=1, hours=-1))  # back an hour, D+1 06:00: already
        digest_at(day + dt.timedelta(hours=17))  # D+1 00:00 ...
        digest_at(day + dt.timedelta(hours=16))  # ... back an hour: D 23:00, already sent
        dovecot.append(user, "INBOX", mails(4, start=8))
        poll_config(cfg, store=store)
        digest_at(day + dt.timedelta(days=2, hours=-6.5))  # D+2 00:30: sent
        digest_at(day + dt.timedelta(days=2, hours=-7.5))  # back an hour: D+1 23:30, already
    assert statuses == [
        "sent",
        "already_sent",
        "sent",
        *["already_sent"] * 3,
        "sent",
        "already_sent",
    ]
    received = smtp_sink.wait_for(3)
    time.sleep(0.2)
    assert len(smtp_sink.messages) == 3
    report = check_invariants(dovecot, imap_user, cfg, digests=smtp_sink.messages)
    flagged = [m for m in report.records if m.status.flagged]
    assert flagged
    assert all(m.digest_date is not None for m in flagged)
    dates = sorted({m.digest_date for m in flagged if m.digest_date})
    assert dates == ["2031-05-06", "2031-05-07", "2031-05-08"]
    assert len(received) == 3


# --- 12. two instances on one mailbox ----------------------------------------------------------


def test_second_instance_on_sqlite_refuses(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    cfg = setup(tmp_path, imap_user, smtp_port=smtp_sink.port)
    dovecot.append(imap_user.username, "INBOX", mails(5))
    first = cli(cfg, "run")
    try:
        deadline = time.monotonic() + 60
        while count_records(db_path(cfg)) < 5 and time.monotonic() < deadline:
            assert first.poll() is None, "the first instance died"
            time.sleep(0.05)
        code, out, err = run_cli(cfg, "run")
        assert code == 75, (code, out, err)
        assert "already running" in out + err
        assert f"pid {first.pid}" in out + err
        assert first.poll() is None, "the refused second instance disturbed the first"
    finally:
        first.send_signal(signal.SIGTERM)
        _, err_first = first.communicate(timeout=60)
    assert first.returncode == 0, err_first.decode()
    check_invariants(dovecot, imap_user, cfg)


def test_two_instances_on_postgres_split_the_folders(
    pg_url: str, dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    """Instance A holds INBOX (paused inside its first batch); instance B, run meanwhile, must
    leave INBOX alone and poll the other folders; then A finishes. Nothing twice."""
    user = imap_user.username
    folders = ("INBOX", "Orders", "Claims")
    for folder in folders[1:]:
        dovecot.create_folder(user, folder)
    cfg = setup(tmp_path, imap_user, folders=folders, batch_size=5, database_url=pg_url)
    for i, folder in enumerate(folders):
        dovecot.append(user, folder, mails(15, start=100 * i, tag=folder.lower()))
    config = load_config(cfg)
    account = config.imap.account
    paused, resume = threading.Event(), threading.Event()
    result: list[PollSummary] = []

    def hold(_batch: Sequence[ProcessedMessage]) -> None:
        if not paused.is_set():
            paused.set()
            resume.wait(60)

    with open_store(config) as store:

        def instance_a() -> None:
            result.append(poll_with(cfg, store, on_committed=hold))

        a = threading.Thread(target=instance_a)
        a.start()
        try:
            assert paused.wait(60), "instance A never committed"
            inbox_before = [m for m in store.messages() if m.key.folder == "INBOX"]
            code, _, err = run_cli(cfg, "poll")  # instance B
            assert code == 0, err
            by_folder = {f: 0 for f in folders}
            for m in store.messages():
                by_folder[m.key.folder] += 1
            assert by_folder["INBOX"] == len(inbox_before), "B polled the folder A holds"
            assert by_folder["Orders"] == by_folder["Claims"] == 15
            state = store.folder_state(account, "INBOX")
            assert state is not None
        finally:
            resume.set()
            a.join(120)
    assert result
    assert result[0].errors == []
    check_invariants(dovecot, imap_user, cfg)


# --- 13. the SMTP server down at digest time -----------------------------------------------------


def test_digest_when_smtp_is_down_is_retried_and_sent_once(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    sink = SmtpSink()  # its port is chosen, nothing listens on it yet
    cfg = setup(tmp_path, imap_user, smtp_port=sink.port)
    config = load_config(cfg)
    dovecot.append(imap_user.username, "INBOX", mails(6))
    poll_config(cfg)
    now = dt.datetime(2031, 1, 2, 7, 0, tzinfo=dt.UTC)
    try:
        with open_store(config) as store:
            down = send_digest(config, store, now=now)
            assert down.status == "failed"
            assert down.error
            assert str(sink.port) in down.error
            assert not store.digest_sent_on("2031-01-02")
            assert all(m.digest_date is None for m in store.messages())
            again = send_digest(config, store, now=now + dt.timedelta(minutes=10))
            assert again.status == "failed"
            sink.start()
            up = send_digest(config, store, now=now + dt.timedelta(minutes=20))
            assert up.status == "sent"
            assert up.flagged == sum(1 for m in store.messages() if m.status.flagged) > 0
            assert send_digest(config, store, now=now + dt.timedelta(minutes=30)).status == (
                "already_sent"
            )
        sink.wait_for(1)
        time.sleep(0.2)
        assert len(sink.messages) == 1
        check_invariants(dovecot, imap_user, cfg, digests=sink.messages)
    finally:
        sink.close()


# --- 14. a message that makes the parser raise every time ----------------------------------------


def test_message_that_always_breaks_the_parser(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = read_message

    def exploding(data: bytes, *, limits: MimeLimits) -> Email:
        if b"Subject: BOOM" in data:
            raise RuntimeError("the parser exploded on purpose")
        return real(data, limits=limits)

    # Before the poll forks its workers: they inherit the patched module.
    monkeypatch.setattr(inbox_watcher.pipeline, "read_message", exploding)
    user = imap_user.username
    cfg = setup(tmp_path, imap_user, limits="max_attempts = 3")
    config = load_config(cfg)
    boom = make_mail("BOOM #1", "PO 2024-00815-MT", seq=1)
    dovecot.append(user, "INBOX", [mails(1)[0], boom, *mails(1, start=2)])
    for poll_no in range(1, 4):
        summary = poll_config(cfg)
        assert summary.errors == []
        assert summary.recorded == (2 if poll_no == 1 else 2 if poll_no == 3 else 1)
        with open_store(config) as store:
            subjects = {m.subject: m for m in store.messages()}
        if poll_no < 3:
            assert "BOOM #1" not in subjects, f"poll {poll_no}: recorded before max_attempts"
            assert summary.folders[0].held == 1
        # later mail keeps flowing on every poll
        assert f"m #{poll_no + 1}" in subjects
        dovecot.append(user, "INBOX", mails(1, start=poll_no + 2))
    with open_store(config) as store:
        broken = [m for m in store.messages() if m.status is Status.UNREADABLE]
    assert len(broken) == 1
    assert broken[0].key.uid == 2
    assert broken[0].attempts == 3
    assert any("the parser exploded on purpose" in r for r in broken[0].reasons)
    assert poll_config(cfg).recorded == 1  # the message appended last
    report = check_invariants(dovecot, imap_user, cfg)
    assert report.record_for_seq(1).status is Status.UNREADABLE


# --- 15. TLS: never a fall-back to plain text ----------------------------------------------------


class FakeImap:
    """A greeting-and-capability IMAP server that keeps every line a client sends. ``starttls``:
    "absent" (not advertised), or "refused" (advertised, answered NO)."""

    def __init__(self, starttls: str) -> None:
        self.starttls = starttls
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _caps(self) -> bytes:
        extra = b" STARTTLS" if self.starttls == "refused" else b""
        return b"IMAP4rev1 AUTH=PLAIN" + extra

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"* OK [CAPABILITY " + self._caps() + b"] fake ready\r\n")
                for line in lines:
                    self.received.append(line)
                    tag, _, rest = line.partition(b" ")
                    command = rest.split(b" ", 1)[0].strip().upper()
                    if command == b"CAPABILITY":
                        conn.sendall(
                            b"* CAPABILITY " + self._caps() + b"\r\n" + tag + b" OK done\r\n"
                        )
                    elif command == b"STARTTLS":
                        conn.sendall(tag + b" NO not today\r\n")
                    elif command == b"LOGOUT":
                        conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                        break
                    else:
                        conn.sendall(tag + b" BAD unexpected\r\n")

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(5)


@pytest.mark.parametrize(
    "case", ["ssl-on-plain-port", "starttls-not-offered", "starttls-refused", "starttls-wrong-host"]
)
def test_tls_configured_is_never_plain_text(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, case: str
) -> None:
    dovecot.append(imap_user.username, "INBOX", mails(2))
    cfg = setup(tmp_path, imap_user)
    fake: FakeImap | None = None
    logins_before = logins(dovecot, imap_user)
    if case == "ssl-on-plain-port":
        edit_imap(cfg, security="ssl", port=imap_user.port, ca_file=str(imap_user.ca_file))
    elif case == "starttls-wrong-host":
        edit_imap(
            cfg,
            security="starttls",
            host=dovecot.wrong_host,
            port=imap_user.port,
            ca_file=str(imap_user.ca_file),
        )
    else:
        fake = FakeImap("absent" if case == "starttls-not-offered" else "refused")
        edit_imap(cfg, security="starttls", port=fake.port, ca_file=str(imap_user.ca_file))
    try:
        config = load_config(cfg)
        with open_store(config) as store:
            summary = poll_with(cfg, store, retries=1)
            events = store.feed_events(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    finally:
        if fake is not None:
            fake.close()
    assert summary.recorded == 0
    assert len(summary.errors) == 1, summary.errors
    assert re.search(r"TLS|STARTTLS|trusted", summary.errors[0]), summary.errors
    assert [e.kind for e in events] == ["tls_error"]  # refused at once, not retried
    assert logins(dovecot, imap_user) == logins_before, "logged in despite the TLS failure"
    if fake is not None:
        sent = b"".join(fake.received).upper()
        assert b"LOGIN" not in sent, sent
        assert b"AUTHENTICATE" not in sent, sent
        assert imap_user.password.encode().upper() not in sent
    # The same mailbox over STARTTLS done right: read in full, once.
    edit_imap(
        cfg,
        security="starttls",
        host=imap_user.host,
        port=imap_user.port,
        ca_file=str(imap_user.ca_file),
    )
    assert poll_config(cfg).recorded == 2
    assert logins(dovecot, imap_user) > logins_before
    check_invariants(dovecot, imap_user, cfg)
