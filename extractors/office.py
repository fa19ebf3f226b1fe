"""Excel workbooks (.xlsx, .xlsm) and Word documents (.docx) as text to search.

Order desks receive many orders as an Excel order form or a Word purchase order. Both are zip
files of XML: a workbook's cells become "cell | cell" lines, one per row (the shape of a CSV
attachment or an HTML table's text, so a "PO Number" column heads its values); a document's
paragraphs become lines and its table rows "cell | cell" lines, its headers (where a PO form
prints its number) first.

The XML is not parsed: bounded patterns find the cells and runs, so a hostile file (entity
bombs, deep nesting) costs one linear pass. The zip is read within caps: the first
``MAX_MEMBER_BYTES`` of a member unpacked (a zip bomb is read no further, whatever size it
declares; the rest is named), at most ``MAX_SHEETS`` sheets and ``MAX_CELLS`` cells.
Old binary .xls and .doc files and OpenDocument are not read.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import zipfile
from dataclasses import dataclass

import regex

MAX_MEMBER_BYTES = 20 * 1024 * 1024  # one XML file inside the zip, uncompressed
MAX_SHEETS = 20
MAX_CELLS = 200_000
_TIMEOUT = 5.0

XLSX_TYPES = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroenabled.12",
    }
)
DOCX_TYPES = frozenset({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"})


class OfficeError(Exception):
    """The file is not a readable workbook or document; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class OfficeText:
    text: str
    notes: tuple[str, ...] = ()  # what was left out ("only the first 20 sheets were read")


def office_kind(content_type: str, filename: str) -> str:
    """ "xlsx", "docx", or "" for a file that is neither (by its type or its name)."""
    name = filename.lower()
    if content_type in XLSX_TYPES or name.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if content_type in DOCX_TYPES or name.endswith(".docx"):
        return "docx"
    return ""


def office_text(kind: str, data: bytes, *, max_chars: int) -> OfficeText:
    """The text of a workbook (``kind`` "xlsx") or a document ("docx"), at most ``max_chars``
    characters. Raises OfficeError for a file that is not one (damaged, encrypted, not a zip)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        encrypted = data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE: protected, or .xls
        raise OfficeError(
            "it is password-protected or an old binary Office file"
            if encrypted
            else "it is damaged, or not the Excel or Word file its name says"
        ) from None
    try:
        with archive:
            reader = _Zip(archive)
            text, notes = _workbook(reader) if kind == "xlsx" else _document(reader)
            notes = reader.notes + notes
    except TimeoutError:
        raise OfficeError(f"reading it took more than {_TIMEOUT:g} s") from None
    if len(text) > max_chars:
        text = text[:max_chars]
        notes.append(f"only its first {max_chars:,} characters were read")
    return OfficeText(text, tuple(notes))


class _Zip:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.names = archive.namelist()
        self.notes: list[str] = []

    def read(self, name: str) -> str | None:
        """A member's text, or None when it is not there: at most ``MAX_MEMBER_BYTES`` of it
        (the rest is named in ``notes``; a zip bomb is read no further than that)."""
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            return None
        try:
            with self.archive.open(info) as member:
                raw = member.read(MAX_MEMBER_BYTES + 1)
        except RuntimeError:  # an encrypted member
            raise OfficeError("it is password-protected") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            # a damaged or cut-off member, a checksum that does not match (zlib's errors)
            raise OfficeError(f"it is damaged (its part {name} cannot be unpacked)") from None
        if len(raw) > MAX_MEMBER_BYTES:
            raw = raw[:MAX_MEMBER_BYTES]
            self.notes.append(
                f"only the first {MAX_MEMBER_BYTES // 1_048_576} MB of its part {name} were read"
            )
        return raw.decode("utf-8", "replace")


# -- workbooks ----------------------------------------------------------------------------------

_SI = regex.compile(
    r"<(?:\w+:)?si\b[^>]*+>(.{0,65536}?)</(?:\w+:)?si>|<(?:\w+:)?si\b[^>]*/>", regex.S
)
_T = regex.compile(r"<(?:\w+:)?t\b[^>/]*+>([^<]*+)</(?:\w+:)?t>")
_PHONETIC = regex.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", regex.S)  # Japanese readings
_CELL = regex.compile(
    r"<(?:\w+:)?c\b([^>]{0,1000}?)(?:/>|>(.{0,65536}?)</(?:\w+:)?c>)|<(?:\w+:)?row\b([^>]*+)>",
    regex.S,
)
_ATTR = regex.compile(r"""\b(r|t|s)=(?:"([^"]*+)"|'([^']*+)')""")
_V = regex.compile(r"<(?:\w+:)?v\b[^>]*+>([^<]*+)</(?:\w+:)?v>")
_REF = regex.compile(r"([A-Z]{1,3})(\d{1,7})")
_SHEET = regex.compile(r"xl/worksheets/sheet(\d+)\.xml")
_XF_BLOCK = regex.compile(r"<(?:\w+:)?cellXfs\b.*?</(?:\w+:)?cellXfs>", regex.S)
_XF = regex.compile(r"<(?:\w+:)?xf\b([^>]*+)>")
_NUM_FMT_ID = regex.compile(r'\bnumFmtId="(\d+)"')
_NUM_FMT = regex.compile(r'<(?:\w+:)?numFmt\b[^>]*?numFmtId="(\d+)"[^>]*?formatCode="([^"]*)"')
# Excel's built-in date and time formats
_DATE_FORMATS = frozenset({*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)})
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


