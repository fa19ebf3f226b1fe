"""Independent tests of `extractors.rules`: compiling a customer's rules, normalizing, routing.

Written against the module's contract (docstrings and DESIGN.md), not its code paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors.rules import (
    DEFAULT_LABELS,
    CustomerRules,
    RuleError,
    label_regex,
    missed_punctuated,
    slow_on,
)
from tests.customers import ACME, KESSLER, NORDWIND, WESTSIDE
from tests.mailgen import load_customers

WESTSIDE_PATTERN = (
    r"(?<![\w/])(?P<year>20\d{2})[-/ ]?(?P<seq>\d{3,5})[-/ ]?(?P<dept>[A-Za-z]{2})(?![\w/])"
)


def compile_westside(**overrides: Any) -> CustomerRules | list[RuleError]:
    kwargs: dict[str, Any] = {
        "name": "Westside Tools Ltd",
        "senders": ["*@westside-tools.example", "purchasing@ws-group.example"],
        "pattern": WESTSIDE_PATTERN,
        "format": "{year}-{seq:0>5}-{dept:upper}",
        "valid": r"20\d{2}-\d{5}-[A-Z]{2}",
        "labels": ["PO", "P.O.", "Purchase Order", "Order Ref", "Your ref"],
    }
    kwargs.update(overrides)
    return CustomerRules.compile("westside", **kwargs)


def westside() -> CustomerRules:
    rules = compile_westside()
    assert isinstance(rules, CustomerRules), rules
    return rules


def normalize_first(rules: CustomerRules, text: str) -> str | None:
    m = rules.pattern.search(text)
    assert m is not None, f"the pattern does not match {text!r}"
    return rules.normalize(m)


def error_keys(result: CustomerRules | list[RuleError]) -> list[str]:
    assert isinstance(result, list), f"expected rule errors, got compiled rules {result!r}"
    assert all(isinstance(e, RuleError) for e in result)
    return [e.key for e in result]


# --- compile: config-level errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        pytest.param({"pattern": r"(?P<year>20\d{2"}, "po.pattern", id="pattern-does-not-compile"),
        pytest.param({"pattern": r"[A-Z"}, "po.pattern", id="pattern-unclosed-class"),
        pytest.param(
            {"format": "{year}-{seq}-{department}"}, "po.format", id="format-names-missing-group"
        ),
        pytest.param({"format": "{year}-{seq"}, "po.format", id="format-unclosed-brace"),
        pytest.param(
            {"pattern": r"(\d{4})-(\d{5})", "format": "{1}-{3}"},
            "po.format",
            id="format-positional-group-out-of-range",
        ),
        pytest.param({"pattern": r"\d*"}, "po.pattern", id="pattern-matches-empty-string"),
        pytest.param({"pattern": ""}, "po.pattern", id="pattern-is-empty"),
        pytest.param(
            {"pattern": r"(?:PO)?\d{0,6}", "format": None},
            "po.pattern",
            id="pattern-optional-everything",
        ),
        pytest.param(
            {"pattern": r"\b(?P<year>\d*)", "format": "{year}"},
            "po.pattern",
            id="pattern-matches-empty-inside-text",
        ),
        pytest.param({"valid": r"20\d{2}-(\d{5}"}, "po.valid", id="valid-does-not-compile"),
        pytest.param({"senders": []}, "senders", id="senders-empty"),
        pytest.param({"senders": ["  "]}, "senders[0]", id="sender-blank"),
        pytest.param({"senders": ["*@ok.example", ""]}, "senders[1]", id="second-sender-blank"),
    ],
)
def test_compile_reports_config_error(overrides: dict[str, Any], key: str) -> None:
    keys = error_keys(compile_westside(**overrides))
    assert key in keys


def test_compile_reports_every_error_at_once() -> None:
    result = compile_westside(pattern=r"(?P<year>20\d{2", valid="(", senders=[])
    keys = error_keys(result)
    assert {"po.pattern", "po.valid", "senders"} <= set(keys)


def test_compile_error_messages_name_the_problem() -> None:
    result = compile_westside(format="{year}-{department}")
    assert isinstance(result, list)
    (error,) = result
    assert "department" in error.message
    # The message lists the groups the pattern does have, so the author can fix the typo.
    assert "dept" in error.message


def test_compile_accepts_the_westside_rules() -> None:
    rules = westside()
    assert rules.id == "westside"
    assert rules.name == "Westside Tools Ltd"
    assert rules.format == "{year}-{seq:0>5}-{dept:upper}"


def test_compiled_rules_pickle_round_trip() -> None:
    import pickle

    rules = westside()
    again = pickle.loads(pickle.dumps(rules))  # noqa: S301 - our own value
    assert normalize_first(again, "po 2023/125/ws") == "2023-00125-WS"


def test_format_with_attribute_access_is_a_config_error() -> None:
    result = compile_westside(format="{year.nope}-{seq}")
    assert isinstance(result, list), "a format that can never be applied must fail at load time"


def test_normalize_never_raises_on_an_accepted_format() -> None:
    # Found by this suite (AttributeError escaped normalize); fixed in e1913aa.
    result = compile_westside(format="{year.nope}-{seq}")
    if isinstance(result, list):
        return  # rejected at load time: also fine
    m = result.pattern.search("2023-00125-WS")
    assert m is not None
    assert result.normalize(m) is None


# --- normalize / is_valid ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2023-00125-WS", "2023-00125-WS", id="canonical"),
        pytest.param("2023-00125-ws", "2023-00125-WS", id="lower-case-dept"),
        pytest.param("2023/00125/WS", "2023-00125-WS", id="slashes"),
        pytest.param("2023 00125 WS", "2023-00125-WS", id="spaces"),
        pytest.param("202300125WS", "2023-00125-WS", id="no-separators"),
        pytest.param("2023-125-WS", "2023-00125-WS", id="dropped-leading-zeros"),
        pytest.param("2023-0125-Ws", "2023-00125-WS", id="one-zero-dropped-mixed-case"),
        pytest.param("2023/125 ws", "2023-00125-WS", id="mixed-separators"),
    ],
)
def test_normalize_westside_variants(text: str, expected: str) -> None:
    rules = westside()
    number = normalize_first(rules, text)
    assert number == expected
    assert rules.is_valid(number)


def test_normalize_without_format_strips_spaces_and_upper_cases() -> None:
    rules = CustomerRules.compile(
        "plain", name="Plain", senders=["*@plain.example"], pattern=r"PX[ -]?\d{4} ?[a-z]"
    )
    assert isinstance(rules, CustomerRules)
    assert normalize_first(rules, "ref px 1234 q") == "PX1234Q"


def test_normalize_format_with_numeric_spec_on_digit_group() -> None:
    rules = compile_westside(format="{year}-{seq:05d}-{dept:upper}")
    assert isinstance(rules, CustomerRules), rules
    assert normalize_first(rules, "2023/125/ws") == "2023-00125-WS"


@pytest.mark.parametrize(
    "number",
    [
        pytest.param("2023-0125-WS", id="short-sequence"),
        pytest.param("2023-00125-ws", id="lower-case"),
        pytest.param("2023-00125-WSX", id="trailing-letter"),
        pytest.param("x2023-00125-WS", id="leading-letter"),
        pytest.param("2023-00125-W5", id="digit-for-letter"),
        pytest.param("", id="empty"),
    ],
)
def test_is_valid_is_a_full_match(number: str) -> None:
    assert not westside().is_valid(number)


def test_valid_defaults_to_the_pattern() -> None:
    rules = CustomerRules.compile(
        "plain", name="Plain", senders=["*@plain.example"], pattern=r"PX-\d{4}"
    )
    assert isinstance(rules, CustomerRules)
    assert rules.is_valid("PX-1234")
    assert not rules.is_valid("PX-12345")


def test_is_valid_with_catastrophic_valid_regex_returns_false_in_time() -> None:
    rules = compile_westside(valid=r"(?:\d|\d\d)+$")
    assert isinstance(rules, CustomerRules)
    assert rules.is_valid("1" * 40 + "!") is False


# --- sender routing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("bob@westside-tools.example", True, id="domain-glob"),
        pytest.param("Bob@WestSide-Tools.EXAMPLE", True, id="domain-glob-mixed-case"),
        pytest.param("  bob@westside-tools.example ", True, id="surrounding-spaces"),
        pytest.param("purchasing@ws-group.example", True, id="exact-address"),
        pytest.param("PURCHASING@WS-GROUP.EXAMPLE", True, id="exact-address-upper-case"),
        pytest.param("sales@ws-group.example", False, id="other-address-same-domain"),
        pytest.param("bob@westside-tools.example.evil.example", False, id="domain-suffix-attack"),
        pytest.param("bob@notwestside-tools.example", False, id="lookalike-domain"),
        pytest.param("", False, id="empty"),
    ],
)
def test_sender_matches(address: str, expected: bool) -> None:
    assert westside().sender_matches(address) is expected


def test_sender_globs_are_case_insensitive_in_the_config_too() -> None:
    rules = compile_westside(senders=["*@WestSide-Tools.Example"])
    assert isinstance(rules, CustomerRules)
    assert rules.sender_matches("anna@westside-tools.example")


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "PO",
        "po",
        "PO#",
        "PO No.",
        "P.O.",
        "P. O. Number",
        "P.O. No.",
        "P/O",
        "P/O No.",
        "Purchase Order",
        "purchase  order",
        "Order Ref #",
        "Your ref",
    ],
)
def test_label_regex_finds_label(text: str) -> None:
    rx = regex.compile(
        label_regex(["PO", "P.O.", "Purchase Order", "Order Ref", "Your ref"]), regex.I
    )
    m = rx.search(f"see {text} 2023-00125-WS")
    assert m is not None
    assert m.group(0).strip() == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("PO Box 12", id="po-box-no-dots"),
        pytest.param("POLICY 12", id="label-inside-word"),
        pytest.param("REPO 12", id="label-at-word-end"),
        pytest.param("Your order: KC-PO-4410", id="inside-a-hyphenated-code"),
    ],
)
def test_label_regex_ignores(text: str) -> None:
    rx = regex.compile(label_regex(["PO", "P.O."]), regex.I)
    assert rx.search(text) is None


@pytest.mark.parametrize(
    "text", ["P.O. Box 12", "P. O. Box 12", "P.O.Box 12", "PO-Box 12", "P.O.  BOX 12"]
)
def test_label_regex_never_matches_po_box(text: str) -> None:
    # Found by this suite: the last dot of "P.O." backtracked out of the guard.
    rx = regex.compile(label_regex(["PO", "P.O."]), regex.I)
    assert rx.search(text) is None


def test_label_regex_with_no_labels_matches_nothing() -> None:
    rx = regex.compile(label_regex(["", "  "]), regex.I)
    assert rx.search("PO 2023-00125-WS") is None


def labels_of(rules_labels: Sequence[str] | None) -> tuple[str, ...]:
    rules = compile_westside(labels=rules_labels)
    assert isinstance(rules, CustomerRules)
    return rules.labels


def test_default_labels_when_none_given() -> None:
    assert "Purchase Order" in labels_of(None)
    assert "PO" in labels_of(None)


# Labels are searched in lower-cased text with a lower-case pattern (twice as fast as
# IGNORECASE) that starts with \b (faster than a lookbehind). Both shortcuts must find exactly
# what the plain case-insensitive pattern finds.
_LABEL_TEXT_PIECES = [
    "PO", "po", "P.O.", "p. o.", "Purchase Order", "PURCHASE\nORDER", "Order Ref", "your REF",
    "Bestellnummer", "BESTELLUNG", "P.O. Box", "PO-Box", "No.", "Nr", "#", "2024-00815-MT",
    " ", "\n", ":", "x", "_", "\u0130", "\u017f", "\u212a", "ß", "Ä", "é", "ΣΑΣ", "ǅ", "PӦ",
    "PO\u0307", "Purcha\u017fe Order", "Be\u017ftellung", "\u212aunden", "P\u0130O",
]  # fmt: skip


@given(st.lists(st.sampled_from(_LABEL_TEXT_PIECES), max_size=14), st.sampled_from(["", " "]))
@settings(max_examples=500, deadline=None)
def test_label_search_shortcuts_find_what_ignorecase_finds(pieces: list[str], glue: str) -> None:
    text = glue.join(pieces)
    rules = CustomerRules.compile(
        "c", name="C", senders=["*@c.example"], pattern=r"\d{6}", labels=list(DEFAULT_LABELS)
    )
    assert isinstance(rules, CustomerRules)
    assert rules.label_pattern_lower is not None  # the shortcut is in use
    plain = label_regex(DEFAULT_LABELS).replace(r"\b", r"(?<![\w])", 1)
    assert plain.startswith(r"(?<![\w])")
    reference = [m.span() for m in regex.finditer(plain, text, flags=regex.IGNORECASE)]
    assert rules.label_spans(text, timeout=1.0) == reference


# --- the letters a customer's numbers start with ------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "prefixes"),
    [
        (r"(?<![\w-])PLB-\d{6}(?!\d)", ("PLB",)),
        (r"\bbst-?\d{6}\b", ("BST",)),
        (r"(?:PLB-\d{6}|PL[-/]23[-/]\d{4})", ("PLB", "PL")),
        # Alternatives sharing a group name: the regex package allows it, the parser read here not.
        (r"(?:(?P<p>PLB)-(?P<n>\d{6})|(?P<p>PL)-(?P<n>\d{4}))", ("PLB", "PL")),
        (r"(?P<p>UK-PO)-\d{4}", ("UK",)),
        (r"(?<![\w-])\d{8}", ()),
        (r"(?:ACME[- ]?)?\d{6}", ("ACME",)),  # the numbers written with letters start so
        (r"(?<![\w-])(?:FM[- ]?)?PO[- ]?(?P<n>\d{5})", ("FM", "PO")),
        (r"(?P<y>20\d\d)-(?P<n>\d{4})", ()),
        (r"P\d{7}", ()),  # one letter is too little to go by
        (r"\p{Lu}{3}-\d{5}", ()),  # only the regex package reads it
    ],
)
def test_letter_prefixes_of_a_pattern(pattern: str, prefixes: tuple[str, ...]) -> None:
    rules = CustomerRules.compile("c", name="C", senders=["*@c.example"], pattern=pattern)
    assert isinstance(rules, CustomerRules), rules
    assert rules.prefixes == prefixes


def test_a_pattern_that_backtracks_badly_is_found_before_mail_meets_it() -> None:
    tallis = CustomerRules.compile(
        "tallis",
        name="Tallis",
        senders=["*"],
        pattern=r"(?<![\w-])TL-(?P<num>(?:\d|\d\d)+)-R(?P<rev>\d)(?![\w-])",
        format="TL-{num}-R{rev}",
    )
    assert isinstance(tallis, CustomerRules)
    assert slow_on(tallis, 0.1) == "digits (TL-111111111...)"


def test_the_shipped_and_test_customers_patterns_search_in_time() -> None:
    shipped = load_customers()  # config/customers, the example's
    realistic = [
        rules
        for folder in sorted((Path(__file__).parent / "realistic").glob("*/customers"))
        for rules in load_customers(folder)
    ]
    assert len(shipped) == 3
    assert len(realistic) > 100
    for rules in [*shipped, *realistic, ACME, WESTSIDE, NORDWIND, KESSLER]:
        assert isinstance(rules, CustomerRules)
        assert slow_on(rules, 0.1) is None, rules.id


def test_a_pattern_that_refuses_a_comma_after_the_number_is_found_out() -> None:
    """ "PO 71911, thanks": a lookahead that refuses "," misses the PO in ordinary sentences."""
    strict = CustomerRules.compile(
        "hjort", name="H", senders=["*"], pattern=r"(?<![\w.,/-])(?P<n>7\d{4})(?![\w.,/-])"
    )
    assert isinstance(strict, CustomerRules)
    assert missed_punctuated(strict, "71911") == "PO 71911, thanks"
    fixed = CustomerRules.compile(
        "hjort", name="H", senders=["*"], pattern=r"(?<![\w.,/-])(?P<n>7\d{4})(?![\w-]|[.,]\d)"
    )
    assert isinstance(fixed, CustomerRules)
    assert missed_punctuated(fixed, "71911") is None
    assert missed_punctuated(ACME, "ACME-123456") is None
    assert missed_punctuated(ACME, "ACME-999") is None  # not found at all: no such note
