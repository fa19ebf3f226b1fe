""" "Did you mean": the known PO closest to a number someone typed.

Distance is Levenshtein over upper-cased text in which the usual look-alikes are folded to one
character (O/Q/D -> 0, I/L/| -> 1, S -> 5, B -> 8, Z -> 2, G -> 6), plus a small cost for
the fold itself so that an exact match beats a look-alike one. A suggestion is made only when
the distance is small for the number's length: at most 2 edits, and under a third of its length.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        best = i
        for j, cb in enumerate(b, 1):
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            cur.append(value)
            best = min(best, value)
        if best > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def closest(number: str, known: Iterable[str]) -> str | None:
    """The known number most like ``number`` (ties: the first in sorted order), or None."""
    target = fold(number)
    if not target:
        return None
    allowed = min(2, (len(target) - 1) // 3)  # under a third of the length, at most 2
    best: tuple[float, str] | None = None
    for candidate in known:
        folded = fold(candidate)
        d = distance(target, folded, allowed)
        if d > allowed:
            continue
        literal = distance(
            number.upper().translate(_SEPARATORS), candidate.upper().translate(_SEPARATORS), 6
        )
        score = d + literal / 10
        if best is None or (score, candidate) < best:
            best = (score, candidate)
    return best[1] if best else None
