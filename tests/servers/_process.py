"""Process plumbing shared by the test servers: ports, users, spawn/stop, cleanup at exit."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

LOOPBACK = "127.0.0.1"
# A second loopback address the servers also listen on, absent from the certificate: connecting
# to it over TLS must fail host name verification.
WRONG_HOST = "127.0.0.2"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class ServerError(RuntimeError):
    """A test server failed to start, stop or answer; the message carries its log tail."""


class ServerNotInstalled(ServerError):
    """A server's program is not installed on this machine (see `.ci/run` for the packages)."""


def free_port(*hosts: str) -> int:
    """A TCP port that is free right now on every given host (default 127.0.0.1)."""
    addresses = hosts or (LOOPBACK,)
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        if all(_port_bindable(host, port) for host in addresses):
            return port
    raise ServerError(f"no free port found on {addresses}")


def _port_bindable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def wait_ports_free(host_ports: Iterable[tuple[str, int]], timeout: float) -> None:
    pending = list(host_ports)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [hp for hp in pending if not _port_bindable(*hp)]
        if pending and time.monotonic() > deadline:
            raise ServerError(f"ports still in use after stop: {pending}")
        if pending:
            time.sleep(0.05)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class RunAs:
    """Who a server process runs as: a system user when we are root, else ourselves."""

    name: str
    uid: int
    gid: int

    @classmethod
    def me(cls) -> RunAs:
        entry = pwd.getpwuid(os.geteuid())
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    @classmethod
    def for_server(cls, system_user: str) -> RunAs:
        if os.geteuid() != 0:
            return cls.me()
        try:
            entry = pwd.getpwnam(system_user)
        except KeyError:
            raise ServerNotInstalled(
                f"system user {system_user!r} is missing (its Debian package creates it)"
            ) from None
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    def chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)


def spawn(argv: Sequence[str], run_as: RunAs, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start a foreground server: its own session, no terminal, stdio to `log`, dies with us."""
    command = list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv:
        command = [setpriv, "--pdeathsig", "TERM", "--", *command]
    change_user = os.geteuid() == 0 and run_as.uid != 0
    with log.open("ab") as sink:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            user=run_as.uid if change_user else None,
            group=run_as.gid if change_user else None,
            extra_groups=[] if change_user else None,
        )


def terminate(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal a server we started and reap it; SIGKILL its group after STOP_TIMEOUT."""
    if sig == signal.SIGKILL:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    # Helpers of the server (dovecot's imap-login, postgres backends) share its session.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class _Closeable(Protocol):
    def close(self) -> None: ...


# Every started server, stopped at interpreter exit if a finalizer did not get to it.
LIVE: weakref.WeakSet[_Closeable] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(LIVE):
        with contextlib.suppress(ServerError, OSError, subprocess.SubprocessError):
            server.close()


class ManagedServer:
    """The life cycle shared by the process servers: one foreground child we own.

    Subclasses say how to prepare the temp dir, what to run as whom, how to tell it is ready,
    which signal stops it gracefully and which ports it holds.
    """

    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, root: Path | None, prefix: str) -> None:
        self.root, self._owns_root = make_root(root, prefix)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # -- what subclasses provide

    def _prepare(self) -> None:
        """Make the temp dir ready for a first start (idempotent)."""
        raise NotImplementedError

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _owner(self) -> RunAs:
        raise NotImplementedError

    def _ready(self) -> bool:
        """One quick probe: does the server answer yet?"""
        raise NotImplementedError

    def _held_ports(self) -> list[tuple[str, int]]:
        raise NotImplementedError

    def logs(self) -> str:
        """The tail of the server's logs, for error messages."""
        raise NotImplementedError

    # -- life cycle

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def start(self) -> None:
        """Start (or start again after stop/kill) and wait until it answers."""
        with self._lock:
            if self.running:
                return
            self._prepare()
            process = spawn(self._argv(), self._owner(), self.root / "server.log", self.root)
            self._process = process
            LIVE.add(self)
            deadline = time.monotonic() + START_TIMEOUT
            while not self._ready():
                if process.poll() is not None:
                    self._process = None
                    name = type(self).__name__
                    raise ServerError(f"{name} exited with {process.returncode}:\n{self.logs()}")
                if time.monotonic() > deadline:
                    self.kill()
                    raise ServerError(f"{type(self).__name__} did not answer:\n{self.logs()}")
                time.sleep(0.02)

    def stop(self) -> None:
        """Graceful stop (`stop_signal`), reap the pid, wait until its ports are free again."""
        self._end(self.stop_signal)

    def kill(self) -> None:
        """Abrupt stop, as in a crash or power loss: SIGKILL to the whole process group."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            terminate(process, sig)
            wait_ports_free(self._held_ports(), STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its temp dir (if we made it)."""
        self.stop()
        LIVE.discard(self)
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_OWNER_FILE = ".owner-pid"


def make_root(root: Path | None, prefix: str) -> tuple[Path, bool]:
    """The server's temp dir: `root` as given, or a new one we own and delete on close.

    Dirs of ours whose creating process died without cleaning up (SIGKILL) are swept first.
    """
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        return root, False
    _sweep_orphans(prefix)
    # Short paths: PostgreSQL's unix socket path must fit in 107 bytes.
    made = Path(tempfile.mkdtemp(prefix=prefix))
    (made / _OWNER_FILE).write_text(str(os.getpid()))
    return made, True


def _sweep_orphans(prefix: str) -> None:
    for candidate in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((candidate / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or _alive(owner):
            continue
        shutil.rmtree(candidate, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
