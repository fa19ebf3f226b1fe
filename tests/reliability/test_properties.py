"""Property-based tests (hypothesis): normalization, the config loader, the PO-record CSV importer.

* Normalization: for every shipped customer, any text the customer's pattern matches whole
  normalizes to a number that normalizes to itself (idempotent), and that number survives being
  written in the text of a message: the scanner finds it, well-formed, under a label. Westside's
  written variants (separators, case, zero padding) are also generated from a canonical number.
* The config loader, fed random edits of a sound configuration (keys dropped, doubled, renamed,
  values of every TOML type, garbage lines, broken tables), returns a Config or raises
  ConfigError: nothing else, ever.
* The CSV importer never raises on random bytes; on a file of good rows mixed with random junk
  rows (and at most one unterminated quote) it loads every good row and blames no good line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from extractors.rules import CustomerRules
from extractors.text import scan_text
from inbox_watcher.config import Config, ConfigError, check_config, load_config
from inbox_watcher.po_import import read_pos_csv
from inbox_watcher.records import normalizer
from tests.mailgen import load_customers
from tests.setup_config import REPO

CUSTOMERS = load_customers()
BY_ID = {c.id: c for c in CUSTOMERS}
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
PROPS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --- normalization --------------------------------------------------------------------------------

_LOOKAROUND = re.compile(r"\(\?<?[!=][^()]*\)")


def written_forms(rules: CustomerRules) -> st.SearchStrategy[str]:
    """Texts the customer's pattern matches whole (its lookarounds dropped, ASCII only)."""
    body = _LOOKAROUND.sub("", rules.pattern.pattern)
    flags = re.IGNORECASE if rules.pattern.flags & regex.IGNORECASE else 0
    compiled = re.compile(body, flags)
    return st.from_regex(compiled, fullmatch=True, alphabet=ASCII).map(str.strip)


def _normalize(rules: CustomerRules, text: str) -> str | None:
    m = rules.pattern.fullmatch(text, timeout=1.0)
    return None if m is None else rules.normalize(m)


@pytest.mark.parametrize("rules", CUSTOMERS, ids=lambda c: c.id)
@PROPS
@given(data=st.data())
def test_normalize_is_idempotent(rules: CustomerRules, data: st.DataObject) -> None:
    written = data.draw(written_forms(rules), label="written")
    number = _normalize(rules, written)
    assume(number is not None and rules.is_valid(number))
    assert number is not None
    assert _normalize(rules, number) == number
    assert normalizer(CUSTOMERS)(rules.id, number) == number  # the CSV import's path
    assert normalizer(CUSTOMERS)(rules.id, written) == number


@pytest.mark.parametrize("rules", CUSTOMERS, ids=lambda c: c.id)
@PROPS
@given(data=st.data())
def test_a_valid_number_survives_in_a_message(rules: CustomerRules, data: st.DataObject) -> None:
    written = data.draw(written_forms(rules), label="written")
    number = _normalize(rules, written)
    assume(number is not None and rules.is_valid(number))
    before = data.draw(st.sampled_from(["", "Hello,\n", "Re: order\n\nThanks. "]), label="before")
    after = data.draw(st.sampled_from(["", ".", " please confirm.", "\n\nBest regards"]))
    text = f"{before}{rules.labels[0]}: {written}{after}"
    found, problems = scan_text(text, rules, "body")
    assert problems == []
    assert number in {c.normalized for c in found if c.valid}, (text, found)


@st.composite
def westside_variant(draw: st.DrawFn) -> tuple[str, str]:
    """(written, canonical) for a Westside number: year, sequence and department in any of the
    forms the pattern allows (separators -, / or space or none; 3-5 digit sequence; any case)."""
    year = draw(st.integers(2000, 2099))
    seq = draw(st.integers(0, 99_999))
    dept = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2))
    width = draw(st.integers(max(3, len(str(seq))), 5))
    seps = draw(st.lists(st.sampled_from(["-", "/", " ", ""]), min_size=2, max_size=2))
    dept_written = "".join(draw(st.sampled_from([c, c.lower()])) for c in dept)
    written = f"{year}{seps[0]}{seq:0{width}d}{seps[1]}{dept_written}"
    return written, f"{year}-{seq:05d}-{dept}"


