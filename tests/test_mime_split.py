"""inbox_watcher.mime_split.split_message against the stdlib feed parser, tree for tree.

Whenever ``split_message`` answers, its tree must equal ``BytesParser(policy=...).parsebytes``'s
(headers, payloads, preambles, epilogues, defects, decoded payloads, the serialized bytes). It may
answer None (then the caller parses with the stdlib); the tests also check that it does answer for
regular mail, else the fast path would never run and the comparisons would prove nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32, compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox_watcher.mime_split import MAX_DEPTH, split_message
from tests.corpus import corpus_files, corpus_params, require_file
from tests.mailgen import mailbox_mix
from tests.reliability import hostile_mail as h

SAMPLES = Path(__file__).resolve().parents[1] / "config" / "samples"


class RawHeaderPolicy(Compat32):
    """As inbox_watcher.mime's policy: header values come back as the raw str."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


class OwnSourceParsePolicy(Compat32):
    """Overrides header_source_parse, so split_message must call it rather than inline it."""

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        return name.upper(), value  # field names are looked up case-insensitively


POLICIES: list[Compat32] = [RawHeaderPolicy(), compat32, OwnSourceParsePolicy()]


# --------------------------------------------------------------------------------------------
# Comparing trees


def _outcome(fn: Callable[[], object]) -> object:
    """The value, or the exception type when the call raises (both parsers must agree)."""
    try:
        return fn()
    except Exception as exc:  # compared, not swallowed: a different outcome fails the test
        return ("raised", type(exc))


def _node_facts(msg: Message) -> dict[str, object]:
    payload = msg.get_payload()
    facts: dict[str, object] = {
        "class": type(msg),
        "raw_items": list(msg.raw_items()),
        "items": _outcome(lambda: [(k, str(v)) for k, v in msg.items()]),
        "unixfrom": msg.get_unixfrom(),
        "default_type": msg.get_default_type(),
        "content_type": msg.get_content_type(),
        "is_multipart": msg.is_multipart(),
        "boundary": _outcome(msg.get_boundary),
        "charset": _outcome(lambda: str(msg.get_charset())),
        "content_charset": _outcome(msg.get_content_charset),
        "filename": _outcome(msg.get_filename),
        "preamble": msg.preamble,
        "epilogue": msg.epilogue,
        "defects": [type(d) for d in msg.defects],
        "payload": len(payload) if isinstance(payload, list) else payload,
    }
    if not isinstance(payload, list):
        facts["decoded"] = _outcome(lambda: msg.get_payload(decode=True))
        facts["defects after decoding"] = [type(d) for d in msg.defects]
    return facts


def assert_same_tree(got: Message, want: Message) -> None:
    """Walk both trees (iteratively) and compare every node; then the serialized forms."""
    stack: list[tuple[str, Message, Message]] = [("root", got, want)]
    while stack:
        path, a, b = stack.pop()
        facts_a, facts_b = _node_facts(a), _node_facts(b)
        for key, value in facts_b.items():
            assert facts_a[key] == value, f"{key} differs at {path}"
        pa, pb = a.get_payload(), b.get_payload()
        if isinstance(pa, list) and isinstance(pb, list):
            stack.extend((f"{path}.{i}", x, y) for i, (x, y) in enumerate(zip(pa, pb, strict=True)))
    assert _outcome(got.as_bytes) == _outcome(want.as_bytes)
    assert _outcome(got.as_string) == _outcome(want.as_string)


def check(data: bytes, policy: Compat32 | None = None) -> bool:
    """Assert split_message equals the stdlib (or is None) under each policy; True if it answered
    under all of them."""
    answered = True
    for pol in [policy] if policy is not None else POLICIES:
        got = split_message(data, pol)
        if got is None:
            answered = False
            continue
        assert_same_tree(got, BytesParser(policy=pol).parsebytes(data))
    return answered


def test_comparison_sees_a_difference() -> None:
    """The helper itself can fail: a one-character change in a payload is caught."""
    data = b"Subject: x\r\n\r\nbody\r\n"
    got = split_message(data, compat32)
    assert got is not None
    got.set_payload("bodY\r\n")
    with pytest.raises(AssertionError):
        assert_same_tree(got, BytesParser(policy=compat32).parsebytes(data))


