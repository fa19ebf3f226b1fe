"""Text tables for the terminal: printable cells cut to a width, aligned by how wide the
characters show (a Japanese or Chinese character takes two columns, a combining accent none)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def shown_width(text: str) -> int:
    """Columns ``text`` takes on a terminal."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def cell(value: str, width: int) -> str:
    """Printable text only (a hostile subject cannot drive the terminal), whitespace runs as one
    space, cut with "…" to at most ``width`` columns."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if shown_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = shown_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def aligned(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, rule: bool = False
) -> list[str]:
    """The header line (``rule``: with a line of dashes under it) and one line a row, columns
    padded to their widest cell, two spaces apart, trailing spaces cut (cells are already
    ``cell``-cut)."""
    widths = [
        max([shown_width(h)] + [shown_width(r[i]) for r in rows]) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = (c + " " * (w - shown_width(c)) for c, w in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    dashes = [line(["-" * w for w in widths])] if rule else []
    return [line(headers), *dashes, *(line(r) for r in rows)]
