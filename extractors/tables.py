"""Tables written as text: the cells under a header cell, for the text scan.

Two shapes: "cell | cell" lines (HTML tables as ``inbox_watcher.html_text`` reads them, and
plain-text tables) and fixed-width columns (EDI and ERP reports). A label that is a whole header
cell labels the cells under it, row by row; a header cell that names another number ("Invoice
#") says the numbers under it are not POs. Offsets are into the text as given.
"""

from __future__ import annotations

import regex

from extractors.phrases import DECOY, GAP, LABEL_REACH

MAX_ROWS = 200  # rows of a table read under a header cell
_COLUMN_BREAK = regex.compile(r"[ \t]{2,}|\t")  # between fixed-width columns


def cells_under(text: str, lstart: int, lend: int) -> list[tuple[int, int]]:
    """When the label is a whole header cell of a table written as "cell | cell" lines (HTML
    tables as read, plain-text tables), the spans of the cells under it in the rows below: the
    rows that follow without a blank line and have as many cells as the header. A table in
    fixed-width columns (an EDI or ERP report) is read by the column the label starts at."""
    while lend > lstart and text[lend - 1].isspace():  # "P.O." matches "PO " with its space
        lend -= 1
    line_start = text.rfind("\n", 0, lstart) + 1
    line_end = text.find("\n", lend)
    line_end = len(text) if line_end < 0 else line_end
    if text.find(" | ", line_start, line_end) < 0:
        return _fixed_width_cells_under(text, line_start, line_end, lstart, lend)
    header = _cell_spans(text, line_start, line_end)
    if len(header) < 2:
        return []
    column = next((i for i, (s, e) in enumerate(header) if s <= lstart and lend <= e), None)
    if column is None:
        return []
    cell_start, cell_end = header[column]
    if text[cell_start:lstart].strip() or not GAP.fullmatch(text, lend, cell_end):
        return []  # the label is not the whole cell ("PO date", "Total PO value")
    out = []
    row_start = line_end + 1
    for _ in range(MAX_ROWS):
        if row_start >= len(text):
            break
        row_end = text.find("\n", row_start)
        row_end = len(text) if row_end < 0 else row_end
        if " | " not in text[row_start:row_end]:
            break  # a blank line, or the end of the table
        row = _cell_spans(text, row_start, row_end)
        if len(row) == len(header):  # a row with an empty cell is not aligned: skipped
            out.append(row[column])
        row_start = row_end + 1
    return out


def _fixed_width_cells_under(
    text: str, line_start: int, line_end: int, lstart: int, lend: int
) -> list[tuple[int, int]]:
    """The values under a label that is a whole column header of a fixed-width table: in each
    row below (up to a blank line), the text that starts at the label's column."""
    # Cheap tests first: most labels stand in prose, not at a column's start.
    at_column = (
        lstart == line_start or text[lstart - 1] == "\t" or text[lstart - 2 : lstart] == "  "
    )
    if not at_column:
        return []  # the label is not where a column starts ("Our PO")
    after = _COLUMN_BREAK.search(text, lend, min(line_end, lend + LABEL_REACH))
    if after is None or not GAP.fullmatch(text, lend, after.start()):
        return []  # no column right of it, or more than the label in its cell ("PO date")
    column = lstart - line_start
    out = []
    row_start = line_end + 1
    for _ in range(MAX_ROWS):
        row_end = text.find("\n", row_start)
        row_end = len(text) if row_end < 0 else row_end
        row = text[row_start:row_end]
        if row_start >= len(text) or not row.strip():
            break
        at = row_start + column
        if (
            column < len(row)
            and not row[column].isspace()
            and (column == 0 or row[column - 1] == " ")
        ):
            stop = _COLUMN_BREAK.search(text, at, row_end)
            out.append((at, stop.start() if stop else row_end))
        row_start = row_end + 1
    return out


def under_decoy_cell(text: str, start: int, end: int) -> bool:
    """Whether the match is the whole cell of a " | " table row under a header cell that names
    another number ("Invoice # | PO | Amount": the first column's values are invoices)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    if " | " not in text[line_start:line_end]:
        return False
    row = _cell_spans(text, line_start, line_end)
    column = next((i for i, (s, e) in enumerate(row) if s == start and e == end), None)
    if column is None:
        return False
    header_start = line_start
    for _ in range(MAX_ROWS):  # up to the first line of the table
        if header_start == 0:
            break
        above = text.rfind("\n", 0, header_start - 1) + 1
        if " | " not in text[above : header_start - 1]:
            break
        header_start = above
    if header_start == line_start:
        return False
    header_end = text.find("\n", header_start)
    header = _cell_spans(text, header_start, header_end)
    if len(header) != len(row):
        return False
    cell_start, cell_end = header[column]
    decoy = DECOY.match(text, cell_start, cell_end)
    return decoy is not None and bool(GAP.fullmatch(text, decoy.end(), cell_end))


def _cell_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The spans of the " | "-separated cells of text[start:end], stripped of spaces."""
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
