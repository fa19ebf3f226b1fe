"""A private Dovecot 2.3 IMAP server for tests."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from tests.servers._process import (
    LOOPBACK,
    SBIN_PATH,
    WRONG_HOST,
    ManagedServer,
    RunAs,
    ServerError,
    ServerNotInstalled,
    free_port,
    log_tail,
)
from tests.servers.tls import make_test_certificates

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


@dataclass(frozen=True)
class ImapUser:
    """How to reach one mailbox of a test Dovecot."""

    username: str
    password: str
    host: str
    port: int
    ssl_port: int
    ca_file: Path


_APPENDUID = re.compile(r"\[APPENDUID (\d+) ([0-9:,]+)\]")


def _parse_uid_set(text: str) -> list[int]:
    uids: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        low, high = sorted((int(first), int(last or first)))
        uids.extend(range(low, high + 1))
    return uids


class Dovecot(ManagedServer):
    """A private Dovecot 2.3 IMAP server: passwd-file users, Maildir, plain IMAP and IMAPS.

    Both listeners also answer on `wrong_host` (127.0.0.2), which the certificate does not name.
    The plain port offers STARTTLS too.
    """

    APPEND_BATCH = 500

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(root, "pw-dovecot-")
        self.host = LOOPBACK
        self.wrong_host = WRONG_HOST
        self.port = free_port(LOOPBACK, WRONG_HOST)
        self.ssl_port = free_port(LOOPBACK, WRONG_HOST)
        self._users: dict[str, ImapUser] = {}
        self._prepared = False
        self._mail_owner = RunAs.me()

    # -- paths and availability

    @staticmethod
    def missing() -> str | None:
        """Why this server cannot run here, or None when its programs are installed."""
        for program in ("dovecot", "doveadm", "openssl"):
            if shutil.which(program, path=SBIN_PATH) is None:
                return f"{program} is not installed (apt-get install dovecot-imapd openssl)"
        return None

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def ca_file(self) -> Path:
        return self.root / "tls" / "ca.pem"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA and checks host names."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    # -- lifecycle

    def _prepare(self) -> None:
        if self._prepared:
            return
        reason = self.missing()
        if reason:
            raise ServerNotInstalled(reason)
        self._mail_owner = RunAs.for_server("dovecot")
        login_user = RunAs.for_server("dovenull").name
        self.root.chmod(0o755)  # the mail user walks through it to the homes
        (self.root / "home").mkdir(mode=0o755, exist_ok=True)
        _, cert, key = make_test_certificates(self.root / "tls")
        # One passwd-file per user: Dovecot re-reads a shared file at most once a second, so a
        # user added just now could fail to log in; a new file path is always read fresh.
        users_dir = self.root / "users"
        users_dir.mkdir(mode=0o755, exist_ok=True)
        listen = f"{LOOPBACK}, {WRONG_HOST}"
        unprivileged = os.geteuid() != 0
        chroot = "  chroot =\n" if unprivileged else ""
        self.config_file.write_text(
            f"""# Written by tests/servers/dovecot.py: a private instance, no /etc/dovecot.
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log_file}
listen = {listen}
protocols = imap
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = {self._mail_owner.name}
default_login_user = {login_user}
mail_location = maildir:~/Maildir
mail_fsync = never
protocol imap {{
  mail_max_userip_connections = 100
}}
# A failed login answers at once (default 2 s) so auth-failure tests stay fast.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = {users_dir}/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = {listen}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {listen}
    port = {self.ssl_port}
    ssl = yes
  }}
}}
# No brute-force penalty: every test logs in from 127.0.0.1, and the penalty grows to 15 s a try.
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        )
        self._prepared = True

    def _argv(self) -> list[str]:
        dovecot = shutil.which("dovecot", path=SBIN_PATH)
        if dovecot is None:
            raise ServerNotInstalled("dovecot is not installed")
        return [dovecot, "-F", "-c", str(self.config_file)]

    def _owner(self) -> RunAs:
        # The master runs as us (root in CI, as in production); it switches to the mail and
        # login users itself.
        return RunAs.me()

    def _ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                return conn.recv(200).startswith(b"* OK")
        except OSError:
            return False

    def _held_ports(self) -> list[tuple[str, int]]:
        return [(h, p) for h in (LOOPBACK, WRONG_HOST) for p in (self.port, self.ssl_port)]

    def logs(self) -> str:
        return log_tail(self.root / "server.log") + "\n" + log_tail(self.log_file)

    def close(self) -> None:
        """Kill (a graceful Dovecot stop takes about 1 s) and delete the temp dir."""
        self.kill()
        super().close()

    # -- users and mail

    def add_user(self, name: str, password: str) -> ImapUser:
        """Add a passwd-file user with an empty Maildir home; Dovecot sees it at once."""
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"unusable test user name: {name!r}")
        if not password or any(c in password for c in ":\r\n"):
            raise ValueError("test passwords must be non-empty, without ':' or line breaks")
        with self._lock:
            self._prepare()
            if name in self._users:
                raise ValueError(f"user {name!r} exists already")
            home = self.root / "home" / name
            home.mkdir(mode=0o700)
            self._mail_owner.chown(home)
            owner = self._mail_owner
            line = f"{name}:{{PLAIN}}{password}:{owner.uid}:{owner.gid}::{home}::\n"
            users_file = self.root / "users" / name
            staged = users_file.with_name(f".{name}.new")
            staged.write_text(line)
            staged.chmod(0o644)
            staged.replace(users_file)  # atomic: the auth process never reads half a file
            user = ImapUser(name, password, self.host, self.port, self.ssl_port, self.ca_file)
            self._users[name] = user
        return user

    def user(self, name: str) -> ImapUser:
        return self._users[name]

    def client(self, user: str, *, tls: bool = False) -> IMAPClient:
        """A logged-in IMAPClient, plain or over TLS verified against the test CA.

        Use it as `with dovecot.client("alice") as imap:` so it logs out afterwards.
        """
        creds = self._users[user]
        if tls:
            imap = IMAPClient(
                "localhost",
                port=self.ssl_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=30,
            )
        else:
            imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        try:
            imap.login(creds.username, creds.password)
        except BaseException:
            imap.shutdown()
            raise
        return imap

    def append(
        self,
        user: str,
        folder: str,
        messages: Iterable[bytes],
        flags: Sequence[str | bytes] = (),
    ) -> list[int]:
        """Store messages with MULTIAPPEND (about 5,000/s); returns their UIDs in order."""
        uids: list[int] = []
        with self.client(user) as imap:
            batch: list[dict[str, object]] = []
            for message in messages:
                batch.append({"msg": message, "flags": tuple(flags)})
                if len(batch) >= self.APPEND_BATCH:
                    uids.extend(self._multiappend(imap, folder, batch))
                    batch = []
            if batch:
                uids.extend(self._multiappend(imap, folder, batch))
        return uids

    @staticmethod
    def _multiappend(imap: IMAPClient, folder: str, batch: list[dict[str, object]]) -> list[int]:
        response = imap.multiappend(folder, batch)
        text = response.decode() if isinstance(response, bytes) else str(response)
        found = _APPENDUID.search(text)
        if found is None:
            raise ServerError(f"no APPENDUID in the APPEND response: {response!r}")
        uids = _parse_uid_set(found.group(2))
        if len(uids) != len(batch):
            raise ServerError(f"APPENDUID names {len(uids)} UIDs for {len(batch)} messages")
        return uids

    def create_folder(self, user: str, folder: str) -> None:
        with self.client(user) as imap:
            imap.create_folder(folder)

    def delete_folder(self, user: str, folder: str) -> None:
        with self.client(user) as imap:
            imap.delete_folder(folder)

    def rename_folder(self, user: str, old: str, new: str) -> None:
        with self.client(user) as imap:
            imap.rename_folder(old, new)

    def uidvalidity(self, user: str, folder: str) -> int:
        with self.client(user) as imap:
            status = imap.folder_status(folder, [b"UIDVALIDITY"])
        return int(status[b"UIDVALIDITY"])

    def recreate_folder_new_uidvalidity(self, user: str, folder: str) -> int:
        """Empty `folder` and give it a new UIDVALIDITY, as if deleted and made anew.

        Other folders are deleted and created over IMAP. INBOX cannot be deleted over IMAP, so its
        messages are expunged and its UID list and indexes removed. Either way new messages get
        UIDs from 1 again, under the new UIDVALIDITY. Returns the new UIDVALIDITY.
        """
        old = self.uidvalidity(user, folder)
        if folder.upper() == "INBOX":
            with self.client(user) as imap:
                imap.select_folder(folder)
                imap.delete_messages(imap.search("ALL"))
                imap.expunge()
                imap.unselect_folder()
            # Forget INBOX's UID list and indexes: Dovecot then gives the empty INBOX a fresh
            # UIDVALIDITY (from the maildir's dovecot-uidvalidity counter) and restarts at UID 1.
            maildir = self.root / "home" / user / "Maildir"
            for stale in [maildir / "dovecot-uidlist", *maildir.glob("dovecot*.index*")]:
                stale.unlink(missing_ok=True)
        else:
            with self.client(user) as imap:
                imap.delete_folder(folder)
                imap.create_folder(folder)
        new = self.uidvalidity(user, folder)
        if new == old:
            raise ServerError(f"UIDVALIDITY of {folder!r} stayed {old} after recreating it")
        return new

    def doveadm(self, *args: str) -> str:
        """Run `doveadm -c CONFIG ARGS` against this instance; returns stdout."""
        result = subprocess.run(
            ["doveadm", "-c", str(self.config_file), *args],
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        if result.returncode != 0:
            raise ServerError(
                f"doveadm {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace')}"
            )
        return result.stdout.decode(errors="replace")
