"""IMAP access (the one importer of imapclient).

Read-only by default: folders are opened with EXAMINE and messages fetched with BODY.PEEK[], so
no \\Seen flag changes. TLS is verified (system CAs plus an optional ``ca_file``); ``starttls``
never falls back to plain text; ``none`` is used only when configured. Transient faults surface as
``MailboxUnavailable`` (the poller backs off and reconnects); wrong credentials as ``AuthFailed``;
a folder that is gone as ``FolderMissing``.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors

from inbox_watcher.imap_fetch import (
    ConnectionClosed,
    FetchedBodies,
    FetchRefused,
    fetch_bodies,
    fetch_headers,
)

Security = Literal["ssl", "starttls", "none"]

# What is read of a message too large to download: enough to name it to a person and to a thread.
HEADER_FIELDS = ("FROM", "SUBJECT", "DATE", "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES")
MAX_HEADER_BYTES = 64 * 1024


class MailboxError(Exception):
    """Base of the mailbox's errors; ``str()`` is a plain sentence without secrets."""


class MailboxUnavailable(MailboxError):
    """Network, TLS handshake or server trouble: worth retrying later."""


class TlsRefused(MailboxError):
    """The server's certificate or TLS support is not acceptable: never retried in plain text."""


class AuthFailed(MailboxError):
    """The server refused the user name or password."""


def _refused_login(ep: ImapEndpoint) -> str:
    source = ep.password_source or (
        "the file imap.password_file names, or the variable imap.password_env names"
    )
    return (
        f"{ep.host} refused the login of {ep.username}: check imap.username and the password "
        f"({source})"
    )


class FolderMissing(MailboxError):
    """A configured folder does not exist (renamed or deleted)."""


@dataclass(frozen=True, slots=True)
class ImapEndpoint:
    host: str
    port: int
    security: Security
    username: str
    password: Callable[[], str]  # read at connect time: never stored on this object as text
    ca_file: str | None = None
    timeout: float = 30.0
    password_source: str = ""  # where the password comes from, for a refused login's message


_HINT_FOLDERS = 15  # folder names a missing folder's error lists


@dataclass(frozen=True, slots=True)
class FolderInfo:
    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificate and host name verified; an extra CA file is trusted on top of the system's."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # socket errors, timeouts, connection refused/reset
    imaplib.IMAP4.abort,
    imap_errors.IMAPClientAbortError,
    EOFError,
)


