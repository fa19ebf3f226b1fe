"""PO numbers laid out next to their label on a PDF page: label-to-value proximity.

The text pass (``extractors.text``) reads "PO Number: 2023-00125-WS" written on one line. This
module reads what only positions tell: a value on the line *below* its label ("PO Number" over
"2023-00125-WS", as in a header row over a row of values), a value far to the right of its label
(tabbed forms), and table cells (the cell right of, or below, a label cell).

Each value found this way is judged by the same rules as text: ``scan_text`` runs on
"<label>: <value>", so normalization, validity, malformed numbers and decoys work exactly as
for text. Only labelled candidates come out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import regex

from extractors.rules import CustomerRules
from extractors.text import dedupe, names_another_number, scan_text
from extractors.types import Candidate, Problem, Unreadable, Word

Table = tuple[tuple[str | None, ...], ...]

_COLUMN_GAP = 1.2  # a gap wider than this many line heights separates columns (or cells)
_BELOW_REACH = 3.0  # how far below a label (in line heights) its value may start
_RIGHT_REACH = 250.0  # points: the farthest a value may sit right of its label
_SEPARATORS = " \t:#.-\u2013\u2014=>|"  # ASCII punctuation, en and em dash
_TIMEOUT = 0.5


@dataclass(frozen=True, slots=True)
class _Line:
    words: tuple[Word, ...]  # left to right
    top: float
    bottom: float

    @property
    def height(self) -> float:
        return max(1.0, self.bottom - self.top)


@dataclass(frozen=True, slots=True)
class _Label:
    line: int  # index in the page's lines
    first: int  # index of its first and last word in the line
    last: int
    text: str
    rest: str  # what follows the label inside its last word ("PO#" -> "#")


def layout_candidates(
    words: Sequence[Word],
    tables: Sequence[Table],
    rules: CustomerRules,
    source: str,
    page: int,
) -> list[Candidate]:
    """Labelled candidates of one customer found by position on one page."""
    return layout_scan(words, tables, rules, source, page)[0]


def layout_scan(
    words: Sequence[Word],
    tables: Sequence[Table],
    rules: CustomerRules,
    source: str,
    page: int,
) -> tuple[list[Candidate], list[Problem]]:
    """``layout_candidates`` plus the problems met (a customer pattern that timed out)."""
    found: list[Candidate] = []
    problems: list[Problem] = []
    try:
        lines = _lines(words)
        for label in _labels(lines, rules):
            found.extend(
                _from_words(lines, label, rules, source=source, page=page, problems=problems)
            )
        for table in tables:
            found.extend(_from_table(table, rules, source, page, problems))
    except TimeoutError:
        problems.append(
            Problem(source, Unreadable.PATTERN_TIMEOUT, f"customer {rules.id}", blocking=False)
        )
    return dedupe(found), _unique(problems)


# -- lines and labels ---------------------------------------------------------------------------


def _lines(words: Sequence[Word]) -> list[_Line]:
    """Words grouped into lines: a word joins a line when its middle lies within the line."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.top, w.x0)):
        middle = (word.top + word.bottom) / 2
        if lines:
            current = lines[-1]
            top = min(w.top for w in current)
            bottom = max(w.bottom for w in current)
            if top <= middle <= bottom:
                current.append(word)
                continue
        lines.append([word])
    return [
        _Line(
            words=tuple(sorted(ws, key=lambda w: w.x0)),
            top=min(w.top for w in ws),
            bottom=max(w.bottom for w in ws),
        )
        for ws in lines
    ]


def _labels(lines: list[_Line], rules: CustomerRules) -> list[_Label]:
    labels = []
    for index, line in enumerate(lines):
        text, starts = _join(line.words)
        for m in rules.label_pattern.finditer(text, timeout=_TIMEOUT):
            first = _word_at(starts, m.start())
            last = _word_at(starts, m.end() - 1)
            word_end = starts[last] + len(line.words[last].text)
            labels.append(_Label(index, first, last, m.group(0), text[m.end() : word_end]))
    return labels


def _join(words: Sequence[Word]) -> tuple[str, list[int]]:
    starts, parts, pos = [], [], 0
    for word in words:
        starts.append(pos)
        parts.append(word.text)
        pos += len(word.text) + 1
    return " ".join(parts), starts


def _word_at(starts: list[int], offset: int) -> int:
    index = 0
    for i, start in enumerate(starts):
        if start <= offset:
            index = i
    return index


# -- values next to a label ---------------------------------------------------------------------