# --------------------------------------------------------------------------------------------
# Small hand-made cases: (raw text, whether split_message must answer)

C = "Content-Type: "
MIXED = C + 'multipart/mixed; boundary="b1"\r\n'
TEXT_PART = "Content-Type: text/plain\r\n\r\nhello\r\n"

CASES: dict[str, tuple[str, bool]] = {
    "plain": ("Subject: hi\r\nFrom: a@b\r\n\r\nbody line\r\nlast", True),
    "plain LF": ("Subject: hi\nFrom: a@b\n\nbody\n", True),
    "no headers": ("\r\nbody only\r\n", True),
    "empty body": ("Subject: hi\r\n\r\n", True),
    "folded header": ("Subject: a\r\n  b\r\n\tc\r\nX:\r\n\r\nbody", True),
    "unix from": ("From someone Mon Jan 1\r\nSubject: x\r\n\r\nbody\r\n", True),
    "multipart": (MIXED + "\r\n--b1\r\n" + TEXT_PART + "--b1--\r\n", True),
    "multipart LF": (
        'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n\nhello\n--b1--\n',
        True,
    ),
    "mixed line ends": (MIXED + "\r\n--b1\n" + TEXT_PART + "--b1--\n", True),
    "preamble and epilogue": (
        MIXED + "\r\npre 1\r\npre 2\r\n\r\n--b1\r\n" + TEXT_PART + "--b1--\r\nepi\r\n\r\n",
        True,
    ),
    "close at EOF without line end": (MIXED + "\r\n--b1\r\n" + TEXT_PART + "--b1--", True),
    "delimiters with trailing blanks": (
        MIXED + "\r\n--b1 \t\r\n" + TEXT_PART + "--b1--  \r\n",
        True,
    ),
    "empty part body": (MIXED + "\r\n--b1\r\n\r\n--b1\r\nX: y\r\n\r\n--b1--\r\n", True),
    "boundary inside text": (
        MIXED + "\r\n--b1\r\n\r\nsee --b1 and x--b1--\r\n --b1\r\n--b1--\r\n",
        True,
    ),
    "nested with epilogues": (
        MIXED
        + "\r\n--b1\r\n"
        + C
        + 'multipart/alternative; boundary="b2"\r\n\r\n--b2\r\n'
        + TEXT_PART
        + "--b2--\r\n--b1\r\n"
        + C
        + 'multipart/related; boundary="b3"\r\n\r\n--b3\r\n'
        + TEXT_PART
        + "--b3--\r\ninner epilogue\r\n\r\n--b1--\r\n",
        True,
    ),
    "message/rfc822 part": (
        MIXED
        + "\r\n--b1\r\n"
        + C
        + "message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b1--\r\n",
        True,
    ),
    "digest": (
        C
        + 'multipart/digest; boundary="d"\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody 1\r\n'
        + "--d\r\n\r\nSubject: two\r\n\r\nbody 2\r\n--d--\r\n",
        True,
    ),
    # irregular: None is expected (the stdlib records a defect or reads lines differently)
    "near-miss boundary": (MIXED + "\r\n--b1\r\n" + TEXT_PART + "--b1X\r\n--b1--\r\n", False),
    "no close": (MIXED + "\r\n--b1\r\n" + TEXT_PART, False),
    "no start": (MIXED + "\r\nonly text\r\n--b1--\r\n", False),
    "no boundary parameter": (C + "multipart/mixed\r\n\r\n--b1\r\n\r\nx\r\n--b1--\r\n", False),
    "base64 multipart": (
        MIXED + "Content-Transfer-Encoding: base64\r\n\r\n--b1\r\n" + TEXT_PART + "--b1--\r\n",
        False,
    ),
    "double delimiter": (MIXED + "\r\n--b1\r\n--b1\r\n" + TEXT_PART + "--b1--\r\n", False),
    "reused boundary": (
        MIXED + "\r\n--b1\r\n" + MIXED + "\r\n--b1\r\n" + TEXT_PART + "--b1--\r\n--b1--\r\n",
        False,
    ),
    "text after close": (MIXED + "\r\n--b1\r\n" + TEXT_PART + "--b1--\r\n--b1\r\n", False),
    "bare CR before close": (MIXED + "\r\n--b1\r\n" + TEXT_PART + "x\r--b1--\r\n", False),
    "bare CR before separator": (
        MIXED + "\r\n--b1\r\n" + TEXT_PART + "x\r--b1\r\n\r\ntwo\r\n--b1--\r\n",
        False,
    ),
    "bare CR in headers": ("Subject: a\rb\r\n\r\nbody", False),
    "no blank line": ("Subject: hi\r\nFrom: a@b\r\n", False),
    "not a header": ("Subject: hi\r\nnot a header\r\n\r\nbody", False),
    "first line continuation": (" cont\r\nSubject: hi\r\n\r\nbody", False),
    "empty header name": (": x\r\nSubject: hi\r\n\r\nbody", False),
    "misplaced unix from": ("Subject: x\r\nFrom x\r\n\r\nbody", False),
    "delivery-status": (
        C
        + 'multipart/report; boundary="r"\r\n\r\n--r\r\n'
        + C
        + "message/delivery-status\r\n\r\nReporting-MTA: x\r\n\r\nStatus: 5.0.0\r\n--r--\r\n",
        False,
    ),
    "empty": ("", False),
}


