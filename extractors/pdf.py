"""Reading PDF bytes: text per page, and words with positions for the pages that need layout.

The one importer of pypdfium2 and pdfplumber. Two readers, each for what it does best:

- pypdfium2 (PDFium) reads the text of every page up to ``max_pages``: about 1-2 ms a page, and
  for the pages the caller asks for through ``layout_pages(page_no, page_text)`` the words with
  their boxes, from PDFium's character boxes (~2 ms a page; pdfplumber's ``extract_words`` took
  30-130 ms a page and glued words that have no space character between them).
- pdfplumber (pdfminer) finds table cells (``read_tables``, 20-200 ms a page): only on request.
  When PDFium cannot open a file at all, pdfplumber reads it instead, words included (slowly, but
  damaged files are rare).

Every outcome is a value: ``read_pdf`` never raises on bad input. What went wrong is a ``Problem``
(encrypted, corrupt, no text layer, too many pages, too large). ``MemoryError`` is the exception:
it propagates, so the worker running the reader reports the memory limit (see
``inbox_watcher/isolation.py``). Hostile files (decompression bombs, endless form nesting) are
contained by running this in such a worker, not here.
"""

from __future__ import annotations

import ctypes
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pdfplumber
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfplumber.page import Page
from pdfplumber.pdf import PDF

from extractors.types import PdfContent, Problem, Unreadable, Word

MiB = 1 << 20
DEFAULT_MAX_PAGES = 50
DEFAULT_MAX_BYTES = 20 * MiB

LayoutPages = Callable[[int, str], bool]
Table = tuple[tuple[str | None, ...], ...]

_ENCRYPTED_CODES = frozenset({pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY})
_CONTROL = {c: None for c in range(32) if c not in (9, 10)} | {0xFFFE: None, 0xFEFF: None}

# pdfminer logs every oddity of a damaged file at WARNING; the outcome is reported as a Problem.
logging.getLogger("pdfminer").setLevel(logging.ERROR)


@dataclass(slots=True)
class _Pages:
    """What one reader got out of a file, before the page-level verdicts."""

    count: int
    texts: list[str] = field(default_factory=list)
    blank: list[bool] = field(default_factory=list)  # no drawing at all on the page
    problems: list[Problem] = field(default_factory=list)
    words: list[tuple[int, tuple[Word, ...]]] = field(default_factory=list)
    tables: list[tuple[int, Table]] = field(default_factory=list)
    want_tables: bool = True
    embedded_xml: list[tuple[str, bytes]] = field(default_factory=list)


def read_pdf(
    data: bytes,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    layout_pages: LayoutPages | None = None,
    layout_tables: bool = True,
    source: str = "attachment",
) -> PdfContent:
    """Text of the first ``max_pages`` pages, plus words (and tables, unless ``layout_tables``
    is False) of the pages that ``layout_pages(page_no, text)`` (1-based page numbers) asks for.
    ``source`` names the file in the problems ("attachment:<filename>")."""
    if len(data) > max_bytes:
        detail = f"{len(data)} bytes; the limit is {max_bytes}"
        return PdfContent(0, (), (Problem(source, Unreadable.TOO_LARGE, detail),))
    if not data.strip():
        return PdfContent(0, (), (Problem(source, Unreadable.CORRUPT, "the file is empty"),))

    read = _read_with_pdfium(data, max_pages, source, layout_pages)
    if isinstance(read, Problem) and read.kind is Unreadable.CORRUPT:
        fallback = _read_with_pdfplumber(data, max_pages, layout_pages, layout_tables, source)
        if isinstance(fallback, Problem):
            if fallback.kind is Unreadable.ENCRYPTED:
                return PdfContent(0, (), (fallback,))
            detail = f"{read.detail}; {fallback.detail}"
            return PdfContent(0, (), (Problem(source, Unreadable.CORRUPT, detail),))
        fallback.problems.insert(
            0,
            Problem(
                source,
                Unreadable.CORRUPT,
                f"damaged ({read.detail}); read with the slower fallback reader",
                blocking=False,
            ),
        )
        return _content(fallback, max_pages, source)
    if isinstance(read, Problem):
        return PdfContent(0, (), (read,))
    if layout_tables and read.words:
        tables, problems = read_tables(data, [n for n, _ in read.words], source)
        read.tables.extend(tables)
        read.problems.extend(problems)
    return _content(read, max_pages, source)


