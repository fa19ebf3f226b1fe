"""Real servers on 127.0.0.1 for tests, benchmarks and demos: Dovecot, PostgreSQL, an SMTP sink.

No pytest in here: `tests/conftest.py` wraps these classes in fixtures, and `bench/` or a demo
script can use them directly::

    with Dovecot() as imap, Postgres() as pg:
        user = imap.add_user("alice", "secret")
        imap.append("alice", "INBOX", [b"Subject: hi\\r\\n\\r\\nbody\\r\\n"])

Each server lives in its own temp dir, runs in the foreground as a child of this process (so
`stop()` signals and reaps a pid we own), gets SIGTERM from the kernel if this process dies
(`setpriv --pdeathsig`, util-linux), and is stopped by an atexit hook otherwise. A server must be
started from a thread that outlives it (the parent-death signal follows the starting thread).

When run as root (CI, the dev machines), mail belongs to the `dovecot` system user and PostgreSQL
runs as `postgres`, since neither server accepts uid 0; as any other user both run as that user.
"""

from tests.ci import in_ci
from tests.servers._process import ServerError, ServerNotInstalled, free_port
from tests.servers.dovecot import Dovecot, ImapUser
from tests.servers.postgres import Postgres
from tests.servers.smtp import ReceivedMail, SmtpSink
from tests.servers.tls import make_test_certificates

__all__ = [
    "Dovecot",
    "ImapUser",
    "Postgres",
    "ReceivedMail",
    "ServerError",
    "ServerNotInstalled",
    "SmtpSink",
    "free_port",
    "in_ci",
    "make_test_certificates",
]
