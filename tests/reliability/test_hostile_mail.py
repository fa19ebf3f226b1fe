"""Hostile mail through a real poll against the real Dovecot: a flag, never the daemon.

One mailbox holds every hostile message of the table below, interleaved with ordinary order
mail. It is polled once (module fixture), then each table row checks its own message's record:
the status and reason it must get. The invariants test checks the whole mailbox: every message
recorded exactly once in a terminal status, the ordinary mail linked, and a second poll over the
unchanged mailbox changes nothing. The 50 MB messages get mailboxes and limits of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from inbox_watcher.model import PoRecord, Status
from inbox_watcher.poller import PollSummary
from inbox_watcher.store import Store, StoredMessage
from tests import pdfgen
from tests.reliability import hostile_mail as h
from tests.reliability.hostile_mail import poll, stored
from tests.reliability.invariants import check_invariants
from tests.servers import Dovecot, ImapUser
from tests.setup_config import write_config

PDF_PO = "2023-00125-WS"  # the number tests/pdfgen.py's hostile PDFs carry
POS = [PoRecord(h.KNOWN, "westside"), PoRecord(PDF_PO, "westside")]
TERMINAL = frozenset(Status)
NORMAL = 12  # ordinary messages interleaved with the hostile ones
LIMITS = """
[limits]
pdf_time_limit = "5s"
"""


# --- helpers ------------------------------------------------------------------------------------


def seed_pos(db: Path) -> None:
    with Store.open(f"sqlite:///{db}") as store:
        store.upsert_pos(POS)


def new_user(dovecot: Dovecot, name: str) -> ImapUser:
    if not dovecot.running:
        dovecot.start()
    return dovecot.add_user(name, "pw-" + name)


# --- the table ----------------------------------------------------------------------------------

Check = Callable[[StoredMessage], None]


@dataclass(frozen=True)
class Case:
    build: Callable[[int], bytes]
    statuses: frozenset[Status]
    reasons: tuple[str, ...] = ()  # each must appear (case-insensitive) in some reason
    check: Check | None = None
    po: tuple[str, ...] | None = None  # the linked POs, when the status links


def _no_controls(text: str) -> bool:
    return not any(ch in text for ch in "\r\n\x00")


def _subject_clean(m: StoredMessage) -> None:
    assert _no_controls(m.subject), repr(m.subject)


def _subject_bounded(m: StoredMessage) -> None:
    assert m.subject.startswith(f"PO {h.KNOWN}")
    assert len(m.subject) <= 64 * 1024, len(m.subject)


def _sources_safe(m: StoredMessage) -> None:
    sources = [j.candidate.source for j in m.candidates]
    assert sources, "the PDFs were not read"
    for source in sources:
        name = source.removeprefix("attachment:")
        assert "/" not in name, source
        assert "\\" not in name, source
        assert not any(ch in name for ch in "\x00\r\n\u202e\u202d\u2066\u2067"), repr(source)
        assert not name.startswith("."), source


def _no_spoofed_sender(m: StoredMessage) -> None:
    assert m.sender != h.SENDER, "the ambiguous From was read as the customer's address"


def _decoy_ignored(m: StoredMessage) -> None:
    assert h.DECOY not in {j.candidate.normalized for j in m.candidates}


def _subject_is(text: str) -> Check:
    def check(m: StoredMessage) -> None:
        assert m.subject == text

    return check


def _reason_names(text: str) -> Check:
    """Case-sensitive: a file name must be shown as it was written."""

    def check(m: StoredMessage) -> None:
        assert any(text in r for r in m.reasons), m.reasons

    return check


def _recovered_or_explained(m: StoredMessage) -> None:
    """Broken base64 text: either read leniently (linked) or flagged naming the encoding."""
    if m.status is Status.LINKED:
        return
    assert any("base64" in r.lower() for r in m.reasons), (m.status, m.reasons)


LINKED = frozenset({Status.LINKED})
UNREADABLE = frozenset({Status.UNREADABLE})
FLAGGED_EMPTY = frozenset({Status.MISSING, Status.UNREADABLE})


CASES = [
    pytest.param(Case(h.unclosed_multipart, LINKED, po=(h.KNOWN,)), id="multipart-no-closing"),
    pytest.param(
        Case(lambda s: h.many_parts(s, po_in_part=1), LINKED, po=(h.KNOWN,)),
        id="10000-mime-parts-po-in-first",
    ),
    pytest.param(
        Case(h.many_parts, UNREADABLE, reasons=("MIME parts",)),
        id="10000-mime-parts-po-beyond-limit",
    ),
    pytest.param(
        Case(lambda s: h.nested_rfc822(s, subject=f"Fwd: PO {h.KNOWN}"), LINKED, po=(h.KNOWN,)),
        id="rfc822-nested-50-po-on-top",
    ),
    pytest.param(
        Case(h.nested_rfc822, FLAGGED_EMPTY, reasons=("nested",)),
        id="rfc822-nested-50-po-innermost",
    ),
    pytest.param(
        Case(h.long_header, LINKED, po=(h.KNOWN,), check=_subject_bounded), id="1mb-header-line"
    ),
    pytest.param(
        Case(h.control_chars_subject, frozenset(Status), check=_subject_clean),
        id="crlf-nul-subject-sanitized",
    ),
    pytest.param(
        Case(h.control_chars_subject, LINKED, po=(h.KNOWN,)),
        id="crlf-nul-subject-still-links",
    ),
    pytest.param(
        Case(h.control_chars_filename, LINKED, po=(h.KNOWN,), check=_sources_safe),
        id="crlf-nul-filename",
    ),
    pytest.param(
        # no sender taken: a stranger, whose labelled number still counts (unknown)
        Case(h.ambiguous_from, frozenset({Status.UNKNOWN}), check=_no_spoofed_sender),
        id="ambiguous-from-cve-2023-27043",
    ),
    pytest.param(
        Case(h.unknown_charset, LINKED, po=(h.KNOWN,), check=_subject_is("Bestellung Müller")),
        id="unknown-charset",
    ),
    pytest.param(
        Case(
            h.mislabelled_8bit,
            LINKED,
            po=(h.KNOWN,),
            check=_subject_is("Bestellbestätigung Müller"),
        ),
        id="mislabelled-8bit",
    ),
    pytest.param(
        Case(h.broken_base64_text, frozenset(Status), check=_recovered_or_explained),
        id="broken-base64-body",
    ),
    pytest.param(Case(h.broken_qp_text, LINKED, po=(h.KNOWN,)), id="broken-quoted-printable"),
    pytest.param(
        Case(h.broken_base64_pdf, UNREADABLE, reasons=("invoice.pdf", "damaged")),
        id="broken-base64-pdf",
    ),
    pytest.param(Case(h.empty_message, FLAGGED_EMPTY), id="empty-message"),
    pytest.param(
        Case(h.headers_only, frozenset({Status.MISSING}), reasons=("No PO number",)),
        id="headers-only",
    ),
    pytest.param(
        Case(h.path_filenames, LINKED, po=(h.KNOWN,), check=_sources_safe),
        id="filenames-dotdot-nul-rlo",
    ),
    pytest.param(
        Case(h.html_with_script, LINKED, po=(h.KNOWN,), check=_decoy_ignored),
        id="html-with-script",
    ),
    pytest.param(
        Case(
            lambda s: h.pdf_only(s, "Invoice", b'filename="cut.pdf"', pdfgen.truncated_pdf()),
            UNREADABLE,
            reasons=("cut.pdf", "damaged or truncated"),
        ),
        id="truncated-pdf",
    ),
    pytest.param(
        Case(
            lambda s: h.pdf_only(
                s, "Invoice", b'filename="locked.pdf"', pdfgen.encrypted_pdf("pw")
            ),
            UNREADABLE,
            reasons=("locked.pdf", "password-protected"),
        ),
        id="encrypted-pdf",
    ),
    pytest.param(
        Case(
            lambda s: h.pdf_only(
                s, "Invoice", b'filename="Locked-ABC.PDF"', pdfgen.encrypted_pdf("pw")
            ),
            UNREADABLE,
            check=_reason_names("Locked-ABC.PDF"),
        ),
        id="encrypted-pdf-name-kept-in-reason",
    ),
    pytest.param(
        Case(
            lambda s: h.pdf_only(s, "Invoice", b'filename="long.pdf"', h.many_pages_pdf()),
            LINKED,
            po=(h.KNOWN,),
            reasons=("long.pdf", "more pages than the limit"),
        ),
        id="10000-page-pdf",
    ),
    pytest.param(
        Case(
            lambda s: h.pdf_only(s, "Invoice", b'filename="bomb.pdf"', pdfgen.bomb_pdf()),
            UNREADABLE,
            reasons=("bomb.pdf", "memory"),
        ),
        id="flate-bomb-pdf",
    ),
    pytest.param(
        Case(
            lambda s: h.pdf_only(
                s, "Invoice", b'filename="cycle.pdf"', pdfgen.self_referencing_xobject_pdf()
            ),
            LINKED,
            po=(PDF_PO,),
            reasons=("cycle.pdf", "damaged"),
        ),
        id="pdf-reference-cycle",
    ),
    pytest.param(
        # Called a PDF, it may hold the PO: unreadable, named, so that a person opens it.
        Case(
            h.zip_renamed_pdf,
            frozenset({Status.UNREADABLE}),
            reasons=("invoice.pdf", "is called a PDF but is not one"),
        ),
        id="zip-renamed-pdf",
    ),
    pytest.param(
        Case(lambda s: h.many_pdfs(s, po_in=1), LINKED, po=(h.KNOWN,)),
        id="200-pdfs-po-in-first",
    ),
    pytest.param(
        Case(lambda s: h.many_pdfs(s, po_in=150), FLAGGED_EMPTY, reasons=("100 attachments",)),
        id="200-pdfs-po-beyond-limit",
    ),
]
SEQ = {str(p.id): 1000 + i for i, p in enumerate(CASES)}  # X-Test-Seq of each hostile message


@dataclass
class Run:
    user: ImapUser
    cfg: Path
    by_seq: dict[int, StoredMessage]  # the records after the first poll
    normal: list[int]  # seqs of the ordinary messages
    first: PollSummary


@pytest.fixture(scope="module")
def hostile_run(dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("hostile")
    user = new_user(dovecot, "hostile")
    cfg = write_config(tmp, user, batch_size=10, extra=LIMITS)
    seed_pos(tmp / "state.db")
    messages: list[bytes] = []
    seqs: list[int] = []
    normal: list[int] = []
    for i, param in enumerate(CASES):
        seq = SEQ[str(param.id)]
        case = param.values[0]
        assert isinstance(case, Case)
        messages.append(case.build(seq))
        seqs.append(seq)
        if i % (len(CASES) // NORMAL + 1) == 0:
            nseq = 1 + len(normal)
            messages.append(h.plain(nseq, f"Normal order {nseq}", f"Please ship PO {h.KNOWN}."))
            seqs.append(nseq)
            normal.append(nseq)
    uids = dict(zip(seqs, dovecot.append(user.username, "INBOX", messages), strict=True))
    first = poll(cfg)
    by_uid = {m.key.uid: m for m in stored(tmp / "state.db")}
    by_seq = {seq: by_uid[uid] for seq, uid in uids.items() if uid in by_uid}
    return Run(user=user, cfg=cfg, by_seq=by_seq, normal=normal, first=first)


def test_invariants_after_the_hostile_poll(dovecot: Dovecot, hostile_run: Run) -> None:
    """Every message recorded once, in a terminal status, consistent; a further poll changes
    nothing (tests/reliability/invariants.py); the ordinary mail between them is linked."""
    run = hostile_run
    assert run.first.errors == []
    report = check_invariants(dovecot, run.user, run.cfg)
    assert len(report.records) == len(CASES) + len(run.normal)
    assert all(m.status in TERMINAL for m in report.records)
    for seq in run.normal:
        m = report.record_for_seq(seq)
        assert (m.status, m.po_numbers) == (Status.LINKED, (h.KNOWN,)), (m.subject, m.reasons)


@pytest.mark.parametrize("case", CASES)
def test_hostile_message_outcome(
    hostile_run: Run, case: Case, request: pytest.FixtureRequest
) -> None:
    """The message's record has the status and the reasons the table row names."""
    m = hostile_run.by_seq.get(SEQ[request.node.callspec.id])
    assert m is not None, "the message was not recorded"
    assert m.status in case.statuses, (m.status, m.reasons)
    reasons = " | ".join(m.reasons).lower()
    for words in case.reasons:
        assert words.lower() in reasons, (words, m.reasons)
    if case.po is not None:
        assert m.po_numbers == case.po, (m.po_numbers, m.reasons)
    if case.check is not None:
        case.check(m)


