"""A customer's PO rules: the compiled pattern, the canonical format and the validity check.

``CustomerRules.compile`` turns the strings of a customer file into compiled rules and reports
every problem at once as ``RuleError`` values (the config loader adds the file name). Normalizing
a match is ``rules.normalize(match)``; validating a canonical number is ``rules.is_valid(text)``.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import re
import string
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import regex

# The standard library's regular-expression parser, for ``letter_prefixes`` (no public API).
_SRE_PARSER: Any = importlib.import_module("re._parser")
_SRE_CONSTANTS: Any = importlib.import_module("re._constants")

DEFAULT_LABELS: tuple[str, ...] = (
    "PO",
    "P.O.",
    "Purchase Order",
    "Order Ref",
    "Order Reference",
    "Your ref",
    "Your order",
    "Bestellnummer",
    "Bestellung",
    "Bon de commande",
)

# Words that may sit between a label and its value: "PO No.", "P.O. Number", "Order Ref #".
_SUFFIX_WORDS = r"No\.?|Nr\.?|Num\.?|Number|Nummer|Num[eé]ro|N[°º]|Ref\.?|Reference|ID|Nbr\.?|\#"


@dataclass(frozen=True, slots=True)
class RuleError:
    key: str
    message: str


class _CanonicalFormatter(string.Formatter):
    """``str.format`` plus the specs ``upper`` and ``lower`` (alone or after a standard spec,
    as ``{dept:upper}`` or ``{seq:0>5}``)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        case = None
        for word in ("upper", "lower"):
            if format_spec == word or format_spec.endswith("|" + word):
                case = word
                format_spec = format_spec[: -len(word)].rstrip("|")
        try:
            text = format(value, format_spec)
        except ValueError:
            if not (isinstance(value, str) and value.isdigit()):
                raise
            text = format(int(value), format_spec)  # "{seq:05d}" on a digit group
        if case == "upper":
            return text.upper()
        if case == "lower":
            return text.lower()
        return text


_FORMATTER = _CanonicalFormatter()


def format_fields(fmt: str) -> list[str]:
    """The field names used by a format string (raises ValueError on a broken one)."""
    names = []
    for _, field_name, _, _ in _FORMATTER.parse(fmt):
        if field_name is not None:
            names.append(field_name)
    return names


