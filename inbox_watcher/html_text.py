"""HTML to readable text: line and paragraph breaks kept, table cells joined with " | ".

Public API: ``html_to_text(html) -> (text, readable)``; ``html_to_text_fast`` and
``html_to_text_reference`` are its two paths, for tests and benchmarks.

Two tokenizers feed one layout state machine (``_render``): a single compiled regex (the fast
path) and ``html.parser`` (the reference, which reads anything). The regex answers only for
constructs that html.parser reads in exactly one way, and gives the document to html.parser on
anything else, so both give the same text; tests/test_html_text.py checks that on every corpus
and generated body and on random HTML-ish strings. Measured (CPython 3.11.7, 2 shared cores) over
the 659 HTML bodies of bench/out/mix-1000-s1 (17 KB, ~660 tokens each): 2.4 ms a body before,
0.65 ms now (x3.7; regex 0.23 ms, layout 0.32 ms); the fast path answered for all of them.

Measured guards for hostile HTML (see ``inbox_watcher.mime``'s module notes): openers that are
never closed are escaped up front, since ``html.parser`` rescans to the end for each of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape
from html.parser import HTMLParser
from typing import NamedTuple

__all__ = ["html_to_text", "html_to_text_fast", "html_to_text_reference"]


_SKIP_TAGS = {"script", "style", "head", "title", "template"}
_LINE_TAGS = {"br", "tr", "li", "dt", "dd", "div", "option", "thead", "tbody", "tfoot"}
_PARAGRAPH_TAGS = {
    "address", "article", "aside", "blockquote", "caption", "dl", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main",
    "nav", "ol", "p", "pre", "section", "table", "ul",
}  # fmt: skip
_CELL_TAGS = {"td", "th"}
_BREAKS = {**dict.fromkeys(_LINE_TAGS, 1), **dict.fromkeys(_PARAGRAPH_TAGS, 2)}  # newlines owed
# Each run of these spaces becomes one " ": _FOLD finds the runs that are not a single " " already
# (a text that is str.isprintable() and has no "  " has none).
_FOLD = re.compile(r" [ \t\r\n\f\v\xa0]+|[\t\r\n\f\v\xa0][ \t\r\n\f\v\xa0]*")


class _Token(NamedTuple):
    """One token, in the shape of ``_TOKEN.findall``: exactly one field is non-empty."""

    text: str = ""  # text of the source: entities still to decode
    raw_tag: str = ""  # a script/style start tag with its close ahead (fast path only) ...
    raw_script: str = ""  # ... ("script" when it is a script)
    raw_body: str = ""  # ... and its content, html.parser's CDATA, up to the close
    start: str = ""  # start tag name
    slash: str = ""  # "/" when the start tag is a start-end tag (<br/>)
    end: str = ""  # end tag name
    cdata: str = ""  # a whole <![CDATA[ ... ]]> section (fast path only)
    ignored: str = ""  # comment, doctype, Outlook's <![if ...]>: nothing to report
    literal: str = ""  # text as it is (decoded by html.parser, or a lone "<")
    bad: str = ""  # something the fast path is not sure to read as html.parser does


def _render(tokens: Iterable[tuple[str, ...]]) -> str | None:
    """The readable text of a token stream, or None at a ``bad`` token.

    Line tags break lines, paragraph tags leave a blank line, table cells are joined with " | ",
    script/style/head are dropped. Every text token is one html.parser ``handle_data`` call:
    where text is cut matters (each piece is trimmed and its spaces folded on its own).
    """
    chunks: list[str] = []
    append = chunks.append
    skip_tags, cell_tags, breaks_of, fold = _SKIP_TAGS, _CELL_TAGS, _BREAKS.get, _FOLD.sub
    skip = pre = 0
    breaks = 0  # newlines owed before the next text (the larger request wins)
    cell_gap = False  # " | " owed before the next text of this row
    cells = [0]  # cells seen in the current row, per open table
    for text, raw_tag, _, raw_body, start, slash, end, cdata, _, literal, bad in tokens:
        if start or raw_tag:
            tag = (start or raw_tag).lower()
            if slash:  # <br/>, <hr/>: no content, so no skip, pre or cell state to open
                pass
            elif tag in skip_tags:
                skip += 1
            elif tag == "pre":
                pre += 1
            elif tag == "table":
                cells.append(0)
            elif tag == "tr":
                cells[-1] = 0
            elif tag in cell_tags:
                cell_gap = cells[-1] > 0
                cells[-1] += 1
            newlines = breaks_of(tag, 0)
            if newlines > breaks and chunks:
                breaks = newlines
            if not raw_body:
                continue
            data = raw_body
        elif end:
            tag = end.lower()
            if tag in skip_tags and skip:
                skip -= 1
            elif tag == "pre" and pre:
                pre -= 1
            elif tag == "table" and len(cells) > 1:
                cells.pop()
            newlines = breaks_of(tag, 0)
            if newlines > breaks and chunks:
                breaks = newlines
            continue
        elif text:
            data = unescape(text) if "&" in text else text
        elif literal:
            data = literal
        elif cdata:
            data = _cdata_body(cdata)
        elif bad:
            return None
        else:
            continue
        # text (an empty piece is a no-op: html.parser only makes one from <![CDATA[]]>)
        if skip or ((breaks or cell_gap or not chunks) and not data.strip()):
            continue  # dropped; or whitespace between blocks or cells, which is layout
        if pre:
            data = data.replace("\xa0", " ")
        elif "  " in data or not data.isprintable():  # else its only spaces are single " "
            data = fold(" ", data)
        if breaks:
            append("\n" * breaks)
            if not pre:
                data = data.lstrip(" ")
        elif cell_gap:
            append(" | ")
            data = data.lstrip(" ")
        breaks = 0
        cell_gap = False
        append(data)
    lines = [line.strip(" ") for line in "".join(chunks).split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


def _around(field: str, width: int = 1) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The empty fields before and after ``field`` (and the ``width - 1`` fields after it)."""
    at = _Token._fields.index(field)
    return ("",) * at, ("",) * (len(_Token._fields) - at - width)


