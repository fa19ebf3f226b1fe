"""PO records from a CSV export of the ERP: parsing and checking only (the store upserts them).

The header names ``po_number`` and ``customer`` and optionally ``status``, ``amount``,
``currency``, ``issued_on`` and ``buyer``, in any order and case. The file may be UTF-8 (with or
without BOM), UTF-16 with BOM, or Windows-1252; comma-, semicolon- or tab-separated (an Excel
``sep=;`` first line is honoured). Each bad row becomes one ``RowError`` naming its physical line
and (first bad) column; the good rows are kept.

A quoted cell may hold line breaks, as Excel writes them: in the free-text ``buyer`` column (and
in ignored columns) each run of them becomes one space; in the other columns a line break is
refused. A multi-line cell whose inner lines look like rows of their own is taken for a quote
left open, which would swallow those rows: that record is refused, naming its span.

``status`` is free text; a value that is neither ``open`` nor one that ``PoRecord.closed`` counts
as closed gets a note (the PO counts as open), once per distinct value.

Amounts follow the file's convention: in a comma-separated file "." is the decimal point and ","
groups thousands ("1,234.50", quoted); in a semicolon-separated file "," is the decimal comma and
"." groups thousands ("1.234,50"). When both marks appear the last one is the decimal mark. A lone
grouping mark followed by exactly three digits groups thousands ("1.234" is 1234 in a ";" file);
in a tab-separated file, whose convention is unknown, that case is refused as ambiguous.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from inbox_watcher.model import CLOSED_STATUSES, PoRecord

Normalizer = Callable[[str, str], str | None]
"""(customer, raw PO number) -> canonical number, or None when it is not a valid number (or
``ValueError`` saying why, shown with the refused row)."""

REQUIRED = ("po_number", "customer")
OPTIONAL = ("status", "amount", "currency", "issued_on", "buyer")
FREE_TEXT = ("buyer",)  # where a line break inside a quoted cell is kept (as a space)
# "open" as ERP exports in other languages write it (no note for them: the PO counts as open)
OPEN_WORDS = (
    "open", "offen", "ouvert", "ouverte", "abierto", "abierta", "aberto", "aberta", "aperto",
    "aperta", "öppen", "åben", "åpen", "avoin", "otwarte", "otevřeno", "otvorené", "nyitott",
    "deschis", "a\u00e7\u0131k", "active", "released", "approved", "freigegeben",
)  # fmt: skip
CLOSED_WORDS = CLOSED_STATUSES  # as PoRecord.closed decides
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
MAX_CELL_CHARS = 1000
MAX_PO_CHARS = 100
MAX_RECORD_LINES = 50  # a quoted cell may span lines, but not more than this many
_DELIMITERS = (",", ";", "\t")
_FORMULA_START = ("=", "+", "-", "@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_SEP_HINT = re.compile(r"sep=(.)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"\d(?:[\d.,]*\d)?")
_DIGIT_SPACE = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_MONEY_DIGITS = 14
_MONEY_PLACES = 4
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem with one line (``line`` 0: the file as a whole)."""

    line: int  # 1-based physical line in the file
    message: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    records: tuple[PoRecord, ...]
    errors: tuple[RowError, ...]  # one per row refused (or the header, or the whole file)
    notes: tuple[RowError, ...] = ()  # not fatal: repeats, ignored columns, encoding, odd statuses
    encoding: str = "utf-8"
    delimiter: str = ","
    file_refused: bool = False  # the errors are the file's or its header's: no row was read
    columns: frozenset[str] = frozenset()  # the known columns the header has


class _Refused(ValueError):
    """A cell's problem; becomes a RowError for its line and column."""


