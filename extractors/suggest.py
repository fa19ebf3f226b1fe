""" "Did you mean": the known PO closest to a number someone typed.

Distance is Levenshtein (two neighbours swapped count as one edit) over upper-cased text in
which the usual look-alikes are folded to one character (O/Q/D -> 0, I/L/| -> 1, S -> 5, B -> 8,
Z -> 2, G -> 6), plus a small cost for the fold itself so that an exact match beats a look-alike
one. A suggestion is made only when the distance is small for the number's length: at most 2
edits (1 for a well-formed number), and under a third of its length.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

_FOLD = str.maketrans(
    {
        "O": "0",
        "Q": "0",
        "D": "0",
        "I": "1",
        "L": "1",
        "|": "1",
        "S": "5",
        "B": "8",
        "Z": "2",
        "G": "6",
    }
)
_SEPARATORS = str.maketrans("", "", " -/_.")


def fold(text: str) -> str:
    """Upper-case, separators removed, look-alike letters turned into their digit."""
    return text.upper().translate(_SEPARATORS).translate(_FOLD)


def distance(a: str, b: str, limit: int = 3) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it exceeds ``limit``."""
    return int(Levenshtein.distance(a, b, score_cutoff=limit))


class Lookalikes:
    """Known numbers, folded once, for many "did you mean" questions (rapidfuzz's C++ edit
    distance over the folded list: a 10,000-number list costs ~1 ms a question, where a Python
    loop took ~100 ms)."""

    def __init__(self, known: Iterable[str]) -> None:
        self._numbers = list(known)
        self._folded = [fold(n) for n in self._numbers]
        # "PO 12345" for ACME-123456: people leave out a prefix all the numbers share. Their
        # rest is compared too when the typed number does not carry the prefix.
        self._prefix = _shared_prefix(self._numbers)
        self._cores = [fold(n[len(self._prefix) :]) for n in self._numbers] if self._prefix else []

    @functools.cached_property
    def _by_groups(self) -> dict[tuple[int, ...], list[str]]:
        by: dict[tuple[int, ...], list[str]] = {}
        for n in self._numbers:
            groups = _digit_groups(n)
            if groups:
                by.setdefault(groups, []).append(n)
                # "UK-PO-24-873" for UK-PO-2024-00873: a year written with two digits.
                short = _short_years(groups)
                if short != groups:
                    by.setdefault(short, []).append(n)
        return by

    @functools.cached_property
    def _by_last_group(self) -> dict[str, list[str]]:
        """The numbers by their last run of digits, unpadded, where it is not the whole number."""
        by: dict[str, list[str]] = {}
        for n in self._numbers:
            runs = _DIGITS.findall(n)
            if runs and fold(n) != runs[-1]:
                by.setdefault(runs[-1].lstrip("0"), []).append(n)
        return by

    def __len__(self) -> int:
        return len(self._numbers)

    def closest(self, number: str) -> str | None:
        """The known number most like ``number`` (of equally close ones the first in sorted
        order), or None."""
        tied = self._nearest(number)
        return tied[0] if tied else None

    def closest_all(self, number: str, limit: int = 3, max_edits: int = 2) -> list[str]:
        """The known numbers most like ``number``, all equally close, sorted: when two POs are
        one keystroke away, a person must see both. More than ``limit`` equally close (a typo
        in the last digit of a long run of numbers) is no hint at all: none. ``max_edits``: 1
        for a well-formed number, which is more likely a new PO than two slips of one."""
        tied = self._nearest(number, max_edits)
        return tied if len(tied) <= limit else []

    def _nearest(self, number: str, max_edits: int = 2) -> list[str]:
        """Every known number at the smallest distance from ``number``, sorted, each once."""
        target = fold(number)
        if not target:
            return []
        # Under a third of the length, at most ``max_edits``; two digits swapped are one edit.
        allowed = min(max_edits, (len(target) - 1) // 3)
        near = process.extract(
            target, self._folded, scorer=OSA.distance, score_cutoff=allowed, limit=None
        )
        if not near and self._cores and not target.startswith(fold(self._prefix)):
            near = process.extract(
                target, self._cores, scorer=OSA.distance, score_cutoff=allowed, limit=None
            )
            if not near and max_edits >= 2 and target.isdigit() and len(target) >= 3:
                # "n. 177" for OA 24/00177: the prefix and the zeros padding the rest left out.
                unpadded = target.lstrip("0")
                near = [(c, 0, i) for i, c in enumerate(self._cores) if c.lstrip("0") == unpadded]
        if not near and max_edits >= 2 and target.isdigit() and len(target) >= 4:
            # "po 1215" for CBR-24-1215 where the records hold other years: the last group of
            # digits of a number (four or more), the rest left out.
            tails = self._by_last_group.get(target.lstrip("0"))
            if tails:
                return sorted(set(tails))
        lettered = _LETTERS_THEN_DIGITS.fullmatch(number.upper().translate(_SEPARATORS))
        if not near and max_edits >= 2 and lettered:
            # "GD-0036" for GD/2025/0036: the prefix kept, the year left out.
            letters, digits = lettered.groups()
            tails = [
                n
                for n in self._by_last_group.get(digits.lstrip("0"), ())
                if n.upper().translate(_SEPARATORS).startswith(letters)
            ]
            if tails:
                return sorted(set(tails))
        if not near:
            # "2024-815" for 2024-00815-MT: the zeros padding each group and the letters left
            # out of a malformed number; the digit groups, as numbers, are the same.
            groups = _digit_groups(number) if max_edits >= 2 else ()
            found = self._by_groups.get(groups, ()) if groups else ()
            if groups and not found:
                # "BOP-2024-917" for BOP24-0917: the year written in full where the POs have two
                # digits (the other way round is in the table already).
                found = self._by_groups.get(_short_years(groups), ())
            return sorted(set(found))
        literal_typed = number.upper().translate(_SEPARATORS)
        scored: list[tuple[float, str]] = []
        for _, d, index in near:
            candidate = self._numbers[index]
            # two neighbours swapped are one slip here too ("1251" is as near 1215 as 1241)
            literal = OSA.distance(
                literal_typed, candidate.upper().translate(_SEPARATORS), score_cutoff=6
            )
            scored.append((d + literal / 10, candidate))
        if not scored:
            return []
        best = min(score for score, _ in scored)
        return sorted({c for score, c in scored if score == best})


_DIGITS = re.compile(r"\d+")
_LETTERS_THEN_DIGITS = re.compile(r"([A-Z]+)(\d{4,})")


def _short_years(groups: tuple[int, ...]) -> tuple[int, ...]:
    """The groups with a year's two last digits for each four-digit year ("2024" -> 24)."""
    return tuple(g % 100 if 1990 <= g <= 2099 else g for g in groups)


def _digit_groups(text: str) -> tuple[int, ...]:
    """The runs of digits as numbers (leading zeros dropped), when there are two or more."""
    groups = tuple(int(run) for run in _DIGITS.findall(text)[:8])
    return groups if len(groups) >= 2 else ()


def _shared_prefix(numbers: Sequence[str]) -> str:
    """What every number starts with, up to a separator, when it holds a letter ("ACME-",
    "CMD-", "UNI/PO/2024/" while all the POs are of one year), or ""."""
    if not numbers:
        return ""
    first = numbers[0].upper()
    end = len(first)
    for number in numbers[1:]:
        upper = number[:end].upper()
        end = next((i for i in range(end) if i >= len(upper) or upper[i] != first[i]), end)
    if end < len(first) or len(numbers) == 1:
        # Back to the end of a whole part: after a separator, or before the first digit.
        cut = max(first.rfind(sep, 0, end) for sep in " -/_.")
        first_digit = next((i for i, ch in enumerate(first) if ch.isdigit()), len(first))
        end = cut + 1 if cut >= 0 else min(end, first_digit)
    return numbers[0][:end] if any(ch.isalpha() for ch in first[:end]) else ""


def closest(number: str, known: Iterable[str]) -> str | None:
    """The known number most like ``number``; for one question (``Lookalikes`` for many)."""
    return Lookalikes(known).closest(number)
