"""Bytes of a message's text to str: the declared charset, its usual supersets, and what to
do without one (UTF-8, a charset the message declares elsewhere, Japanese told by its kana,
cp1252). Every guess is reported to a ``DefectSink`` in plain words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Protocol

__all__ = ["DefectSink", "decode_text", "utf8_or_cp1252"]


class DefectSink(Protocol):
    """Where a guess is reported (``mime._Defects``)."""

    def add(self, words: str, *, unread: bool = False, note: bool = False) -> None: ...


# WHATWG-style supersets: mail clients label windows-1252 text as latin-1, GBK as gb2312...
_SUPERSETS = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso_8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "tis-620": "cp874",
}
_EIGHT_BIT_KIN = {
    "iso-2022-jp": ("shift_jis", "euc-jp"),
    "iso-2022-jp-2": ("shift_jis", "euc-jp"),
    "csiso2022jp": ("shift_jis", "euc-jp"),
    "iso-2022-kr": ("euc-kr",),
    "hz-gb-2312": ("gbk",),
}
_NO_CHARSET = {"", "unknown-8bit", "x-unknown", "unknown", "8bit", "7bit", "default", "none"}
# Single-byte western labels that UTF-8 text is often mislabelled with: valid multi-byte UTF-8
# almost never occurs in real latin-1 text, so it is read as UTF-8 (with a defect).
_COMBINING = {"windows-1258", "cp1258"}  # charsets that write accents as combining marks
_WESTERN = {"iso-8859-1", "latin1", "latin-1", "iso_8859-1", "cp1252", "windows-1252"}


def utf8_or_cp1252(raw: bytes) -> tuple[str, str]:
    """Undeclared 8-bit bytes: UTF-8 if they are (nearly: a cut character) UTF-8, else Japanese
    when they read as Shift_JIS or EUC-JP with kana in them, else cp1252."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    lenient = raw.decode("utf-8", "replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ch > "\x7f") - bad
    if good >= 8 * bad:
        return lenient, "utf-8 with replacement characters"
    japanese = _japanese(raw)
    if japanese is not None:
        return japanese
    return raw.decode("cp1252", "replace"), "cp1252"


_KANA = re.compile(r"[\u3040-\u30ff]")


def _japanese(raw: bytes) -> tuple[str, str] | None:
    """The bytes as Japanese text, when they are valid Shift_JIS or EUC-JP and a fifth of what
    is not ASCII (three characters at least) is kana: Western text read so gives kanji, not kana
    (kana take lead bytes that cp1252 text hardly has)."""
    for codec, name in (("cp932", "shift_jis"), ("euc_jp", "euc-jp")):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        kana = len(_KANA.findall(text))
        if kana >= 3 and kana * 5 >= sum(1 for ch in text if ch > "\x7f"):
            return text, name
    return None


def decode_text(
    raw: bytes,
    charset: str | None,
    where: str,
    defects: DefectSink,
    *,
    guesses: Sequence[str] = (),
) -> str:
    """Bytes to text with the declared charset. Without one: UTF-8, then the first of
    ``guesses`` (the charsets the message declares elsewhere: a Shift_JIS subject over an
    undeclared Shift_JIS body) the bytes are valid in, then cp1252; with a defect."""
    label = (charset or "").strip().strip("\"'").lower()
    if label in _NO_CHARSET:
        text, codec = utf8_or_cp1252(raw)
        if codec == "utf-8":
            return text
        declared = dict.fromkeys(g.strip().strip("\"'").lower() for g in guesses)
        for label in declared:
            if label in _NO_CHARSET or label in _WESTERN or label in {"us-ascii", "ascii"}:
                continue
            # 7-bit ISO-2022-JP elsewhere: Japanese 8-bit bodies are Shift_JIS or EUC-JP
            for guess in _EIGHT_BIT_KIN.get(label, (label,)):
                try:
                    text = raw.decode(_SUPERSETS.get(guess, guess))
                except (LookupError, ValueError):
                    continue
                defects.add(
                    f"8-bit text without a charset in {where} (read as {guess}: the message "
                    f"declares {label} elsewhere)"
                )
                return text
        defects.add(f"8-bit text without a charset in {where} (read as {codec})")
        return text
    if label in _WESTERN and not raw.isascii():
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            defects.add(f"mislabelled 8-bit text in {where}: declared {label!r}, read as utf-8")
            return text
    try:
        text = raw.decode(_SUPERSETS.get(label, label))
        # Vietnamese windows-1258 writes tone marks as combining characters ("hủy" as u, hook,
        # y): composed, labels and words read as typed elsewhere
        return unicodedata.normalize("NFC", text) if label in _COMBINING else text
    except LookupError:
        problem = f"unknown charset {label[:40]!r} in {where}"
    except ValueError:  # UnicodeDecodeError, and codecs that reject their input otherwise
        problem = f"mislabelled 8-bit text in {where}: not valid {label[:40]!r}"
    text, codec = utf8_or_cp1252(raw)
    defects.add(f"{problem}, read as {codec}")
    return text