def import_pos_csv(
    path: Path,
    *,
    known_customers: Collection[str] | None = None,
    normalize: Normalizer | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    customer_names: Mapping[str, str] | None = None,
) -> ImportResult:
    """Read a PO records CSV file. Never raises for bad content; see ``read_pos_csv``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            message = f"the file has {size} bytes, more than the limit of {max_bytes}"
            return ImportResult(records=(), errors=(RowError(0, message),), file_refused=True)
        data = path.read_bytes()
    except OSError as exc:
        return ImportResult(
            records=(), errors=(RowError(0, f"cannot read {path}: {exc}"),), file_refused=True
        )
    return read_pos_csv(
        data, known_customers=known_customers, normalize=normalize, customer_names=customer_names
    )


def read_pos_csv(
    data: bytes,
    *,
    known_customers: Collection[str] | None = None,
    normalize: Normalizer | None = None,
    customer_names: Mapping[str, str] | None = None,
) -> ImportResult:
    """Parse the bytes of a PO records CSV export into records, errors and notes.
    ``customer_names``: the customers' names to their ids, read as the ids (with a note)."""
    text, encoding, note = _decode(data)
    notes: list[RowError] = [note] if note else []
    lines = _LINE.findall(text)
    header_at = _first_content_line(lines, 0)
    if header_at is None:
        return ImportResult(
            (), (RowError(0, "the file is empty"),), tuple(notes), encoding, file_refused=True
        )
    hint = _SEP_HINT.fullmatch(lines[header_at].strip("\r\n"))
    forced = hint.group(1) if hint else None
    if hint:
        header_at = _first_content_line(lines, header_at + 1)
        if header_at is None:
            return ImportResult(
                (),
                (RowError(0, "the file has no header"),),
                tuple(notes),
                encoding,
                file_refused=True,
            )
    delimiter, columns, header_errors = _header(lines[header_at], header_at + 1, forced)
    if header_errors:
        return ImportResult(
            (), tuple(header_errors), tuple(notes), encoding, delimiter, file_refused=True
        )
    unknown = [name for name in columns if name and name not in REQUIRED + OPTIONAL]
    if unknown:
        notes.append(RowError(header_at + 1, f"unknown columns ignored: {', '.join(unknown)}"))

    reader = _RowReader(
        columns=columns,
        delimiter=delimiter,
        decimal={",": ".", ";": ","}.get(delimiter),
        known_customers=None if known_customers is None else frozenset(known_customers),
        normalize=normalize,
        names={" ".join(k.split()).casefold(): v for k, v in (customer_names or {}).items()},
    )
    kept: dict[tuple[str, str], tuple[int, PoRecord]] = {}
    errors: list[RowError] = []
    odd_statuses: dict[str, list[int]] = {}
    for line, last, cells in _records(lines, header_at + 1, delimiter):
        if isinstance(cells, RowError):
            errors.append(cells)
            continue
        swallowed = reader.swallowed(cells) if last > line else None
        if swallowed is not None:
            message = (
                f"a quoted cell runs over lines {line}-{last} and holds what look like rows: "
                "is a quote left open?"
            )
            errors.append(RowError(line, message, column=swallowed))
            continue
        record, problem = reader.read(line, cells)
        if problem is not None:
            errors.append(problem)
        if record is None:
            continue
        if not record.closed and record.status.strip().lower() not in OPEN_WORDS:
            odd_statuses.setdefault(record.status.strip().lower(), []).append(line)
        key = (record.customer, record.po_number)
        if key in kept:
            earlier = kept.pop(key)[0]
            notes.append(
                RowError(
                    line,
                    f"PO {record.po_number} of {record.customer} repeats line {earlier}; "
                    "the later row wins",
                )
            )
        kept[key] = (line, record)
    records = tuple(record for _, record in kept.values())
    notes.extend(_status_note(status, at) for status, at in odd_statuses.items())
    if reader.renamed:
        shown = ", ".join(f"{name!r} as {cid}" for name, cid in sorted(reader.renamed.items()))
        first = reader.renamed_at[0] if reader.renamed_at else header_at + 1
        notes.append(RowError(first, f"customer names read as their ids: {shown}"))
    notes.sort(key=lambda note: note.line)
    present = frozenset(name for name in columns if name in REQUIRED + OPTIONAL)
    return ImportResult(records, tuple(errors), tuple(notes), encoding, delimiter, columns=present)


