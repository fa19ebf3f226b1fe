"""A second look at a text where a customer has no valid number: near misses and decoyed numbers.

Asked for by ``message.extract_email`` only for a customer without a valid candidate in the
message (elsewhere neither can change a verdict, and the search costs), in the first
``_NEAR_MISS_REACH`` characters of each text, the HTML copy of a plain body skipped:

- **near misses**: tokens written with the letters the customer's numbers start with
  (``CustomerRules.prefixes``), or one letter off them, that its pattern does not take
  ("order PLB-10019", autocorrected "Best-000466", "FM-P0-88152"): unlabelled malformed
  candidates, which triage counts only close to a known PO (a typo);
- **decoyed numbers**: a lettered number in the customer's own format right after a decoy word
  ("Delivery confirmation HG-PO-0045130"), which ``text.scan_text`` sets aside: weak evidence
  that counts only as a known PO.

The scan's own reading of a text (dashes made plain, decoy words, addresses, quoted history)
comes from ``extractors.text``, so both passes read a text the same way.
"""

from __future__ import annotations

import functools
import re

from extractors.rules import CustomerRules
from extractors.suggest import distance
from extractors.text import (
    _SPACES,
    _clean,
    _context,
    _decoy_before,
    _decoy_start,
    _in_quoted,
    _inside_address,
    _prepared,
    _quoted_regions,
)
from extractors.types import Candidate

__all__ = ["decoyed_candidates", "lookalike_candidates", "near_miss_candidates"]

# A whole "letters-digits" token, found from its runs of digits (the standard library's engine
# finds those ~5x faster than the `regex` package finds whole tokens in a 10 KB text), then read
# back to where the token starts.
# (Chinese, Japanese and Korean letters around a number set it apart: "訂單FP-114-0235的")
_CJK_LETTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_DIGIT_RUN = re.compile(
    rf"\d{{2,12}}(?:[-/.][0-9A-Za-z]{{1,12}}){{0,3}}(?![^\W{_CJK_LETTERS}]|@|[-/.]\w)"
)
_CJK_LETTER = re.compile(f"[{_CJK_LETTERS}]")
_TOKEN_REACH = 24  # characters read back from a run of digits to the token's start
_MAX_NEAR_MISSES = 3  # per text and customer
# Characters of a text searched for near misses: a slip is made by a person writing the mail's
# start, not by the system that printed a long table or the quoted history below it.
_NEAR_MISS_REACH = 3000


@functools.lru_cache(maxsize=16)
def _letter_number_tokens(text: str) -> tuple[tuple[int, int, str, bool], ...]:
    """(start, end, leading letters in upper case, written apart) of each token that starts
    with two to eight letters and holds three digits or more: "PLB-10019", "ORD-2024-5513",
    "NHSFD/24/0O799", "FM-P0-88152"; and of each run of digits one space after a word of two to
    eight letters ("PAT 2851", written apart: a near miss only with the customer's very prefix).
    Cached: every customer with letter prefixes reads the same list."""
    tokens: dict[int, tuple[int, int, str, bool]] = {}
    for run in _DIGIT_RUN.finditer(text):
        at = run.start()
        if at > 2 and text[at - 1] == " " and text[at - 2].isalpha():
            word = at - 1
            while word > 0 and at - word <= 9 and text[word - 1].isalpha():
                word -= 1
            apart = text[word : at - 1]
            if (
                2 <= len(apart) <= 8
                and (word == 0 or not (text[word - 1].isalnum() or text[word - 1] in "-/.@#"))
                and sum(ch.isdigit() for ch in run.group(0)) >= 3
            ):
                tokens.setdefault(word, (word, run.end(), apart.upper(), True))
            continue
        if not at or not (text[at - 1].isalpha() or text[at - 1] in "-/."):
            continue  # after a space or a sign: no letters lead to it ("12 units", "(2024)")
        start = at
        while start > 0 and at - start < _TOKEN_REACH:
            ch = text[start - 1]
            if not (ch.isalnum() or ch in "-/.") or _CJK_LETTER.match(ch):
                break
            start -= 1
        while start < at and text[start] in "-/.":
            start += 1
        if start > 0 and (
            text[start - 1] in "@#"
            or (text[start - 1].isalnum() and not _CJK_LETTER.match(text[start - 1]))
        ):
            continue  # an address, "#12", or a token longer than the reach
        letters = 0
        while start + letters < at and text[start + letters].isalpha():
            letters += 1
        token = text[start : run.end()]
        if not 2 <= letters <= 8 or sum(ch.isdigit() for ch in token) < 3:
            continue
        tokens.setdefault(start, (start, run.end(), token[:letters].upper(), False))
    return tuple(tokens.values())


