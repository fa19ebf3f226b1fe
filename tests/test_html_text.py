"""html_text: the regex fast path gives exactly html.parser's text, or defers to it.

Differential tests over real mail (the shared corpus, config/samples, generated mail), random
HTML-ish strings (hypothesis and a seeded generator that also counts how often the fast path
answered), hostile inputs under a time bound, and direct examples of the expected text.
"""

from __future__ import annotations

import email
import random
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox_watcher import html_text
from inbox_watcher.html_text import html_to_text, html_to_text_fast, html_to_text_reference
from tests.corpus import corpus_params, require_file
from tests.mailgen import generate

SAMPLES = Path(__file__).resolve().parents[1] / "config" / "samples"


def _html_bodies(data: bytes) -> Iterator[str]:
    """Every text/html part of a message, decoded as mime.py would (bad bytes replaced)."""
    for part in email.message_from_bytes(data).walk():
        if not isinstance(part, Message) or part.get_content_type() != "text/html":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            yield payload.decode(charset, errors="replace")
        except LookupError:
            yield payload.decode("utf-8", errors="replace")


def _same_as_reference(html: str) -> bool:
    """Asserts html_to_text equals the html.parser path; True when the fast path answered."""
    reference = html_to_text_reference(html)
    fast = html_to_text_fast(html)
    if fast is not None:
        assert (fast, True) == reference
    assert html_to_text(html) == reference
    return fast is not None


# --- real and generated mail -------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_params("emails", "**/*.eml"))
def test_corpus_bodies_match_reference(path: Path | None) -> None:
    path = require_file(path, "emails", "**/*.eml")
    for body in _html_bodies(path.read_bytes()):
        _same_as_reference(body)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.eml")), ids=lambda p: p.name)
def test_sample_bodies_match_reference(path: Path) -> None:
    for body in _html_bodies(path.read_bytes()):
        assert _same_as_reference(body), "the fast path deferred on a sample's HTML"


def test_samples_have_html() -> None:
    bodies = [b for p in SAMPLES.glob("*.eml") for b in _html_bodies(p.read_bytes())]
    assert len(bodies) >= 3


def test_generated_mail_is_answered_by_the_fast_path() -> None:
    bodies = [b for mail in generate(200, seed=11, pdf_share=0.0) for b in _html_bodies(mail.raw)]
    assert len(bodies) >= 80  # the generator writes HTML for about two thirds of its mail
    answered = [_same_as_reference(b) for b in bodies]
    assert all(answered), f"fast path deferred on {answered.count(False)} generated bodies"


# --- random HTML-ish strings -------------------------------------------------------------------

TAG_NAMES = [
    "p", "P", "br", "BR", "div", "span", "b", "td", "TD", "th", "tr", "table", "tbody", "li",
    "ul", "pre", "PRE", "h1", "hr", "script", "SCRIPT", "style", "head", "title", "template",
    "o:p", "scripts", "a", "font", "x-y", "q.r",
]  # fmt: skip
ATTRS = [
    "", ' class="MsoNormal"', " a='b'", " c=d", " e", ' f = "g"', " h=i/", ' j="k>l"',
    " m==n", ' o="p"q="r"', " s=t u", " v=\"w\nx\"", "\xa0y=z", " \x0bz", " A=&amp;", "  ",
    " /", "\n", ' style="padding:2px 6px;border:1px solid #ccc"', " a=<b", " a=`b`",
]  # fmt: skip
TEXTS = [
    "PO 4711", " ", "  ", "\n", "\r\n", "\t", "\xa0", "a  b", "x\u2003y", "\x0b", "\x1c", "\u017f",
    "&amp;", "&nbsp;", "&#8364;", "&#x41;", "&lt;", "&euro", "&bogus;", "&", "&#", ";", "é",
    "Line one", "Widget", "=", "'", '"', ">", "]]>", "]>", "--", "/",
]  # fmt: skip
MARKUP = [
    "<!-- c -->", "<!-->", "<!--->", "<!-- a -- >", "<!--", "-->", "<![CDATA[x < y]]>",
    "<![CDATA[]]>", "<![cdata[ z ]]>", "<![if !mso]>", "<![endif]>", "<![else]>", "<![foo[ x ]]>",
    "<![", "<!doctype html>", "<!DOCTYPE html PUBLIC>", "<!x>", "<?php ?>", "<?", "<", "<3",
    "< p>", "</", "</>", "</ p>", "</p x>", "</3>", "</SCRIPT >", "</\u017fcript>", "</script\x0b>",
    "<br/>", "<br />", "<hr/>", "<p/>", "<script/>", "<a/b>", "<\x00p>", "<p\x00>", "\x00",
]  # fmt: skip


def _start_tag(rng: random.Random) -> str:
    attrs = "".join(rng.choice(ATTRS) for _ in range(rng.randrange(3)))
    return f"<{rng.choice(TAG_NAMES)}{attrs}{rng.choice(['', '', '/', ' /'])}>"


END_SPACES = ["", "", " ", "\n"]


def _end_tag(rng: random.Random) -> str:
    return f"</{rng.choice(TAG_NAMES)}{rng.choice(END_SPACES)}>"


def _random_html(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randrange(1, 30)):
        roll = rng.random()
        if roll < 0.3:
            pieces.append(_start_tag(rng))
        elif roll < 0.55:
            pieces.append(_end_tag(rng))
        elif roll < 0.9:
            pieces.append(rng.choice(TEXTS))
        else:
            pieces.append(rng.choice(MARKUP))
    return "".join(pieces)