_SHEET_ENTRY = regex.compile(r"<(?:\w+:)?sheet\b([^>]*+)>")
_NAME_ATTR = regex.compile(r"""\bname=(?:"([^"]*+)"|'([^']*+)')""")
_RID_ATTR = regex.compile(r"""\br:id=(?:"([^"]*+)"|'([^']*+)')""")
_RELATION = regex.compile(r"<(?:\w+:)?Relationship\b([^>]*+)>")
_REL_ID = regex.compile(r"""\bId=(?:"([^"]*+)"|'([^']*+)')""")
_REL_TARGET = regex.compile(r"""\bTarget=(?:"([^"]*+)"|'([^']*+)')""")
# A sheet's default name says nothing ("Sheet1", "Tabelle2", "Feuil1", "Лист1"...).
_DEFAULT_SHEET = regex.compile(
    r"(?:Sheet|Tabelle|Feuil|Hoja|Blad|Foglio|Arkusz|Planilha|List|Munka|Лист|Sayfa)\s*\d+",
    regex.IGNORECASE,
)


def _sheet_names(zip_: _Zip) -> dict[str, str]:
    """The tab name of each worksheet part ("xl/worksheets/sheet2.xml" -> "PO AF-LDS-2231"):
    a weekly sheet may carry its PO only there."""
    workbook = zip_.read("xl/workbook.xml") or ""
    rels = zip_.read("xl/_rels/workbook.xml.rels") or ""
    targets = {}
    for m in _RELATION.finditer(rels, timeout=_TIMEOUT):
        rid, target = _REL_ID.search(m.group(1)), _REL_TARGET.search(m.group(1))
        if rid and target:
            path = (target.group(1) or target.group(2) or "").lstrip("/")
            targets[rid.group(1) or rid.group(2)] = path if path.startswith("xl/") else f"xl/{path}"
    names = {}
    for m in _SHEET_ENTRY.finditer(workbook, timeout=_TIMEOUT):
        name, rid = _NAME_ATTR.search(m.group(1)), _RID_ATTR.search(m.group(1))
        if name and rid and (rid.group(1) or rid.group(2)) in targets:
            names[targets[rid.group(1) or rid.group(2)]] = html.unescape(
                name.group(1) or name.group(2) or ""
            )
    return names


def _workbook(zip_: _Zip) -> tuple[str, list[str]]:
    shared = _shared_strings(zip_.read("xl/sharedStrings.xml") or "")
    tabs = _sheet_names(zip_)
    dates = _date_styles(zip_.read("xl/styles.xml") or "")
    sheets = sorted((int(m.group(1)), name) for name in zip_.names if (m := _SHEET.fullmatch(name)))
    if not sheets:
        raise OfficeError("it has no worksheet")
    notes: list[str] = []
    if len(sheets) > MAX_SHEETS:
        notes.append(f"only its first {MAX_SHEETS} of {len(sheets)} sheets were read")
        sheets = sheets[:MAX_SHEETS]
    blocks: list[str] = []
    cells_left = MAX_CELLS
    for _, name in sheets:
        xml = zip_.read(name) or ""
        rows: dict[int, dict[int, str]] = {}
        row, column = 0, 0  # where the last cell was (a writer may leave out "r")
        for m in _CELL.finditer(xml, timeout=_TIMEOUT):
            if m.group(3) is not None:  # a row starts
                number = _attrs(m.group(3)).get("r", "")
                row, column = (int(number) if number.isdigit() else row + 1), 0
                continue
            if cells_left <= 0:
                notes.append(f"only its first {MAX_CELLS:,} cells were read")
                break
            cells_left -= 1
            attrs = _attrs(m.group(1))
            ref = _REF.fullmatch(attrs.get("r", ""))
            if ref is not None:
                row, column = int(ref.group(2)), _column(ref.group(1))
            else:
                row, column = max(row, 1), column + 1
            value = _cell_value(attrs, m.group(2) or "", shared, dates)
            if value:
                rows.setdefault(row, {})[column] = value
        tab = " ".join(tabs.get(name, "").split())
        named = tab and not _DEFAULT_SHEET.fullmatch(tab)
        if rows or named:
            blocks.append(
                "\n".join(([tab] if named else []) + ([_rows_text(rows)] if rows else []))
            )
        if cells_left <= 0:
            break
    return "\n\n".join(blocks), notes


def _attrs(text: str) -> dict[str, str]:
    return {name: double or single for name, double, single in _ATTR.findall(text)}


def _shared_strings(xml: str) -> list[str]:
    out = []
    for m in _SI.finditer(xml, timeout=_TIMEOUT):
        body = _PHONETIC.sub("", m.group(1) or "")
        out.append(html.unescape("".join(_T.findall(body))))
    return out