def _content(read: _Pages, max_pages: int, source: str) -> PdfContent:
    problems = list(read.problems)
    if read.count > max_pages:
        problems.append(
            Problem(
                source,
                Unreadable.TOO_MANY_PAGES,
                f"{read.count} pages; the first {max_pages} were read",
                blocking=True,  # the pages not read may hold the PO
            )
        )
    empty = [n for n, text in enumerate(read.texts, start=1) if not text.strip()]
    if read.texts and len(empty) == len(read.texts):
        # One page: the kind's words say it all ("an image-only scan with no text layer").
        words = "" if len(empty) == 1 else f"none of its {len(empty)} pages has any text"
        problems.append(Problem(source, Unreadable.NO_TEXT, words))
    else:
        drawn = [n for n in empty if not read.blank[n - 1]]
        if drawn:
            listed = ", ".join(str(n) for n in drawn[:20]) + (" ..." if len(drawn) > 20 else "")
            problems.append(
                Problem(
                    source,
                    Unreadable.NO_TEXT,
                    f"page{'s' if len(drawn) > 1 else ''} {listed}: no text layer",
                    blocking=False,
                )
            )
    return PdfContent(
        page_count=read.count,
        pages=tuple(read.texts),
        problems=tuple(problems),
        words=tuple(read.words),
        tables=tuple(read.tables),
        embedded_xml=tuple(read.embedded_xml),
    )


# -- PDFium: the fast text pass -----------------------------------------------------------------


def _read_with_pdfium(
    data: bytes, max_pages: int, source: str, layout_pages: LayoutPages | None
) -> _Pages | Problem:
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in _ENCRYPTED_CODES:
            return Problem(source, Unreadable.ENCRYPTED, "a password is needed to open it")
        return Problem(source, Unreadable.CORRUPT, f"PDFium: {exc}")
    try:
        count = len(doc)
        read = _Pages(count=count)
        form = _form_handle(doc)
        for index in range(min(count, max_pages)):
            text, blank = "", True
            try:
                page = doc[index]
                try:
                    textpage = page.get_textpage()
                    try:
                        text = _clean(textpage.get_text_bounded())
                        if form is not None:
                            text = "\n".join(filter(None, (text, *_form_fields(page, form))))
                        if layout_pages is not None and layout_pages(index + 1, text):
                            words = _pdfium_words(page, textpage, index + 1, read, source)
                            read.words.append((index + 1, words))
                    finally:
                        textpage.close()
                    blank = pdfium_c.FPDFPage_CountObjects(page.raw) <= 0
                finally:
                    page.close()
            except pdfium.PdfiumError as exc:
                read.problems.append(
                    Problem(source, Unreadable.CORRUPT, f"page {index + 1}: {exc}", blocking=False)
                )
            read.texts.append(text)
            read.blank.append(blank)
        read.embedded_xml.extend(_embedded_xml(doc, source, read))
        return read
    finally:
        doc.close()


MAX_FORM_FIELDS = 200  # filled-in fields read from one page
_TEXT_FIELDS = frozenset({pdfium_c.FPDF_FORMFIELD_TEXTFIELD, pdfium_c.FPDF_FORMFIELD_COMBOBOX})
_MAX_FIELD_CHARS = 500


def _form_handle(doc: pdfium.PdfDocument) -> object | None:
    """PDFium's form handle when the PDF is a form (AcroForm or XFA), else None. A PDF form
    filled in a viewer keeps the values in its fields, not in the page's text."""
    if pdfium_c.FPDF_GetFormType(doc.raw) == pdfium_c.FORMTYPE_NONE:
        return None
    try:
        doc.init_forms()
    except pdfium.PdfiumError:
        return None
    return doc.formenv.raw if doc.formenv is not None else None


def _form_fields(page: pdfium.PdfPage, form: object) -> list[str]:
    """ "Field name: value" for each filled-in field of the page ("PO Number: 4500123456")."""
    lines: list[str] = []
    for index in range(min(pdfium_c.FPDFPage_GetAnnotCount(page.raw), MAX_FORM_FIELDS)):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
        if not annot:
            continue
        try:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) != pdfium_c.FPDF_ANNOT_WIDGET:
                continue
            if pdfium_c.FPDFAnnot_GetFormFieldType(form, annot) not in _TEXT_FIELDS:
                continue  # check boxes and buttons: "Approved: Yes" names no number
            value = _field_text(pdfium_c.FPDFAnnot_GetFormFieldValue, form, annot)
            if value.strip():
                name = _field_text(pdfium_c.FPDFAnnot_GetFormFieldName, form, annot)
                lines.append(f"{name}: {value}" if name else value)
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return lines


def _field_text(getter: Callable[..., int], form: object, annot: object) -> str:
    size = getter(form, annot, None, 0)
    if size <= 2:
        return ""
    size = min(size, 4 * _MAX_FIELD_CHARS + 2)
    buffer = ctypes.create_string_buffer(size)
    getter(form, annot, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), size)
    text = buffer.raw[: size - size % 2].decode("utf-16-le", errors="replace").split("\x00", 1)[0]
    return _clean(" ".join(text.split()))[:_MAX_FIELD_CHARS]


