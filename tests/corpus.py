"""Where the shared public corpus is, and how a test gets one parametrized case per file.

The corpus lives beside the repository (``<repo>/../shared/corpus``) or wherever env
``PO_WATCHER_CORPUS`` points. When it is absent, the tests that read it collapse to a single case
that skips with the reason, or fails under ``CI=true``, where the corpus must be present::

    @pytest.mark.corpus
    @pytest.mark.parametrize("path", corpus_params("emails", "**/*.eml"))
    def test_reads(path: Path | None) -> None:
        path = require_file(path)
        ...

Each case's id is the file name relative to the subdir (``cpython/msg_01.eml``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.ci import skip_or_fail

ENV_VAR = "PO_WATCHER_CORPUS"
_REPO_ROOT = Path(__file__).resolve().parents[1]


def corpus_dir() -> Path:
    """The corpus root: env PO_WATCHER_CORPUS, else ``shared/corpus`` beside the repository."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return _REPO_ROOT.parent / "shared" / "corpus"


def missing_reason(subdir: str, pattern: str) -> str | None:
    """Why ``corpus_files(subdir, pattern)`` is empty, or None when it is not."""
    root = corpus_dir()
    if not root.is_dir():
        return f"the shared corpus is absent at {root} (set {ENV_VAR} to its path)"
    base = root / subdir
    if not any(p.is_file() for p in base.glob(pattern)):
        return f"no corpus file matches {subdir}/{pattern} under {root}"
    return None


def corpus_files(subdir: str, pattern: str) -> list[Path]:
    """The files under ``<corpus>/<subdir>`` matching the glob ``pattern``, sorted; [] if none."""
    base = corpus_dir() / subdir
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob(pattern) if p.is_file())


def corpus_params(subdir: str, pattern: str) -> list[Any]:
    """``pytest.param`` per file (id = path relative to the subdir), or one ``None`` case."""
    files = corpus_files(subdir, pattern)
    if files:
        base = corpus_dir() / subdir
        return [pytest.param(p, id=p.relative_to(base).as_posix()) for p in files]
    return [pytest.param(None, id="corpus-missing")]


def require_file(path: Path | None, subdir: str = "", pattern: str = "") -> Path:
    """The parametrized path, or skip/fail with the reason when the corpus had no files."""
    if path is None:
        reason = missing_reason(subdir, pattern) if subdir else None
        skip_or_fail(reason or f"the shared corpus is absent at {corpus_dir()}")
    return path