def _near_prefix(letters: str, prefixes: tuple[str, ...]) -> bool:
    """The customer's prefix letters, or (three letters or more) one letter off them."""
    return any(
        letters == prefix
        or (
            len(prefix) >= 3
            and abs(len(letters) - len(prefix)) <= 1
            and distance(letters, prefix, 1) <= 1
        )
        for prefix in prefixes
    )


def near_miss_candidates(
    text: str,
    rules: CustomerRules,
    source: str,
    *,
    quoted: bool = False,
    taken: frozenset[str] = frozenset(),
    timeout: float = 0.5,
) -> list[Candidate]:
    """Tokens written with the customer's prefix letters (or one slip of them) that its pattern
    does not take ("PLB-10019", "Best-000466", "FM-P0-88152"): unlabelled malformed candidates,
    which triage counts only close to a known PO (a typo). Looked for in the first
    ``_NEAR_MISS_REACH`` characters, and only for a message without a valid number of the
    customer's (``message.extract_email``): the search costs, and elsewhere it cannot matter.
    ``taken``: values already found as written (a labelled malformed one is no near miss too)."""
    if not rules.prefixes or not text:
        return []
    text = _prepared(text[:_NEAR_MISS_REACH])
    spans: list[tuple[int, int, str | None]] = []
    try:
        for start, end, letters, apart in _letter_number_tokens(text):
            if (
                text[start:end] in taken
                # "PO 12874" when "12874" was read after the label "PO": one value, said once
                or (apart and text[start:end].split()[-1] in taken)
                or (apart and letters not in rules.prefixes)
                or not _near_prefix(letters, rules.prefixes)
                or _inside_address(text, start, end)
                or _decoy_before(text, start)  # "e.g. RX1-4100000", "Invoice INV-2024-1"
                or rules.pattern.search(text, start, end, timeout=timeout) is not None
            ):
                continue
            spans.append((start, end, None))
            if len(spans) >= _MAX_NEAR_MISSES:
                break
    except TimeoutError:
        return []
    return _unlabelled(text, spans, rules, source, quoted=quoted, timeout=timeout)


# A number with a letter or two that look like digits typed in ("881O456", "45OO71602l"), or
# with its letters typed on another keyboard (Cyrillic "КМ-25-01235" for "KM-25-01235", a Latin
# "A" in "AЭ-2025-0149"): slips a person makes, which the customer's pattern does not match.
_LOOKALIKE_TOKEN = re.compile(
    r"(?<![\w/.-])([^\W\d_]{2,8}[-/]?)?([0-9OoIl][0-9OoIl/.-]{3,18}[0-9OoIl])(?![\w/-]|[.,]\d)"
)
_LOOKALIKE = str.maketrans("OoIl", "0011")
# Cyrillic and Greek capitals that look like Latin ones, both ways.
_TWINS = "АA ВB ЕE КK МM НH ОO РP СC ТT ХX УY ΑA ΒB ΕE ΖZ ΗH ΙI ΚK ΜM ΝN ΟO ΡP ΤT ΥY ΧX"
_TO_LATIN = str.maketrans({pair[0]: pair[1] for pair in _TWINS.split()})
_TO_CYRILLIC = str.maketrans({pair[1]: pair[0] for pair in _TWINS.split()[:12]})
# Characters searched for them: a person's slip stands near the top of what they wrote; the one
# quick search that says most texts have none costs ~25 ns a character.
_LOOKALIKE_REACH = 1500
_LOOKALIKE_HINT = re.compile(r"\d[OoIl]|[OoIl]\d|[^\x00-\x7f][-/]?\d")


@functools.lru_cache(maxsize=16)
def _lookalike_tokens(text: str) -> tuple[tuple[int, int, int, str, str], ...]:
    """(start, start of the digits, end, letters before, digits) of each number written with
    one or two look-alike letters among four digits or more, or after letters of more than one
    script. Cached: every customer reads the same list, and most texts have none (one quick
    search says so)."""
    if _LOOKALIKE_HINT.search(text) is None:
        return ()
    found = []
    for m in _LOOKALIKE_TOKEN.finditer(text):
        prefix, digits = m.group(1) or "", m.group(2)
        letters = sum(ch in "OoIl" for ch in digits)
        mixed = not prefix.isascii() and (
            prefix.translate(_TO_LATIN) != prefix
            or prefix.upper().translate(_TO_CYRILLIC) != prefix.upper()
        )
        if (1 <= letters <= 2 or (mixed and letters == 0)) and sum(
            ch.isdigit() for ch in digits
        ) >= 4:
            found.append((m.start(), m.start(2), m.end(), prefix, digits))
    return tuple(found)


