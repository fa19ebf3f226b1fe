"""Write a po-watcher configuration for a test: the example customers, a given mailbox, a
SQLite (or given) database in the test's temp dir."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from tests.servers import ImapUser

REPO = Path(__file__).resolve().parents[1]


def write_config(
    tmp: Path,
    user: ImapUser,
    *,
    tls: bool = False,
    ca: bool = True,
    host: str | None = None,
    folders: tuple[str, ...] = ("INBOX",),
    database_url: str | None = None,
    batch_size: int = 50,
    extra_imap: str = "",
    extra: str = "",
    smtp_port: int = 25,
) -> Path:
    """A watcher.toml in ``tmp`` pointing at ``user``'s mailbox; returns its path."""
    customers = tmp / "customers"
    if not customers.exists():
        shutil.copytree(REPO / "config" / "customers", customers)
    (tmp / "imap-password").write_text(user.password + "\n", encoding="utf-8")
    security = "ssl" if tls else "none"
    port = user.ssl_port if tls else user.port
    ca_line = f'ca_file = "{user.ca_file}"' if tls and ca else ""
    db = database_url or "sqlite:///state.db"
    folder_list = ", ".join(f'"{f}"' for f in folders)
    text = f"""
[imap]
host = "{host or user.host}"
port = {port}
security = "{security}"
username = "{user.username}"
password_file = "imap-password"
folders = [{folder_list}]
batch_size = {batch_size}
timeout = "5s"
{ca_line}
{extra_imap}

[database]
url = "{db}"

[schedule]
poll_every = "1s"
digest_at = "07:00"
timezone = "UTC"

[digest]
to = ["ap@example.com"]
from = "po-watcher@example.com"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"

[customers]
dir = "customers"

{extra}
"""
    path = tmp / "watcher.toml"
    path.write_text(text, encoding="utf-8")
    return path


def make_mail(
    subject: str,
    body: str = "Hello,\n\nplease see below.\n",
    *,
    sender: str = "buyer@westside-tools.example",
    seq: int | None = None,
    in_reply_to: str | None = None,
    html: str | None = None,
    pdf: tuple[str, bytes] | None = None,
    message_id: str | None = None,
) -> bytes:
    """A plain order email; ``seq`` goes into an X-Test-Seq header for invariant checks."""
    msg = EmailMessage()
    msg["From"] = f"Buyer <{sender}>"
    msg["To"] = "po@example.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="test.example")
    if seq is not None:
        msg["X-Test-Seq"] = str(seq)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if pdf is not None:
        name, data = pdf
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return bytes(msg)


def config_with_database(tmp_path: Path, url: str) -> Path:
    """The example configuration, its database replaced by ``url``."""
    shutil.copytree(REPO / "config" / "customers", tmp_path / "customers")
    (tmp_path / "demo-imap-password").write_text("x\n", encoding="utf-8")
    text = (REPO / "config" / "watcher.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^url = "sqlite:///[^"]*"$', f'url = "{url}"', text)
    assert url in text
    cfg = tmp_path / "watcher.toml"
    cfg.write_text(text, encoding="utf-8")
    return cfg
