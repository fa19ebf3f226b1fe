"""Every PDF of the shared public corpus through ``extract_pdf`` in the isolated pool.

The files are other projects' test PDFs: real invoices, encrypted, damaged, image-only, odd
encodings. None may crash this process; each ends with text, or with a specific problem. Where the
corpus manifest says what a file is (password required, zero bytes, no text layer), the problem
must be that one. All files run once, through one pool (a module fixture); one test per file checks
its result.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from extractors.pdf_extract import PdfExtraction, PdfLimits, extract_pdf
from extractors.rules import CustomerRules
from extractors.types import Unreadable
from inbox_watcher.isolation import Done, Failed, IsolatedPool
from tests.corpus import corpus_dir, corpus_files, corpus_params, require_file

pytestmark = pytest.mark.corpus

TIME_LIMIT = 20.0  # seconds per file
MEMORY_LIMIT = 1 << 30
SUBDIR, PATTERN = "pdfs", "**/*.pdf"


def manifest_notes() -> dict[str, str]:
    manifest = corpus_dir() / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    with manifest.open(encoding="utf-8", newline="") as f:
        return {row[0]: row[-1] for row in csv.reader(f, delimiter="\t") if len(row) >= 2}


def expected_kind(note: str) -> Unreadable | None:
    """The blocking problem the manifest's note promises, if any."""
    note = note.lower()
    if "user password required" in note or "password protected" in note:
        return Unreadable.ENCRYPTED
    if "zero-byte" in note or "empty file" in note:
        return Unreadable.CORRUPT
    if "no text layer" in note:
        return Unreadable.NO_TEXT
    return None


_rules = CustomerRules.compile(
    "corpus",
    name="Any customer",
    senders=["*@example.com"],
    pattern=r"(?<![\w/])[A-Z]{0,3}-?\d{4,10}(?![\w/])",  # broad: exercises candidates and layout
)
assert isinstance(_rules, CustomerRules), _rules
RULES: CustomerRules = _rules
FILES = corpus_files(SUBDIR, PATTERN)


def _extract_file(path: str) -> PdfExtraction:
    data = Path(path).read_bytes()
    return extract_pdf(data, Path(path).name, [RULES], PdfLimits())


@pytest.fixture(scope="module")
def results() -> dict[Path, Done[PdfExtraction] | Failed]:
    with IsolatedPool(memory_limit=MEMORY_LIMIT) as pool:
        outcomes = pool.map(_extract_file, [str(p) for p in FILES], time_limit=TIME_LIMIT)
    return dict(zip(FILES, outcomes, strict=True))


def test_corpus_has_the_pdfs() -> None:
    files = require_file(FILES[0] if FILES else None, SUBDIR, PATTERN)
    assert files.is_file()
    assert len(FILES) >= 100


@pytest.mark.parametrize("path", corpus_params(SUBDIR, PATTERN))
def test_pdf_ends_with_text_or_a_specific_problem(
    path: Path | None, results: dict[Path, Done[PdfExtraction] | Failed]
) -> None:
    path = require_file(path, SUBDIR, PATTERN)
    outcome = results[path]
    note = manifest_notes().get(str(path.relative_to(corpus_dir())), "")
    expected = expected_kind(note)
    if isinstance(outcome, Failed):
        # A limit or a native crash is a specific problem; a Python exception is a bug of ours.
        assert outcome.error is None, f"{outcome.error}\n{outcome.traceback}"
        assert outcome.kind in (
            Unreadable.TIME_LIMIT,
            Unreadable.MEMORY_LIMIT,
            Unreadable.WORKER_CRASHED,
        )
        assert expected is None, f"expected {expected} ({note}), got {outcome}"
        return
    extraction = outcome.value
    blocking = [p.kind for p in extraction.problems if p.blocking]
    for problem in extraction.problems:
        assert problem.source == f"attachment:{path.name}"
        assert problem.describe()
    if expected is not None:
        assert blocking == [expected], f"{note}: {extraction.problems}"
    elif blocking:
        assert len(blocking) == 1, extraction.problems
    else:
        assert extraction.page_count > 0
        assert extraction.pages_read > 0
    for candidate in extraction.candidates:
        assert candidate.page is not None
        assert 1 <= candidate.page <= extraction.pages_read
        assert candidate.customer == "corpus"
