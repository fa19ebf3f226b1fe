"""Independent tests of `extractors.suggest`: folding look-alikes, bounded edit distance and the
"did you mean" choice."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors.suggest import Lookalikes, _digit_groups, closest, distance, fold

KNOWN = ["2023-00125-WS", "2023-00126-WS", "2023-00128-WS", "2024-00815-MT", "2021-04711-QA"]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        pytest.param("2023-00125-WS", "202300125W5", id="canonical"),
        pytest.param("2023/oo125 ws", "202300125W5", id="lower-o-slashes-spaces"),
        pytest.param("2O23-0Q1D5", "202300105", id="o-q-d-to-zero"),
        pytest.param("I|l1", "1111", id="i-bar-l-to-one"),
        pytest.param("SB.ZG_", "5826", id="s-b-z-g"),
        pytest.param("", "", id="empty"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("abc", "abd", 1),
        ("abc", "ab", 1),
        ("ab", "ba", 2),
        ("kitten", "sitting", 3),
        ("", "abc", 3),
    ],
)
def test_distance(a: str, b: str, expected: int) -> None:
    assert distance(a, b, limit=5) == expected
    assert distance(b, a, limit=5) == expected


def test_distance_gives_up_past_the_limit() -> None:
    assert distance("aaaaaaaa", "bbbbbbbb", limit=2) == 3
    assert distance("a", "a" * 50, limit=3) == 4


def test_distance_with_a_long_string_and_a_short_one_is_fast() -> None:
    started = time.process_time()
    assert distance("1" * 200_000, "2023-00125-WS", limit=3) == 4
    assert time.process_time() - started < 0.5


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        pytest.param("2023-OO125-WS", "2023-00125-WS", id="O-for-0"),
        pytest.param("2023-00I25-WS", "2023-00125-WS", id="I-for-1"),
        pytest.param("2023-00l25-ws", "2023-00125-WS", id="l-for-1"),
        pytest.param("2023-0012S-WS", "2023-00125-WS", id="S-for-5"),
        pytest.param("2023-0012B-WS", "2023-00128-WS", id="B-for-8"),
        pytest.param("2024-OO8I5-MT", "2024-00815-MT", id="several-lookalikes"),
        pytest.param("2023 00125 ws", "2023-00125-WS", id="separators-and-case"),
        pytest.param("2021-04711-0A", "2021-04711-QA", id="zero-for-Q"),
        pytest.param("2023-00127-WS", "2023-00125-WS", id="one-digit-off-tie-sorted-first"),
    ],
)
def test_closest_finds_lookalike(typed: str, hint: str) -> None:
    assert closest(typed, KNOWN) == hint


def test_exact_beats_lookalike() -> None:
    # Both fold to the same text; the one written the same way wins.
    assert closest("2023-0O125-WS", ["2023-00125-WS", "2023-0O125-WS"]) == "2023-0O125-WS"
    assert closest("2023-00125-WS", ["2023-0O125-WS", "2023-00125-WS"]) == "2023-00125-WS"


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("2019-99999-ZZ", id="far"),
        pytest.param("2023-00999-WS", id="three-edits"),
        pytest.param("", id="empty"),
        pytest.param(" - / ", id="only-separators"),
    ],
)
def test_closest_none(typed: str) -> None:
    assert closest(typed, KNOWN) is None


def test_closest_with_nothing_known() -> None:
    assert closest("2023-00125-WS", []) is None


def test_closest_accepts_any_iterable_once() -> None:
    assert closest("2023-00I25-WS", iter(KNOWN)) == "2023-00125-WS"


def test_closest_allows_at_most_two_edits_on_long_numbers() -> None:
    known = ["ACME-1234567890"]
    assert closest("ACME-1234567800", known) == "ACME-1234567890"  # one edit
    assert closest("ACME-1234567000", known) == "ACME-1234567890"  # two edits
    assert closest("ACME-1234560000", known) is None  # three edits


@pytest.mark.parametrize(("typed", "known"), [("12", "13"), ("123", "124")])
def test_short_numbers_need_under_a_third(typed: str, known: str) -> None:
    assert closest(typed, [known]) is None


def _reference_distance(a: str, b: str) -> int:
    """Textbook Levenshtein, full table: the reference the fast one is checked against."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _reference_closest(number: str, known: list[str]) -> str | None:
    target = fold(number)
    if not target:
        return None
    allowed = min(2, (len(target) - 1) // 3)
    scored = []
    for candidate in known:
        d = _reference_distance(target, fold(candidate))
        if d <= allowed:
            literal = min(
                _reference_distance(
                    number.upper().translate(str.maketrans("", "", " -/_.")),
                    candidate.upper().translate(str.maketrans("", "", " -/_.")),
                ),
                7,
            )
            scored.append((d + literal / 10, candidate))
    return min(scored)[1] if scored else None


_PO_CHARS = st.text(alphabet="0123456789OISBZ-/ ", min_size=0, max_size=12)


@given(st.lists(_PO_CHARS, max_size=30), _PO_CHARS)
@settings(max_examples=300, deadline=None)
def test_lookalikes_agree_with_the_textbook_distance(known: list[str], typed: str) -> None:
    lookalikes = Lookalikes(known)
    got, reference = lookalikes.closest(typed), _reference_closest(typed, known)
    if reference is None and got is not None:
        # Beyond the edit distance: the same digit groups ("2024-815" for 2024-00815-MT), or the
        # rest after a prefix all the numbers share. Found by this test: "0B0" for "0I0".
        assert _digit_groups(typed) or lookalikes._prefix, (typed, got)
    else:
        assert got == reference
    assert distance(typed, "2023-00125-WS", limit=3) == min(
        _reference_distance(typed, "2023-00125-WS"), 4
    )


def test_equally_close_numbers_are_all_suggested() -> None:
    """ "450012345" (a digit left out) is one edit from both: a person must see both."""
    from extractors.suggest import Lookalikes

    known = Lookalikes(["4500123456", "4500123457", "4500999999"])
    assert known.closest_all("450012345") == ["4500123456", "4500123457"]
    assert known.closest("450012345") == "4500123456"
    assert known.closest_all("4500123456") == ["4500123456"]  # an exact one stands alone
    assert known.closest_all("4500O23456") == ["4500123456"]  # look-alike: nearer than a typo
    assert known.closest_all("123") == []
    many = Lookalikes([f"450012345{d}" for d in "0123"])
    assert many.closest_all("4500123459") == []  # four equally close: no hint
    assert many.closest_all("4500123459", limit=4) == [f"450012345{d}" for d in "0123"]


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("12345", ["ACME-123456"]),  # the shared prefix left out, and a digit dropped
        ("23143", ["ACME-231430"]),
        ("2314300", ["ACME-231430"]),  # a digit too many
        ("ACME-12345", ["ACME-123456"]),  # with the prefix, as before
        ("99999", []),
    ],
)
def test_a_prefix_all_numbers_share_may_be_left_out(typed: str, hint: list[str]) -> None:
    known = Lookalikes(["ACME-123456", "ACME-231430", "ACME-654321"])
    assert known.closest_all(typed) == hint


