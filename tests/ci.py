"""What a missing prerequisite means: a skip on a developer's machine, a failure under CI=true.

One place for it, used by the server fixtures (tests/conftest.py), the corpus tests
(tests/corpus.py) and the fault tests.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when env CI says we run in CI, where nothing the tests need may be missing."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with ``reason``; under CI=true fail instead: `.ci/run` must have installed it."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}: .ci/run must provide it", pytrace=False)
    pytest.skip(reason)