class Mailbox:
    """One connection to one account. Use as a context manager."""

    def __init__(self, endpoint: ImapEndpoint) -> None:
        self.endpoint = endpoint
        self._client: IMAPClient | None = None
        self._tags = 0  # our own command tags (for the streamed FETCH)

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> None:
        ep = self.endpoint
        try:
            if ep.security == "ssl":
                client = IMAPClient(
                    ep.host,
                    port=ep.port,
                    ssl=True,
                    ssl_context=tls_context(ep.ca_file),
                    timeout=ep.timeout,
                )
            else:
                client = IMAPClient(ep.host, port=ep.port, ssl=False, timeout=ep.timeout)
                if ep.security == "starttls":
                    try:
                        client.starttls(tls_context(ep.ca_file))
                    except (imap_errors.CapabilityError, imaplib.IMAP4.error) as exc:
                        with contextlib.suppress(*_TRANSIENT):
                            client.shutdown()
                        raise TlsRefused(
                            f"{ep.host}:{ep.port} does not offer STARTTLS; refusing to log in "
                            "in plain text"
                        ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise TlsRefused(
                f"the TLS certificate of {ep.host}:{ep.port} is not trusted: {exc.verify_message} "
                "(a private CA? name its certificate in imap.ca_file)"
            ) from exc
        except ssl.SSLError as exc:
            hint = (
                ' (is this a plain-text port? port 143 takes security = "starttls", 993 "ssl")'
                if exc.reason == "WRONG_VERSION_NUMBER"
                else ""
            )
            raise TlsRefused(f"TLS with {ep.host}:{ep.port} failed: {exc.reason}{hint}") from exc
        except _TRANSIENT as exc:
            raise MailboxUnavailable(f"cannot reach {ep.host}:{ep.port}: {_describe(exc)}") from exc
        try:
            password = ep.password()
            if password.isascii() and ep.username.isascii():
                client.login(ep.username, password)
            else:  # LOGIN carries ASCII only; AUTHENTICATE PLAIN carries UTF-8
                client.plain_login(ep.username, password)
        except imap_errors.LoginError as exc:
            with contextlib.suppress(*_TRANSIENT):
                client.shutdown()
            raise AuthFailed(_refused_login(ep)) from exc
        except _TRANSIENT as exc:
            raise MailboxUnavailable(f"lost {ep.host} during login: {_describe(exc)}") from exc
        except imap_errors.IMAPClientError as exc:  # AUTHENTICATE refused or not offered
            with contextlib.suppress(*_TRANSIENT):
                client.shutdown()
            raise AuthFailed(_refused_login(ep)) from exc
        self._client = client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(*_TRANSIENT, imap_errors.IMAPClientError):
            client.logout()
        with contextlib.suppress(*_TRANSIENT):
            client.shutdown()

    def __enter__(self) -> Mailbox:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise MailboxUnavailable("not connected")
        return self._client

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except _TRANSIENT as exc:
            self._client = None
            raise MailboxUnavailable(f"{what} failed: {_describe(exc)}") from exc

    # -- reading ------------------------------------------------------------------------------
    def open_folder(self, folder: str, *, readonly: bool = True) -> FolderInfo:
        try:
            info = self._call(
                f"opening {folder}", lambda: self.client.select_folder(folder, readonly=readonly)
            )
        except imap_errors.IMAPClientError as exc:
            raise FolderMissing(
                f"the folder {folder!r} cannot be opened: {_describe(exc)}{self._folders_hint()}"
            ) from exc
        return FolderInfo(
            name=folder,
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            exists=int(info.get(b"EXISTS", 0)),
        )

    def _folders_hint(self) -> str:
        """The folders the server has, for an admin whose folder was renamed or misspelt."""
        try:
            names = sorted(str(name) for _, _, name in self.client.list_folders())
        except Exception:  # a hint only: the folder's own error is what counts
            return ""
        shown = ", ".join(names[:_HINT_FOLDERS]) + (", ..." if len(names) > _HINT_FOLDERS else "")
        return f" (renamed? the server has: {shown})" if names else ""

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` in the open folder, ascending."""
        found = self._call("searching", lambda: self.client.search(["UID", f"{last_uid + 1}:*"]))
        return sorted(int(u) for u in found if int(u) > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        if not uids:
            return {}
        data = self._call("reading sizes", lambda: self.client.fetch(list(uids), ["RFC822.SIZE"]))
        return {int(uid): int(item.get(b"RFC822.SIZE", 0)) for uid, item in data.items()}

    def fetch(self, uids: Sequence[int], *, max_size: int | None = None) -> FetchedBodies:
        """Full raw messages, without touching \\Seen (BODY.PEEK[]); a message the server sends
        larger than ``max_size`` bytes is not kept but listed in ``oversized`` with its size.

        The responses are read straight off imapclient's connection (``imap_fetch``: 16 us a
        message against 225 us through imapclient's parser); a body the server sent in another
        shape than the usual literal is fetched again through imapclient."""
        if not uids:
            return FetchedBodies()
        wanted = set(uids)
        self._tags += 1
        tag = b"POW%d" % self._tags
        # imaplib.IMAP4 under imapclient: send/readline/read are its documented I/O methods.
        conn = self.client._imap
        try:
            got = self._call("fetching", lambda: fetch_bodies(conn, sorted(wanted), tag, max_size))
        except ConnectionClosed as exc:
            self._client = None
            raise MailboxUnavailable(f"fetching failed: {exc}") from exc
        except FetchRefused as exc:
            raise MailboxError(f"the server refused to send messages: {exc}") from exc
        out = FetchedBodies(
            bodies={u: b for u, b in got.bodies.items() if u in wanted},
            oversized={u: n for u, n in got.oversized.items() if u in wanted},
        )
        if got.unsure:
            missing = [u for u in sorted(wanted) if u not in out.bodies and u not in out.oversized]
            out.bodies.update(self._fetch_slowly(missing))
        return out

    def fetch_headers(
        self,
        uids: Sequence[int],
        *,
        fields: Sequence[str] = HEADER_FIELDS,
        max_bytes: int = MAX_HEADER_BYTES,
    ) -> dict[int, bytes]:
        """The header lines ``fields`` of ``uids`` (at most ``max_bytes`` a message), in one
        FETCH, without touching \\Seen (BODY.PEEK[HEADER.FIELDS (...)]<0.max_bytes>). A message
        the server answers for with more bytes than asked is left out, as is one expunged."""
        if not uids:
            return {}
        wanted = set(uids)
        self._tags += 1
        tag = b"POW%d" % self._tags
        conn = self.client._imap
        try:
            got = self._call(
                "fetching headers",
                lambda: fetch_headers(conn, sorted(wanted), tag, fields, max_bytes),
            )
        except ConnectionClosed as exc:
            self._client = None
            raise MailboxUnavailable(f"fetching headers failed: {exc}") from exc
        except FetchRefused as exc:
            raise MailboxError(f"the server refused to send message headers: {exc}") from exc
        out = {u: b for u, b in got.bodies.items() if u in wanted}
        if got.unsure:
            missing = [u for u in sorted(wanted) if u not in out and u not in got.oversized]
            out.update(self._fetch_headers_slowly(missing, fields, max_bytes))
        return out

    def _fetch_headers_slowly(
        self, uids: Sequence[int], fields: Sequence[str], max_bytes: int
    ) -> dict[int, bytes]:
        if not uids:
            return {}
        item = f"BODY.PEEK[HEADER.FIELDS ({' '.join(fields)})]<0.{max_bytes}>"
        try:
            data = self._call("fetching headers", lambda: self.client.fetch(list(uids), [item]))
        except imap_errors.IMAPClientError as exc:
            raise MailboxError(f"the server refused to send message headers: {exc}") from exc
        out: dict[int, bytes] = {}
        for uid, item_data in data.items():
            for name, value in item_data.items():
                if (
                    isinstance(name, bytes)
                    and name.upper().startswith(b"BODY[HEADER.FIELDS")
                    and isinstance(value, bytes)
                    and len(value) <= max_bytes
                ):
                    out[int(uid)] = value
        return out

    def _fetch_slowly(self, uids: Sequence[int]) -> dict[int, bytes]:
        if not uids:
            return {}
        data = self._call("fetching", lambda: self.client.fetch(list(uids), ["BODY.PEEK[]"]))
        out: dict[int, bytes] = {}
        for uid, item in data.items():
            body = item.get(b"BODY[]")
            if isinstance(body, bytes):
                out[int(uid)] = body
        return out

    def iter_batches(self, uids: Sequence[int], size: int) -> Iterator[list[int]]:
        for i in range(0, len(uids), max(1, size)):
            yield list(uids[i : i + size])

    # -- optional actions (only when configured) ---------------------------------------------
    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        try:
            self._call("flagging", lambda: self.client.add_flags(list(uids), list(flags)))
        except imap_errors.IMAPClientError as exc:
            raise MailboxError(f"adding {', '.join(flags)} failed: {_describe(exc)}") from exc

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        try:
            self._call("unflagging", lambda: self.client.remove_flags(list(uids), list(flags)))
        except imap_errors.IMAPClientError as exc:
            raise MailboxError(f"removing {', '.join(flags)} failed: {_describe(exc)}") from exc

    def move(self, uids: Sequence[int], target: str) -> None:
        def run() -> None:
            client = self.client
            if client.has_capability("MOVE"):
                client.move(list(uids), target)
            else:
                client.copy(list(uids), target)
                client.delete_messages(list(uids))
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(list(uids))
                else:
                    client.expunge()

        try:
            self._call(f"moving to {target}", run)
        except imap_errors.IMAPClientError as exc:
            raise MailboxError(f"moving to {target!r} failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
