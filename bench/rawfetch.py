"""The physical limit: one ``UID FETCH 1:* BODY.PEEK[]`` over a plain socket, literals only parsed.

No IMAP library: the reply is read through a 1 MiB buffer; a line ending in ``{N}`` is followed by
an N-byte literal (the message), everything else is skipped until the tagged OK. What a client
can not beat on this machine, whatever it does with the bytes afterwards.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from typing import BinaryIO, cast

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


@dataclass(frozen=True, slots=True)
class RawFetch:
    messages: int
    body_bytes: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.body_bytes / self.seconds / 1e6


class ImapError(RuntimeError):
    pass


def _until_tagged(reader: BinaryIO, tag: bytes) -> None:
    read = reader.readline
    while True:
        line = read()
        if not line:
            raise ImapError("connection closed")
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                raise ImapError(line.decode(errors="replace").strip())
            return
        m = _LITERAL.search(line)
        if m:
            reader.read(int(m.group(1)))


def raw_fetch(
    host: str, port: int, username: str, password: str, folder: str = "INBOX"
) -> RawFetch:
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = cast(BinaryIO, sock.makefile("rb", buffering=1 << 20))
        if not reader.readline().startswith(b"* OK"):
            raise ImapError("no greeting")
        sock.sendall(b'a1 LOGIN "%s" "%s"\r\n' % (username.encode(), password.encode()))
        _until_tagged(reader, b"a1")
        sock.sendall(b'a2 EXAMINE "%s"\r\n' % folder.encode())
        _until_tagged(reader, b"a2")
        started = time.perf_counter()
        sock.sendall(b"a3 UID FETCH 1:* BODY.PEEK[]\r\n")
        count = 0
        total = 0
        read = reader.readline
        take = reader.read
        while True:
            line = read()
            if not line:
                raise ImapError("connection closed during FETCH")
            if line.endswith(b"}\r\n"):
                m = _LITERAL.search(line)
                if m:
                    size = int(m.group(1))
                    body = take(size)
                    if len(body) != size:
                        raise ImapError("short literal")
                    count += 1
                    total += size
                    continue
            if line.startswith(b"a3 "):
                if not line.startswith(b"a3 OK"):
                    raise ImapError(line.decode(errors="replace").strip())
                break
        seconds = time.perf_counter() - started
        sock.sendall(b"a4 LOGOUT\r\n")
        return RawFetch(count, total, seconds)