@pytest.mark.parametrize(("text", "answers"), list(CASES.values()), ids=list(CASES))
def test_hand_made(text: str, answers: bool) -> None:
    assert check(text.encode("utf-8")) is answers


def test_bare_cr_in_a_body_is_read_like_the_stdlib() -> None:
    """A bare CR inside a payload, preamble or epilogue is a line end for the feed parser, but
    cannot change the tree: split_message answers, and agrees."""
    part = "Content-Type: text/plain\r\n\r\na\rb\r\r\n"
    data = MIXED + "\r\npre\ramble\r\n--b1\r\n" + part + "--b1--\r\nepi\rlogue\r"
    assert check(data.encode())
    assert not check((MIXED + "\r\n--b1\r\n" + part + "--b1--\r").encode())  # "--b1--\r"


# --------------------------------------------------------------------------------------------
# Real mail: the shared corpus, the config samples, the hostile builders, the benchmark mix


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_params("emails", "**/*.eml"))
def test_corpus_email(path: Path | None) -> None:
    check(require_file(path, "emails", "**/*.eml").read_bytes())


@pytest.mark.corpus
def test_corpus_mostly_answered() -> None:
    """The corpus is full of broken mail, yet the regular part of it must take the fast path."""
    files = corpus_files("emails", "**/*.eml")
    require_file(files[0] if files else None, "emails", "**/*.eml")
    answered = sum(split_message(p.read_bytes(), RawHeaderPolicy()) is not None for p in files)
    share = answered / len(files)
    assert share >= 0.6, f"only {answered} of {len(files)} corpus messages answered"


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.eml")), ids=lambda p: p.name)
def test_config_sample(path: Path) -> None:
    assert check(path.read_bytes()), "a regular sample message fell back to the stdlib"


HOSTILE: dict[str, Callable[[], bytes]] = {
    "unclosed_multipart": lambda: h.unclosed_multipart(1),
    "many_parts": lambda: h.many_parts(2, parts=2000, po_in_part=1500),
    "nested_rfc822": lambda: h.nested_rfc822(3, depth=15),
    "nested_rfc822_deep": lambda: h.nested_rfc822(4, depth=50),
    "long_header": lambda: h.long_header(5),
    "control_chars_subject": lambda: h.control_chars_subject(6),
    "control_chars_filename": lambda: h.control_chars_filename(7),
    "ambiguous_from": lambda: h.ambiguous_from(8),
    "unknown_charset": lambda: h.unknown_charset(9),
    "mislabelled_8bit": lambda: h.mislabelled_8bit(10),
    "broken_base64_text": lambda: h.broken_base64_text(11),
    "broken_qp_text": lambda: h.broken_qp_text(12),
    "broken_base64_pdf": lambda: h.broken_base64_pdf(13),
    "empty_message": lambda: h.empty_message(14),
    "truly_empty_message": lambda: h.truly_empty_message(15),
    "headers_only": lambda: h.headers_only(16),
    "path_filenames": lambda: h.path_filenames(17),
    "html_with_script": lambda: h.html_with_script(18),
    "zip_renamed_pdf": lambda: h.zip_renamed_pdf(19),
    "many_pdfs": lambda: h.many_pdfs(20, count=20),
}