def lookalike_candidates(
    text: str,
    rules: CustomerRules,
    source: str,
    *,
    quoted: bool = False,
    taken: frozenset[str] = frozenset(),
    timeout: float = 0.5,
) -> list[Candidate]:
    """Numbers written with the letter O for a zero or I/l for a one ("881O456") that, read as
    digits, are in the customer's format: unlabelled malformed candidates, which triage counts
    only close to a known PO. Asked for like ``near_miss_candidates``, in the first
    ``_LOOKALIKE_REACH`` characters."""
    text = _prepared(text[:_LOOKALIKE_REACH])
    spans: list[tuple[int, int, str | None]] = []
    try:
        for token_start, digits_start, end, prefix, digits in _lookalike_tokens(text):
            if text[token_start:end] in taken or digits in taken:
                continue
            # "NWW-01457O" with the customer's letters (as written, or each look-alike letter
            # in the other script), else the digits alone
            start, read = token_start, None
            number_digits = digits.translate(_LOOKALIKE)
            for letters in dict.fromkeys(
                (prefix, prefix.translate(_TO_LATIN), prefix.upper().translate(_TO_CYRILLIC))
            ):
                if letters == prefix and number_digits == digits:
                    continue  # nothing typed wrongly: the scan read it (or it is none)
                read = rules.pattern.fullmatch(letters + number_digits, timeout=timeout)
                if read is not None:
                    break
            if read is None and prefix and number_digits != digits:
                start = digits_start
                read = rules.pattern.fullmatch(number_digits, timeout=timeout)
            number = rules.normalize(read) if read is not None else None
            if number is None or not rules.is_valid(number):
                continue
            if _inside_address(text, start, end) or _decoy_before(text, start):
                continue
            spans.append((start, end, None))
            if len(spans) >= _MAX_NEAR_MISSES:
                break
    except TimeoutError:
        return []
    return _unlabelled(text, spans, rules, source, quoted=quoted, timeout=timeout)


# All digits after a decoy word count (as weak evidence: a known PO only) after an order
# confirmation's words and from this many digits on: "RE: Order confirmation 4500318842" names
# the buyer's SAP PO it confirms; after "Invoice No." or "Artikelnummer" they are that
# document's own.
_DECOYED_DIGITS = 8
_CONFIRMATION = re.compile(
    r"confirm|best[äa]tigung|bestaetigung|confirmaci[óo]n|conferma|bevestiging", re.IGNORECASE
)


def decoyed_candidates(
    text: str,
    rules: CustomerRules,
    source: str,
    *,
    quoted: bool = False,
    timeout: float = 0.5,
) -> list[Candidate]:
    """Numbers in the customer's own format, with letters (or of eight digits or more after an
    order confirmation's words), that the scan sets aside because a decoy word stands right
    before them ("Delivery confirmation HG-PO-0045130", "charge
    CAT/24/0818"): weak evidence shown with that word (``Candidate.weak``), which counts only as
    a known PO. Asked for, like ``near_miss_candidates``, only for a message without a valid
    number of the customer's, in the first ``_NEAR_MISS_REACH`` characters."""
    text = _prepared(text[:_NEAR_MISS_REACH])
    spans: list[tuple[int, int, str | None]] = []
    try:
        for m in rules.pattern.finditer(text, timeout=timeout):
            start, end = m.span()
            if end == start:
                continue
            at = _decoy_start(text, start)
            if at is None or _inside_address(text, start, end):
                continue
            if not any(ch.isalpha() for ch in m.group(0)) and (
                sum(ch.isdigit() for ch in m.group(0)) < _DECOYED_DIGITS
                or _CONFIRMATION.search(text, at, start) is None
            ):
                continue  # all digits after "Invoice No.", "Artikelnummer": the decoy's own
            number = rules.normalize(m)
            if number is not None and rules.is_valid(number):
                spans.append((at, end, number))
    except TimeoutError:
        return []
    return _unlabelled(text, spans, rules, source, quoted=quoted, timeout=timeout)


def _unlabelled(
    text: str,
    spans: list[tuple[int, int, str | None]],
    rules: CustomerRules,
    source: str,
    *,
    quoted: bool,
    timeout: float,
) -> list[Candidate]:
    """Unlabelled candidates for (start, end, canonical number or None when malformed) spans;
    where quoted history starts is asked only when there are some (most texts have none)."""
    if not spans:
        return []
    try:
        quoted_from, quoted_lines = (0, []) if quoted else _quoted_regions(text, timeout)
    except TimeoutError:
        quoted_from, quoted_lines = 0, []
    return [
        Candidate(
            raw=_SPACES.sub(" ", text[start:end]),
            normalized=number or _clean(text[start:end]),
            source=source,
            valid=number is not None,
            context=_context(text, start, end),
            quoted=quoted or _in_quoted(text, start, quoted_from, quoted_lines),
            labelled=False,
            customer=rules.id,
        )
        for start, end, number in spans
    ]
