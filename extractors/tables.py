"""Tables written as text: the cells under a header cell, for the text scan.

Two shapes: "cell | cell" lines (HTML tables as ``inbox_watcher.html_text`` reads them, and
plain-text tables) and fixed-width columns (EDI and ERP reports). A label that is a whole header
cell labels the cells under it, row by row; a header cell that names another number ("Invoice
#") says the numbers under it are not POs. Offsets are into the text as given.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import regex

from extractors.phrases import DECOY, GAP, LABEL_REACH

MAX_ROWS = 200  # rows of a table read under a header cell
MAX_LINE = 2_000  # characters: a longer line is prose or noise, not a table row
MAX_CELL = 60  # characters: a longer cell holds no PO
_COLUMN_BREAK = regex.compile(r"[ \t]{2,}|\t")  # between fixed-width columns
_DIGIT = regex.compile(r"\d")


def cells_under(text: str, lstart: int, lend: int) -> list[tuple[int, int]]:
    """When the label is a whole header cell of a table written as "cell | cell" lines (HTML
    tables as read, plain-text tables), the spans of the cells under it in the rows below: the
    rows that follow without a blank line or another header row and have as many cells as the
    header. A table in fixed-width columns (an EDI or ERP report) is read by the column the
    label starts at."""
    while lend > lstart and text[lend - 1].isspace():  # "P.O." matches "PO " with its space
        lend -= 1
    line_start, line_end = line_around(text, lstart)
    if line_end - line_start > MAX_LINE:
        return []
    if text.find(" | ", line_start, line_end) < 0:
        return _fixed_width_cells_under(text, line_start, line_end, lstart, lend)
    header = cell_spans(text, line_start, line_end)
    column = header_cell_of(text, header, lstart, lend)
    if column is None:
        return []
    out = []
    for row_start, row_end in _rows_below(text, line_end):
        if text.find(" | ", row_start, row_end) < 0:
            break  # a blank line, or the end of the table
        row = cell_spans(text, row_start, row_end)
        if len(row) == len(header):  # a row with an empty cell is not aligned: skipped
            if _DIGIT.search(text, row_start, row_end) is None:
                break  # another header row: another table's columns
            cell_start, cell_end = row[column]
            if cell_end - cell_start <= MAX_CELL:
                out.append(row[column])
    return out


def _rows_below(text: str, line_end: int) -> Iterator[tuple[int, int]]:
    """The (start, end) of the lines after the one ending at ``line_end``: at most MAX_ROWS, up
    to the first line longer than MAX_LINE."""
    row_start = line_end + 1
    for _ in range(MAX_ROWS):
        if row_start >= len(text):
            return
        row_end = text.find("\n", row_start)
        row_end = len(text) if row_end < 0 else row_end
        if row_end - row_start > MAX_LINE:
            return
        yield row_start, row_end
        row_start = row_end + 1


def header_cell_of(text: str, header: list[tuple[int, int]], lstart: int, lend: int) -> int | None:
    """The index of the header cell the label (lstart..lend) wholly is, or None ("PO date",
    "Total PO value": more than the label and its "No." words)."""
    if len(header) < 2:
        return None
    column = next((i for i, (s, e) in enumerate(header) if s <= lstart and lend <= e), None)
    if column is None:
        return None
    cell_start, cell_end = header[column]
    if text[cell_start:lstart].strip() or not GAP.fullmatch(text, lend, cell_end):
        return None
    return column


def line_around(text: str, pos: int) -> tuple[int, int]:
    """The start and end (before its newline) of the line holding ``pos``."""
    end = text.find("\n", pos)
    return text.rfind("\n", 0, pos) + 1, len(text) if end < 0 else end


def _fixed_width_cells_under(
    text: str, line_start: int, line_end: int, lstart: int, lend: int
) -> list[tuple[int, int]]:
    """The values under a label that is a whole column header of a fixed-width table (a header
    line of three or more columns): in each row below (up to a blank line) that has columns
    too, the text that starts at the label's column."""
    # Cheap tests first: most labels stand in prose, not at a column's start.
    at_column = (
        lstart == line_start or text[lstart - 1] == "\t" or text[lstart - 2 : lstart] == "  "
    )
    if not at_column:
        return []  # the label is not where a column starts ("Our PO")
    after = _COLUMN_BREAK.search(text, lend, min(line_end, lend + LABEL_REACH))
    if after is None or not GAP.fullmatch(text, lend, after.start()):
        return []  # no column right of it, or more than the label in its cell ("PO date")
    if len(_COLUMN_BREAK.split(text[line_start:line_end].strip())) < 3:
        return []  # a header has three columns or more; "PO  will follow." is prose
    column = lstart - line_start
    out = []
    for row_start, row_end in _rows_below(text, line_end):
        if not text[row_start:row_end].strip():
            break
        at = row_start + column
        if (
            at < row_end
            and not text[at].isspace()
            and (column == 0 or text[at - 1] == " ")
            and _COLUMN_BREAK.search(text, row_start, row_end) is not None
        ):
            stop = _COLUMN_BREAK.search(text, at, row_end)
            cell_end = stop.start() if stop else row_end
            while cell_end > at and text[cell_end - 1].isspace():  # a "\r" before the newline
                cell_end -= 1
            if cell_end - at <= MAX_CELL:
                out.append((at, cell_end))
    return out