def _status_note(status: str, lines: Sequence[int]) -> RowError:
    later = lines[1:]
    shown = ", ".join(map(str, later[:5])) + (", ..." if len(later) > 5 else "")
    where = "" if not later else f" (also on line{'s' if len(later) > 1 else ''} {shown})"
    message = (
        f"status {status!r}{where} is not a known word: the PO counts as open (only "
        f"{', '.join(CLOSED_WORDS[:-1])} and {CLOSED_WORDS[-1]}, or the same words in other "
        "languages such as erledigt, fermé, cerrado, gesloten, count as closed)"
    )
    return RowError(lines[0], message, column="status")


# --- decoding and splitting ---------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str, RowError | None]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", None
        except UnicodeDecodeError as exc:
            return "", "utf-16", RowError(0, f"the file starts as UTF-16 but is not: {exc.reason}")
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError:
        pass
    try:
        text = body.decode("cp1252")
        return text, "cp1252", RowError(0, "the file is not UTF-8; read it as Windows-1252")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
        return (
            text,
            "latin-1",
            RowError(0, "the file is neither UTF-8 nor Windows-1252; read it as Latin-1"),
        )


def _first_content_line(lines: Sequence[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return None


def _split(line: str, delimiter: str) -> list[str] | None:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None


def _column_name(cell: str) -> str:
    name = cell.strip().strip("\ufeff").strip().lower()
    return re.sub(r"[\s\-]+", "_", name)


def _header(line: str, number: int, forced: str | None) -> tuple[str, list[str], list[RowError]]:
    """The delimiter, the column names, and what is wrong with the header."""
    choices = (forced,) if forced else _DELIMITERS
    parsed: dict[str, list[str]] = {}
    for delimiter in choices:
        cells = _split(line, delimiter)
        if cells is None:
            continue
        found = [_column_name(c) for c in cells]
        parsed[delimiter] = found
        if set(REQUIRED) <= set(found):
            break
    else:
        delimiter = max(choices, key=line.count)
    names = parsed.get(delimiter)
    if names is None:
        return delimiter, [], [RowError(number, "the header line has a broken quote")]
    found_names = ", ".join(n for n in names if n) or "none"
    errors = [
        RowError(
            number,
            f"the header has no {name} column (columns found: {found_names}; rename the one "
            f"that holds it to {name})",
            column=name,
        )
        for name in REQUIRED
        if name not in names
    ]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    errors.extend(
        RowError(number, "the header names this column twice", column=n) for n in repeated
    )
    return delimiter, names, errors


def _records(
    lines: Sequence[str], start: int, delimiter: str
) -> Iterator[tuple[int, int, list[str] | RowError]]:
    """(first line, last line, cells) per record, 1-based; a broken quote costs only its line."""
    index = start
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        window = lines[index : index + MAX_RECORD_LINES]
        reader = csv.reader(window, delimiter=delimiter, strict=True)
        try:
            cells = next(reader)
        except csv.Error as exc:
            if "unexpected end of data" in str(exc) or reader.line_num > 1:
                message = "unterminated quote: a quoted cell is not closed"
            else:
                message = f"malformed quoting ({exc})"
            yield index + 1, index + 1, RowError(index + 1, message)
            index += 1
            continue
        consumed = max(1, reader.line_num)
        yield index + 1, index + consumed, cells
        index += consumed


# --- one row ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RowReader:
    columns: Sequence[str]
    delimiter: str
    decimal: str | None  # the file's decimal mark, None when unknown (tab-separated)
    known_customers: frozenset[str] | None
    normalize: Normalizer | None
    # Customer names (case-folded) to ids: an ERP export names the customer, not our file.
    names: Mapping[str, str] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)  # what was read so, for one note
    renamed_at: list[int] = field(default_factory=list)  # the lines of the rows read so

    def swallowed(self, cells: Sequence[str]) -> str | None:
        """The column of a multi-line cell whose inner lines look like rows, or None.

        A line inside a quoted cell looks like a row when it holds as many delimiters as a full
        row, or (customers known) names a known customer and a PO number where a row would."""
        width = len(self.columns)
        po_at, customer_at = self.columns.index("po_number"), self.columns.index("customer")
        for index, cell in enumerate(cells):
            for inner in _LINE_BREAK.split(cell)[1:]:
                parts = inner.split(self.delimiter)
                if len(parts) >= width or (
                    self.known_customers is not None
                    and len(parts) > max(po_at, customer_at)
                    and parts[customer_at].strip() in self.known_customers
                    and parts[po_at].strip()
                ):
                    return self.columns[index] if index < width else None
        return None

    def read(self, line: int, cells: list[str]) -> tuple[PoRecord | None, RowError | None]:
        width = len(self.columns)
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            message = (
                f"the row has {len(cells)} cells but the header has {width} "
                "(a value holding the delimiter must be quoted)"
            )
            return None, RowError(line, message)
        padded = cells + [""] * (width - len(cells))
        values = {
            name: _one_line(cell) if name in FREE_TEXT else cell.strip()
            for name, cell in zip(self.columns, padded, strict=False)
            if name in REQUIRED + OPTIONAL
        }
        errors: list[tuple[str, str]] = []
        for name, value in values.items():
            try:
                _check_cell(name, value)
            except _Refused as exc:
                errors.append((name, str(exc)))
        if errors:
            return None, _row_error(line, errors)
        fields: dict[str, object] = {}
        renamed = len(self.renamed)
        for name, parse in self._parsers():
            try:
                fields[name] = parse(values)
            except _Refused as exc:
                errors.append((name, str(exc)))
        if errors:
            return None, _row_error(line, errors)
        if len(self.renamed) > renamed:
            self.renamed_at.append(line)
        record = PoRecord(
            po_number=str(fields["po_number"]),
            customer=str(fields["customer"]),
            status=str(fields["status"]),
            amount=_typed(fields["amount"], Decimal),
            currency=_typed(fields["currency"], str),
            issued_on=_typed(fields["issued_on"], dt.date),
            buyer=_typed(fields["buyer"], str),
        )
        return record, None

    def _parsers(self) -> list[tuple[str, Callable[[dict[str, str]], object]]]:
        return [
            ("customer", self._customer),
            ("po_number", self._po_number),
            ("status", lambda v: v.get("status") or "open"),
            ("amount", lambda v: _amount(v.get("amount", ""), self.decimal)),
            ("currency", lambda v: _currency(v.get("currency", ""))),
            ("issued_on", lambda v: _date(v.get("issued_on", ""))),
            ("buyer", lambda v: v.get("buyer") or None),
        ]

    def _customer(self, values: dict[str, str]) -> str:
        customer = values["customer"]
        if not customer:
            raise _Refused("the customer is empty")
        if self.known_customers is not None and customer not in self.known_customers:
            named = self.names.get(" ".join(customer.split()).casefold())
            if named is None:
                raise _Refused(
                    f"unknown customer {customer!r} (the customer column holds a customer "
                    "file's name without .toml, or the name the file gives the customer)"
                )
            self.renamed[customer] = named
            return named
        return customer

    def _po_number(self, values: dict[str, str]) -> str:
        raw = values["po_number"]
        if not raw:
            raise _Refused("the PO number is empty")
        if len(raw) > MAX_PO_CHARS:
            raise _Refused(f"the PO number is longer than {MAX_PO_CHARS} characters")
        customer = values["customer"]
        if self.known_customers is not None and customer not in self.known_customers:
            # a customer given by its name: its file's rules, as for its id
            customer = self.names.get(" ".join(customer.split()).casefold(), "")
        if self.normalize is None or not customer:
            return raw  # no customer: its own error is reported; no rules to apply
        refused = f"{raw!r} is not a valid PO number for customer {customer}"
        try:
            canonical = self.normalize(customer, raw)
        except ValueError as exc:
            raise _Refused(f"{refused}: {exc}") from None
        if canonical is None:
            raise _Refused(refused)
        return canonical


def _one_line(cell: str) -> str:
    """The cell with each run of line breaks (and the blanks around it) made one space."""
    if "\r" not in cell and "\n" not in cell:
        return cell.strip()
    return " ".join(part.strip() for part in _LINE_BREAK.split(cell) if part.strip())


def _row_error(line: int, problems: Sequence[tuple[str, str]]) -> RowError:
    """One error for a refused row: its first bad column, then the others."""
    (column, message), *others = problems
    also = "".join(f"; also column {name}: {text}" for name, text in others)
    return RowError(line, message + also, column=column)


def _typed(value: object, kind: type[_T]) -> _T | None:
    return value if isinstance(value, kind) else None


def _check_cell(name: str, value: str) -> None:
    if len(value) > MAX_CELL_CHARS:
        raise _Refused(f"the cell is longer than {MAX_CELL_CHARS} characters")
    if _LINE_BREAK.search(value):
        free = " or ".join(FREE_TEXT)
        raise _Refused(
            f"the cell holds a line break, which is not allowed in the {name} column "
            f"(only in {free})"
        )
    if _CONTROL.search(value):
        raise _Refused("the cell holds a control character")
    if value.startswith(_FORMULA_START):
        if name == "amount" and re.fullmatch(r"-\d[\d.,\s\u00a0\u202f]*", value):
            return  # a negative amount
        raise _Refused(
            f"the cell starts with {value[0]!r}, which a spreadsheet runs as a formula "
            f"(CSV injection); refused: {value[:40]!r}"
        )


def _currency(value: str) -> str | None:
    if not value:
        return None
    if not _CURRENCY.fullmatch(value):
        raise _Refused(f"currency {value!r} is not a three-letter code such as EUR")
    return value.upper()


def _date(value: str) -> dt.date | None:
    if not value:
        return None
    iso = _ISO_DATE.fullmatch(value)
    dotted = _DOTTED_DATE.fullmatch(value)
    try:
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        if dotted:
            return dt.date(int(dotted[3]), int(dotted[2]), int(dotted[1]))
    except ValueError as exc:
        raise _Refused(f"date {value!r} does not exist ({exc})") from exc
    raise _Refused(f"date {value!r} is not YYYY-MM-DD or DD.MM.YYYY")


def _amount(value: str, decimal: str | None) -> Decimal | None:
    """The amount under the file's decimal convention (see the module docstring)."""
    if not value:
        return None
    negative = value.startswith("-")
    body = _DIGIT_SPACE.sub("", value[1:] if negative else value)
    if not _NUMBER.fullmatch(body):
        raise _Refused(f"amount {value!r} is not a number")
    integer, fraction = _split_amount(value, body, decimal)
    digits = integer.lstrip("0") or "0"
    if len(digits) > _MONEY_DIGITS:
        raise _Refused(f"amount {value!r} has more than {_MONEY_DIGITS} digits before the point")
    if len(fraction) > _MONEY_PLACES:
        raise _Refused(f"amount {value!r} has more than {_MONEY_PLACES} decimal places")
    number = Decimal(f"{digits}.{fraction}" if fraction else digits)
    return -number if negative else number


def _split_amount(value: str, body: str, decimal: str | None) -> tuple[str, str]:
    """(integer digits, fraction digits) of an amount written with "." and "," marks."""
    marks = {m for m in ".," if m in body}
    if not marks:
        return body, ""
    if len(marks) == 2:
        point = "." if body.rfind(".") > body.rfind(",") else ","
        group = "," if point == "." else "."
        if body.count(point) > 1:
            raise _Refused(f"amount {value!r} has more than one decimal mark")
        integer, fraction = body.split(point)
        return _ungroup(value, integer, group), fraction
    [mark] = marks
    if body.count(mark) > 1:
        return _ungroup(value, body, mark), ""
    integer, fraction = body.split(mark)
    if mark == decimal or len(fraction) != 3:
        return integer, fraction
    if decimal is None:
        raise _Refused(
            f"amount {value!r} is ambiguous in a tab-separated file: {mark!r} may group "
            "thousands or mark decimals; write it without grouping"
        )
    return _ungroup(value, body, mark), ""


def _ungroup(value: str, integer: str, group: str) -> str:
    parts = integer.split(group)
    if not (1 <= len(parts[0]) <= 3 and all(len(p) == 3 for p in parts[1:])):
        raise _Refused(f"amount {value!r} has misplaced thousands separators")
    return "".join(parts)