def _from_words(
    lines: list[_Line],
    label: _Label,
    rules: CustomerRules,
    *,
    source: str,
    page: int,
    problems: list[Problem],
) -> list[Candidate]:
    line = lines[label.line]
    label_words = line.words[label.first : label.last + 1]
    x0 = min(w.x0 for w in label_words)
    x1 = max(w.x1 for w in label_words)
    height = line.height

    right_words = _cell(line.words, label.last + 1, height)
    right = " ".join(w.text for w in right_words)
    if right_words and right_words[0].x0 - x1 > _RIGHT_REACH:
        right_words, right = (), ""
    tail = label.rest.strip(_SEPARATORS)
    if tail and not _SECOND_HEADER.fullmatch(tail):
        return []  # "PO#2023-00125-WS" in one word: the text pass has it; nothing to lay out
    context = " ".join(w.text for w in line.words)
    found = _judge(
        label.text, right, rules, source=source, page=page, problems=problems, context=context
    )
    if any(c.valid for c in found):
        return found
    # The value below: only for a label that ends its cell (nothing right of it, a column gap,
    # or a colon), never for a label inside a phrase ("PO Date 12/03/2023").
    standalone = (
        not right_words
        or right_words[0].x0 - x1 > _COLUMN_GAP * height
        or label.rest.strip().endswith((":", "#"))
        # "Bestellnummer/Datum", "Bestellnummer/ Datum": two headers in one cell
        or (bool(tail) and not any(ch.isdigit() for ch in right))
    )
    # Headers set close together ("PO Number Order Date Supplier #"): no column gap after the
    # label, but no digit in its line's cell either. Only a well-formed number below counts
    # then (a phrase's "PO" over some other number is no malformed PO).
    header_row = not standalone and not any(ch.isdigit() for ch in right)
    if not standalone and not header_row:
        return found
    # The first value below decides; when it is a well-formed number, the label heads a
    # column, and the well-formed numbers in the rows under it are its values too (a remittance
    # advice, a statement: one PO a row), down to the first row that is not one.
    column: list[Candidate] = []
    previous = line
    for below in lines[label.line + 1 :]:
        if below.top - previous.bottom > _BELOW_REACH * height:
            break
        overlapping = [i for i, w in enumerate(below.words) if w.x1 > x0 - 2 and w.x0 < x1 + 2]
        if not overlapping:
            if column:
                break
            continue
        value_words = _cell_around(below.words, overlapping[0], overlapping[-1], below.height)
        value = " ".join(w.text for w in value_words)
        context = f"{' '.join(w.text for w in label_words)} / {value}"
        under = _judge(
            label.text, value, rules, source=source, page=page, problems=problems, context=context
        )
        if column and not any(c.valid for c in under):
            break
        if not any(c.valid for c in under):
            return found or ([] if header_row else under)
        column.extend(c for c in under if c.valid)
        previous = below
    return column or found


def _cell(words: Sequence[Word], start: int, height: float) -> tuple[Word, ...]:
    """The words from ``start`` rightwards up to the next column gap."""
    if start >= len(words):
        return ()
    end = start + 1
    while end < len(words) and words[end].x0 - words[end - 1].x1 <= _COLUMN_GAP * height:
        end += 1
    return tuple(words[start:end])


def _cell_around(words: Sequence[Word], first: int, last: int, height: float) -> tuple[Word, ...]:
    """The words around ``first..last`` up to the column gaps on either side."""
    gap = _COLUMN_GAP * height
    while first > 0 and words[first].x0 - words[first - 1].x1 <= gap:
        first -= 1
    while last + 1 < len(words) and words[last + 1].x0 - words[last].x1 <= gap:
        last += 1
    return tuple(words[first : last + 1])


# -- values under another number's column header ----------------------------------------------


def under_decoy_header(words: Sequence[Word], raw: str, rules: CustomerRules) -> bool:
    """Whether every place ``raw`` is written on the page sits under a column header naming
    another number ("Invoice No.", "Delivery Note No.", "Customer No.") and no label of the
    customer. A row of values under a row of headers reads, as text, like a run of numbers: the
    text pass cannot tell the invoice number from the PO, the headers can."""
    tokens = raw.split(maxsplit=1)
    if not tokens:
        return False
    token = tokens[0]
    lines = _lines(words)
    seen = False
    for index, line in enumerate(lines):
        for w in line.words:
            if w.text.strip(_SEPARATORS + ",;()[]") != token:
                continue
            seen = True
            header = _header_above(lines, index, w)
            if not header or len(header) > _HEADER_CELL or not names_another_number(header):
                return False  # no header, or a sentence ("please quote the invoice number")
            try:
                if rules.label_pattern.search(header, timeout=_TIMEOUT):
                    return False
            except TimeoutError:
                return False  # cannot tell: the number stays
    return seen


