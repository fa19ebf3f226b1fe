"""The text log: one line a record, secrets never in it."""

from __future__ import annotations

import logging

from inbox_watcher.logs import TextFormatter, register_secret


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("po_watcher", logging.ERROR, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_a_value_with_line_breaks_stays_on_the_records_line() -> None:
    """A database driver's error ("connection failed\\n\\tIs the server running ...") would
    break a log line in two: a reader (or a grep) sees half a record."""
    error = 'connection to server failed: Connection refused\n\tIs the server running on "db"?'
    line = TextFormatter().format(record("poll failed", error=error))
    assert "\n" not in line
    assert "error=connection to server failed: Connection refused Is the server running" in line


def test_a_registered_secret_never_reaches_the_line() -> None:
    register_secret("s3cr3t-Imap-pw")
    line = TextFormatter().format(record("login refused", detail="password s3cr3t-Imap-pw"))
    assert "s3cr3t-Imap-pw" not in line