def _accent_folds() -> dict[str, str]:
    """Latin letters with an accent, and the few without a decomposition (dotless i, l with
    stroke, d with stroke, o with stroke), mapped to their base letter: labels are matched
    without their accents, as people type them."""
    folds = {"\u0131": "i", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D"}
    folds.update({"\u00f8": "o", "\u00d8": "O"})
    for code in range(0xC0, 0x250):  # Latin-1 Supplement, Latin Extended-A and -B
        ch = chr(code)
        base = unicodedata.normalize("NFD", ch)[0]
        if base != ch and base.isascii() and base.isalpha():
            folds[ch] = base
    return folds


_ACCENT_FOLDS = _accent_folds()
# For each lower-case base letter, every letter that folds to it (both cases): a label's "s"
# matches "ş" and "Š", its "ş" matches "s".
_ACCENT_VARIANTS: dict[str, str] = {}
for _accented, _base in _ACCENT_FOLDS.items():
    _ACCENT_VARIANTS[_base.lower()] = _ACCENT_VARIANTS.get(_base.lower(), "") + _accented
_NON_ASCII = regex.compile(r"[^\x00-\x7f]")


def fold_accents(text: str) -> str:
    """``text`` with accented Latin letters as their base letters, one character for one."""
    if text.isascii():
        return text
    for ch in set(_NON_ASCII.findall(text)):
        base = _ACCENT_FOLDS.get(ch)
        if base is not None:
            text = text.replace(ch, base)
    return text


_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")


def label_regex(labels: Sequence[str], *, lowered: bool = False) -> str:
    """A regex source that finds any of the labels, with optional "No."/"Number"/"#" after it.

    Dots in a label are optional and may be followed by spaces ("P.O." matches "PO", "P. O.";
    one between letters may be a slash: "P/O");
    spaces match any run of whitespace; "P.O. Box" is never a label; accents do not count
    ("Siparis no" matches "Sipariş No"). ``lowered``: the same without accents in lower case, to
    be matched case-sensitively on such text (see ``label_text``).
    """
    alternatives: list[str] = []
    unspaced: list[str] = []  # Chinese and Japanese labels: words are not set apart by spaces
    written = {lab.strip() for lab in labels if lab.strip()}
    if lowered:
        written = {fold_accents(lab).lower() for lab in written}
    for label in sorted(written, key=len, reverse=True):
        parts = []
        # A zero for an "o" (faxes read by OCR write "0rder No"), in a word label of four
        # letters or more: "P0" before digits is an ID's start (a Kenyan PIN "P051234567X").
        ocr_zero = sum(ch.isalpha() for ch in label) >= 4
        for i, ch in enumerate(label):
            if ch == "." and label[i - 1 : i].isalpha() and label[i + 1 : i + 2].isalpha():
                parts.append(r"[./]?\s*")  # "P.O." finds "P/O" too
            elif ch == ".":
                parts.append(r"\.?\s*")
            elif ch.isspace():
                parts.append(r"\s+")
            elif not lowered and (base := _ACCENT_FOLDS.get(ch, ch).lower()) in _ACCENT_VARIANTS:
                zero = "0" if base == "o" and ocr_zero else ""
                parts.append(f"[{base}{_ACCENT_VARIANTS[base]}{zero}]")
            elif ch.lower() == "o" and ocr_zero:
                parts.append("[o0]" if lowered else "[oO0]")
            else:
                parts.append(regex.escape(ch))
        (unspaced if _UNSPACED.match(label) else alternatives).append("".join(parts))
    body = "|".join(alternatives) or r"(?!)"
    words = _SUFFIX_WORDS.lower() if lowered else _SUFFIX_WORDS
    box = "box" if lowered else "Box"
    # Not after a word character. When every label starts with one, "\b" says the same and lets
    # the regex engine skip ahead faster (~30 % of the label search).
    starts_word = all(regex.match(r"\w", lab.strip()) for lab in labels if lab.strip())
    head = r"\b" if alternatives and starts_word else r"(?<![\w])"
    # Nor inside a hyphenated code: the "PO" of "KC-PO-4410" is a piece of that reference.
    head += r"(?<!\w-)"
    # Not before a letter (the ordinal sign of "nº" is no letter here).
    found = rf"{head}(?:{body})(?![^\W\d_ºª])"
    if unspaced:  # "我司订单号", "発注番号は": inside a run of letters, before one
        found = rf"(?:{found}|(?<!\w-)(?:{'|'.join(unspaced)}))"
    # "№" (the numero sign of Cyrillic and East Asian keyboards), and its stand-in "N" before
    # digits ("Заказ N 250199"), also right before the number.
    numero = "n" if lowered else "N"
    return (
        rf"{found}(?![\s.\-]*{box}\b)"
        rf"(?:\s*(?:(?:{words})(?![\w])|№|{numero}(?=[ \t]?\d)))?"
    )


@functools.lru_cache(maxsize=16)
def lowered_text(text: str) -> str | None:
    """``text.lower()`` when a lower-case pattern of ASCII letters finds in it exactly what the
    same pattern with IGNORECASE finds in ``text`` (same offsets), else None. The exceptions are
    the two characters whose case folds to an ASCII letter that ``lower()`` does not give:
    U+0130 (dotted capital I, which also lengthens) and U+017F (long s). Cached: the same text
    is read once per customer. Case-insensitive matching in ``regex`` is about twice as slow."""
    low = text.lower()
    if len(low) != len(text) or "\u017f" in text:
        return None
    return low


@functools.lru_cache(maxsize=16)
def label_text(text: str) -> str | None:
    """``lowered_text`` without accents (one character for one, so offsets stay), or None: what
    a ``lowered`` label pattern reads. Cached like ``lowered_text``."""
    low = lowered_text(text)
    return None if low is None else fold_accents(low)


@functools.lru_cache(maxsize=64)
def _label_patterns(
    labels: tuple[str, ...],
) -> tuple[regex.Pattern[str], regex.Pattern[str] | None]:
    """The labels' pattern, and its lower-case twin when every label without its accents is
    ASCII or caseless (Chinese, Japanese), else None."""
    label_re = regex.compile(label_regex(labels), regex.IGNORECASE)
    caseless = (
        ch.isascii() or ch.lower() == ch.upper() == ch for ch in fold_accents("".join(labels))
    )
    if not all(caseless):
        return label_re, None
    return label_re, regex.compile(label_regex(labels, lowered=True))


@functools.lru_cache(maxsize=16)
def find_labels(labels: tuple[str, ...], text: str, timeout: float) -> tuple[tuple[int, int], ...]:
    """The spans of the labels in ``text`` (raises TimeoutError past ``timeout``). Cached: a
    message that no sender glob routes is read by every customer, and most customers share
    their label list (the default one), so the search runs once per list, not per customer."""
    label_re, lower_re = _label_patterns(labels)
    low = label_text(text) if lower_re is not None else None
    if lower_re is not None and low is not None:
        found = lower_re.finditer(low, timeout=timeout)
    else:
        found = label_re.finditer(text, timeout=timeout)
    return tuple(m.span() for m in found)


@dataclass(frozen=True)
class CustomerRules:
    """Compiled PO rules of one customer (picklable: the regex package pickles patterns)."""

    id: str
    name: str
    senders: tuple[str, ...]
    pattern: regex.Pattern[str]
    format: str | None
    valid: regex.Pattern[str]
    labels: tuple[str, ...]
    label_pattern: regex.Pattern[str]
    # The labels in lower case for lower-cased text; None when a label is not all ASCII.
    label_pattern_lower: regex.Pattern[str] | None = None
    # What counts from senders not on this customer's list: "labelled" numbers (or known POs),
    # or only "known" POs (a format other companies share, such as SAP's 45...).
    strangers: str = "labelled"
    # The letters every number of a pattern's alternative starts with ("PLB" of "PLB-\d{6}"),
    # upper case, two or more: a near miss written with them ("PLB-10019") is worth a look.
    prefixes: tuple[str, ...] = ()

    @staticmethod
    def compile(
        customer_id: str,
        *,
        name: str,
        senders: Sequence[str],
        pattern: str,
        format: str | None = None,
        valid: str | None = None,
        labels: Sequence[str] | None = None,
        ignore_case: bool = True,
        strangers: str = "labelled",
    ) -> CustomerRules | list[RuleError]:
        errors: list[RuleError] = []
        if strangers not in ("labelled", "known"):
            errors.append(RuleError("po.strangers", 'must be "labelled" or "known"'))
        flags = regex.V0 | (regex.IGNORECASE if ignore_case else 0)
        compiled: regex.Pattern[str] | None = None
        try:
            compiled = regex.compile(pattern, flags)
        except (regex.error, TypeError) as exc:
            errors.append(RuleError("po.pattern", f"does not compile: {exc}"))
        if compiled is not None:
            try:
                empty = compiled.search("", timeout=1.0) is not None
            except TimeoutError:
                empty = False
            if empty or _matches_empty_inside(compiled):
                errors.append(
                    RuleError("po.pattern", "matches the empty string: it would match everywhere")
                )
        if format is not None:
            try:
                fields = format_fields(format)
            except ValueError as exc:
                errors.append(RuleError("po.format", f"is not a valid format string: {exc}"))
                fields = []
            if compiled is not None:
                groups = set(compiled.groupindex)
                for f in fields:
                    base = f.split(".")[0].split("[")[0]
                    if base != f:
                        errors.append(
                            RuleError(
                                "po.format",
                                f"field '{{{f}}}' uses attribute or index "
                                "access; name a group alone, as '{seq:0>5}'",
                            )
                        )
                        continue
                    if base.isdigit():
                        if int(base) > compiled.groups:
                            errors.append(
                                RuleError(
                                    "po.format",
                                    f"names group {base}, the pattern has {compiled.groups} groups",
                                )
                            )
                    elif base not in groups:
                        known = ", ".join(sorted(groups)) or "none"
                        errors.append(
                            RuleError(
                                "po.format",
                                f"names group '{base}' that the pattern lacks "
                                f"(the pattern's named groups: {known})",
                            )
                        )
        valid_re: regex.Pattern[str] | None = None
        try:
            valid_re = regex.compile(valid if valid is not None else pattern)
        except (regex.error, TypeError) as exc:
            errors.append(RuleError("po.valid", f"does not compile: {exc}"))
        if not senders:
            errors.append(
                RuleError("senders", "is empty: list at least one sender address or glob")
            )
        for i, s in enumerate(senders):
            if not isinstance(s, str) or not s.strip():
                errors.append(RuleError(f"senders[{i}]", "is not a non-empty string"))
        all_labels = tuple(labels) if labels is not None else DEFAULT_LABELS
        label_re, label_lower = _label_patterns(all_labels)
        if errors or compiled is None or valid_re is None:
            return errors or [RuleError("po", "could not be compiled")]
        return CustomerRules(
            id=customer_id,
            name=name,
            senders=tuple(s.strip().lower() for s in senders),
            pattern=compiled,
            format=format,
            valid=valid_re,
            labels=all_labels,
            label_pattern=label_re,
            label_pattern_lower=label_lower,
            strangers=strangers,
            prefixes=letter_prefixes(pattern, flags),
        )

    def label_spans(self, text: str, *, timeout: float) -> list[tuple[int, int]]:
        """Where the customer's labels are in ``text`` (raises TimeoutError past ``timeout``)."""
        return list(find_labels(self.labels, text, timeout))

    def normalize(self, match: regex.Match[str]) -> str | None:
        """The canonical number for a match, or None when the format cannot be applied."""
        if self.format is None:
            return regex.sub(r"\s+", "", match.group(0)).upper()
        groups: Mapping[str, Any] = {
            k: (v if v is not None else "") for k, v in match.groupdict().items()
        }
        positional = [match.group(0), *(g if g is not None else "" for g in match.groups())]
        try:
            return _FORMATTER.vformat(self.format, positional, groups)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return None

    def is_valid(self, number: str) -> bool:
        try:
            return self.valid.fullmatch(number, timeout=0.5) is not None
        except TimeoutError:
            return False

    def sender_matches(self, address: str) -> bool:
        address = address.strip().lower()
        return any(fnmatch.fnmatchcase(address, glob) for glob in self.senders)


_GROUP_NAME = regex.compile(r"\(\?P?<(?![=!])\w+>")


def letter_prefixes(pattern: str, flags: int = 0) -> tuple[str, ...]:
    """The letters the numbers of ``pattern`` start with (after zero-width assertions), upper
    case, where there are two or more: ("PLB", "PL") for "(?:PLB-\\d{6}|PL-\\d{2}-\\d{4})",
    ("FM", "PO") for "(?:FM-)?PO\\d{5}", () for "\\d{8}". Read with the standard library's
    parser; a pattern only the ``regex`` package reads has none."""
    # Group names go (the regex package lets alternatives share one, the standard parser not).
    unnamed = _GROUP_NAME.sub("(?:", pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = _SRE_PARSER.parse(unnamed, flags & regex.IGNORECASE and re.IGNORECASE)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return ()
    heads = _letter_heads(list(parsed), depth=0)
    return tuple(dict.fromkeys(h.upper() for h in heads if len(h) >= 2))


def _letter_heads(items: list[Any], depth: int) -> list[str]:
    c = _SRE_CONSTANTS
    head = ""
    for i, (op, arg) in enumerate(items):
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            continue  # zero-width: "(?<![\\w-])", "\\b", "^"
        if op is c.LITERAL and chr(arg).isalpha():
            head += chr(arg)
            continue
        if depth < 5 and op is c.SUBPATTERN:
            return [head + h for h in _letter_heads(list(arg[-1]) + items[i + 1 :], depth + 1)]
        if depth < 5 and op is c.BRANCH:
            rest = items[i + 1 :]
            return [head + h for alt in arg[1] for h in _letter_heads(list(alt) + rest, depth + 1)]
        if not head and depth < 5 and op in (c.MAX_REPEAT, c.MIN_REPEAT) and arg[:2] == (0, 1):
            # "(?:FM[- ]?)?PO\\d{5}": the numbers start with "FM", or (without it) with "PO".
            rest = items[i + 1 :]
            return [
                *_letter_heads(list(arg[2]) + rest, depth + 1),
                *_letter_heads(rest, depth + 1),
            ]
        break
    return [head]


def _matches_empty_inside(pattern: regex.Pattern[str]) -> bool:
    """True when the pattern yields an empty match somewhere in ordinary text."""
    probe = "PO 12 ab-CD / x"
    try:
        return any(m.end() == m.start() for m in pattern.finditer(probe, timeout=1.0))
    except TimeoutError:
        return False


# Texts on which a pattern that backtracks badly shows it: runs of the characters PO numbers are
# made of, after the pattern's own prefix letters ("TL-" + 40 digits for TL-(?:\d|\d\d)+-R\d),
# short (exponential backtracking) and long (polynomial), ending in a character no pattern wants.
_PROBE_RUNS = (("digits", "1"), ("digits and spaces", "1 "), ("digits and hyphens", "1-"),
               ("letters and digits", "A1"), ('"PO" words', "PO "), ("letters", "a"))  # fmt: skip


def slow_on(rules: CustomerRules, timeout: float) -> str | None:
    """What kind of text the customer's pattern cannot search within ``timeout`` (a sign of
    catastrophic backtracking: each such text in a mail would cost the whole timeout), or None
    when it reads them all in time."""
    heads = [""] + [f"{p}{sep}" for p in rules.prefixes for sep in ("", "-", " ", "/")]
    for name, run in _PROBE_RUNS:
        texts = [head + run * (40 // len(run)) + "!" for head in heads]
        texts.append(run * (5000 // len(run)) + "!")
        for text in texts:
            try:
                for _ in rules.pattern.finditer(text, timeout=timeout):
                    pass
            except TimeoutError:
                return f"{name} ({text[:12]}...)"
    return None


# How people end a PO number in a sentence; a pattern that finds "PO 4500123456 is late" should
# find each of these too.
_PUNCTUATED = ("PO {}, thanks", "PO {}. Thanks", "(PO {})", "PO {}; thanks", "PO: {}\n", '"{}"')


def missed_punctuated(rules: CustomerRules, number: str) -> str | None:
    """A sentence the customer's pattern does not find its own ``number`` in, though it finds it
    in "PO {number} is late" (a lookahead that refuses a comma or a full stop), or None."""

    def finds(text: str) -> bool:
        try:
            return any(
                rules.normalize(m) == number for m in rules.pattern.finditer(text, timeout=0.5)
            )
        except TimeoutError:
            return True  # slow patterns have their own warning (``slow_on``)

    if not finds(f"PO {number} is late"):
        return None
    return next((t.format(number) for t in _PUNCTUATED if not finds(t.format(number))), None)