_START = _around("start", 2)  # start and slash
_END = _around("end")
_LITERAL = _around("literal")


class _HtmlText(HTMLParser):
    """The reference tokenizer: ``html.parser`` with entities decoded (``convert_charrefs``),
    recording its events as ``_Token`` tuples for ``_render`` (built by concatenation, which is
    several times faster than the NamedTuple constructor). Slow: pure Python per tag and
    attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append((*_START[0], tag, "", *_START[1]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append((*_START[0], tag, "/", *_START[1]))

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append((*_END[0], tag, *_END[1]))

    def handle_data(self, data: str) -> None:
        self.tokens.append((*_LITERAL[0], data, *_LITERAL[1]))

    def unknown_decl(self, data: str) -> None:
        if data[:6].lower() == "cdata[":  # <![CDATA[ text ]]>
            self.handle_data(data[6:])


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


# --- the fast tokenizer ------------------------------------------------------------------------
#
# One regex over the (defused) HTML; each alternative is a construct that html.parser (CPython
# 3.11) reads in exactly one way, and anything else matches ``bad``, which gives the whole
# document to html.parser. The equivalence is tested, not assumed (tests/test_html_text.py):
# a Python upgrade that changes html.parser shows there.
#
# - text: a run of non-"<" is one handle_data(unescape(run)), as html.parser's convert_charrefs.
# - start tags: an ASCII name that ends at whitespace, "/" or ">"; attributes each after ASCII
#   whitespace, a plain name with an optional single "=" and a value, quoted without "<" or ">"
#   inside or bare without quotes, "<", "=", "`" or whitespace; optional whitespace, ">" or "/>".
#   html.parser's own tag regexes find the same name and end in those and use up every
#   attribute, so it reports the same start (or start-end) tag.
# - script/style: html.parser reads their content as CDATA up to ``</\s*script\s*>`` (ignoring
#   case). Here the content runs to the first such close spelt in ASCII, which then must be a
#   plain end tag. A close spelt otherwise (U+017F for "s") stays content in both, and content is
#   dropped (script and style are skip tags). A document with a start and no close after it goes
#   to html.parser before tokenizing (else each later start would rescan to the end).
# - end tags: "</", a name, optional ASCII whitespace, ">": html.parser's endtagfind as it is.
# - comments: "<!--" to the first ``--\s*>`` (parse_comment); a doctype to the first ">";
#   <![CDATA[ ... ]]> and Outlook's <![if ...]>, <![else]>, <![endif]> to the first close
#   parse_marked_section looks for.
# - a "<" that html.parser reads as text: one not followed by a letter, "/", "!" or "?".
#
# ``bad``: every other "<" ("</" or "<!" or "<?" forms, start tags with anything unusual: quotes
# holding "<" or ">", "==", attributes run together, Unicode whitespace, odd name characters);
# and a NUL anywhere gives up before tokenizing.

_WS = r"[ \t\n\r\f]"
_NAME = r"[a-zA-Z][-.:_a-zA-Z0-9]*+"
_ATTR = (
    r"[a-zA-Z_:@][-.:_a-zA-Z0-9@]*+"
    rf"(?:{_WS}*+={_WS}*+(?:\"[^\"<>]*+\"|'[^'<>]*+'|[^\s\"'<>=`]++))?+"
)
_ATTRS = rf"(?:{_WS}++{_ATTR})*+{_WS}*+"


def _cased(word: str) -> str:
    """``word`` in any ASCII letter case (not re.IGNORECASE, which also folds e.g. U+017F)."""
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


_SCRIPT, _STYLE = _cased("script"), _cased("style")
# Groups in the order of _Token's fields; alternatives tried in this order.
_TOKEN = re.compile(
    "|".join(
        (
            r"([^<]++)",
            rf"<((?P<script>{_SCRIPT})|{_STYLE})(?=[ \t\n\r\f>]){_ATTRS}>"
            rf"(.*?)(?=</\s*(?(script){_SCRIPT}|{_STYLE})\s*>)",
            rf"<({_NAME}){_ATTRS}(/?)>",
            rf"</({_NAME}){_WS}*+>",
            rf"(<!\[{_cased('cdata')}\[.*?\]\s*\]\s*>)",
            "("
            r"<!--.*?--\s*>"
            rf"|<!{_cased('doctype')}[^>]*+>"
            rf"|<!\[(?:{_cased('if')}|{_cased('else')}|{_cased('endif')})(?![-_.a-zA-Z0-9]).*?\]\s*>"
            ")",
            r"(<)(?=[^a-zA-Z/!?])",
            r"(<)",
        )
    ),
    re.DOTALL,
)
_RAW_START = re.compile(rf"<({_SCRIPT}|{_STYLE})(?=[ \t\n\r\f>])")
_RAW_CLOSE = {
    "script": re.compile(rf"</\s*{_SCRIPT}\s*>"),
    "style": re.compile(rf"</\s*{_STYLE}\s*>"),
}
_CDATA_BODY = re.compile(r"<!\[.{6}(.*?)\]\s*\]\s*>", re.DOTALL)


def _cdata_body(section: str) -> str:
    body = _CDATA_BODY.fullmatch(section)
    return body[1] if body else ""  # _TOKEN matched the same shape, so it always matches


def _raw_text_closed(source: str) -> bool:
    """Whether every script/style start has a close after it. A ``_TOKEN`` match tries each
    start's content to its close, so without one every later start would rescan to the end."""
    last = {m[1].lower(): m.end() for m in _RAW_START.finditer(source)}
    return all(_RAW_CLOSE[name].search(source, end) for name, end in last.items())


def _fast_text(source: str) -> str | None:
    """The text html.parser's path gives for defused ``source``, or None when not sure of it."""
    if "\x00" in source or not _raw_text_closed(source):
        return None
    return _render(_TOKEN.findall(source))


def _reference_text(source: str) -> tuple[str, bool]:
    """``html.parser`` over defused ``source``: reads anything, three to four times slower."""
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
        text = _render(parser.tokens)  # never None: html.parser makes no bad token
        return (text, True) if text is not None else ("", False)
    return "", False


def html_to_text(html: str) -> tuple[str, bool]:
    """Readable text of an HTML body, and False when the HTML could not be read at all."""
    source = _defuse_html(html)
    text = _fast_text(source)
    if text is not None:
        return text, True
    return _reference_text(source)


def html_to_text_fast(html: str) -> str | None:
    """The fast path alone: ``html_to_text(html)[0]``, or None where it defers to html.parser."""
    return _fast_text(_defuse_html(html))


def html_to_text_reference(html: str) -> tuple[str, bool]:
    """The html.parser path alone, whatever the input: what ``html_to_text`` must equal."""
    return _reference_text(_defuse_html(html))