@PROPS
@given(variant=westside_variant(), label=st.sampled_from(["PO", "P.O. No.", "Purchase Order:"]))
def test_westside_variants_normalize_to_the_canonical_number(
    variant: tuple[str, str], label: str
) -> None:
    written, canonical = variant
    rules = BY_ID["westside"]
    assert _normalize(rules, written) == canonical
    found, _ = scan_text(f"Please ship {label} {written} today.", rules, "body")
    assert canonical in {c.normalized for c in found if c.valid}, (written, found)


# --- the config loader ----------------------------------------------------------------------------

SOUND_WATCHER = """\
[imap]
host = "127.0.0.1"
port = 1143
security = "none"
username = "po@example.com"
password_file = "imap-password"
folders = ["INBOX", "Orders"]
timeout = "30s"
max_message_size = "25MB"

[database]
url = "sqlite:///state.db"

[schedule]
poll_every = "5m"
digest_at = "07:00"
timezone = "UTC"

[digest]
to = ["ap@example.com"]
smtp_host = "127.0.0.1"
smtp_port = 25
security = "none"

[limits]
pattern_timeout = "0.5s"
pdf_max_pages = 50
max_attempts = 3

[customers]
dir = "customers"
"""

TOML_SCALARS: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=30).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.text(alphabet=st.characters(exclude_characters="'\r\n", codec="utf-8"), max_size=30).map(
        lambda s: f"'{s}'"
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(f), repr(f))
    ),
    st.sampled_from(
        [
            "true",
            "false",
            "1979-05-27",
            "07:32:00",
            "1979-05-27T07:32:00Z",
            '"0s"',
            '"-5m"',
            '"1e999GB"',
            '"25XB"',
            '"../../etc/passwd"',
            '"/dev/null"',
            '"\\u0000"',
            '"(?P<x>"',
            '"*"',
            "{}",
            "[]",
            '{ a = 1, b = "x" }',
        ]
    ),
)
TOML_VALUES: st.SearchStrategy[str] = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
    max_leaves=8,
)
KNOWN_KEYS = [
    *("host", "port", "security", "username", "password", "password_env", "password_file"),
    *("folders", "url", "to", "smtp_host", "dir", "pattern", "format", "valid", "labels"),
    *("senders", "name", "timeout", "digest_at", "poll_every", "allow_inline_secrets"),
    *("allow_plaintext", "pdf_max_pages", "workers", "health_port", "ca_file"),
]
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
TABLES = st.sampled_from(
    ["imap", "database", "schedule", "digest", "limits", "customers", "service", "po", "x", ""]
)


@st.composite
def mutated_toml(draw: st.DrawFn, sound: str) -> str:
    """A sound document after a few random line-level edits."""
    lines = sound.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(
            st.sampled_from(["drop", "double", "value", "insert", "table", "garbage", "rename"])
        )
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        line = lines[at] if lines else ""
        if kind == "drop" and lines:
            del lines[at]
        elif kind == "double":
            lines.insert(at, line)
        elif kind == "value" and "=" in line:
            key = line.split("=", 1)[0]
            lines[at] = f"{key}= {draw(TOML_VALUES)}"
        elif kind == "insert":
            lines.insert(at, f"{draw(KEYS)} = {draw(TOML_VALUES)}")
        elif kind == "table":
            lines.insert(at, f"[{draw(TABLES)}]")
        elif kind == "garbage":
            lines.insert(at, draw(st.text(max_size=40)))
        elif kind == "rename" and "=" in line:
            lines[at] = f"{draw(KEYS)} ={line.split('=', 1)[1]}"
    return "\n".join(lines) + "\n"


def _customer_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


SOUND_CUSTOMER = _customer_text(REPO / "config" / "customers" / "westside.toml")


def _load(watcher: str, customer: str) -> Config | ConfigError:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "customers").mkdir()
        (root / "customers" / "westside.toml").write_text(customer, encoding="utf-8")
        shutil.copy(REPO / "config" / "customers" / "acme.toml", root / "customers")
        (root / "imap-password").write_text("secret\n", encoding="utf-8")
        (root / "watcher.toml").write_text(watcher, encoding="utf-8")
        problems = check_config(root / "watcher.toml")
        try:
            result: Config | ConfigError = load_config(root / "watcher.toml")
        except ConfigError as exc:
            result = exc
    if isinstance(result, ConfigError):
        assert result.problems == problems
        assert all(p.file and p.message for p in result.problems)
    else:
        assert problems == []
    return result


