"""An SMTP sink for tests: aiosmtpd keeping every message it receives."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.servers._process import (
    LIVE,
    LOOPBACK,
    ServerError,
    free_port,
)


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the sink received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


class _KeepHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        self._sink._received(ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), data))
        return "250 OK kept"


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps every message it is sent.

    Plain SMTP only: no AUTH, no STARTTLS (add an ssl_context / authenticator to the Controller
    when the digest sender grows those options).
    """

    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self._messages: list[ReceivedMail] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._changed:
            return list(self._messages)

    def _received(self, mail: ReceivedMail) -> None:
        with self._changed:
            self._messages.append(mail)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until at least `count` messages arrived; raises ServerError on timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise ServerError(f"{len(self._messages)} messages after {timeout}s, want {count}")
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(
            _KeepHandler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=True
        )
        controller.start()
        self._controller = controller
        LIVE.add(self)

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def close(self) -> None:
        self.stop()
        LIVE.discard(self)

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