def test_random_html_matches_reference_and_is_mostly_answered() -> None:
    rng = random.Random(20240611)
    answered = sum(_same_as_reference(_random_html(rng)) for _ in range(3000))
    # Not vacuous: a good share of these strings (with some odd piece in most) is answered fast.
    assert answered >= 600, f"only {answered} of 3000 random strings answered by the fast path"


_piece = st.one_of(
    st.builds(
        lambda name, attrs, close: f"<{name}{''.join(attrs)}{close}>",
        st.sampled_from(TAG_NAMES),
        st.lists(st.sampled_from(ATTRS), max_size=3),
        st.sampled_from(["", "/", " /"]),
    ),
    st.builds(
        lambda name, ws: f"</{name}{ws}>", st.sampled_from(TAG_NAMES), st.sampled_from(["", " "])
    ),
    st.sampled_from(TEXTS),
    st.sampled_from(MARKUP),
    st.text(alphabet="<>/!-[]ab &;#x\n \xa0\"'=", max_size=8),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_piece, max_size=40).map("".join))
def test_fast_path_equals_reference_when_it_answers(html: str) -> None:
    _same_as_reference(html)


# --- hostile input -----------------------------------------------------------------------------

HOSTILE = {
    "open-a": "<a " * 14_000,
    "end-open": "</" * 30_000,
    "pi": "<?" * 30_000,
    "comments-unclosed": "<!--" + "-> <!-- " * 10_000,
    "comment-opens-one-close": "<!--" * 10_000 + "-->",
    "cdata-unclosed": "<![cdata[ > " * 10_000,
    "lt-run": "<p>" + "<" * 200_000,
    "quote-open": '<a b="' * 10_000 + ">",
    "cdata-and-if": "<![cdata[ <![if x]> " * 5_000,
    "unknown-section": "<![foo[ " * 10_000 + "]]>",
    "sections-open": "<![" * 20_000,
    "script-unclosed": "<script>" * 20_000,
    "style-unclosed": "<p>x</p><style>" * 12_000,
    "scripts-one-close": "<script>" * 10_000 + "</script>",
    "ms-sections": "<![if x]>y" * 10_000,
    "doctype-open": "<!doctype " * 10_000,
    "deep-tables": "<table><tr><td>" * 5_000 + "x",
    "nul": "<p>\x00</p>" * 5_000,
}


@pytest.mark.timeout(5)  # each takes well under 0.5 s; a quadratic path takes minutes
@pytest.mark.parametrize("html", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_html_finishes_with_the_reference_answer(html: str) -> None:
    text, readable = html_to_text("PO 4711 " + html)
    assert (text, readable) == html_to_text_reference("PO 4711 " + html)
    assert text.startswith("PO 4711")


# --- expected text -----------------------------------------------------------------------------

EXAMPLES = {
    "cells": ("<table><tr><th>Item</th><th>PO</th></tr><tr><td>W</td><td>4711</td></tr></table>",
              "Item | PO\nW | 4711"),
    "paragraphs": ("<p>one</p><p>two</p>", "one\n\ntwo"),
    "br": ("a<br>b<br/>c", "a\nb\nc"),
    "pre": ("<p>x</p><pre>a  b\nc&nbsp; d</pre>after", "x\n\na  b\nc  d\n\nafter"),
    "spaces": ("<div>Line   one\n wrapped</div>", "Line one wrapped"),
    "entities": ("&amp; &lt;PO&gt; &#8364;5 &euro; &nbsp;x", "& <PO> €5 € x"),
    "script-dropped": ('<p>a</p><script type="x">var s = "<p>PO 666</p>";</script><p>b</p>',
                       "a\n\nb"),
    "style-head-dropped": ("<head><title>T</title><style>p{}</style></head><p>b</p>", "b"),
    "comment": ("a<!-- PO 666 -->b", "ab"),
    "cdata": ("<p>a</p><![CDATA[x < y]]>", "a\n\nx < y"),
    "lone-lt": ("a < b <3", "a < b <3"),
    "inline-tags": ("<span>a</span> <b>b</b>", "a b"),
}  # fmt: skip


@pytest.mark.parametrize(("html", "text"), list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_expected_text(html: str, text: str) -> None:
    assert html_to_text(html) == (text, True)
    assert html_to_text_fast(html) == text  # all of these are plain enough for the fast path


@pytest.mark.parametrize(
    "html",
    [
        '<p title="a>b">x</p>',  # ">" in a quoted value
        "<p>x<?php y ?></p>",
        "<![temp[ x ]]><p>y</p>",  # a marked section other than CDATA and Outlook's
        "<!x>y",
        "</ p>x",
        "<p>\x00</p>",
        "<script>never closed",
        "<p\xa0class=x>y</p>",
    ],
)
def test_fast_path_defers_on_what_it_is_not_sure_of(html: str) -> None:
    assert html_to_text_fast(html) is None
    assert html_to_text(html) == html_to_text_reference(html)


def test_token_fields_match_the_regex_groups() -> None:
    assert html_text._TOKEN.groups == len(html_text._Token._fields)
    token = html_text._TOKEN.findall("<p>")[0]
    assert html_text._Token(*token).start == "p"