def _date_styles(xml: str) -> frozenset[int]:
    """The style indexes (a cell's ``s``) whose number format shows a date."""
    custom = {int(i): code for i, code in _NUM_FMT.findall(xml, timeout=_TIMEOUT)}
    block = _XF_BLOCK.search(xml, timeout=_TIMEOUT)
    if block is None:
        return frozenset()
    dated = set()
    for index, m in enumerate(_XF.finditer(block.group(0), timeout=_TIMEOUT)):
        fmt = _NUM_FMT_ID.search(m.group(1))
        number = int(fmt.group(1)) if fmt else 0
        if number in _DATE_FORMATS or (number in custom and _is_date_code(custom[number])):
            dated.add(index)
    return frozenset(dated)


def _is_date_code(code: str) -> bool:
    """Whether a custom number format ("dd.mm.yyyy", "[$-409]d-mmm-yy") shows a date."""
    plain = regex.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", html.unescape(code)).lower()
    return "d" in plain or "y" in plain


def _cell_value(attrs: dict[str, str], body: str, shared: list[str], dates: frozenset[int]) -> str:
    kind = attrs.get("t", "n")
    if kind == "inlineStr":
        return " ".join(html.unescape("".join(_T.findall(body))).split())
    v = _V.search(body)
    if v is None:
        return ""
    raw = html.unescape(v.group(1)).strip()
    if kind == "s":
        try:
            return " ".join(shared[int(raw)].split())
        except (ValueError, IndexError):
            return ""
    if kind in ("str", "e", "b"):
        return " ".join(raw.split())
    return _number(raw, dates, attrs.get("s"))


def _number(raw: str, dates: frozenset[int], style: str | None) -> str:
    try:
        number = float(raw)
    except ValueError:
        return raw
    if style is not None and style.isdigit() and int(style) in dates and 0 < number < 2_958_466:
        day = _EXCEL_EPOCH + dt.timedelta(days=number)
        return day.date().isoformat()
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))  # "4500123456", not "4500123456.0" or "4.500123456E9"
    return raw


def _column(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index


def _rows_text(rows: dict[int, dict[int, str]]) -> str:
    """Rows as "cell | cell" lines; empty cells keep their place, so a value stays under its
    column's header."""
    first = min(min(cells) for cells in rows.values())
    lines = []
    for number in sorted(rows):
        cells = rows[number]
        last = max(cells)
        lines.append(" | ".join(cells.get(c, "") for c in range(first, last + 1)))
    return "\n".join(lines)


# -- documents ----------------------------------------------------------------------------------

_DOC_TOKEN = regex.compile(
    r"<(?:\w+:)?t\b[^>/]*+>([^<]*+)</(?:\w+:)?t>"  # a run's text
    r"|<(?:\w+:)?(tab|br|cr)\b[^>]*+/>"  # a tab or a line break inside a paragraph
    r"|<(/?)(?:\w+:)?(p|tc|tr)\b[^>]*+>"  # a paragraph, a table cell, a table row
)
_PART = regex.compile(r"word/(header|footer)(\d*)\.xml")


def _document(zip_: _Zip) -> tuple[str, list[str]]:
    body = zip_.read("word/document.xml")
    if body is None:
        raise OfficeError("it has no document text")
    heads = sorted(
        (m.group(1) != "header", int(m.group(2) or 0), name)
        for name in zip_.names
        if (m := _PART.fullmatch(name))
    )
    parts = [name for head, _, name in heads if not head]  # headers first, then the body
    texts = [_doc_text(zip_.read(name) or "") for name in parts]
    texts.append(_doc_text(body))
    texts.extend(_doc_text(zip_.read(name) or "") for head, _, name in heads if head)
    return "\n\n".join(t for t in texts if t.strip()), []


def _doc_text(xml: str) -> str:
    """Paragraphs as lines; a table row as one "cell | cell" line (a cell's paragraphs joined
    by spaces)."""
    lines: list[str] = []
    line: list[str] = []
    cells: list[str] | None = None  # the cells of the row being read
    cell_depth = 0
    for m in _DOC_TOKEN.finditer(xml, timeout=_TIMEOUT):
        text, inline, closing, tag = m.group(1), m.group(2), m.group(3), m.group(4)
        if text is not None:
            line.append(html.unescape(text))
        elif inline is not None:
            line.append("\t" if inline == "tab" else (" " if cell_depth else "\n"))
        elif tag == "p" and closing:
            line.append(" " if cell_depth else "\n")
        elif tag == "tc":
            if closing:
                cell_depth = max(0, cell_depth - 1)
                if cells is not None:
                    cells.append(" ".join("".join(line).split()))
                    line = []
            else:
                if cell_depth == 0 and cells is None:
                    cells = []
                    if "".join(line).strip():
                        lines.append("".join(line).rstrip("\n"))
                    line = []
                cell_depth += 1
        elif tag == "tr" and closing and cells is not None and cell_depth == 0:
            lines.append(" | ".join(cells))
            cells = None
    lines.append("".join(line))
    out = "\n".join(" ".join(piece.split()) for chunk in lines for piece in chunk.split("\n"))
    return regex.sub(r"\n{3,}", "\n\n", out).strip()
