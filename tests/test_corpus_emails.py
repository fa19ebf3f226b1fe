"""Every message of the shared public corpus reads into a well-typed Email, quickly, never raising.

The corpus files are not labelled with expected values: these tests check robustness (no
exception, bounded time, the right types), not accuracy.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from extractors.types import Attachment, Email, TextPart
from inbox_watcher.mime import read_message
from tests.corpus import corpus_params, require_file

SUBDIR, PATTERN = "emails", "**/*.eml"
SECONDS_PER_FILE = 5.0  # the slowest corpus file (3 MB, 1,000 parts) reads in about 1 s


def _assert_types(mail: Email, size: int) -> None:
    assert isinstance(mail, Email)
    assert mail.message_id is None or (isinstance(mail.message_id, str) and mail.message_id)
    assert isinstance(mail.sender, str)
    assert mail.sender == mail.sender.lower()
    assert mail.sender == "" or "@" in mail.sender
    assert isinstance(mail.sender_name, str)
    assert isinstance(mail.subject, str)
    assert not any(c in mail.subject for c in "\r\n\x00")
    assert mail.date is None or (isinstance(mail.date, str) and mail.date.endswith("+00:00"))
    assert mail.in_reply_to is None or isinstance(mail.in_reply_to, str)
    assert isinstance(mail.references, tuple)
    assert all(isinstance(r, str) and r for r in mail.references)
    assert isinstance(mail.text_body, str)
    assert isinstance(mail.html_text, str)
    assert all(isinstance(p, TextPart) and p.quoted for p in mail.forwarded)
    assert all(p.origin == "forwarded" and isinstance(p.text, str) for p in mail.forwarded)
    for att in mail.attachments:
        assert isinstance(att, Attachment)
        assert isinstance(att.filename, str)
        assert att.filename
        assert "/" not in att.filename
        assert "\\" not in att.filename
        assert not any(ord(c) < 32 for c in att.filename)
        assert isinstance(att.content_type, str)
        assert "/" in att.content_type
        assert isinstance(att.data, bytes)
        assert att.is_pdf == (b"%PDF-" in att.data[:1028])
        assert att.is_pdf or att.data == b""
    assert all(isinstance(d, str) and d for d in mail.defects)
    assert mail.size == size


@pytest.mark.corpus
@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", corpus_params(SUBDIR, PATTERN))
def test_corpus_email_reads(path: Path | None) -> None:
    data = require_file(path, SUBDIR, PATTERN).read_bytes()
    started = time.perf_counter()
    mail = read_message(data)
    elapsed = time.perf_counter() - started
    _assert_types(mail, len(data))
    assert elapsed < SECONDS_PER_FILE, f"took {elapsed:.2f} s"
    assert not any(d.startswith(("internal error", "could not read")) for d in mail.defects), (
        mail.defects
    )