# --- 50 MB messages -----------------------------------------------------------------------------


def _fifty_mb(seq: int) -> bytes:
    """A 50 MB message: the PO in the subject, a 37 MB binary attachment (50 MB as base64)."""
    blob = (bytes(range(256)) * 4096) * 37  # 37 MiB, incompressible enough, cheap to make
    return h.with_attachments(
        seq,
        f"PO {h.KNOWN} with the drawings",
        "The CAD files are attached.",
        [(b"application/octet-stream", b'filename="drawings.bin"', blob)],
    )


@pytest.fixture(scope="module")
def big_mail() -> bytes:
    data = _fifty_mb(1)
    assert len(data) > 50 * 1_000_000
    return data


@pytest.mark.parametrize(
    ("limit", "expect"),
    [
        pytest.param("10MB", Status.UNREADABLE, id="50mb-refused-unread"),
        pytest.param("64MB", Status.LINKED, id="50mb-allowed-and-read"),
    ],
)
def test_fifty_mb_message(
    dovecot: Dovecot,
    *,
    tmp_path: Path,
    big_mail: bytes,
    limit: str,
    expect: Status,
    request: pytest.FixtureRequest,
) -> None:
    user = new_user(dovecot, f"big{request.node.callspec.id.split('-')[1]}")
    cfg = write_config(tmp_path, user, extra_imap=f'max_message_size = "{limit}"')
    seed_pos(tmp_path / "state.db")
    small = h.plain(2, "small order", f"PO {h.KNOWN}")
    big_uid, small_uid = dovecot.append(user.username, "INBOX", [big_mail, small])
    started = time.monotonic()
    summary = poll(cfg)
    seconds = time.monotonic() - started
    assert summary.errors == []
    got = {m.key.uid: m for m in stored(tmp_path / "state.db")}
    assert got[small_uid].status is Status.LINKED
    big = got[big_uid]
    assert big.status is expect, big.reasons
    if expect is Status.UNREADABLE:
        assert "too large" in big.reasons[0]
        assert big.subject == f"PO {h.KNOWN} with the drawings"  # its headers name it
        assert big.size > 50 * 1_000_000  # the body was never downloaded: the count below
        assert sum(f.fetched for f in summary.folders) == 1
    else:
        assert big.po_numbers == (h.KNOWN,)
        assert big.size == len(big_mail)
    assert seconds < 60, f"the poll took {seconds:.1f}s"


