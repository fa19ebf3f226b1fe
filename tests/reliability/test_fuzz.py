"""A bounded fuzz target: the bytes of a message -> candidates, through ``pipeline.analyse``.

``analyse`` is what the worker runs for every fetched message; it must never raise and never
give up (``AnalysisFailed`` means an exception escaped the reader or the extractors: a bug).
Every candidate it returns must be consistent: a known customer, and a "valid" number that the
customer's rules really call valid. Triage must judge the result without raising.

Two drivers, both in-process and deterministic by default:

* a mutation loop in the style of atheris/libFuzzer over seed messages (generated order mail
  with PDFs, plus the hostile builders): byte flips, inserted MIME tokens, deleted, doubled and
  spliced ranges, truncation. It runs ``PO_WATCHER_FUZZ_RUNS`` inputs (default 1,000) or for
  ``PO_WATCHER_FUZZ_SECONDS`` (default 10 s), whichever ends first, from seed
  ``PO_WATCHER_FUZZ_SEED`` (default 20240301): in CI the same inputs every time (a prefix of them
  on a slow machine). A failure prints the seed and the iteration and writes the input to the
  test's temp dir, so it can be replayed. Run it longer by hand with a larger budget;
* hypothesis, building messages from a grammar of header and MIME fragments.

The shared corpus's emails, when present, seed a third, short run (skips without the corpus;
fails under CI=true).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractors.pdf_extract import PdfLimits
from inbox_watcher.mime import MimeLimits
from inbox_watcher.model import PoRecord
from inbox_watcher.pipeline import Analysis, Limits, MessageTask, analyse
from inbox_watcher.triage import judge
from tests.ci import skip_or_fail
from tests.corpus import corpus_files, missing_reason
from tests.mailgen import generate, load_customers
from tests.reliability import hostile_mail as h

CUSTOMERS = load_customers()
RULES = {c.id: c for c in CUSTOMERS}
POS = {"westside": {h.KNOWN: PoRecord(h.KNOWN, "westside")}}
LIMITS = Limits(
    mime=MimeLimits(max_parts=200, max_depth=8, max_attachments=10),
    pdf=PdfLimits(max_pages=3, max_layout_pages=2),
    pattern_timeout=0.2,
)
SECONDS = float(os.environ.get("PO_WATCHER_FUZZ_SECONDS", "10"))
SEED = int(os.environ.get("PO_WATCHER_FUZZ_SEED", "20240301"))
RUNS = int(os.environ.get("PO_WATCHER_FUZZ_RUNS", "1000"))  # inputs per run, at most
SLOW = 10.0  # seconds one input may take in-process before it counts as a hang
TOKENS = (
    b"\r\n",
    b"\r\n\r\n",
    b"\x00",
    b"--",
    b"--b0undary-1\r\n",
    b"--b0undary-1--\r\n",
    b'Content-Type: multipart/mixed; boundary="b0undary-1"\r\n',
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: text/html; charset=x-unknown\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a.pdf\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%2e%2e%2f%00x.pdf\r\n",
    b"=?utf-8?b?",
    b"=?x-klingon?q?=FF=00?=",
    b"?=",
    b"%PDF-1.7\n",
    b"<![CDATA[",
    b"<!--",
    b"<script>",
    b"<a ",
    b"From: a@b)<c@d>\r\n",
    b"PO 2024-00815-MT",
    b"P.O. No. ",
    b"\xff\xfe",
    b"\xe2\x80\xae",
)


def seeds() -> list[bytes]:
    made = [m.raw for m in generate(24, seed=11, pdf_share=0.3)]
    made += [
        h.unclosed_multipart(1),
        h.many_parts(2, 300),
        h.nested_rfc822(3, 12),
        h.control_chars_subject(4),
        h.ambiguous_from(5),
        h.unknown_charset(6),
        h.mislabelled_8bit(7),
        h.broken_base64_text(8),
        h.broken_qp_text(9),
        h.broken_base64_pdf(10),
        h.path_filenames(11),
        h.html_with_script(12),
        h.zip_renamed_pdf(13),
        h.empty_message(14),
        h.truly_empty_message(15),
    ]
    return made


def mutate(rng: random.Random, data: bytes, pool: Sequence[bytes]) -> bytes:
    """One to four libFuzzer-style edits."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        n = len(out)
        kind = rng.randrange(7)
        at = rng.randrange(n + 1)
        if kind == 0 and n:  # flip bits in a few bytes
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(n)
                out[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # insert a token the parsers care about
            out[at:at] = rng.choice(TOKENS) * rng.choice((1, 1, 1, 3, 50))
        elif kind == 2 and n:  # delete a range
            out[at : at + rng.randint(1, 200)] = b""
        elif kind == 3 and n:  # duplicate a range
            piece = bytes(out[at : at + rng.randint(1, 400)])
            out[at:at] = piece * rng.randint(1, 4)
        elif kind == 4:  # splice in a piece of another seed
            other = rng.choice(pool)
            if other:
                start = rng.randrange(len(other))
                out[at:at] = other[start : start + rng.randint(1, 2000)]
        elif kind == 5 and n:  # truncate
            del out[rng.randrange(n) :]
        else:  # random bytes
            out[at:at] = rng.randbytes(rng.randint(1, 32))
    return bytes(out)


def check(raw: bytes) -> None:
    """The fuzz property for one input."""
    started = time.monotonic()
    result = analyse(MessageTask(raw, CUSTOMERS, LIMITS))
    elapsed = time.monotonic() - started
    assert isinstance(result, Analysis), result
    assert elapsed < SLOW, f"one message took {elapsed:.1f}s in-process"
    for c in result.extraction.candidates:
        assert c.customer in RULES, c
        if c.valid:
            assert RULES[c.customer].is_valid(c.normalized), c
        assert c.source in ("subject", "body") or c.source.startswith("attachment:"), c
    assert result.extraction.customer is None or result.extraction.customer in RULES
    judge(result.extraction, POS, rules=RULES, names={})


def run_fuzz(
    pool: Sequence[bytes], seconds: float, seed: int, tmp_path: Path, runs: int = RUNS
) -> int:
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    done = 0
    while done < runs and time.monotonic() < deadline:
        raw = mutate(rng, rng.choice(pool), pool)
        try:
            check(raw)
        except BaseException:
            crash = tmp_path / f"crash-seed{seed}-iter{done}.eml"
            crash.write_bytes(raw)
            print(f"fuzz input that failed (seed {seed}, iteration {done}): {crash}")
            raise
        done += 1
    return done


def test_every_seed_passes() -> None:
    for raw in seeds():
        check(raw)


def test_found_by_fuzzing_pdf_page_without_mediabox() -> None:
    raw = h.with_attachments(
        1,
        f"PO {h.KNOWN}",
        "scan attached",
        [(b"application/pdf", b'filename="scan.pdf"', h.page_without_mediabox_pdf())],
    )
    check(raw)


@pytest.mark.timeout(SECONDS * 5 + 60)
def test_mutation_fuzz(tmp_path: Path) -> None:
    done = run_fuzz(seeds(), SECONDS, SEED, tmp_path)
    assert done >= 50, f"only {done} inputs in {SECONDS}s: the target is too slow to fuzz"


# --- hypothesis: messages from a grammar ----------------------------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        *("From", "Subject", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition"),
        *("Message-ID", "In-Reply-To", "References", "Date", "MIME-Version", "X-Junk"),
    ]
)
HEADER_VALUES = st.one_of(
    st.sampled_from([t.decode("latin-1").strip() for t in TOKENS]),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "multipart/mixed; boundary=x",
            'multipart/alternative; boundary="x"',
            "message/rfc822",
            "text/plain; charset=utf-16",
            "text/html",
            "application/pdf",
            "base64",
            "quoted-printable",
            'attachment; filename="../a.pdf"',
            "Buyer <buyer@westside-tools.example>",
            "=?utf-8?q?PO_2024-00815-MT?=",
        ]
    ),
)
BODIES = st.lists(
    st.one_of(
        st.binary(max_size=80),
        st.sampled_from(
            [b"--x\r\n", b"--x--\r\n", b"\r\n", b"PO 2024-00815-MT\r\n", b"JVBERi0xLjcK\r\n"]
        ),
    ),
    max_size=12,
).map(b"".join)


@st.composite
def grammar_message(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("latin-1") + b"\r\n" + draw(BODIES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=grammar_message())
def test_grammar_fuzz(raw: bytes) -> None:
    check(raw)


# --- the shared corpus as seeds -------------------------------------------------------------------


def test_corpus_seeded_fuzz(tmp_path: Path) -> None:
    files = corpus_files("emails", "**/*.eml")
    if not files:
        skip_or_fail(missing_reason("emails", "**/*.eml") or "no corpus emails")
    rng = random.Random(SEED)
    pool = [p.read_bytes() for p in rng.sample(files, min(len(files), 200))]
    run_fuzz(pool, min(SECONDS, 4.0), SEED + 1, tmp_path)