def under_decoy_cell(text: str, start: int, end: int) -> bool:
    """Whether the match is the whole cell of a " | " table row (or the first cell of a
    fixed-width column) under a header cell that names another number ("Invoice # | PO |
    Amount": the first column's values are invoices). The header is the nearest row above
    without a digit."""
    line_start, line_end = line_around(text, start)
    if line_end - line_start > MAX_LINE:
        return False
    if text.find(" | ", line_start, line_end) < 0:
        return _under_fixed_width_decoy(text, line_start, line_end, start, end)
    row = cell_spans(text, line_start, line_end)
    column = next((i for i, (s, e) in enumerate(row) if s == start and e == end), None)
    if column is None:
        return False
    above_end = line_start - 1
    for _ in range(MAX_ROWS):  # up to the header row, within the table
        if above_end < 0:
            return False
        above = text.rfind("\n", 0, above_end) + 1
        if above_end - above > MAX_LINE or text.find(" | ", above, above_end) < 0:
            return False  # the table began without a header row
        if _DIGIT.search(text, above, above_end) is None:
            break
        above_end = above - 1
    else:
        return False
    header = cell_spans(text, above, above_end)
    if len(header) != len(row):
        return False
    cell_start, cell_end = header[column]
    decoy = DECOY.match(text, cell_start, cell_end)
    return decoy is not None and bool(GAP.fullmatch(text, decoy.end(), cell_end))


def _under_fixed_width_decoy(
    text: str, line_start: int, line_end: int, start: int, end: int
) -> bool:
    """Whether the match is the whole first cell of a fixed-width column under a header cell
    that names another number ("Item    Description    Price" over "1234    12oz cup  1000"):
    the header is the nearest line above without a digit, with no blank line between, and has
    three columns or more."""
    if not (start == line_start or text[start - 1] == "\t" or text[start - 2 : start] == "  "):
        return False  # not where a column starts
    if end < line_end and _COLUMN_BREAK.match(text, end) is None:
        return False  # more than the number in its cell
    above_end = line_start - 1
    for _ in range(MAX_ROWS):  # up to the header row, within the table
        if above_end <= 0:
            return False
        above = text.rfind("\n", 0, above_end) + 1
        if above_end - above > MAX_LINE or not text[above:above_end].strip():
            return False  # a blank line: the rows began without a header
        if _DIGIT.search(text, above, above_end) is None:
            break
        above_end = above - 1
    else:
        return False
    if len(_COLUMN_BREAK.split(text[above:above_end].strip())) < 3:
        return False  # a sentence, not a header row
    at = above + (start - line_start)
    if at >= above_end or text[at].isspace() or (at > above and not text[at - 1].isspace()):
        return False  # no header cell starts at the number's column
    stop = _COLUMN_BREAK.search(text, at, above_end)
    cell_end = stop.start() if stop else above_end
    decoy = DECOY.match(text, at, cell_end)
    return decoy is not None and bool(GAP.fullmatch(text, decoy.end(), cell_end))


def forget() -> None:
    """Drop the rows read (``cell_spans``'s cache holds the text): at the end of each scan."""
    cell_spans.cache_clear()


@functools.lru_cache(maxsize=4096)
def cell_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The spans of the " | "-separated cells of text[start:end], stripped of spaces. Cached
    within a scan (``forget`` ends it): each label and match of a table asks for the same rows
    (the list is not to be changed)."""
    spans = []
    pos = start
    while True:
        bar = text.find(" | ", pos, end)
        cell_end = end if bar < 0 else bar
        s, e = pos, cell_end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        spans.append((s, e))
        if bar < 0:
            return spans
        pos = bar + 3
