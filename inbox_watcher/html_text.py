"""HTML to readable text: line and paragraph breaks kept, table cells joined with " | ".

Public API: ``html_to_text(html) -> (text, readable)``. Measured guards for hostile HTML (see
``inbox_watcher.mime``'s module notes): openers that are never closed are escaped up front, since
``html.parser`` rescans to the end for each of them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]


_SKIP_TAGS = {"script", "style", "head", "title", "template"}
_LINE_TAGS = {"br", "tr", "li", "dt", "dd", "div", "option", "thead", "tbody", "tfoot"}
_PARAGRAPH_TAGS = {
    "address", "article", "aside", "blockquote", "caption", "dl", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main",
    "nav", "ol", "p", "pre", "section", "table", "ul",
}  # fmt: skip
_CELL_TAGS = {"td", "th"}
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")


class _HtmlText(HTMLParser):
    """Readable text of an HTML body: line tags break lines, paragraph tags leave a blank line,
    table cells are joined with " | ", script/style/head are dropped, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0
        self._pre = 0
        self._breaks = 0  # newlines owed before the next text (the larger request wins)
        self._cell_gap = False  # " | " owed before the next text of this row
        self._cells: list[int] = [0]  # cells seen in the current row, per open table

    def _break(self, newlines: int) -> None:
        if self.chunks:
            self._breaks = max(self._breaks, newlines)

    def _layout(self, tag: str) -> None:
        if tag in _LINE_TAGS:
            self._break(1)
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "table":
            self._cells.append(0)
        elif tag == "tr":
            self._cells[-1] = 0
        elif tag in _CELL_TAGS:
            self._cell_gap = self._cells[-1] > 0
            self._cells[-1] += 1
        self._layout(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._layout(tag)  # <br/>, <hr/>: no content, so no skip, pre or cell state to open

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag == "pre" and self._pre:
            self._pre -= 1
        elif tag == "table" and len(self._cells) > 1:
            self._cells.pop()
        self._layout(tag)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        text = data.replace("\xa0", " ") if self._pre else _SPACES.sub(" ", data)
        if not text.strip() and (self._breaks or self._cell_gap or not self.chunks):
            return  # whitespace between blocks or cells is layout, not text
        if self._breaks:
            self.chunks.append("\n" * self._breaks)
            text = text if self._pre else text.lstrip(" ")
        elif self._cell_gap:
            self.chunks.append(" | ")
            text = text.lstrip(" ")
        self._breaks = 0
        self._cell_gap = False
        self.chunks.append(text)

    def unknown_decl(self, data: str) -> None:
        if data[:6].lower() == "cdata[":  # <![CDATA[ text ]]>
            self.handle_data(data[6:])

    def text(self) -> str:
        lines = [line.strip(" ") for line in "".join(self.chunks).split("\n")]
        out: list[str] = []
        for line in lines:
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out).strip("\n")


_COMMENT_CLOSE = re.compile(r"--\s*>")
_SECTION_CLOSE = re.compile(r"\]\s*\]\s*>")  # <![CDATA[ ... ]]> and the other SGML keywords
_MS_SECTION_CLOSE = re.compile(r"\]\s*>")  # Outlook's <![if ...]> ... <![endif]>
_SECTION_OPEN = re.compile(r"<!\[([a-zA-Z][-_.a-zA-Z0-9]*)?")
_SGML_SECTIONS = {"temp", "cdata", "ignore", "include", "rcdata"}
_MS_SECTIONS = {"if", "else", "endif"}


def _last_start(pattern: re.Pattern[str], text: str) -> int:
    start = -1
    for m in pattern.finditer(text):
        start = m.start()
    return start


def _defuse_html(html: str) -> str:
    """Escape openers that are never closed, which html.parser would rescan to the end each time.

    An unclosed ``<``, ``<!--`` or ``<![`` ends up as text anyway; escaping it up front gives the
    same text in one linear pass instead of a quadratic one. A ``<![`` section with a keyword
    html.parser does not know (it raises AssertionError on those) is escaped too.
    """
    last_gt = html.rfind(">")
    if "<" in html[last_gt + 1 :]:
        html = html[: last_gt + 1] + html[last_gt + 1 :].replace("<", "&lt;")
    comment_close = _last_start(_COMMENT_CLOSE, html)
    first_open = html.find("<!--", max(comment_close - 3, 0))
    if first_open >= 0:  # html.parser looks for the close from 4 characters after the opener
        html = html[:first_open] + html[first_open:].replace("<!--", "&lt;!--")
    if "<![" not in html:
        return html
    closes = {
        True: _last_start(_MS_SECTION_CLOSE, html),
        False: _last_start(_SECTION_CLOSE, html),
    }
    pieces: list[str] = []
    pos = 0
    for m in _SECTION_OPEN.finditer(html):
        name = (m.group(1) or "").lower()
        known = name in _MS_SECTIONS or name in _SGML_SECTIONS
        if not known or m.start() + 3 > closes[name in _MS_SECTIONS]:
            pieces.append(html[pos : m.start()])
            pieces.append("&lt;![")
            pos = m.start() + 3
    pieces.append(html[pos:])
    return "".join(pieces)


def html_to_text(html: str) -> tuple[str, bool]:
    """Readable text of an HTML body, and False when the HTML could not be read at all."""
    source = _defuse_html(html)
    for attempt in range(2):
        parser = _HtmlText()
        try:
            parser.feed(source)
            parser.close()
        except AssertionError:  # html.parser's reaction to a malformed <![ ... ]> section
            source = source.replace("<![", "&lt;![")
            if attempt == 0:
                continue
            return "", False
        return parser.text(), True
    return "", False