def test_no_shared_prefix_no_second_look() -> None:
    known = Lookalikes(["4500123456", "4500654321"])
    assert known.closest_all("4500123") == []  # three digits short is no slip


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("2024-815", ["2024-00815-IT", "2024-00815-MT"]),  # padding and department left out
        ("2024/815", ["2024-00815-IT", "2024-00815-MT"]),
        ("2023 125", ["2023-00125-WS"]),
        ("125-2023", []),  # the groups in another order are no slip
        ("2023-126", []),
        ("815", []),  # one group says too little
        ("24-815", ["2024-00815-IT", "2024-00815-MT"]),  # the year with two digits
        ("23/125", ["2023-00125-WS"]),
    ],
)
def test_a_number_without_its_padding_and_letters_is_hinted(typed: str, hint: list[str]) -> None:
    known = Lookalikes(["2024-00815-MT", "2024-00815-IT", "2023-00125-WS"])
    assert known.closest_all(typed) == hint
    assert known.closest_all(typed, max_edits=1) == []  # a well-formed number: a new PO


def test_the_shared_prefix_runs_to_the_last_shared_part() -> None:
    """All of a canteen's POs are of one year: "UNI/PO/2024/" may be left out ("Order 0831")."""
    known = Lookalikes(["UNI/PO/2024/0801", "UNI/PO/2024/0831", "UNI/PO/2024/0815"])
    assert known.closest_all("0831") == ["UNI/PO/2024/0831"]
    assert known.closest_all("0832") == ["UNI/PO/2024/0831"]  # and a slip in it
    assert Lookalikes(["4500123456", "4500654321"]).closest_all("4500123") == []  # no letters


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("177", ["OA 24/00177"]),  # "ns. ordine n. 177": prefix and padding left out
        ("00177", ["OA 24/00177"]),
        ("178", []),  # no slip on top of it
        ("17", []),  # too short to say
    ],
)
def test_the_prefix_and_the_padding_may_both_be_left_out(typed: str, hint: list[str]) -> None:
    known = Lookalikes(["OA 24/00123", "OA 24/00177", "OA 24/00131"])
    assert known.closest_all(typed) == hint
    assert known.closest_all("177", max_edits=1) == []  # a well-formed number: a new PO


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("1215", ["CBR-24-1215"]),  # the year and prefix left out; the records span two years
        ("0988", ["CBR-23-0988"]),
        ("988", []),  # three digits say too little
        ("1299", []),  # no number ends so
        ("1187", ["CBR-24-1187", "CBR-25-1187"]),  # two end so: both shown
        ("CBR-1215", ["CBR-24-1215"]),  # the prefix kept, the year left out
        ("CBR/0988", ["CBR-23-0988"]),
        ("XYZ-1215", []),  # another prefix
        ("CBR-988", []),
    ],
)
def test_the_last_group_of_digits_alone_is_hinted(typed: str, hint: list[str]) -> None:
    known = Lookalikes(["CBR-23-0988", "CBR-24-1187", "CBR-24-1215", "CBR-24-1241", "CBR-25-1187"])
    assert known.closest_all(typed) == hint


def test_two_swapped_digits_are_as_near_as_one_wrong_digit() -> None:
    """ "CBR-24-1251": one slip from 1241 (a wrong digit) and from 1215 (two swapped)."""
    known = Lookalikes(["CBR-24-1215", "CBR-24-1241", "CBR-24-1300"])
    assert known.closest_all("CBR-24-1251", max_edits=1) == ["CBR-24-1215", "CBR-24-1241"]


@pytest.mark.parametrize("typed", ["BOP-2024-917", "2024/917", "PO 2024-0917"])
def test_a_year_written_in_full_where_the_pos_have_two_digits_is_hinted(typed: str) -> None:
    known = Lookalikes(["BOP24-0917", "BOP24-0881", "BOP23-0917"])
    assert known.closest_all(typed) == ["BOP24-0917"]
