"""Finding one customer's PO numbers in a run of text.

Three passes over the text:

1. The customer's pattern, everywhere. A match becomes a candidate unless a decoy label sits right
   before it ("Invoice No.", "Tel", "IBAN", "Tracking #", "P.O. Box" ...) or it is part of an
   e-mail address or URL. A match that does not normalize to a valid number is kept only when a
   PO label sits right before it (then it is *malformed*); unlabelled noise is dropped.
2. The customer's labels ("PO", "P.O. No.", "Purchase Order:" ...). A label whose value the pattern
   did not match, and whose value looks like an attempt at a number (it has digits and is not a
   date), gives a *malformed* candidate: a digit too few, the letter O for a zero.
3. Tables: a label that is a whole header cell of a "cell | cell" table (HTML tables as read)
   or of a fixed-width report labels the cells under it, row by row.

Quoted reply text (lines starting with ">", everything after "On ... wrote:", "-----Original
Message-----", a forwarded-message header) is scanned too; its candidates carry ``quoted=True``.
Every regex runs with a time limit; a timeout is a ``Problem``, not a hang.
"""

from __future__ import annotations

import bisect
import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import replace

import regex

from extractors import tables
from extractors.phrases import DECOY, GAP, LABEL_REACH, SENTENCE_GAP, SENTENCE_REACH
from extractors.rules import CustomerRules, find_labels, lowered_text
from extractors.suggest import fold
from extractors.tables import cells_under, under_decoy_cell
from extractors.types import Candidate, Problem, Unreadable

MAX_TEXT_CHARS = 1_000_000  # per source; beyond this the text is cut (recorded as a problem)
MAX_CANDIDATES = 200  # per source and customer; a text with more is not an order, it is noise
CONTEXT_CHARS = 40

_DECOY_REACH = 40  # characters before a match (or around a label) searched for decoy words
# A number followed by a unit or a share is a quantity, not a PO: "Order 25 pallets", "Your
# order 100 pcs", "Order 75% complete", "order 12 of 20", "Bestellung: 12 Paletten".
_QUANTITY_AFTER = regex.compile(
    r"[ \t]*(?:%|(?:pcs?|pieces?|units?|items?|pallets?|cartons?|boxes|box|cases|rolls?|sets?"
    r"|bags?|drums?|ea|each|kg|lbs?|tons?|tonnes?|litres?|liters?|of|x|days?|weeks?|months?"
    r"|stk|st[üu]ck|paletten|palette|kartons?|rollen|tage|wochen|monate|von|pi[eè]ces?|jours?)"
    r"(?![^\W\d_]))",
    regex.IGNORECASE,
)
# A value followed by decimals or a currency is an amount: "Importe del pedido 4.500,00 EUR",
# "Wert der Bestellung 4.500 EUR".
_AMOUNT_AFTER = regex.compile(
    r"[.,]\d{1,2}(?![\d.,])|[ \t]*(?:eur|usd|gbp|chf|jpy|cny|pln|try|sek|nok|dkk|€|\$|£|¥)"
    r"(?![^\W\d_])",
    regex.IGNORECASE,
)
# A value after "is" is an attempt at a PO only with this many digits ("order is 100% done").
_MIN_DIGITS_AFTER_VERB = 4
# Short words that end a value rather than continue it ("PO 4501 2345 for delivery").
_STOPWORDS = frozenset(
    {"and", "are", "but", "due", "for", "has", "not", "our", "per", "see", "the", "via", "was",
     "you", "aux", "bei", "das", "dem", "den", "der", "des", "die", "est", "ist", "les", "mit",
     "par", "une", "und", "vom", "von", "zum", "zur"}
)  # fmt: skip
_MIN_DIGITS_IN_CELL = 4  # a cell under a PO header that fits no format needs this many digits
_QUOTE_MARKERS = regex.compile(
    r"""^(?:
        [ \t]*-{2,}[ \t]*(?:original\s+message|forwarded\s+message|weitergeleitete\s+nachricht
                    |urspr[üu]ngliche\s+nachricht|message\s+d'origine|mensagem\s+encaminhada
                    |mensaje\s+reenviado|mensaje\s+original|mensagem\s+original
                    |vidarebefordrat\s+meddelande|videresendt\s+(?:meddelelse|melding)
                    |v[äa]litetty\s+viesti|messaggio\s+inoltrato|doorgestuurd\s+bericht
                    |исходное\s+сообщение|пересылаемое\s+сообщение|оригінальне\s+повідомлення
                    |переслане\s+повідомлення|原始邮件|原始郵件|元のメッセージ|원본\s*메시지
                    )\s*-{2,}
      | [ \t]*begin\s+forwarded\s+message:
      | [ \t]*on\s[^\n]{0,200}?(?:\n[^\n]{0,200}?)?\bwrote:[ \t]*$
      | [ \t]*am\s[^\n]{0,200}?schrieb[^\n]{0,100}:[ \t]*$
      | [ \t]*le\s[^\n]{0,200}?a\s+[ée]crit[ \t]*:[ \t]*$
      | [ \t]*(?:em|el|den|il|op)\s[^\n]{0,200}?(?:escreveu|escribi[óo]|skrev|ha\s+scritto
                                              |schreef)[^\n]{0,100}:[ \t]*$
      | [^\n>]{0,200}\s(?:kirjoitti|пишет|пише|написал[аи]?|написав(?:\(ла\))?):[ \t]*$
      | [^\n>]{0,200}<[^<>\s@]{1,100}@[^<>\s]{1,100}>:[ \t]*$
      | [ \t]*_{8,}[ \t]*$
      | [ \t]*(?:from|von|de|da|van|od|fr[åa]n|fra|l[äa]hett[äa]j[äa]|от|від|差出人|发件人
               |寄件者|보낸\s사람)[ \t]*:[ \t]*[^\n]+\n
        [ \t]*(?:sent|gesendet|date|datum|envoy[ée]|inviato|enviad[oa](?:\s+(?:el|em))?
               |verzonden|wys[łl]ano|odesl[áa]no|skickat|sendt|dato|l[äa]hetetty|to|an|[àa]
               |till|til|para|vastaanottaja|отправлено|дата|кому|надіслано|дата|коли|送信日時
               |日付|宛先|发送时间|時間|寄件日期|收件人|보낸\s날짜|받는\s사람)[ \t]*:
    )""",
    regex.IGNORECASE | regex.VERBOSE | regex.MULTILINE,
)
# Every quote marker contains one of these (lower-cased) on its first or second line. They are
# found with ``str.find`` and the marker pattern is tried only at the start of those lines and the
# lines before them: a full line-anchored search costs ~0.3 ms on a 4 KB text.
_QUOTE_HINTS = ("wrote:", "schrieb", "crit", "original", "forward", "weitergeleitet", "urspr",
                "________", "escreveu", "escribi", "skrev", "scritto", "schreef", "kirjoitti",
                "encaminhada", "reenviado", "vidarebefordrat", "videresendt", "inoltrato",
                "doorgestuurd", ">:")  # fmt: skip