def test_the_sound_documents_load() -> None:
    assert isinstance(_load(SOUND_WATCHER, SOUND_CUSTOMER), Config)


@PROPS
@given(watcher=mutated_toml(SOUND_WATCHER), customer=mutated_toml(SOUND_CUSTOMER))
def test_config_loader_raises_only_config_error(watcher: str, customer: str) -> None:
    _load(watcher, customer)  # anything but Config or ConfigError propagates and fails


@PROPS
@given(data=st.binary(max_size=300))
def test_config_loader_on_random_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "watcher.toml"
        path.write_bytes(data)
        with pytest.raises(ConfigError):
            load_config(path)


def test_config_loader_on_deeply_nested_arrays() -> None:
    result = _load(SOUND_WATCHER + "x = " + "[" * 500 + "]" * 500 + "\n", SOUND_CUSTOMER)
    assert isinstance(result, ConfigError)


# --- the CSV importer -----------------------------------------------------------------------------

KNOWN_CUSTOMERS = frozenset(BY_ID)
NORMALIZE = normalizer(CUSTOMERS)
_VALID_NUMBER = {c.id: re.compile(c.valid.pattern) for c in CUSTOMERS}
SAFE_TEXT = st.text(
    alphabet=st.characters(
        min_codepoint=0x20,
        max_codepoint=0xFF,
        exclude_characters='",;\t=+-@\x7f\xa0\xad' + "".join(map(chr, range(0x80, 0xA0))),
    ),
    max_size=20,
).map(str.strip)


@st.composite
def good_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(1, 8))):
        customer = draw(st.sampled_from(sorted(KNOWN_CUSTOMERS)))
        number = draw(st.from_regex(_VALID_NUMBER[customer], fullmatch=True, alphabet=ASCII))
        if (customer, number) in seen:
            continue
        seen.add((customer, number))
        rows.append(
            {
                "po_number": number,
                "customer": customer,
                "status": draw(st.sampled_from(["", "open", "closed"])),
                "amount": draw(st.sampled_from(["", "10", "1234", "0"])),
                "buyer": draw(SAFE_TEXT),
            }
        )
    return rows


JUNK_LINE = st.text(
    alphabet=st.characters(exclude_characters='"\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029'),
    max_size=60,
)


@PROPS
@given(
    good=good_rows(),
    junk=st.lists(JUNK_LINE, max_size=8),
    unterminated=st.booleans(),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
    order=st.randoms(use_true_random=False),
)
def test_csv_import_keeps_every_good_row(
    *,
    good: list[dict[str, str]],
    junk: list[str],
    unterminated: bool,
    delimiter: str,
    encoding: str,
    order: Any,
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    columns = ["po_number", "customer", "status", "amount", "buyer"]
    writer.writerow(columns)
    lines: list[tuple[str, dict[str, str] | None]] = []
    for row in good:
        one = io.StringIO()
        csv.writer(one, delimiter=delimiter, lineterminator="\n").writerow(
            [row[c] for c in columns]
        )
        lines.append((one.getvalue(), row))
    lines.extend((j + "\n", None) for j in junk)
    order.shuffle(lines)
    if unterminated:
        lines.append((f'2024-00001-XX{delimiter}"westside, never closed\n', None))
        order.shuffle(lines)
    text = out.getvalue() + "".join(line for line, _ in lines)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
        return
    result = read_pos_csv(data, known_customers=KNOWN_CUSTOMERS, normalize=NORMALIZE)
    loaded = {(r.customer, r.po_number) for r in result.records}
    good_lines = {2 + i for i, (_, row) in enumerate(lines) if row is not None}
    for row in good:
        assert (row["customer"], row["po_number"]) in loaded, (row, result.errors)
    blamed = {e.line for e in result.errors}
    assert not (blamed & good_lines), [e for e in result.errors if e.line in good_lines]
    if unterminated:
        assert any("quote" in e.message for e in result.errors), result.errors


@PROPS
@given(data=st.binary(max_size=400), bom=st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16]))
def test_csv_import_never_raises(data: bytes, bom: bytes) -> None:
    result = read_pos_csv(
        bom + b"po_number,customer\n" + data, known_customers=KNOWN_CUSTOMERS, normalize=NORMALIZE
    )
    for record in result.records:
        assert record.customer in KNOWN_CUSTOMERS
        assert BY_ID[record.customer].is_valid(record.po_number)