@pytest.mark.parametrize("build", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile(build: Callable[[], bytes]) -> None:
    check(build())


def test_hostile_regular_ones_are_answered() -> None:
    """Hostile content in a regular MIME shape still takes the fast path (and matches)."""
    assert check(h.many_parts(2, parts=2000))
    assert check(h.long_header(5))
    assert check(h.nested_rfc822(3, depth=15))
    assert check(h.broken_base64_pdf(13))


def test_benchmark_mix() -> None:
    """The benchmark's kind of mail (mailgen's mix): equal trees, and (nearly) all answered."""
    mails = mailbox_mix(2000, seed=11)
    answered = sum(check(m.raw, RawHeaderPolicy()) for m in mails)
    assert answered >= 0.99 * len(mails), f"{len(mails) - answered} of {len(mails)} fell back"
    assert sum(b"application/pdf" in m.raw for m in mails) > 300  # the PDF share is in the mix


# --------------------------------------------------------------------------------------------
# Nesting


def nested_multipart(depth: int) -> bytes:
    head = "Subject: deep\r\n"
    opening, closing = [], []
    for level in range(depth):
        opening.append(
            f'Content-Type: multipart/mixed; boundary="n{level}x"\r\n\r\n--n{level}x\r\n'
        )
        closing.append(f"\r\n--n{level}x--\r\n")
    text = head + "".join(opening) + TEXT_PART + "".join(reversed(closing))
    return text.encode()


@pytest.mark.parametrize("depth", [1, 5, MAX_DEPTH])
def test_nesting_within_the_cap(depth: int) -> None:
    assert check(nested_multipart(depth))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 2, 1000, 5000])
def test_deep_nesting_falls_back_without_recursion_error(depth: int) -> None:
    assert split_message(nested_multipart(depth), RawHeaderPolicy()) is None
    assert split_message(h.nested_rfc822(1, depth=depth), RawHeaderPolicy()) is None


# --------------------------------------------------------------------------------------------
# Generated structures: random headers, boundaries, parts, line ends, preambles, epilogues and
# near-miss boundaries. Clean ones (no noise drawn) must be answered; all must agree when answered.

WORDS = st.sampled_from(
    ["PO", "4711", "Gr\u00f6\u00dfe", "hello", "x", "", " ", "\t", "a:b", "From"]
)
TEXT_LINE = st.lists(WORDS, max_size=6).map(" ".join)
BOUNDARIES = st.sampled_from(["b1", "b2", "=_x", "----=_Part_7", "q q", "b1--", "z"])