MAX_EMBEDDED_XML = 3  # XML files read from one PDF (Factur-X/ZUGFeRD carry one)
MAX_EMBEDDED_BYTES = 5 * MiB


def _embedded_xml(doc: pdfium.PdfDocument, source: str, read: _Pages) -> list[tuple[str, bytes]]:
    """The XML files embedded in the PDF (Factur-X/ZUGFeRD's "factur-x.xml"), by name."""
    found: list[tuple[str, bytes]] = []
    try:
        for index in range(min(doc.count_attachments(), 20)):
            attachment = doc.get_attachment(index)
            name = attachment.get_name()
            if not name.lower().endswith(".xml"):
                continue
            data = bytes(attachment.get_data())
            if len(data) > MAX_EMBEDDED_BYTES:
                detail = f"the XML file {name} inside the PDF has {len(data):,} bytes: not read"
                read.problems.append(Problem(source, Unreadable.NOTE, detail, blocking=False))
                continue
            found.append((name, data))
            if len(found) >= MAX_EMBEDDED_XML:
                break
    except (pdfium.PdfiumError, ValueError, OSError) as exc:  # a damaged name tree or stream
        read.problems.append(
            Problem(source, Unreadable.CORRUPT, f"embedded files: {exc}", blocking=False)
        )
    return found


# Words the way pdfplumber's extract_words cuts them (x and y tolerance 3 points): a character
# starts a new word after whitespace, after a gap wider than the tolerance, or on another line.
_WORD_GAP = 3.0
_NOT_IN_WORDS = frozenset({0xA0, 0xAD, 0xFFFE, 0xFEFF, 0xFFFD, 0x2028, 0x2029})
MAX_LAYOUT_CHARS = 20_000  # characters of one page turned into words; the rest are not


def _pdfium_words(
    page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, number: int, read: _Pages, source: str
) -> tuple[Word, ...]:
    """The page's words with their boxes (points, origin top-left), from PDFium's character boxes
    (the loose box: font ascent to descent, like pdfplumber's, not the glyph's ink)."""
    tp = textpage.raw
    height = pdfium_c.FPDF_GetPageHeightF(page.raw)
    count = pdfium_c.FPDFText_CountChars(tp)
    if count > MAX_LAYOUT_CHARS:
        detail = (
            f"page {number}: layout read for the first {MAX_LAYOUT_CHARS:,} of {count:,} characters"
        )
        read.problems.append(Problem(source, Unreadable.TOO_LARGE, detail, blocking=False))
        count = MAX_LAYOUT_CHARS
    rect = pdfium_c.FS_RECTF()
    box = ctypes.byref(rect)
    words: list[Word] = []
    chars: list[str] = []
    x0 = top = x1 = bottom = 0.0
    for i in range(count):
        code = pdfium_c.FPDFText_GetUnicode(tp, i)
        char = chr(code) if 32 < code < 0x110000 and code not in _NOT_IN_WORDS else " "
        if (
            char.isspace()
            or pdfium_c.FPDFText_IsGenerated(tp, i) == 1
            or not pdfium_c.FPDFText_GetLooseCharBox(tp, i, box)
        ):
            if chars:
                words.append(Word(_clean("".join(chars)), x0, top, x1, bottom))
                chars.clear()
            continue
        c_top, c_bottom = height - rect.top, height - rect.bottom
        if chars and (
            rect.left - x1 > _WORD_GAP or rect.left < x0 - _WORD_GAP or abs(c_top - top) > _WORD_GAP
        ):
            words.append(Word(_clean("".join(chars)), x0, top, x1, bottom))
            chars.clear()
        if chars:
            x1, top, bottom = max(x1, rect.right), min(top, c_top), max(bottom, c_bottom)
        else:
            x0, top, x1, bottom = rect.left, c_top, rect.right, c_bottom
        chars.append(char)
    if chars:
        words.append(Word(_clean("".join(chars)), x0, top, x1, bottom))
    return tuple(words)


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)


# -- pdfplumber: words, tables, and the fallback for files PDFium refuses ---------------------


def _open_plumber(data: bytes, source: str) -> PDF | Problem:
    try:
        return pdfplumber.open(io.BytesIO(data))
    except Exception as exc:  # pdfminer raises anything on a damaged file: made a Problem
        _reraise_memory(exc)
        if _caused_by(exc, (PDFPasswordIncorrect, PDFEncryptionError)):
            return Problem(source, Unreadable.ENCRYPTED, "a password is needed to open it")
        return Problem(source, Unreadable.CORRUPT, f"pdfminer: {_describe(exc)}")