_QUOTE_HINTS_NON_ASCII = ("välitetty", "сообщение", "повідомлення", "пишет", "пише", "написа",
                          "原始", "元のメッセージ", "원본")  # fmt: skip
# looked for only in a text that is not all ASCII; ">:" ends an attribution line in any
# language ("ср, 12 мар. 2025 г. в 10:15, Иван <ivan@example.ru>:")
# A header block's first word, found from its colon: one search for ":" instead of one per word.
_HEADER_WORDS = frozenset({"from", "von", "de", "da", "van", "od", "från", "fran", "fra",
                           "lähettäjä", "lahettaja", "от", "від", "差出人", "发件人", "寄件者",
                           "보낸 사람"})  # fmt: skip
# "On ... wrote:" and its kin head ">"-quoted text: a line without ">" after them is the
# writer's own (an inline answer); a "From: / Sent:" block heads a quote without ">".
_WROTE = regex.compile(r"[ \t]*(?:on|am|le|em|el|den|il|op)\s", regex.IGNORECASE)
_SAID = regex.compile(
    r"[^\n]*(?:kirjoitti|пишет|пише|написал[аи]?|написав(?:\(ла\))?|>):[ \t]*$", regex.MULTILINE
)
_NEXT_LINE_QUOTED = regex.compile(r"[^\n]*\n(?:[ \t]*\n)*[ \t]*>")
_MAX_HINTS = 200  # hint occurrences tried one by one; past this, one search over the text
_QUOTED_LINE = regex.compile(r"^[ \t]*>[^\n]*", regex.MULTILINE)
_VALUE_TOKEN = regex.compile(r"[A-Za-z0-9][A-Za-z0-9\-/_.]*")
_NEXT_PIECE = regex.compile(r" ([A-Za-z0-9]{1,5})(?![A-Za-z0-9\-/])")
_DIGIT_TOKEN = regex.compile(r" \d[A-Za-z0-9\-/_.]*")
# Capitals before a number that are words, not a number's prefix ("PO: TBC 1500").
_NO_PREFIX = frozenset(
    {"TBC", "TBA", "TBD", "ASAP", "NEW", "OLD", "AND", "FOR", "THE", "SEE", "VIA", "DER", "DIE",
     "DAS", "DE", "DU", "LE", "LA", "EL", "NR", "NO", "NUM", "REF", "ID"}
)  # fmt: skip
_DATE_LIKE = regex.compile(
    r"^(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\.?\s*[A-Za-z]{3,9}\.?\s*\d{2,4}"
    # "Bestellung_20250311.xlsx": a date written without separators, as file names carry it
    r"|20\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$"
)
# Typographic dashes and spaces inside a number ("L\u20132400871", "2023\u00a000125 WS"), as Word,
# Outlook and HTML editors write them, are read as "-" and " ". Not the em dash, which is prose
# punctuation. (Offsets below are offsets in the text so read.)
_PLAIN = {ch: "-" for ch in "\u2010\u2011\u2012\u2013\u2212\ufe63"} | {
    ch: " "
    for ch in "\u00a0\u2007\u2009\u202f\u3000"  # the last: the ideographic space
}
# Also read as ASCII: full-width forms (digits, letters and the colon, as Japanese and Chinese
# mail writes them) and digits of other scripts (Arabic-Indic, Devanagari ...). Removed:
# invisible marks (left-to-right and right-to-left marks, zero-width spaces and joiners, the
# soft hyphen, bidi embeddings and isolates, a stray byte-order mark).
_INVISIBLE = frozenset(
    "\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_NON_ASCII = regex.compile(r"[^\x00-\x7f]")  # ~4 ns a character, where a set of ranges takes 30
_WRAPS = ("-\n", "-\r\n", "/\n", "/\r\n")  # quick test before _WRAPPED_AFTER_HYPHEN
_WRAPPED_AFTER_HYPHEN = regex.compile(r"(?<=[A-Za-z0-9])[-/]\r?\n[ \t]*(?=\d)")
_WHITESPACE = regex.compile(r"\s")
_SPACES = regex.compile(r"\s+")
_GROUP_BEFORE = regex.compile(r"[\d)+][ \-./]?\Z")
_GROUP_AFTER = regex.compile(r"[ \-./]?\d")
# A date or an amount ("28/02/2025", "2025-03-01", "7.744,00", "-1,234.50"): beside one, a number
# is a table cell, not a phone number's group.
_CELL = regex.compile(
    r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|[-+]?(?:\d{1,3}(?:[.,'\u2019]\d{3})+|\d+)[.,]\d{2}"
)
_CELL_REACH = 24  # characters of the token beside a number
_TOKEN_BEFORE = regex.compile(r"\S+\Z")
_TOKEN_AFTER = regex.compile(r"\S+")
_LONG_NUMBER = 8  # digits from which a number followed by "/10" or "-10" is a PO and its line
_ITEM_SUFFIX = regex.compile(r"[/-]\d{1,6}(?![\d./-])")
_WITH_ITEM = regex.compile(rf"(\d{{{_LONG_NUMBER},}})[/-]\d{{1,6}}")
# "100 x 2021-451-SS washers", "5 pcs 4711-AB": what follows a quantity is an article.
_QUANTITY_BEFORE = regex.compile(
    r"(?<![\w.,])\d{1,6}\s*(?:x|\u00d7|pcs\.?|pc\.?|stk\.?|st\.?|pieces|units|ea\.?)\s+\Z",
    regex.IGNORECASE,
)
# The year of a written date ("8 Nov 2024", "November 8, 2024", "12/11/2024", "2024-11-08"):
# no PO, whatever a four-digit format says.
_YEAR = regex.compile(r"(?:19|20)\d\d")
_DATE_BEFORE_YEAR = regex.compile(
    r"(?:(?<!\d)\d{1,2}[./-]\d{1,2}[./-]|(?<![^\W\d_])(?:jan|feb|f[ée]v|m[äa]r|mrt|apr|avr|abr|ma[iy]"
    r"|mei|mag|jun|juin|giu|jul|juil|lug|aug|ao[uû]|ago|sep|set|o[ck]t|ott|nov|de[cz]|d[ée]c|dic"
    r"|ene|gen)[^\W\d_]*\.?\s+(?:\d{1,2}(?:st|nd|rd|th|\.)?,?\s+)?)\Z",
    regex.IGNORECASE,
)
_DATE_AFTER_YEAR = regex.compile(r"[./-]\d{1,2}[./-]\d{1,2}(?!\d)")
# The visible end of a masked card or account number: "****1031", "•••• 1031", "XXXX-XXXX-1031".
_MASK_BEFORE = regex.compile(r"(?:[*•·xX]{3,}[ -]?)+\Z")
_INSIDE_ADDRESS = regex.compile(r"[@]|://|www\.", regex.IGNORECASE)
# A line item's row: "1 4500125090 Schraube M8", "00010  4500125090  Widget": a position number
# alone at the line start, then the number, then a word.
_POSITION = regex.compile(r"[ \t]*(?:[1-9]\d{0,2}|00\d{1,3}0)[ \t]+")
_POSITION_REACH = 12  # characters from the line start to the number
_SHORTENED = regex.compile(
    r"[ \t]*(?:,|&|/|and|und|et|or|oder|ou|y|e)[ \t]+([-/]?\d{2,12})(?![\w/-])", regex.IGNORECASE
)
_SLASHED = regex.compile(r"(/\d{2,12})(?![\w/-])")
_GLUE = frozenset({"", "-", "#"})  # between a label and a value written as one token
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")
_WORD_AFTER = regex.compile(r"[ \t]+[^\W\d_]{3}")


def scan_text(
    text: str,
    rules: CustomerRules,
    source: str,
    *,
    page: int | None = None,
    quoted: bool = False,
    timeout: float = 0.5,
) -> tuple[list[Candidate], list[Problem]]:
    """Candidates for one customer in one text. ``quoted=True`` marks all of it as quoted."""
    problems: list[Problem] = []
    if not text:
        return [], problems
    if len(text) > MAX_TEXT_CHARS:
        problems.append(
            Problem(
                source,
                Unreadable.TOO_LARGE,
                f"only the first {MAX_TEXT_CHARS:,} of {len(text):,} characters were searched",
                blocking=False,
            )
        )
        text = text[:MAX_TEXT_CHARS]
    text = _prepared(text)
    labels: list[tuple[int, int]] = []
    label_count = 0
    values: tuple[tuple[int, int] | None, ...] = ()
    matches: list[regex.Match[str]] = []
    quoted_from, quoted_lines = 0, list[tuple[int, int]]()
    timed_out = False
    try:
        label_count, live, values = _live_labels(rules.labels, text, timeout)
        labels = list(live)
        for m in rules.pattern.finditer(text, timeout=timeout):
            matches.append(m)
        if not quoted:
            quoted_from, quoted_lines = _quoted_regions(text, timeout)
    except TimeoutError:
        # What was found before the time ran out still counts; the rest of the text is unread,
        # so a label there cannot be called malformed (the pattern might have matched it).
        timed_out = True
        problems.append(
            Problem(source, Unreadable.PATTERN_TIMEOUT, f"customer {rules.id}", blocking=False)
        )

    if len(matches) > MAX_CANDIDATES or label_count > MAX_CANDIDATES:
        problems.append(
            Problem(
                source,
                Unreadable.TOO_LARGE,
                f"{len(matches):,} possible PO numbers; only the first {MAX_CANDIDATES} were "
                "looked at"
                if len(matches) >= label_count
                else f"{label_count:,} PO labels; only the first {MAX_CANDIDATES} were looked at",
                blocking=False,
            )
        )
        matches = matches[:MAX_CANDIDATES]
    label_ends = sorted(end for _, end in labels)
    label_starts = {start for start, _ in labels}

    def is_quoted(pos: int) -> bool:
        return quoted or _in_quoted(text, pos, quoted_from, quoted_lines)

    def labelled_value(raw: str, normalized: str | None, at: int, context: str) -> Candidate:
        """A label's value: well-formed when ``normalized`` is its canonical number."""
        return Candidate(
            raw=raw,
            normalized=normalized or _clean(raw),
            source=source,
            valid=normalized is not None,
            context=context,
            page=page,
            quoted=is_quoted(at),
            labelled=True,
            customer=rules.id,
        )

    found: list[Candidate] = []
    claimed: list[tuple[int, int]] = []  # spans of pattern matches (valid or labelled)
    for m in matches:
        start, end = m.span()
        if end == start:
            continue
        labelled = (
            start in label_starts
            or _adjacent(text, label_ends, start)
            or _swallowed(label_ends, labels, start, end)
        )
        if not labelled and (
            _decoy_before(text, start)
            or _in_digit_group(text, start, end)
            or under_decoy_cell(text, start, end)
            or _QUANTITY_BEFORE.search(text, max(0, start - 16), start) is not None
            or _a_dates_year(text, start, end)
            or _MASK_BEFORE.search(text, max(0, start - 24), start) is not None
        ):
            continue
        if _inside_address(text, start, end):
            continue
        normalized = rules.normalize(m)
        valid = normalized is not None and rules.is_valid(normalized)
        if not valid and not labelled:
            continue
        claimed.append((start, end))
        # "Our ref 4500123456": a buyer's PO, or a writer's own file number. Shown with those
        # words, the candidate is weak evidence (``Candidate.weak``): it counts when known.
        hedge = None if labelled else _hedge_before(text, start)
        found.append(
            Candidate(
                raw=m.group(0) if hedge is None else _SPACES.sub(" ", text[hedge:end]),
                normalized=normalized if valid and normalized else _clean(m.group(0)),
                source=source,
                valid=valid,
                context=_context(text, start, end),
                page=page,
                quoted=is_quoted(start),
                labelled=labelled,
                customer=rules.id,
            )
        )
        if valid and hedge is None:
            # "PHG-24-01187 and -01203", "PO-SS27-30160/30161": the second number written as
            # its last group only (right after a "/", as long as the group it stands for).
            raw = m.group(0)
            cut = max(raw.rfind("-"), raw.rfind("/"))
            short = _SHORTENED.match(text, end) or _SLASHED.match(text, end)
            if short is not None and not _overlaps(claimed, short.start(1), short.end(1)):
                piece = short.group(1)
                digits = piece.lstrip("-/")
                # Without its "-" ("and 0219"), or right after a "/", only as long as the group
                # it stands for, and no quantity or amount ("and 1500 pcs").
                marked = short.re is _SHORTENED and digits != piece
                whole = (
                    raw[: cut + 1] + digits
                    if cut > 0
                    and raw[cut + 1 :].isdigit()
                    and (
                        marked
                        or (
                            len(digits) == len(raw) - cut - 1
                            and not _QUANTITY_AFTER.match(text, short.end(1))
                            and not _AMOUNT_AFTER.match(text, short.end(1))
                        )
                    )
                    else ""
                )
                other = rules.pattern.fullmatch(whole, timeout=timeout) if whole else None
                number = rules.normalize(other) if other is not None else None
                if number is not None and number != normalized and rules.is_valid(number):
                    claimed.append(short.span(1))
                    found.append(
                        replace(
                            found[-1],
                            raw=f"{short.group(1)} ({whole})",
                            normalized=number,
                            context=_context(text, start, short.end(1)),
                        )
                    )
    if page is not None and not timed_out:  # a PDF: a narrow table cell wraps a number
        for start, end, joined, number, tail in _wrapped_numbers(text, rules, claimed, timeout):
            # The tail alone may have read as an unlabelled number ("30303"): the whole wins.
            found = [c for c in found if c.labelled or c.raw != tail]
            claimed.append((start, end))
            found.append(
                Candidate(
                    raw=joined,
                    normalized=number,
                    source=source,
                    valid=True,
                    context=_context(text, start, end),
                    page=page,
                    quoted=is_quoted(start),
                    labelled=start in label_starts or _adjacent(text, label_ends, start),
                    customer=rules.id,
                )
            )
        claimed.sort()

    for (lstart, lend), value in [] if timed_out else zip(labels, values, strict=True):
        if value is None:
            continue
        vstart, vend = value
        if _overlaps(claimed, vstart, vend):
            continue
        raw = text[vstart:vend]
        # "PO4500123456": a label glued to the number hides it from a pattern that wants a word
        # boundary before it; the value alone may still be a well-formed number.
        normalized = _valid_alone(raw, rules, timeout)
        cand = labelled_value(raw, normalized, vstart, _context(text, lstart, vend))
        whole = text[lstart:vend]
        if (
            normalized is None
            and text[lend:vstart] in _GLUE
            and not any(map(str.isspace, whole))
            and _CJK.search(text, lstart, lend) is None  # "注文番号KS-2503-142": label, value
        ):
            # "PO-20434" is shown as written, not as "20434", which reads like a misreading.
            cand = replace(cand, raw=whole)
        found.append(cand)
        bisect.insort(claimed, (vstart, vend))
    if not timed_out and (" | " in text or "  " in text):
        cells = [
            (lstart, lend, cell)
            for (lstart, lend), value in zip(labels, values, strict=True)
            if value is None
            for cell in cells_under(text, lstart, lend)
        ]
        if len(cells) > MAX_CANDIDATES:  # a table of noise: as for matches and labels
            problems.append(
                Problem(
                    source,
                    Unreadable.TOO_LARGE,
                    f"{len(cells):,} table cells under PO labels; only the first "
                    f"{MAX_CANDIDATES} were looked at",
                    blocking=False,
                )
            )
        for lstart, lend, (vstart, vend) in cells[:MAX_CANDIDATES]:
            raw = text[vstart:vend]
            normalized = _valid_alone(raw, rules, timeout)
            if normalized is None and not _cell_attempt(text, vstart, vend, claimed):
                continue
            context = _SPACES.sub(" ", f"{text[lstart:lend]} / {raw}")
            found.append(labelled_value(raw, normalized, vstart, context))
    tables.forget()  # the rows read hold this text: not kept past its scan
    return dedupe(found), problems


def _prepared(text: str) -> str:
    """The text as the scan reads it: typographic dashes, odd spaces and digits made plain."""
    if not text.isascii() or any(wrap in text for wrap in _WRAPS):
        return _plain(text)
    return text


def _in_quoted(text: str, pos: int, quoted_from: int, quoted_lines: list[tuple[int, int]]) -> bool:
    """Whether ``pos`` is in quoted history (after the marker, or on a ">" line)."""
    if quoted_from and pos >= quoted_from:
        return True
    i = bisect.bisect_right(quoted_lines, (pos, len(text) + 1)) - 1
    return i >= 0 and quoted_lines[i][0] <= pos < quoted_lines[i][1]


# The last token of a line and the first of the next: "UK-PO-20" / "25-00031", "PO450" / "30303".
_LINE_WRAP = regex.compile(
    r"(?<![^\s|])([\w./#-]{2,40}+)[ \t]*\n[ \t]*(\d[\w./-]{1,40}+)(?![^\s|])"
)


def _wrapped_numbers(
    text: str, rules: CustomerRules, claimed: list[tuple[int, int]], timeout: float
) -> list[tuple[int, int, str, str, str]]:
    """(start, end, as joined, canonical, tail) of the numbers a narrow PDF table cell wrapped
    across two lines: a line ending in a piece of a code (letters or a dash, and a digit), not
    read on its own, and the next line starting with digits, which only together are a
    well-formed number of the customer."""
    out: list[tuple[int, int, str, str, str]] = []
    for m in _LINE_WRAP.finditer(text, timeout=timeout):
        head, tail = m.group(1), m.group(2)
        if not any(ch.isdigit() for ch in head) or not any(
            ch.isalpha() or ch == "-" for ch in head
        ):
            continue
        if _overlaps(claimed, m.start(1), m.end(1)):
            continue
        joined = head + tail
        try:
            whole = rules.pattern.fullmatch(joined, timeout=timeout)
        except TimeoutError:
            break
        number = rules.normalize(whole) if whole is not None else None
        if number is not None and rules.is_valid(number):
            out.append((m.start(1), m.end(2), joined, number, tail))
    return out


def _cell_attempt(text: str, vstart: int, vend: int, claimed: list[tuple[int, int]]) -> bool:
    """Whether a table cell under a PO label that fits no format is an attempt at a PO: one
    token with enough digits, not a date, a quantity or an amount, not a match already read."""
    raw = text[vstart:vend]
    if len(raw) > 40 or any(ch.isspace() for ch in raw) or _overlaps(claimed, vstart, vend):
        return False
    if sum(ch.isdigit() for ch in raw) < _MIN_DIGITS_IN_CELL or not _looks_like_attempt(raw):
        return False
    if _CELL.fullmatch(raw):  # a date or an amount
        return False
    return not (_QUANTITY_AFTER.match(text, vend) or _AMOUNT_AFTER.match(text, vend))


def _valid_alone(raw: str, rules: CustomerRules, timeout: float) -> str | None:
    """The canonical number when ``raw`` on its own is a whole, well-formed number, or is one
    with an item suffix ("4500998877-10": the PO and its line, as SAP writes it)."""
    item = _WITH_ITEM.fullmatch(raw)
    for whole in (raw, item[1]) if item else (raw,):
        try:
            m = rules.pattern.fullmatch(whole, timeout=timeout)
        except TimeoutError:
            return None
        number = rules.normalize(m) if m is not None else None
        if number is not None and rules.is_valid(number):
            return number
    return None


@functools.lru_cache(maxsize=16)
def _live_labels(
    labels: tuple[str, ...], text: str, timeout: float
) -> tuple[int, tuple[tuple[int, int], ...], tuple[tuple[int, int] | None, ...]]:
    """How many labels are in ``text``; the spans of the first ``MAX_CANDIDATES`` of them that
    are not inside a decoy phrase such as "order confirmation" (those are no
    labels); and for each of those the span of the value written after it when that looks like
    an attempt at a number (else None). Cached like ``rules.find_labels``: customers sharing a
    label list share all of this, which is most of the cost of a customer beyond the first."""
    found = find_labels(labels, text, timeout)
    live = tuple(
        lab
        for lab in found[:MAX_CANDIDATES]
        if not _inside_decoy(text, *lab)
        and not _NO_LABEL_BEFORE.search(text, max(0, lab[0] - 24), lab[0])
    )
    return len(found), live, tuple(_attempt_after(text, end) for _, end in live)


# "Invoice on hold - no purchase order - KDE-INV-25-1079", "ohne Bestellnummer": a label said
# to be missing labels nothing.
_NO_LABEL_BEFORE = regex.compile(
    r"(?<![\w])(?:no|without|missing|kein(?:e[nr]?)?|ohne|fehlende[nr]?|sans|sin|senza|geen"
    r"|zonder|uden|utan|ingen)[ \t]+(?:valid[ \t]+)?\Z",
    regex.IGNORECASE,
)


def _attempt_after(text: str, label_end: int) -> tuple[int, int] | None:
    """The span of the value after a label when it looks like an attempt at a PO number."""
    value = _value_after(text, label_end)
    if value is None:
        return None
    vstart, vend = value
    if _below_a_row(text, label_end, vstart) or _under_a_header_row(text, label_end, vstart):
        return None  # the cell under the label is its value (``tables.cells_under``, layout)
    raw = text[vstart:vend]
    if not _looks_like_attempt(raw) or _inside_address(text, vstart, vend):
        return None
    gap = GAP.match(text, label_end, vstart)
    if gap and gap["verb"] and sum(ch.isdigit() for ch in raw) < _MIN_DIGITS_AFTER_VERB:
        return None
    if _QUANTITY_AFTER.match(text, vend) or _AMOUNT_AFTER.match(text, vend):
        return None
    return value


@functools.lru_cache(maxsize=16)
def _plain(text: str) -> str:
    """``text`` with typographic dashes and spaces as ASCII ones, full-width forms and other
    scripts' digits as ASCII, invisible marks removed (str.replace: ~1 ns a character for each,
    where str.translate takes ~50), and a number broken after a hyphen or slash at the end of a
    line joined again ("4100-" / "330022", "PO/2024/" / "0153": mail wrapped at 72 characters, a
    narrow PDF cell). Cached: the same text is read once per customer, and the same string
    object keeps its hash for the caches after this one."""
    if not text.isascii():
        for odd in set(_NON_ASCII.findall(text)):
            plain = _folded(odd)
            if plain is not None:
                text = text.replace(odd, plain)
    if _WRAPPED_AFTER_HYPHEN.search(text):  # ~1.5 ns a character
        text = _WRAPPED_AFTER_HYPHEN.sub(_joined, text)
    return text


def _folded(ch: str) -> str | None:
    """What a non-ASCII character is read as (None: itself): a dash or space for the
    typographic ones, the full-width form's ASCII twin, the digit's value, nothing for an
    invisible mark."""
    plain = _PLAIN.get(ch)
    if plain is not None:
        return plain
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    if ch in _INVISIBLE:
        return ""
    digit = unicodedata.decimal(ch, None)
    return None if digit is None else str(digit)


def _joined(m: regex.Match[str]) -> str:
    return m.group(0)[0]  # the hyphen or slash, without the line break


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps one of the sorted, non-nested spans."""
    i = bisect.bisect_left(spans, (start, start))
    for j in (i - 1, i):
        if 0 <= j < len(spans):
            s, e = spans[j]
            if s < end and start < e:
                return True
    return False


def dedupe(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per (normalized, source, page, validity); the unquoted, labelled one wins."""
    best: dict[tuple[str, str, int | None, bool, str | None], Candidate] = {}
    for c in candidates:
        key = (c.normalized, c.source, c.page, c.valid, c.customer)
        old = best.get(key)
        if old is None:
            best[key] = c
            continue
        if (not c.quoted, c.labelled) > (not old.quoted, old.labelled):
            best[key] = Candidate(
                raw=c.raw,
                normalized=c.normalized,
                source=c.source,
                valid=c.valid,
                context=c.context,
                page=c.page,
                quoted=c.quoted and old.quoted,
                labelled=c.labelled or old.labelled,
                customer=c.customer,
            )
    return list(best.values())


def names_another_number(text: str) -> bool:
    """Whether ``text`` holds a decoy label ("Invoice No.", "Delivery note", "Customer No.")."""
    return DECOY.search(text) is not None


def _decoy_before(text: str, start: int) -> bool:
    """Whether a decoy label ("Invoice No.", "Tel", "IBAN" ...) ends right before ``start``."""
    lo = max(0, start - _DECOY_REACH)
    return _adjacent(text, [m.end() for m in _decoys(text, lo, start)], start)


def _decoy_start(text: str, start: int) -> int | None:
    """Where the decoy label that ends right before ``start`` starts (else None)."""
    lo = max(0, start - _DECOY_REACH)
    for m in reversed(_decoys(text, lo, start)):
        if _adjacent(text, [m.end()], start):
            return m.start()
    return None


_HEDGE = regex.compile(r"(?<![\w])our\s+ref(?:erence)?\b\.?", regex.IGNORECASE)


def _hedge_before(text: str, start: int) -> int | None:
    """Where "our ref" starts when it stands right before ``start`` (else None)."""
    lo = max(0, start - _DECOY_REACH)
    if text.find("ref", lo, start) < 0 and text.find("REF", lo, start) < 0:
        return None
    last = None
    for m in _HEDGE.finditer(text, lo, start):
        last = m
    if last is None:
        return None
    gap = text[last.end() : start]
    return last.start() if gap.count("\n") <= 1 and GAP.fullmatch(gap) else None


def _inside_decoy(text: str, start: int, end: int) -> bool:
    """Whether a label starts inside a decoy phrase ("Order" in "order confirmation", "commande
    n°" in "confirmation de commande n°": its "No." words may reach past the phrase). A decoy
    the label wholly holds is no reason: the customer's file lists that label."""
    lo = max(0, start - _DECOY_REACH)
    hi = min(len(text), end + _DECOY_REACH)
    return any(
        m.start() <= start < m.end() and not (start <= m.start() and m.end() <= end)
        for m in _decoys(text, lo, hi, last=start)
    )


# Every decoy word begins a word: trying the decoy pattern only where a word starts finds what a
# search of the window finds (leftmost, non-overlapping), ~4x faster than scanning each position.
_WORD_START = regex.compile(r"(?<![\w])\w")


def _decoys(text: str, lo: int, hi: int, last: int | None = None) -> list[regex.Match[str]]:
    """``DECOY.finditer(text, lo, hi)``, only matches starting at or before ``last`` (if given)."""
    found: list[regex.Match[str]] = []
    free = lo
    for w in _WORD_START.finditer(text, lo, hi if last is None else min(hi, last + 1)):
        at = w.start()
        if at < free:
            continue
        m = DECOY.match(text, at, hi)
        if m is not None:
            found.append(m)
            free = m.end()
    return found


def _swallowed(ends: list[int], labels: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether a label ends inside the match, having started before it: "Cust PO AW27-40130",
    where the pattern's own optional "PO" takes the last word of the label "Cust PO"."""
    i = bisect.bisect_right(ends, start)
    if i >= len(ends) or ends[i] > end:
        return False
    return any(ls < start < le == ends[i] for ls, le in labels)


def _gap_fits(text: str, label_end: int, start: int) -> bool:
    """Whether what stands between a label and a value is a gap a label may leave: read with
    the start of the value in sight, which a gap word may need ("PO/Item 4500219410")."""
    if GAP.fullmatch(text, label_end, start):
        return True
    m = GAP.match(text, label_end, min(len(text), start + 8))
    return m is not None and m.end() == start


def _adjacent(text: str, ends: list[int], start: int) -> bool:
    """Whether some label (given by its end offsets) ends right before ``start``."""
    i = bisect.bisect_right(ends, start) - 1
    while i >= 0 and start - ends[i] <= LABEL_REACH:
        gap = text[ends[i] : start]
        if (
            gap.count("\n") <= 1
            and _gap_fits(text, ends[i], start)
            and not _below_a_row(text, ends[i], start)
            and not _under_a_header_row(text, ends[i], start)
        ):
            return True
        i -= 1
    i = bisect.bisect_right(ends, start) - 1
    while i >= 0 and start - ends[i] <= SENTENCE_REACH:
        if SENTENCE_GAP.fullmatch(text, ends[i], start):
            return True
        i -= 1
    return False


def _under_a_header_row(text: str, label_end: int, value_start: int) -> bool:
    """Whether the label ends a header line of three or more words without digits and the value
    starts the next line, a row of two or more numbers: "Rechnungsnr. Datum Ihre Bestellnummer"
    over "2024-10077 28.02.2025 4500132268" (PDF text): the row's first cell is under the first
    header, not under the label."""
    newline = text.find("\n", label_end, value_start)
    if newline < 0 or text[label_end:newline].strip(" \t:#.-"):
        return False
    line_start = max(text.rfind("\n", 0, label_end) + 1, label_end - tables.MAX_LINE)
    header = text[line_start:label_end].split()
    if len(header) < 3 or any(ch.isdigit() for word in header for ch in word):
        return False
    row_end = text.find("\n", value_start, value_start + tables.MAX_LINE)
    row = text[value_start : value_start + tables.MAX_LINE if row_end < 0 else row_end].split()
    return sum(any(ch.isdigit() for ch in cell) for cell in row) >= 2


def _below_a_row(text: str, label_end: int, value_start: int) -> bool:
    """Whether the value is on the line after a label that ends a "cell | cell" row ("Invoice |
    PO" over "881234 | ACME-123456": the next line's first cell is not the PO's)."""
    while label_end > 0 and text[label_end - 1].isspace():  # "P.O." matches "PO\n" with it
        label_end -= 1
    newline = text.find("\n", label_end, value_start)
    return newline >= 0 and text.find(" | ", text.rfind("\n", 0, label_end) + 1, newline) >= 0


def _value_after(text: str, label_end: int) -> tuple[int, int] | None:
    """The span of the value written after a label, or None when there is none in reach."""
    gap = GAP.match(text, label_end, min(len(text), label_end + LABEL_REACH))
    pos = gap.end() if gap else label_end
    if text[label_end:pos].count("\n") > 1:
        return None
    first = _VALUE_TOKEN.match(text, pos)
    if first is None:
        return None
    end = first.end()
    # "BC 2024-00123": a number's own letter prefix, written apart from it, is part of it.
    prefix = first.group(0)
    if prefix.isalpha() and prefix.isupper() and len(prefix) <= 4 and prefix not in _NO_PREFIX:
        rest = _DIGIT_TOKEN.match(text, end)
        if rest is not None:
            end = rest.end()
    # "2023 125 ws": short pieces separated by single spaces belong to the same value.
    last = first.group(0)
    digit_groups = 1 if last.isdigit() else 0
    for _ in range(2):
        if not last.isdigit() or len(last) > 5:
            break
        nxt = _NEXT_PIECE.match(text, end)
        if nxt is None:
            break
        last = nxt.group(1)
        # Letters join only a number already in groups ("2023 125 ws"), not "12345 is late".
        if not last.isdigit() and (len(last) > 3 or digit_groups < 2 or last.lower() in _STOPWORDS):
            break
        digit_groups += last.isdigit()
        end = nxt.end()
    while end > pos and text[end - 1] in ".-/_":
        end -= 1
    return (pos, end)


def _looks_like_attempt(raw: str) -> bool:
    """Whether a labelled value looks like someone writing a PO number: at least three digits
    ("PO 12 is the line" is a line number), or two and look-alike letters making four ("45OO",
    an OCR slip); not a date; not a sentence."""
    digits = sum(ch.isdigit() for ch in raw)
    if digits < 2 or len(raw) > 40:
        return False
    if digits < 3 and sum(ch.isdigit() for ch in fold(raw)) < 4:
        return False
    return not _DATE_LIKE.match(raw)


def _a_dates_year(text: str, start: int, end: int) -> bool:
    """Whether an unlabelled match is the year of a written date."""
    return _YEAR.fullmatch(text, start, end) is not None and (
        _DATE_BEFORE_YEAR.search(text, max(0, start - 24), start) is not None
        or _DATE_AFTER_YEAR.match(text, end) is not None
    )


def _in_digit_group(text: str, start: int, end: int) -> bool:
    """Whether an all-digit match continues a run of digit groups ("+49 (0)201 554433",
    "0044 20 7946 0958"): part of a phone or account number, not a PO."""
    if not text[start:end].isdigit():
        return False
    before = text[max(0, start - 3) : start]
    if _GROUP_BEFORE.search(before):
        if _table_cell(text, start, before=True) or _table_cell(text, end, before=False):
            return False
        if _lettered_token(text, start, before=True):  # "TL-INV-30688 3104587"
            return False
        return not _after_a_position(text, start, end)
    # "4500123456/00010", "4500123456-10": a long number with an item or line suffix (SAP
    # writes a PO's line so) is the number, not a group of a phone number.
    if end - start >= _LONG_NUMBER and _ITEM_SUFFIX.match(text, end):
        return False
    if not _GROUP_AFTER.match(text, end, end + 2) or _table_cell(text, end, before=False):
        return False
    if end - start >= _LONG_NUMBER and text[end] in " \t":
        # "4500812430 00010 500-7000-01": a phone number's first group (a country or area code)
        # is short; a long number before a space and digits is a row's cell
        return False
    # "3104587 12-APR-2024", "3104587 12 units": a date or a quantity beside it, no phone group
    return not _lettered_token(text, end, before=False) and not _counted(text, end)


def _lettered_token(text: str, at: int, *, before: bool) -> bool:
    """Whether the token one space or tab before (or after) ``at`` has letters ("TL-INV-30688",
    "12-APR-2024"): a phone number's groups are digits."""
    token = _token_beside(text, at, before=before)
    return token is not None and any(ch.isalpha() for ch in token)


def _counted(text: str, end: int) -> bool:
    """Whether a quantity follows the number ("3104587 12 units"), not a phone number's group."""
    token = _TOKEN_AFTER.match(text, end + 1, end + 1 + _CELL_REACH)
    return token is not None and bool(_QUANTITY_AFTER.match(text, token.end()))


def _after_a_position(text: str, start: int, end: int) -> bool:
    """Whether the number follows a line item's position number ("1 4500125090 Schraube"), not
    a phone number's first group: a short number alone at the line start, a word after."""
    low = max(0, start - _POSITION_REACH)
    line_start = text.rfind("\n", low, start) + 1
    if line_start == 0 and low > 0:
        return False
    return bool(_POSITION.fullmatch(text, line_start, start)) and bool(_WORD_AFTER.match(text, end))


def _table_cell(text: str, at: int, *, before: bool) -> bool:
    """Whether the token beside ``at`` (the one before it or after it, one space or tab away) is
    a date or an amount: then the number is a cell of a table row as PDF text and plain-text
    mail write them ("2025-0088 28/02/2025 80012345 7.744,00"), not a group of a phone number."""
    token = _token_beside(text, at, before=before)
    return token is not None and bool(_CELL.fullmatch(token))


def _token_beside(text: str, at: int, *, before: bool) -> str | None:
    """The token one space or tab before (or after) ``at``, or None."""
    if before:
        if at < 2 or text[at - 1] not in " \t":
            return None
        token = _TOKEN_BEFORE.search(text, max(0, at - 1 - _CELL_REACH), at - 1)
    else:
        if at >= len(text) or text[at] not in " \t":
            return None
        token = _TOKEN_AFTER.match(text, at + 1, at + 1 + _CELL_REACH)
    return token.group(0) if token is not None else None


def _inside_address(text: str, start: int, end: int) -> bool:
    """Whether the match sits inside an e-mail address or URL (its whitespace-free token).
    Looks at most 80 characters either side, so a long run without spaces stays linear."""
    window_start = max(0, start - 80)
    left = text[window_start:start]
    cut = max((left.rfind(ch) for ch in " \t\n\r"), default=-1)
    left = left[cut + 1 :]
    right = text[end : end + 80]
    stop = _WHITESPACE.search(right)
    right = right[: stop.start()] if stop else right
    return bool(_INSIDE_ADDRESS.search(left + text[start:end] + right))


@functools.lru_cache(maxsize=16)
def _quoted_regions(text: str, timeout: float) -> tuple[int, list[tuple[int, int]]]:
    """(offset where quoted history starts or 0, spans of ">"-quoted lines). Cached: the same
    text is scanned once per customer."""
    marker = _first_quote_marker(text, timeout)
    quoted_from = 0
    # A message that *starts* with a marker (blank lines aside) is a bare forward: not quoted.
    if marker is not None and text[:marker].strip():
        quoted_from = marker
        end = _QUOTE_MARKERS.match(text, marker, timeout=timeout)
        if (
            end is not None
            and (_WROTE.match(text, marker) or _SAID.match(text, marker))
            and _NEXT_LINE_QUOTED.match(text, end.end() - 1)
        ):
            quoted_from = 0  # ">" says what is quoted, line by line
    lines = [(m.start(), m.end()) for m in _QUOTED_LINE.finditer(text, timeout=timeout)]
    return quoted_from, lines


def _first_quote_marker(text: str, timeout: float) -> int | None:
    """Where the first quote marker starts, or None: the marker pattern is tried at the line of
    each hint word and the line before it (a marker may span two lines), earliest first."""
    low = lowered_text(text)
    if low is None:  # a character whose lower case is longer: offsets would shift
        m = _QUOTE_MARKERS.search(text, timeout=timeout)
        return m.start() if m else None
    starts: set[int] = set()
    hits: list[int] = []
    hints = _QUOTE_HINTS if low.isascii() else _QUOTE_HINTS + _QUOTE_HINTS_NON_ASCII
    for hint in hints:
        pos = low.find(hint)
        while pos >= 0:
            hits.append(pos)
            pos = low.find(hint, pos + len(hint))
    colon = low.find(":")
    while colon >= 0:  # "From:", "De :", "Lähettäjä:" at a line's start
        head = low[max(0, colon - 12) : colon].rstrip(" ")
        word = head[head.rfind("\n") + 1 :].strip()
        if word in _HEADER_WORDS:
            hits.append(colon)
        colon = low.find(":", colon + 1)
    for pos in hits:
        line = text.rfind("\n", 0, pos) + 1
        starts.add(line)
        starts.add(text.rfind("\n", 0, max(line - 1, 0)) + 1 if line else 0)
        if len(starts) > _MAX_HINTS:
            m = _QUOTE_MARKERS.search(text, timeout=timeout)
            return m.start() if m else None
    for start in sorted(starts):
        if _QUOTE_MARKERS.match(text, start, timeout=timeout):
            return start
    return None


def _clean(raw: str) -> str:
    return _SPACES.sub(" ", raw).strip(" .,;:()[]").upper()


def _context(text: str, start: int, end: int) -> str:
    left = text[max(0, start - CONTEXT_CHARS) : start]
    right = text[end : end + CONTEXT_CHARS]
    return _SPACES.sub(" ", f"{left}[{text[start:end]}]{right}").strip()