# --- a PDF that makes the reader raise ----------------------------------------------------------


@dataclass
class RaisingPdfRun:
    uids: list[int]
    first: dict[int, StoredMessage]
    last: dict[int, StoredMessage]


@pytest.fixture(scope="module")
def raising_pdf_run(dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory) -> RaisingPdfRun:
    """A message with its PO in the body and a PDF the reader raises on, between two ordinary
    ones; polled ``max_attempts`` (2) times."""
    tmp = tmp_path_factory.mktemp("raising")
    user = new_user(dovecot, "raisingpdf")
    cfg = write_config(tmp, user, extra="[limits]\nmax_attempts = 2\n")
    seed_pos(tmp / "state.db")
    mails = [
        h.plain(1, "before", f"PO {h.KNOWN}"),
        h.with_attachments(
            2,
            f"PO {h.KNOWN}",
            f"Please ship PO {h.KNOWN}; the scan is attached.",
            [(b"application/pdf", b'filename="scan.pdf"', h.page_without_mediabox_pdf())],
        ),
        h.plain(3, "after", f"PO {h.KNOWN}"),
    ]
    uids = dovecot.append(user.username, "INBOX", mails)
    poll(cfg)
    first = {m.key.uid: m for m in stored(tmp / "state.db")}
    poll(cfg)
    last = {m.key.uid: m for m in stored(tmp / "state.db")}
    return RaisingPdfRun(uids, first, last)


def test_a_pdf_the_reader_raises_on_costs_nothing_else(raising_pdf_run: RaisingPdfRun) -> None:
    run = raising_pdf_run
    for uid in (run.uids[0], run.uids[2]):  # the neighbours are recorded in the first poll
        assert run.first[uid].status is Status.LINKED
    assert sorted(run.last) == sorted(run.uids)  # recorded by the last attempt at the latest


def test_a_pdf_the_reader_raises_on_is_one_reason(raising_pdf_run: RaisingPdfRun) -> None:
    m = raising_pdf_run.first.get(raising_pdf_run.uids[1])
    assert m is not None, "not recorded in the first poll: held for a retry"
    assert (m.status, m.po_numbers) == (Status.LINKED, (h.KNOWN,)), m.reasons
    assert any("scan.pdf" in r and "damaged" in r.lower() for r in m.reasons), m.reasons
