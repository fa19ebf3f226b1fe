"""Property tests (hypothesis) of normalization, variant round trips, `closest`, and a bounded fuzz
of `scan_text`."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractors.rules import CustomerRules
from extractors.suggest import closest, fold
from extractors.text import scan_text
from extractors.types import Candidate
from tests.customers import ACME, NORDWIND, WESTSIDE

ALL = (WESTSIDE, ACME, NORDWIND)

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Written:
    """One PO number as a person might write it, and its canonical form."""

    rules: CustomerRules
    text: str
    canonical: str


def normalize(rules: CustomerRules, text: str) -> str | None:
    m = rules.pattern.search(text)
    return rules.normalize(m) if m is not None else None


def random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.swapcase() if flip else ch for ch, flip in zip(text, flips, strict=True))


@st.composite
def westside_numbers(draw: st.DrawFn) -> Written:
    year = draw(st.integers(2000, 2099))
    seq = draw(st.integers(0, 99_999))
    dept = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2))
    canonical = f"{year}-{seq:05d}-{dept}"
    # Drop leading zeros of the sequence, down to the 3 digits the pattern needs.
    width = draw(st.integers(max(3, len(str(seq))), 5))
    seps = draw(st.lists(st.sampled_from(["-", "/", " ", ""]), min_size=2, max_size=2))
    text = f"{year}{seps[0]}{seq:0{width}d}{seps[1]}{random_case(draw, dept)}"
    return Written(WESTSIDE, text, canonical)


@st.composite
def acme_numbers(draw: st.DrawFn) -> Written:
    num = draw(st.integers(0, 999_999))
    prefix = draw(st.sampled_from(["", "ACME-", "ACME ", "ACME", "ACME-PO-", "ACME PO ", "PO-"]))
    canonical = f"ACME-{num:06d}"
    return Written(ACME, f"{random_case(draw, prefix)}{num:06d}", canonical)


@st.composite
def nordwind_numbers(draw: st.DrawFn) -> Written:
    year = draw(st.integers(2000, 2099))
    seq = draw(st.integers(0, 9999))
    sep1 = draw(st.sampled_from(["-", " ", ""]))
    sep2 = draw(st.sampled_from(["-", "/", " ", ""]))
    bn = random_case(draw, "BN")
    return Written(NORDWIND, f"{bn}{sep1}{year}{sep2}{seq:04d}", f"BN-{year}-{seq:04d}")


ANY_NUMBER = st.one_of(westside_numbers(), acme_numbers(), nordwind_numbers())
LABELS = {
    "westside": ["PO", "PO#", "P.O. No.", "Purchase Order:", "Order Ref", "Your ref:", "po#"],
    "acme": ["PO", "P.O. No.", "Purchase Order:", "PO#"],
    "nordwind": ["Bestellnummer:", "Bestell-Nr.", "Bestellung", "PO:"],
}
# Surrounding words: letters, spaces and harmless punctuation (no digits, no ':', '/', '@', '>'
# or newlines, which could make addresses, quote markers or numbers of their own).
SAFE_TEXT = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,;!?", max_size=60
)


@FAST
@given(ANY_NUMBER)
def test_normalization_is_idempotent(written: Written) -> None:
    once = normalize(written.rules, written.text)
    assert once == written.canonical
    assert written.rules.is_valid(once)
    assert normalize(written.rules, once) == once


@FAST
@given(ANY_NUMBER, st.data())
def test_variant_after_label_in_random_text_round_trips(
    written: Written, data: st.DataObject
) -> None:
    label = data.draw(st.sampled_from(LABELS[written.rules.id]), label="label")
    before = data.draw(SAFE_TEXT, label="before")
    after = data.draw(SAFE_TEXT, label="after")
    text = f"{before} {label} {written.text} {after}"
    cands, problems = scan_text(text, written.rules, "body")
    assert problems == []
    found = [c for c in cands if c.valid and c.normalized == written.canonical]
    assert found, f"{written.canonical} not found in {text!r}: {cands}"
    assert found[0].labelled
    assert not found[0].quoted
    # Letters and punctuation around it make no other candidate.
    assert [c.normalized for c in cands] == [written.canonical]


@st.composite
def canonical_sets(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from([westside_numbers(), acme_numbers(), nordwind_numbers()]))
    return draw(st.lists(kind.map(lambda w: w.canonical), min_size=1, max_size=8, unique=True))


@FAST
@given(canonical_sets(), st.data())
def test_closest_returns_x_for_x_in_known(known: list[str], data: st.DataObject) -> None:
    x = data.draw(st.sampled_from(known))
    assert closest(x, known) == x


@FAST
@given(
    st.text(alphabet="0123456789OIlSB-/ ABCWS", max_size=16),
    st.lists(st.text(alphabet="0123456789OIlSB-/ ABCWS", max_size=16), max_size=10),
)
def test_closest_returns_a_member_or_none(number: str, known: list[str]) -> None:
    hint = closest(number, known)
    assert hint is None or hint in known
    if number in known and fold(number):
        # Another spelling of the very same folded text may tie with it, nothing else.
        assert hint is not None
        assert fold(hint) == fold(number)


INTERESTING = "0123456789 -/.:#\n>@OIlSBWSacmeBNPO\t()+"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=400),
        st.text(alphabet=INTERESTING, max_size=400),
        st.binary(max_size=400).map(lambda b: b.decode("utf-8", errors="replace")),
        st.binary(max_size=400).map(lambda b: b.decode("latin-1")),
    ),
    st.sampled_from(ALL),
    st.booleans(),
)
def test_scan_text_never_raises(text: str, rules: CustomerRules, quoted: bool) -> None:
    cands, problems = scan_text(text, rules, "body", quoted=quoted)
    for c in cands:
        assert isinstance(c, Candidate)
        assert c.customer == rules.id
        assert c.source == "body"
        assert c.raw
        assert c.raw in text or " ".join(c.raw.split()) in " ".join(text.split())
        if c.valid:
            assert rules.is_valid(c.normalized)
        if quoted:
            assert c.quoted
    for p in problems:
        assert p.source == "body"


@settings(max_examples=60, deadline=None)
@given(ANY_NUMBER, st.sampled_from(["PO 12 ", "> ", "Invoice No. ", "Tel: +44 20 ", "\n"]))
def test_po_survives_noise_before_it(written: Written, noise: str) -> None:
    label = "Bestellnummer:" if written.rules is NORDWIND else "Purchase Order:"
    text = f"{noise * 5}\n{label} {written.text}"
    cands, _ = scan_text(text, written.rules, "body")
    assert written.canonical in {c.normalized for c in cands if c.valid}
