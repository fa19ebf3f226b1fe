"""Shared fixtures: real servers on 127.0.0.1 (from `tests.servers`) and generic helpers.

A missing server program skips the tests that need it, with the reason; under env CI=true it fails
them instead, loudly, since `.ci/run` installs every server.

Tests that use a server fixture get the `servers` marker automatically, so
`pytest -m "not servers"` runs the pure tests alone.

Property tests (hypothesis) draw new examples on every run on a developer's machine; under
CI=true they are derandomized, so that the run that decides a landing is the run anyone can
repeat.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.ci import in_ci, skip_or_fail
from tests.servers import Dovecot, ImapUser, Postgres, SmtpSink

settings.register_profile("ci", derandomize=True)
if in_ci():
    settings.load_profile("ci")

SERVER_FIXTURES = frozenset(
    {
        "dovecot",
        "private_dovecot",
        "imap_user",
        "postgres",
        "private_postgres",
        "pg_url",
        "smtp_sink",
    }
)
_serial = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_serial)}_{secrets.token_hex(3)}"


def _started_dovecot() -> Dovecot:
    reason = Dovecot.missing()
    if reason:
        skip_or_fail(reason)
    server = Dovecot()
    server.start()
    return server


def _started_postgres() -> Postgres:
    reason = Postgres.missing()
    if reason:
        skip_or_fail(reason)
    server = Postgres()
    server.start()
    return server


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """The shared Dovecot of the session. Add a user per test (see `imap_user`); a test that stops
    or restarts a server should use `private_dovecot` instead."""
    server = _started_dovecot()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def private_dovecot() -> Iterator[Dovecot]:
    """A Dovecot of this test's own (about 0.1 s to start), for stop/restart scenarios."""
    server = _started_dovecot()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> ImapUser:
    """A fresh user with an empty mailbox on the shared Dovecot."""
    if not dovecot.running:  # a test stopped the shared server: bring it back
        dovecot.start()
    return dovecot.add_user(_unique("u"), secrets.token_urlsafe(12))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The shared PostgreSQL of the session; use `pg_url` for a database of your own."""
    server = _started_postgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def private_postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster of this test's own (initdb: about 1 s), for stop/restart scenarios."""
    server = _started_postgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """SQLAlchemy URL (postgresql+psycopg://...) of a fresh, empty database on the shared server."""
    if not postgres.running:
        postgres.start()
    return postgres.create_database(_unique("t_"))


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server on 127.0.0.1 keeping what it receives (`.messages`, `.wait_for(n)`)."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.close()