_HEADER_CELL = 40  # characters of a column header cell
# "Bestellnummer/Datum", "Bestellung/Pos.": a header naming a second column of the same cell.
_SECOND_HEADER = regex.compile(r"/(?:[^\W\d_][^\d/]{0,20})?")


def _header_above(lines: list[_Line], index: int, word: Word) -> str:
    """The cell of the nearest line above ``word`` whose words overlap it and hold no digit (the
    column's header), each line in reach of the one below it: the cells of the rows between are
    the column's other values."""
    below = lines[index]
    others = [w for w in below.words if w is not word]  # the row's other values
    for above in reversed(lines[:index]):
        if below.top - above.bottom > _BELOW_REACH * below.height:
            return ""
        overlapping = [
            i for i, w in enumerate(above.words) if w.x1 > word.x0 - 2 and w.x0 < word.x1 + 2
        ]
        if overlapping:
            cell = _cell_around(above.words, overlapping[0], overlapping[-1], above.height)
            text = " ".join(w.text for w in cell)
            if not any(ch.isdigit() for ch in text):
                # Headers set close together read as one cell ("Invoice Delivered to /
                # Customer ref"): a header word over another value of the row heads that one.
                own = [
                    w
                    for w in cell
                    if _overlaps(w, word) or not any(_overlaps(w, o) for o in others)
                ]
                # (a cell too long for a header, a title or a sentence, is left whole)
                return " ".join(w.text for w in own) if own and len(text) <= _HEADER_CELL else text
            below = above  # a value of the same column: its header is further up
    return ""


def _overlaps(a: Word, b: Word) -> bool:
    return a.x1 > b.x0 and a.x0 < b.x1


# -- tables -------------------------------------------------------------------------------------


def _from_table(
    table: Table, rules: CustomerRules, source: str, page: int, problems: list[Problem]
) -> list[Candidate]:
    found: list[Candidate] = []
    for r, row in enumerate(table):
        for c, cell in enumerate(row):
            if not cell:
                continue
            m = rules.label_pattern.search(cell, timeout=_TIMEOUT)
            if m is None or cell[: m.start()].strip(_SEPARATORS):
                continue  # no label, or the label is not what the cell starts with
            if cell[m.end() :].strip(_SEPARATORS + "\n"):
                continue  # the value shares the label's cell: the text pass reads it
            right = next((x for x in row[c + 1 :] if x and x.strip()), None)
            below = table[r + 1][c] if r + 1 < len(table) and c < len(table[r + 1]) else None
            options = [v for v in (right, below) if v and v.strip()]
            judged = [
                _judge(
                    m.group(0),
                    v,
                    rules,
                    source=source,
                    page=page,
                    problems=problems,
                    context=f"{cell} | {v}",
                )
                for v in options
            ]
            firsts = [i for i, j in enumerate(judged) if any(x.valid for x in j)]
            chosen = judged[firsts[0]] if firsts else next((j for j in judged if j), [])
            found.extend(chosen)
            if firsts and len(options) - 1 == firsts[0] and options[-1] is below:
                # A column of POs under the label: the rows below it, down to the first that
                # is not a well-formed number.
                for lower in table[r + 2 :]:
                    value = lower[c] if c < len(lower) else None
                    more = _judge(
                        m.group(0),
                        value or "",
                        rules,
                        source=source,
                        page=page,
                        problems=problems,
                        context=f"{cell} | {value}",
                    )
                    if not any(x.valid for x in more):
                        break
                    found.extend(x for x in more if x.valid)
    return found


# -- judging a value ----------------------------------------------------------------------------


def _judge(
    label: str,
    value: str,
    rules: CustomerRules,
    *,
    source: str,
    page: int,
    problems: list[Problem],
    context: str,
) -> list[Candidate]:
    """Candidates for ``value`` written right after ``label``, by the text rules."""
    value = regex.sub(r"\s+", " ", value).strip(_SEPARATORS)
    if not value or not any(ch.isdigit() for ch in value):
        return []
    label_text = regex.sub(r"\s+", " ", label).strip()
    candidates, scan_problems = scan_text(f"{label_text}: {value}", rules, source, page=page)
    problems.extend(scan_problems)
    return [
        Candidate(
            raw=c.raw,
            normalized=c.normalized,
            source=c.source,
            valid=c.valid,
            context=context[:160],
            page=page,
            quoted=False,
            labelled=True,
            customer=c.customer,
        )
        for c in candidates
        if c.labelled
    ]


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
