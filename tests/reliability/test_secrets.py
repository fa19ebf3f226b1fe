"""Secrets canary: the IMAP password and the SMTP token never show up anywhere we write.

Canary values are put where the secrets go (password files, as deployed), then the real command
line runs against the real Dovecot and a real aiosmtpd server that requires SMTP AUTH:

* a poll that logs in and records mail; a poll whose login the server refuses; a poll whose
  password the IMAP client cannot even send (non-ASCII), which ends in a traceback;
* a digest sent with the token, and a digest whose login the SMTP server refuses;
* the daemon (``run --once``) on the failing password, which logs the traceback;

each at ``--log-level DEBUG`` in text and in JSON. No canary may appear in stdout, stderr, the
log lines (tracebacks included), the database files or the digest email. Inside the process,
an exception whose text carries a registered secret is masked by the product's formatters.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from inbox_watcher.logs import JsonFormatter, TextFormatter, redact
from inbox_watcher.model import PoRecord
from inbox_watcher.store import Store
from tests import pdfgen
from tests.reliability import hostile_mail as h
from tests.reliability.hostile_mail import poll
from tests.servers import Dovecot, free_port
from tests.setup_config import REPO, write_config

IMAP_CANARY = "imapCANARY-" + secrets.token_hex(8)
IMAP_WRONG = "imapWRONG-" + secrets.token_hex(8)
IMAP_UNSENDABLE = "imapUNSENDABLE-é-" + secrets.token_hex(8)
SMTP_CANARY = "smtpCANARY-" + secrets.token_hex(8)
SMTP_WRONG = "smtpWRONG-" + secrets.token_hex(8)
CANARIES = (IMAP_CANARY, IMAP_WRONG, IMAP_UNSENDABLE, SMTP_CANARY, SMTP_WRONG)
SMTP_USER = "digest-bot"


# --- an SMTP server that requires AUTH ------------------------------------------------------------


@dataclass
class AuthSink:
    """aiosmtpd on 127.0.0.1 accepting only (SMTP_USER, SMTP_CANARY); keeps what it receives."""

    port: int = field(default_factory=free_port)
    received: list[bytes] = field(default_factory=list)
    logins: list[tuple[bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_CANARY.encode()
        )
        with self.lock:
            self.logins.append((data.login if isinstance(data, LoginPassword) else b"", ok))
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        with self.lock:
            self.received.append(raw if isinstance(raw, bytes) else raw.encode())
        return "250 OK kept"


@pytest.fixture
def auth_sink() -> Iterator[AuthSink]:
    sink = AuthSink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=sink.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --- running the command line ---------------------------------------------------------------------


@dataclass
class Ran:
    what: str
    code: int
    out: str
    err: str


def cli(cfg: Path, fmt: str, *args: str) -> Ran:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "inbox_watcher",
            "--config",
            str(cfg),
            "--log-level",
            "DEBUG",
            "--log-format",
            fmt,
            *args,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Ran(
        f"{' '.join(args)} ({cfg.parent.name})", result.returncode, result.stdout, result.stderr
    )


def configure(
    tmp: Path,
    dovecot: Dovecot,
    name: str,
    *,
    server_password: str,
    sent_password: str,
    smtp: AuthSink,
    token: str,
) -> Path:
    """A config dir whose secrets are files holding ``sent_password`` and ``token``."""
    tmp.mkdir()
    user = dovecot.add_user(name, server_password)
    cfg = write_config(tmp, user, smtp_port=smtp.port)
    (tmp / "imap-password").write_text(sent_password + "\n", encoding="utf-8")
    (tmp / "smtp-token").write_text(token + "\n", encoding="utf-8")
    text = cfg.read_text(encoding="utf-8").replace(
        "[digest]\n", f'[digest]\nusername = "{SMTP_USER}"\npassword_file = "smtp-token"\n'
    )
    cfg.write_text(text, encoding="utf-8")
    with Store.open(f"sqlite:///{tmp / 'state.db'}") as store:
        store.upsert_pos([PoRecord(h.KNOWN, "westside")])
    dovecot.append(
        user.username,
        "INBOX",
        [
            h.plain(1, "linked order", f"PO {h.KNOWN}"),
            h.plain(2, "unknown order", f"PO {h.DECOY}"),
            h.plain(3, "no number", "When will it arrive?"),
            h.pdf_only(4, "locked", b'filename="locked.pdf"', pdfgen.encrypted_pdf("pw")),
        ],
    )
    return cfg


def assert_no_canary(where: str, text: str | bytes) -> None:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    for canary in CANARIES:
        forms = {
            canary.encode(),  # as written (UTF-8)
            json.dumps(canary)[1:-1].encode(),  # inside a JSON string with \\u escapes
            canary[-16:].encode(),  # the random hex tail survives any ASCII-preserving form
        }
        for form in forms:
            assert form not in data, f"{where} holds a secret ({canary[:9]}...)"


def database_bytes(tmp: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp.glob("state.db*")))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_canaries_never_leak(
    dovecot: Dovecot, auth_sink: AuthSink, tmp_path: Path, fmt: str
) -> None:
    if not dovecot.running:
        dovecot.start()
    tag = f"{fmt}{secrets.token_hex(2)}"
    good = configure(
        tmp_path / "good", dovecot, f"canary{tag}", server_password=IMAP_CANARY,
        sent_password=IMAP_CANARY, smtp=auth_sink, token=SMTP_CANARY,
    )  # fmt: skip
    refused = configure(
        tmp_path / "refused", dovecot, f"refused{tag}", server_password="the-real-one",
        sent_password=IMAP_WRONG, smtp=auth_sink, token=SMTP_WRONG,
    )  # fmt: skip
    unsendable = configure(
        tmp_path / "unsendable", dovecot, f"unsend{tag}", server_password="the-real-one",
        sent_password=IMAP_UNSENDABLE, smtp=auth_sink, token=SMTP_CANARY,
    )  # fmt: skip

    chains = [
        [(good, ("poll",)), (good, ("digest", "--send"))],
        [(refused, ("poll",)), (refused, ("digest", "--send"))],
        [(unsendable, ("poll",)), (unsendable, ("run", "--once"))],
    ]
    with ThreadPoolExecutor(len(chains)) as pool:  # the three config dirs are independent
        done = pool.map(lambda chain: [cli(cfg, fmt, *args) for cfg, args in chain], chains)
        runs = [r for chain in done for r in chain]
    by_what = {r.what: r for r in runs}

    # the scenarios did what they are for
    ok_poll = by_what["poll (good)"]
    assert ok_poll.code == 0, ok_poll
    assert "1 linked" in ok_poll.out, ok_poll
    sent = by_what["digest --send (good)"]
    assert sent.code == 0, sent
    assert len(auth_sink.received) == 1
    assert (SMTP_USER.encode(), True) in auth_sink.logins
    failed_login = by_what["poll (refused)"]
    assert failed_login.code != 0, failed_login
    assert "refused the login" in failed_login.err, failed_login
    bad_token = by_what["digest --send (refused)"]
    assert bad_token.code != 0, bad_token
    assert "refused the login" in bad_token.err, bad_token
    assert "refused the login" in by_what["run --once (unsendable)"].err  # a clean login error
    if fmt == "json":
        for r in runs:
            for line in r.err.splitlines():
                if line.startswith("{"):
                    json.loads(line)

    # ... and no secret came out anywhere
    for r in runs:
        assert_no_canary(f"stdout of {r.what}", r.out)
        assert_no_canary(f"stderr of {r.what}", r.err)
    for cfg in (good, refused, unsendable):
        assert_no_canary(f"the database of {cfg.parent.name}", database_bytes(cfg.parent))
    for mail in auth_sink.received:
        assert_no_canary("the digest email", mail)
    assert b"unknown order" in auth_sink.received[0] or b"2024-00816-MT" in auth_sink.received[0]


def test_unsendable_password_is_a_clean_error(dovecot: Dovecot, tmp_path: Path) -> None:
    if not dovecot.running:
        dovecot.start()
    user = dovecot.add_user(f"nonascii{secrets.token_hex(2)}", "the-real-one")
    cfg = write_config(tmp_path, user)
    (tmp_path / "imap-password").write_text(IMAP_UNSENDABLE + "\n", encoding="utf-8")
    ran = cli(cfg, "text", "poll")
    assert "Traceback" not in ran.err, ran.err
    assert ran.code == 1, ran
    assert "login" in ran.err, ran


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_a_traceback_carrying_the_secret_is_masked(
    dovecot: Dovecot, tmp_path: Path, formatter: logging.Formatter
) -> None:
    """The password is registered when the poll reads it; later lines mask it, tracebacks too."""
    if not dovecot.running:
        dovecot.start()
    password = "imapCANARY-" + secrets.token_hex(8)
    user = dovecot.add_user(f"mask{secrets.token_hex(3)}", password)
    cfg = write_config(tmp_path, user)
    dovecot.append(user.username, "INBOX", [h.plain(1, "order", f"PO {h.KNOWN}")])
    assert poll(cfg).recorded == 1  # logs in: the secret is registered
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"tests.canary.{secrets.token_hex(3)}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise RuntimeError(f"login failed for {user.username} with {password!r}")
    except RuntimeError:
        logger.exception("unexpected error with %s", password, extra={"secret": password})
    text = stream.getvalue()
    assert "RuntimeError" in text
    assert "Traceback" in text
    assert password not in text
    assert json.dumps(password) not in text
    assert redact(f"x{password}y") == "x******y"


def test_text_log_lines_carry_their_time_zone() -> None:
    record = logging.makeLogRecord({"msg": "polled", "levelname": "INFO", "name": "po"})
    line = TextFormatter().format(record)
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{4} INFO ", line), line