class Draw:
    """Builds one message as lines (without line ends), noting whether anything irregular was
    drawn."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.clean = True
        self.used: set[str] = set()

    def noise(self, enabled: bool) -> bool:
        if enabled:
            self.clean = False
        return enabled

    def maybe(self, p_percent: int) -> bool:
        return self.draw(st.integers(0, 99)) < p_percent

    def headers(self, content_type: str | None) -> list[str]:
        lines = []
        if self.noise(self.maybe(3)):
            lines.append(self.draw(st.sampled_from([" lead", "From x", ":x", "no header"])))
        for _ in range(self.draw(st.integers(0, 3))):
            name = self.draw(st.sampled_from(["Subject", "X-A", "From", "Content-Disposition"]))
            lines.append(f"{name}: {self.draw(TEXT_LINE)}")
            if self.maybe(20):
                lines.append("\t" + self.draw(TEXT_LINE))
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        return lines

    def text(self, enclosing: list[str]) -> list[str]:
        lines = self.draw(st.lists(TEXT_LINE, max_size=4))
        if enclosing and self.maybe(15):
            b = self.draw(st.sampled_from(enclosing))
            near = self.draw(
                st.sampled_from([f"--{b}X", f"--{b}  ", f" --{b}", f"--{b}--x", f"x--{b}"])
            )
            self.noise(not near.startswith((" ", "x")))
            lines.insert(self.draw(st.integers(0, len(lines))), near)
        return lines

    def entity(self, depth: int, enclosing: list[str], digest: bool = False) -> list[str]:
        kinds = ["leaf", "multipart", "multipart", "message"] if depth == 0 else ["leaf"] * 2
        kind = self.draw(st.sampled_from([*kinds, "multipart", "message"]))
        if depth >= 3 or (kind == "message" and depth >= 2):
            kind = "leaf"
        if kind == "message":
            inner = self.entity(depth + 1, enclosing)
            return [*self.headers("message/rfc822"), "", *inner]
        if kind == "leaf":
            ctype = self.draw(st.sampled_from(["text/plain", "text/html", None]))
            if ctype is None and digest:
                ctype = "text/plain"
            body = self.text(enclosing)
            if ctype == "text/plain" and self.maybe(20):
                body = [base64.b64encode(" ".join(body).encode()).decode()]
                return [*self.headers(ctype), "Content-Transfer-Encoding: base64", "", *body]
            return [*self.headers(ctype), "", *body]
        boundary = self.draw(BOUNDARIES)
        # one boundary the prefix of another (b1, b1--): a real ambiguity, not a regular message
        self.noise(any(boundary.startswith(u) or u.startswith(boundary) for u in self.used))
        self.used.add(boundary)
        subtype = self.draw(st.sampled_from(["mixed", "alternative", "digest"]))
        lines = self.headers(f'multipart/{subtype}; boundary="{boundary}"')
        if self.noise(self.maybe(3)):
            lines.append("Content-Transfer-Encoding: base64")
        lines.append("")
        inside = [*enclosing, boundary]
        if self.maybe(40):
            lines.extend(self.text(inside))
        children = self.draw(st.integers(1, 3))
        for _ in range(children):
            blanks = self.draw(st.sampled_from(["", "", " ", "\t "]))
            lines.append(f"--{boundary}{blanks}")
            lines.extend(self.entity(depth + 1, inside, digest=subtype == "digest"))
        if not self.noise(self.maybe(4)):
            lines.append(f"--{boundary}--" + self.draw(st.sampled_from(["", " "])))
        if self.maybe(40):
            lines.extend(self.text(enclosing))
        return lines


@st.composite
def generated_messages(draw: st.DrawFn) -> tuple[bytes, bool]:
    d = Draw(draw)
    lines = [*d.headers(None), *d.entity(0, [])]
    style = draw(st.sampled_from(["crlf", "lf", "mixed", "bare-cr"]))
    if style in {"crlf", "lf"}:
        text = ("\r\n" if style == "crlf" else "\n").join(lines)
    else:
        ends = ["\r\n", "\n"] if style == "mixed" else ["\r\n"] * 7 + ["\r"]
        text = "".join(line + draw(st.sampled_from(ends)) for line in lines[:-1]) + lines[-1]
        d.noise(style == "bare-cr")
    if lines[-1] == "" or draw(st.booleans()):  # an empty body still needs its blank line
        text += draw(st.sampled_from(["\r\n", "\n"]))
    return text.encode("utf-8"), d.clean


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_messages())
def test_generated_structures(message: tuple[bytes, bool]) -> None:
    data, clean = message
    answered = check(data)
    if clean:
        assert answered, "a regular message fell back to the stdlib"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    check(data)


SOUP = [
    "Subject: x",
    "",
    "--b",
    "--b--",
    "--b ",
    "--bX",
    " c",
    "Content-Type: text/plain",
    'Content-Type: multipart/mixed; boundary="b"',
    "Content-Type: message/rfc822",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SOUP), max_size=14), st.sampled_from(["\r\n", "\n", "\r"]))
def test_line_soup(lines: list[str], eol: str) -> None:
    check(eol.join(lines).encode())