def _read_with_pdfplumber(
    data: bytes,
    max_pages: int,
    layout_pages: LayoutPages | None,
    layout_tables: bool,
    source: str,
) -> _Pages | Problem:
    pdf = _open_plumber(data, source)
    if isinstance(pdf, Problem):
        return pdf
    try:
        return _plumber_pages(pdf, max_pages, layout_pages, layout_tables, source)
    except Exception as exc:  # pdfminer raises anything on a damaged file, closing included
        _reraise_memory(exc)
        return Problem(source, Unreadable.CORRUPT, f"pdfminer: {_describe(exc)}")


def _plumber_pages(
    pdf: PDF,
    max_pages: int,
    layout_pages: LayoutPages | None,
    layout_tables: bool,
    source: str,
) -> _Pages | Problem:
    with pdf:
        try:
            count = len(pdf.pages)
        except Exception as exc:  # a broken page tree: made a Problem
            _reraise_memory(exc)
            return Problem(source, Unreadable.CORRUPT, f"pdfminer: {_describe(exc)}")
        read = _Pages(count=count, want_tables=layout_tables)
        for index in range(min(count, max_pages)):
            number = index + 1
            text, blank = "", True
            page = None
            try:
                page = pdf.pages[index]  # a page without a usable box raises here already
                text = _clean(page.extract_text() or "")
                blank = not page.objects
                if layout_pages is not None and layout_pages(number, text):
                    _page_layout(page, number, read)
            except Exception as exc:  # per page: made a Problem, the next page is read
                _reraise_memory(exc)
                read.problems.append(
                    Problem(
                        source,
                        Unreadable.CORRUPT,
                        f"page {number}: {_describe(exc)}",
                        blocking=False,
                    )
                )
            finally:
                if page is not None:
                    page.close()
            read.texts.append(text)
            read.blank.append(blank)
        return read


def read_tables(
    data: bytes, numbers: Sequence[int], source: str = "attachment"
) -> tuple[list[tuple[int, Table]], list[Problem]]:
    """Table cells of the given pages (1-based), by pdfplumber: 20-200 ms a page, so only for
    pages whose words could not be paired. Never raises on bad input (``MemoryError`` aside)."""
    tables: list[tuple[int, Table]] = []
    problems: list[Problem] = []
    pdf = _open_plumber(data, source)
    if isinstance(pdf, Problem):
        detail = f"tables could not be read: {pdf.detail}"
        return tables, [Problem(source, pdf.kind, detail, blocking=False)]
    try:
        with pdf:
            for number in numbers:
                try:
                    page = pdf.pages[number - 1]
                    try:
                        tables.extend((number, rows) for rows in _page_tables(page))
                    finally:
                        page.close()
                except Exception as exc:  # per page: made a Problem, the next page is read
                    _reraise_memory(exc)
                    detail = f"page {number}: tables could not be read: {_describe(exc)}"
                    problems.append(Problem(source, Unreadable.CORRUPT, detail, blocking=False))
    except Exception as exc:  # pdfminer raises anything on a damaged file, closing included
        _reraise_memory(exc)
        detail = f"tables could not be read: {_describe(exc)}"
        problems.append(Problem(source, Unreadable.CORRUPT, detail, blocking=False))
    return tables, problems


def _page_tables(page: Page) -> list[Table]:
    return [
        tuple(tuple(_clean(cell) if cell is not None else None for cell in row) for row in table)
        for table in page.extract_tables()
    ]


def _page_layout(page: Page, number: int, read: _Pages) -> None:
    """pdfplumber's words (and tables) of a page: only for files PDFium could not open."""
    words = tuple(
        Word(
            text=_clean(str(w["text"])),
            x0=float(w["x0"]),
            top=float(w["top"]),
            x1=float(w["x1"]),
            bottom=float(w["bottom"]),
        )
        for w in page.extract_words()
    )
    read.words.append((number, words))
    if read.want_tables:
        read.tables.extend((number, rows) for rows in _page_tables(page))


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _reraise_memory(exc: BaseException) -> None:
    """pdfminer wraps a MemoryError (from inflating a stream) in its own exception: unwrap it, so
    the worker reports the memory limit instead of "corrupt"."""
    if _caused_by(exc, (MemoryError,)) or "Unable to allocate" in str(exc):
        raise MemoryError(str(exc)) from exc


def _describe(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    shown = inner if inner is not None and str(exc) in ("", repr(inner)) else exc
    text = str(shown) or type(shown).__name__
    return f"{type(shown).__name__}: {text}"[:300]
