"""Independent tests of `extractors.text.scan_text`: variants, malformed values, decoys, quoting,
runaway patterns and hostile sizes.

Every expectation comes from the module's contract (its docstring, DESIGN.md and the issue), not
from running the code. Bugs found are kept as strict xfails naming the bug.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors import text as text_module
from extractors.near_miss import (
    decoyed_candidates,
    lookalike_candidates,
    near_miss_candidates,
)
from extractors.phrases import DECOY
from extractors.rules import CustomerRules
from extractors.text import MAX_TEXT_CHARS, scan_text
from extractors.types import Candidate, Problem, Unreadable
from tests.customers import ACME, KESSLER, NORDWIND, WESTSIDE, compiled

RULES = {"westside": WESTSIDE, "acme": ACME, "nordwind": NORDWIND}


def scan(
    text: str, rules: CustomerRules = WESTSIDE, **kwargs: Any
) -> tuple[list[Candidate], list[Problem]]:
    return scan_text(text, rules, "body", **kwargs)


def valid_numbers(cands: list[Candidate]) -> set[str]:
    return {c.normalized for c in cands if c.valid}


# --- formatting variants normalize ------------------------------------------------------------

VARIANTS = [
    # (customer, text, canonical)
    ("westside", "PO 2023-00125-WS", "2023-00125-WS"),
    ("westside", "PO 2023-00125-ws", "2023-00125-WS"),
    ("westside", "po 2023/00125/ws", "2023-00125-WS"),
    ("westside", "PO: 2023 00125 WS", "2023-00125-WS"),
    ("westside", "PO 202300125WS", "2023-00125-WS"),
    ("westside", "PO 2023-125-WS", "2023-00125-WS"),
    ("westside", "PO 2023-0125-WS", "2023-00125-WS"),
    ("westside", "PO#2023-00125-WS", "2023-00125-WS"),
    ("westside", "PO# 2023-00125-WS", "2023-00125-WS"),
    ("westside", "po# 2023 125 ws", "2023-00125-WS"),
    ("westside", "P.O. No. 2023-00125-WS", "2023-00125-WS"),
    ("westside", "P.O. Number: 2023/125/ws", "2023-00125-WS"),
    ("westside", "P. O. 2023-00125-WS", "2023-00125-WS"),
    ("westside", "Purchase Order: 2023-00125-WS", "2023-00125-WS"),
    ("westside", "PURCHASE ORDER 2023 125 WS", "2023-00125-WS"),
    ("westside", "Order Ref: 2023-125-ws", "2023-00125-WS"),
    ("westside", "Your ref 2023/00125/WS.", "2023-00125-WS"),
    ("westside", "Please ship (PO 2023-00125-WS) today", "2023-00125-WS"),
    ("acme", "Purchase Order: 123456", "ACME-123456"),
    ("acme", "Purchase Order: ACME 123456", "ACME-123456"),
    ("acme", "P.O. No. 123456", "ACME-123456"),
    ("nordwind", "Bestellnummer: BN-2024-0815", "BN-2024-0815"),
    ("nordwind", "Bestell-Nr. BN 2024 0815", "BN-2024-0815"),
    ("nordwind", "bestell-nr.: bn-2024-0815", "BN-2024-0815"),
    ("nordwind", "Ihre Bestellung BN2024/0815", "BN-2024-0815"),
]


@pytest.mark.parametrize(
    ("customer", "text", "canonical"), VARIANTS, ids=[f"{c}:{t}" for c, t, _ in VARIANTS]
)
def test_variant_normalizes(customer: str, text: str, canonical: str) -> None:
    cands, problems = scan(text, RULES[customer])
    assert problems == []
    assert [(c.normalized, c.valid, c.labelled) for c in cands] == [(canonical, True, True)]
    assert cands[0].customer == customer


@pytest.mark.parametrize("text", ["PO 123456", "PO#123456", "ACME-PO-123456", "acme po 123456"])
def test_acme_pattern_with_its_own_prefix_normalizes(text: str) -> None:
    cands, _ = scan(text, ACME)
    assert [(c.normalized, c.valid) for c in cands] == [("ACME-123456", True)]


def test_label_inside_the_match_counts_as_labelled() -> None:
    # Acme's pattern swallows the label ('(?:PO[- ]?)?'); it still counts as labelled.
    cands, _ = scan("PO 123456", ACME)
    assert [c.labelled for c in cands] == [True]


def test_unlabelled_valid_number_is_a_candidate() -> None:
    cands, _ = scan("Can you ship 2023-00125-WS by Friday?")
    assert [(c.normalized, c.valid, c.labelled) for c in cands] == [("2023-00125-WS", True, False)]


def test_candidate_records_where_it_came_from() -> None:
    cands, _ = scan_text(
        "Delivery for PO 2023-00125-WS as agreed", WESTSIDE, "attachment:order.pdf", page=3
    )
    (c,) = cands
    assert c.source == "attachment:order.pdf"
    assert c.page == 3
    assert c.customer == "westside"
    assert c.raw == "2023-00125-WS"
    assert "2023-00125-WS" in c.context
    assert "Delivery" in c.context


def test_same_number_twice_is_one_candidate() -> None:
    cands, _ = scan("PO 2023-00125-WS, again: PO 2023/125/ws")
    assert valid_numbers(cands) == {"2023-00125-WS"}
    assert len(cands) == 1


def test_two_different_numbers_are_two_candidates() -> None:
    cands, _ = scan("PO 2023-00125-WS and PO 2023-00126-WS")
    assert valid_numbers(cands) == {"2023-00125-WS", "2023-00126-WS"}


def test_empty_text() -> None:
    assert scan("") == ([], [])


# --- malformed: a label followed by something that does not normalize -------------------------

MALFORMED = [
    ("westside", "PO: 203-00125-WS", "203-00125-WS"),  # a digit too few in the year
    ("westside", "PO 2023-12-WS", "2023-12-WS"),  # sequence too short
    ("westside", "PO: 2023-001256-WS", "2023-001256-WS"),  # a digit too many
    ("westside", "PO: 2O23-00125-WS", "2O23-00125-WS"),  # letter O for a zero
    ("westside", "P.O. No. 2023-OO125-WS", "2023-OO125-WS"),  # two Os
    ("westside", "PO 2023-00I25-WS", "2023-00I25-WS"),  # I for 1
    ("westside", "PO 2023-00l25-ws", "2023-00L25-WS"),  # l for 1
    ("westside", "Purchase Order: 2023-00125-W", "2023-00125-W"),  # department cut short
    ("acme", "PO 12345", "12345"),  # a digit too few
    ("acme", "PO: 12345O", "12345O"),  # O for a zero
    ("acme", "PO#1234567", "1234567"),  # a digit too many
    ("nordwind", "Bestellnummer: BN-2024-08I5", "BN-2024-08I5"),
    ("nordwind", "Bestell-Nr.: BN-2024-815", "BN-2024-815"),
]


@pytest.mark.parametrize(
    ("customer", "text", "normalized"), MALFORMED, ids=[f"{c}:{t}" for c, t, _ in MALFORMED]
)
def test_labelled_bad_value_is_malformed(customer: str, text: str, normalized: str) -> None:
    cands, problems = scan(text, RULES[customer])
    assert problems == []
    assert [(c.normalized, c.valid, c.labelled) for c in cands] == [(normalized, False, True)]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("PO: pending", id="word"),
        pytest.param("PO number: TBC", id="tbc"),
        pytest.param("PO: to follow", id="to-follow"),
        pytest.param("PO: 05.12.2023", id="date-dots"),
        pytest.param("PO: 12/05/2023", id="date-slashes"),
        pytest.param("PO: 1", id="single-digit"),
    ],
)
def test_label_without_an_attempt_at_a_number_gives_nothing(text: str) -> None:
    cands, _ = scan(text)
    assert cands == []


def test_unlabelled_noise_is_not_malformed() -> None:
    cands, _ = scan("We moved 203-00125 boxes and 2O23 crates.")
    assert cands == []


# --- decoys ---------------------------------------------------------------------------------------

DECOYS = [
    ("westside", "Invoice No. 2023-00126-WS"),
    ("westside", "Invoice #2023-00126-WS"),
    ("westside", "Invoice number: 2023/126/ws"),
    ("westside", "Rechnung Nr. 2023-00126-WS"),
    ("westside", "Tracking # 2023-00127-WS"),
    ("westside", "Tel: 2023-00125-WS"),
    ("westside", "Customer No. 2023-00129-WS"),
    ("westside", "Quote 2023-00129-WS"),
    ("westside", "PO Box 2023-00128-WS"),
    ("westside", "P.O. Box 2023 Leeds"),
    ("westside", "Date: 2023-12-05"),
    ("westside", "Delivered 2023/12/05"),
    ("westside", "Call us on +44 20 7946 0958 or 2023 555 0199"),
    ("westside", "IBAN: GB29 NWBK 6016 1331 9268 19"),
    ("westside", "write to 2023-00125-ws@westside-tools.example"),
    ("westside", "see https://portal.example/orders/2023-00125-WS"),
    ("acme", "Tel. +49 89 123456"),
    ("acme", "Fax +49 (0)89 123456"),
    ("acme", "Mobile: 0171 123456"),
    ("acme", "Phone: 0049 89 123456"),
    ("acme", "Invoice number 654321"),
    ("acme", "Invoice No: 654321"),
    ("acme", "Tracking number: 123456"),
    ("acme", "Account number: 123456"),
    ("acme", "IBAN DE89 3704 0044 0532 0130 00"),
    ("acme", "P.O. Box 123456"),
    ("acme", "PO Box 123456"),
    ("acme", "Postfach 123456"),
    ("acme", "Date: 05.12.2023"),
    ("acme", "order 20231205"),
    ("westside", "Invoice reference: 2023-00126-WS"),
    ("westside", "Rechnungsnummer: 2023-00126-WS"),
    ("acme", "Rechnungsnummer: 654321"),
    ("acme", "Sendungsnummer: 123456"),
    ("acme", "Lieferscheinnummer 123456"),
    ("acme", "PO-Box 123456"),
    ("acme", "P.O.Box 123456"),
]


@pytest.mark.parametrize(("customer", "text"), DECOYS, ids=[f"{c}:{t}" for c, t in DECOYS])
def test_decoy_is_not_a_candidate(customer: str, text: str) -> None:
    cands, _ = scan(text, RULES[customer])
    assert cands == []


BESIDE_DECOY = [
    "Invoice No. 2023-00126-WS for PO 2023-00125-WS",
    "Invoice No. 2023-00126-WS\nPO: 2023-00125-WS",
    "PO 2023-00125-WS / Invoice 2023-00126-WS / Tracking # 2023-00127-WS",
    "Tel: 2023-00126-WS  Purchase Order: 2023/125/ws",
    "P.O. Box 2023-00126-WS, Leeds. PO number 2023-00125-WS",
    "Invoice reference: 2023-00126-WS\nPO: 2023-00125-WS",
]


@pytest.mark.parametrize("text", BESIDE_DECOY)
def test_real_po_beside_same_format_decoy(text: str) -> None:
    cands, _ = scan(text)
    assert valid_numbers(cands) == {"2023-00125-WS"}
    assert all(c.normalized != "2023-00126-WS" for c in cands)


def test_real_acme_po_beside_phone_and_invoice() -> None:
    text = "Acme Corp, Tel. +49 89 123456\nInvoice No. 654321\nYour PO 111222 ships today."
    cands, _ = scan(text, ACME)
    assert valid_numbers(cands) == {"ACME-111222"}


# --- quoted reply text and forwards -------------------------------------------------------------

QUOTED = {
    "gt-lines": "Thanks, will do.\n\n> Please ship PO 2023-00125-WS\n> asap",
    "indented-gt": "ok\n   > PO 2023-00125-WS",
    "on-wrote": "Thanks.\n\nOn Tue, 5 Dec 2023 at 10:00, Bob <bob@westside-tools.example> wrote:\n"
    "Please ship PO 2023-00125-WS",
    "on-wrote-wrapped": "Thanks.\n\nOn Tue, 5 Dec 2023 at 10:00, Bob Smith\n"
    "<bob@westside-tools.example> wrote:\nPlease ship PO 2023-00125-WS",
    "original-message": "Thanks.\n\n-----Original Message-----\nFrom: Bob\nSent: Tuesday\n"
    "Subject: PO 2023-00125-WS\n\nPlease ship",
    "outlook-header": "Thanks.\n\nFrom: Bob Smith <bob@westside-tools.example>\n"
    "Sent: Tuesday, December 5, 2023 10:00 AM\nTo: Sales\nSubject: RE: PO 2023-00125-WS\n",
    "outlook-underscores": "Thanks\n________________________________\nFrom: Bob\nSent: x\n"
    "PO 2023-00125-WS",
    "forwarded-inline": "FYI\n\n---------- Forwarded message ---------\nFrom: Bob\nDate: Tue\n"
    "Subject: PO 2023-00125-WS\n",
    "apple-forward": "ok\n\nBegin forwarded message:\n\nFrom: Bob\nPO 2023-00125-WS",
    "german-schrieb": "Danke\n\nAm 05.12.2023 um 10:00 schrieb Bob <bob@x.example>:\n"
    "PO 2023-00125-WS",
    "german-original": "Danke\n\n-----Ursprüngliche Nachricht-----\nVon: Bob\nGesendet: Di\n"
    "PO 2023-00125-WS",
    "french-ecrit": "Merci\n\nLe mar. 5 déc. 2023, Bob a écrit :\nPO 2023-00125-WS",
    # French typography sets a space before the colon.
    "french-outlook": "Merci.\n\nDe : Bob Smith <bob@x.example>\nEnvoyé : mardi 5 décembre 2023\n"
    "À : Ventes\nObjet : PO 2023-00125-WS\n",
    "italian-outlook": "Grazie\n\nDa: Bob\nInviato: martedì 5 dicembre 2023\nPO 2023-00125-WS",
    "notes": "ok\n\nVon:\tBob/DE/Westside\nAn:\tsales@x.example\nKopie:\nDatum:\t05.12.2023\n"
    "Betreff:\tPO 2023-00125-WS\n",
    "swedish-outlook": "Tack\n\nFrån: Bob\nSkickat: den 5 december 2023 10:00\nTill: Sälj\n"
    "Ämne: PO 2023-00125-WS\n",
    "danish-outlook": "Tak\n\nFra: Bob\nSendt: 5. december 2023 10:00\nTil: Salg\n"
    "Emne: PO 2023-00125-WS\n",
    "finnish-outlook": "Kiitos\n\nLähettäjä: Bob\nLähetetty: tiistai 5. joulukuuta 2023\n"
    "Aihe: PO 2023-00125-WS\n",
    "spanish-outlook": "Gracias\n\nDe: Bob\nEnviado el: martes, 5 de diciembre de 2023\n"
    "Asunto: PO 2023-00125-WS\n",
    "portuguese-outlook": "Obrigado\n\nDe: Bob\nEnviada em: terça-feira, 5 de dezembro de 2023\n"
    "Assunto: PO 2023-00125-WS\n",
    "portuguese-gmail": "Obrigado\n\nEm ter., 5 de dez. de 2023 às 10:00, Bob <b@x.example> "
    "escreveu:\n> PO 2023-00125-WS",
    "spanish-gmail": "Gracias\n\nEl mar, 5 dic 2023 a las 10:00, Bob escribió:\n> PO 2023-00125-WS",
    "swedish-gmail": "Tack\n\nDen tis 5 dec. 2023 kl 10:00 skrev Bob <b@x.example>:\n"
    "> PO 2023-00125-WS",
    "finnish-gmail": "Kiitos\n\nti 5.12.2023 klo 10.00 Bob (b@x.example) kirjoitti:\n"
    "> PO 2023-00125-WS",
    "portuguese-forward": "FYI\n\n---------- Mensagem encaminhada ---------\nDe: Bob\n"
    "Assunto: PO 2023-00125-WS\n",
    "russian-outlook-separator": "Спасибо.\n\n-----Исходное сообщение-----\nОт: Иван\n"
    "Тема: PO 2023-00125-WS\n",
    "russian-outlook": "Спасибо.\n\nОт: Иван Петров <i@x.example>\nОтправлено: 12 марта 2025 г."
    "\nКому: sales\nТема: PO 2023-00125-WS\n",
    "russian-gmail": "Спасибо.\n\nср, 12 мар. 2025 г. в 10:15, Иван Петров <i@x.example>:\n"
    "> PO 2023-00125-WS",
    "yandex": 'Спасибо.\n\n12.03.2025, 10:15, "Иван" <i@x.example>:\nPO 2023-00125-WS',
    "russian-pishet": "Спасибо.\n\nИван Петров пишет:\nPO 2023-00125-WS",
    "ukrainian-outlook": "Дякую.\n\nВід: Петро\nНадіслано: 12 березня 2025 р.\n"
    "Тема: PO 2023-00125-WS\n",
    "japanese-outlook": "よろしく\n\n差出人: 田中 <t@x.example>\n送信日時: 2025年3月12日\n"
    "件名: PO 2023-00125-WS\n",
    "chinese-outlook": "谢谢\n\n发件人: 王 <w@x.example>\n发送时间: 2025年3月12日\n"
    "主题: PO 2023-00125-WS\n",
    "korean-outlook": "감사합니다\n\n보낸 사람: 김 <k@x.example>\n보낸 날짜: 2025년 3월 12일\n"
    "제목: PO 2023-00125-WS\n",
}


@pytest.mark.parametrize("text", QUOTED.values(), ids=QUOTED.keys())
def test_quoted_text_is_searched_and_marked(text: str) -> None:
    cands, _ = scan(text)
    assert [(c.normalized, c.quoted) for c in cands] == [("2023-00125-WS", True)]


def test_an_inline_answer_between_quoted_lines_is_the_writers_own() -> None:
    """Gmail's "On ... wrote:" heads ">" lines: an answer written between them is not quoted."""
    text = (
        "See below.\n\nOn Mon, 4 Nov 2024 at 10:00, Bob <bob@x.example> wrote:\n"
        "> Which PO should we book it on? PO 2023-00125-WS?\n\n"
        "No, please put it on PO 2023-00130-WS.\n\n> Thanks, Bob\n"
    )
    cands, _ = scan(text)
    assert {(c.normalized, c.quoted) for c in cands} == {
        ("2023-00125-WS", True),
        ("2023-00130-WS", False),
    }


def test_a_number_written_apart_from_its_letter_prefix_is_one_labelled_value() -> None:
    chu = compiled(
        "chu",
        name="CHU de Valmont",
        senders=["*@chu.example"],
        pattern=r"(?<![\w-])BC[ -]?(?P<y>20\d{2})-(?P<n>\d{6})(?![\w-])",
        format="BC {y}-{n}",
        labels=["Bon de commande", "Commande"],
    )
    cands, _ = scan("Bon de commande n° BC 2024-00123 du 3 mars", chu)
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("BC 2024-00123", False, True)]
    cands, _ = scan("Commande: the 2024 budget", chu)
    assert cands == []  # lower-case words are no prefix


def test_a_date_without_separators_after_a_label_is_no_malformed_po() -> None:
    """A file name "Bestellung_20250311.xlsx" reads "Bestellung 20250311": a date, not a PO
    written wrongly; a number that is no date still is one."""
    cands, _ = scan("Bestellung 20250311", SAP_ORDERS)
    assert cands == []
    cands, _ = scan("Bestellung 20251399", SAP_ORDERS)
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("20251399", False, True)]


def test_a_near_miss_written_against_chinese_letters_is_found() -> None:
    """ "請問訂單FP-114-0235的貨物": the Chinese letters around the number set it apart."""
    formosa = compiled(
        "formosa",
        name="Formosa",
        senders=["*@formosa.example"],
        pattern=r"(?<![A-Za-z0-9-])FP-(?P<y>1\d{2})-(?P<n>\d{5})(?![A-Za-z0-9-])",
        format="FP-{y}-{n}",
    )
    cands = near_miss_candidates("請問訂單FP-114-0235的貨物是否已經出貨", formosa, "body")
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("FP-114-0235", False, False)]


def test_a_value_written_against_a_cjk_label_is_quoted_without_it() -> None:
    """ "注文番号KS-2503-142の件": the malformed value is "KS-2503-142", not the label with it
    ("PO-20434" is still shown whole: a Latin label glued on reads as part of the number)."""
    ks = compiled(
        "ks",
        name="KS",
        senders=["*@ks.example"],
        pattern=r"(?<![\w-])KS-(?P<a>\d{4})-(?P<b>\d{4})(?![\w-])",
        format="KS-{a}-{b}",
        labels=["注文番号", "PO"],
    )
    cands, _ = scan("注文番号KS-2503-142の件", ks)
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("KS-2503-142", False, True)]


def test_a_label_read_by_ocr_with_a_zero_for_its_o_is_a_label() -> None:
    """A fax's OCR writes "0rder Ref"; a two-letter "P0" before digits is an ID's start."""
    cands, _ = scan("0rder Ref: 2023-125", WESTSIDE)
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("2023-125", False, True)]
    assert scan("PIN P051234567X", WESTSIDE)[0] == []


@pytest.mark.parametrize("sign", ["№ ", "№", "N ", "No. ", "# "])
def test_the_numero_sign_keeps_a_label_on_its_value(sign: str) -> None:
    """ "Заказ № 250199", "PO №99-1234", and "N" as Cyrillic keyboards' stand-in for "№"."""
    cands, _ = scan(f"Please book it on PO {sign}99-1234, thanks")
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("99-1234", False, True)]


def test_n_alone_is_no_numero_sign_before_a_word() -> None:
    cands, _ = scan("PO N/A for this one; PO N Smith 99-1234")
    assert cands == []


@pytest.mark.parametrize("words", ["e.g.", "for example", "z. B.", "par exemple", "por ejemplo"])
def test_a_number_given_as_an_example_is_none(words: str) -> None:
    cands, _ = scan(
        f"Please quote your PO on every invoice, {words} 2023-00999-WS, or we return it."
    )
    assert cands == []


def test_quoted_flag_marks_everything() -> None:
    cands, _ = scan("PO 2023-00125-WS", quoted=True)
    assert [(c.normalized, c.quoted) for c in cands] == [("2023-00125-WS", True)]


def test_own_text_and_quoted_text_are_told_apart() -> None:
    cands, _ = scan("Now PO 2023-00130-WS please.\n\n> Earlier PO 2023-00125-WS")
    assert {(c.normalized, c.quoted) for c in cands} == {
        ("2023-00130-WS", False),
        ("2023-00125-WS", True),
    }


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("> PO 2023-00125-WS\n\nYes, PO 2023-00125-WS confirmed", id="quote-first"),
        pytest.param("PO 2023-00125-WS confirmed\n\n> PO 2023-00125-WS", id="own-first"),
    ],
)
def test_same_number_own_and_quoted_counts_as_own(text: str) -> None:
    cands, _ = scan(text)
    assert [(c.normalized, c.quoted) for c in cands] == [("2023-00125-WS", False)]


def test_malformed_in_quote_is_quoted() -> None:
    cands, _ = scan("Fine by me.\n> PO: 2O23-00125-WS")
    assert [(c.normalized, c.valid, c.quoted) for c in cands] == [("2O23-00125-WS", False, True)]


# --- runaway patterns and hostile input ---------------------------------------------------------

CATASTROPHIC = compiled(
    "evil",
    name="Evil Patterns plc",
    senders=["*@evil.example"],
    # `regex` sees through (\d+)+x and (a|aa)+$ on plain runs; this one still backtracks
    # exponentially on a digit run followed by a non-digit.
    pattern=r"(?P<num>(?:\d|\d\d)+)$",
    format="E-{num}",
    valid=r"E-\d+",
)


@pytest.mark.parametrize("n", [40, 5000])
def test_catastrophic_pattern_is_a_problem_not_a_hang(n: int) -> None:
    started = time.monotonic()
    cands, problems = scan("PO " + "1" * n + "!", CATASTROPHIC, timeout=0.2)
    elapsed = time.monotonic() - started
    assert elapsed < 5.0  # wall time: the point is "no hang"; generous for loaded CI boxes
    assert cands == []
    assert [(p.kind, p.source) for p in problems] == [(Unreadable.PATTERN_TIMEOUT, "body")]
    assert "evil" in problems[0].detail


def test_timeout_problem_describes_itself_in_words() -> None:
    _, problems = scan("1" * 60 + "!", CATASTROPHIC, timeout=0.2)
    assert "took too long" in problems[0].describe()


def test_many_blank_lines_do_not_lose_the_po() -> None:
    # Found by this suite: the quote-marker regex (^\s* under MULTILINE) was quadratic in blank
    # lines, timed out, was blamed on the customer's pattern, and the PO was lost.
    cands, problems = scan("PO 2023-00125-WS" + "\n" * 5000, timeout=0.25)
    assert problems == []
    assert valid_numbers(cands) == {"2023-00125-WS"}


def test_text_cut_at_the_limit_is_recorded() -> None:
    cands, problems = scan("x" * (MAX_TEXT_CHARS + 10) + " PO 2023-00125-WS")
    assert cands == []
    assert [(p.kind, p.blocking) for p in problems] == [(Unreadable.TOO_LARGE, False)]


def test_text_just_under_the_limit_is_searched_to_the_end() -> None:
    tail = " PO 2023-00125-WS"
    cands, problems = scan("x" * (MAX_TEXT_CHARS - len(tail)) + tail)
    assert problems == []
    assert valid_numbers(cands) == {"2023-00125-WS"}


def test_tab_separated_po_next_to_an_email_address() -> None:
    # Found by this suite: tabs did not end the "address token", which ran to the text start.
    cands, _ = scan("Buyer:\tbob@westside-tools.example\tPO:\t2023-00125-WS")
    assert valid_numbers(cands) == {"2023-00125-WS"}


def cpu_seconds(text: str) -> float:
    started = time.process_time()  # CPU time: other processes' load does not count
    scan(text)
    return time.process_time() - started


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "unit",
    [
        pytest.param("2023-00125-WS,", id="matches-without-spaces"),
        pytest.param("PO 12 ", id="labels-with-short-values"),
        pytest.param("> PO 2023-00125-WS\n", id="quoted-lines"),
        pytest.param("PO | x | ", id="labels-in-one-long-table-row"),
        pytest.param("2023-00125-WS | ", id="matches-in-one-long-table-row"),
        pytest.param("PO | x\n", id="table-headers-without-rows"),
        pytest.param("PO  x  y\n", id="fixed-width-headers"),
    ],
)
def test_scan_time_grows_linearly(unit: str) -> None:
    # The quadratic code this suite found (address-token search from the text start; a linear
    # walk over all earlier spans per label) took ~15x longer for 4x the input, and hours for a
    # 1 MB body. Linear code takes ~4x; 8x leaves room for noise.
    small = cpu_seconds(unit * 1_500)
    large = cpu_seconds(unit * 6_000)
    assert large < 8 * small + 0.15, (small, large)


def test_many_spaced_numbers_finish() -> None:
    started = time.process_time()
    cands, _ = scan("2023-00125-WS " * 5000)
    assert time.process_time() - started < 3.0
    assert valid_numbers(cands) == {"2023-00125-WS"}


def test_leading_blank_line_does_not_change_a_bare_forward() -> None:
    fwd = "---------- Forwarded message ---------\nFrom: Bob\nSubject: PO 2023-00125-WS\n"
    plain, _ = scan(fwd)
    padded, _ = scan("\n" + fwd)
    assert [c.quoted for c in plain] == [c.quoted for c in padded]


@pytest.mark.parametrize("text", ["PO 12345 is late", "PO 12345 to follow"])
def test_malformed_value_stops_at_the_next_word(text: str) -> None:
    cands, _ = scan(text, ACME)
    assert [(c.raw, c.valid) for c in cands] == [("12345", False)]


# The quote-marker search tries the marker pattern only at lines holding a hint word (and the line
# before). It must find exactly what one search of the whole text finds.
_MARKER_PIECES = [
    "On Mon, 3 Jun 2024 at 10:00, Anna <a@x.example> wrote:",
    "On Mon, 3 Jun 2024, Anna Smith\n<a@x.example> wrote:",
    "Am 03.06.2024 um 10:00 schrieb Anna:",
    "Le 3 juin 2024, Anna a écrit :",
    "-----Original Message-----",
    "---------- Forwarded message ---------",
    "Begin forwarded message:",
    "From: Anna\nSent: Monday",
    "Von: Anna\nGesendet: Montag",
    "De : Anna\nEnvoyé : lundi",
    "Von:\tAnna\nAn:\tBob",
    "Da: Anna\nInviato: lunedì",
    "Från: Anna\nSkickat: måndag",
    "Lähettäjä: Anna\nLähetetty: maanantai",
    "De: Anna\nEnviado el: lunes",
    "Em seg., 3 de jun. de 2024, Anna escreveu:",
    "Den mån 3 juni 2024 kl 10:00 skrev Anna:",
    "ma 3.6.2024 klo 10.00 Anna kirjoitti:",
    "-----Исходное сообщение-----",
    "От: Иван",
    "Отправлено: 12 марта",
    "Иван Петров пишет:",
    "ср, 12 мар. 2025 г. в 10:15, Иван <i@x.example>:",
    "write to <ap@x.example>: today",
    "差出人: 田中",
    "送信日時: 2025年3月12日",
    "보낸 사람: 김",
    "보낸 날짜: 2025",
    "---------- Mensagem encaminhada ---------",
    "we skrev nothing; escreveu: no",
    "the period: 12 days",
    "________________________________",
    "the original PO is 2024-00815-MT",
    "we forward it; code: 12 from: here",
    "İstanbul office wrote: nothing",
    "> quoted PO 2024-00815-MT",
    "Please ship PO 2024-00815-MT.",
    "",
    "   ",
]


@given(st.lists(st.sampled_from(_MARKER_PIECES), max_size=12))
@settings(max_examples=400, deadline=None)
def test_quote_marker_search_finds_what_a_full_search_finds(lines: list[str]) -> None:
    text = "\n".join(lines)
    full = text_module._QUOTE_MARKERS.search(text)
    assert text_module._first_quote_marker(text, 1.0) == (full.start() if full else None)


def test_quote_marker_after_many_hint_words_is_still_found() -> None:
    text = "code: 1\n" * 300 + "On Monday Anna wrote:\n> PO 2024-00815-MT"
    assert text_module._first_quote_marker(text, 1.0) == text.index("On Monday")


_DECOY_PIECES = [
    "Invoice No.", "invoice", "P.O. Box", "po box", "Sales Order", "order confirmation", "our ref",
    "Tel", "tel.", "IBAN", "credit  note", "a/c", "s/n", "PO", "Order", "2024-00815-MT", "123456",
    "x", "-", ".", "\n", "  ", "İ", "ß", "Steuer-Nr", "PLZ", "date",
]  # fmt: skip


@given(
    st.lists(st.sampled_from(_DECOY_PIECES), max_size=16),
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=200),
    st.sampled_from(["", " ", "-"]),
)
@settings(max_examples=400, deadline=None)
def test_decoys_at_word_starts_are_what_a_window_search_finds(
    pieces: list[str], lo: int, width: int, glue: str
) -> None:
    text = glue.join(pieces)
    lo = min(lo, len(text))
    hi = min(len(text), lo + width)
    expected = [m.span() for m in DECOY.finditer(text, lo, hi)]
    assert [m.span() for m in text_module._decoys(text, lo, hi)] == expected


# --- the label search is shared by customers with the same labels, and only by them ----------


def test_each_customer_reads_the_same_text_with_its_own_labels() -> None:
    def customer(cid: str, labels: list[str]) -> CustomerRules:
        return compiled(cid, name=cid, senders=[f"*@{cid}.example"], pattern=r"\d{6}",
                        labels=labels)  # fmt: skip

    text = "Auftrag 123456\nBestellnummer 654321\nsee ticket 777777"
    orders, bestell = customer("a", ["Auftrag"]), customer("b", ["Bestellnummer"])
    same_as_orders = customer("c", ["Auftrag"])
    for _ in range(2):  # the second round reads from the cache
        for rules, labelled in (
            (orders, {"123456"}), (bestell, {"654321"}), (same_as_orders, {"123456"})
        ):  # fmt: skip
            found, _ = scan(text, rules)
            assert {c.normalized for c in found if c.labelled} == labelled, rules.id
            assert all(c.customer == rules.id for c in found)


# --- what real mail writes between a label and its number, and inside it ----------------------

LUMIERE = compiled(
    "lumiere", name="Lumière", senders=["*@lumiere.example"], pattern=r"L\d{7}",
    labels=["bon de commande", "commande"],
)  # fmt: skip


@pytest.mark.parametrize(
    "text", ["bon de commande n° L240087", "Bon de commande Nº L240087", "commande numéro L240087"]
)
def test_number_sign_words_between_label_and_value(text: str) -> None:
    found, _ = scan(text, LUMIERE)
    assert [(c.raw, c.valid, c.labelled) for c in found] == [("L240087", False, True)]


@pytest.mark.parametrize(
    ("rules", "text", "number"),
    [
        (LUMIERE, "bon de commande n° L2400871", "L2400871"),
        (WESTSIDE, "PO 2023\u201300125\u2013WS", "2023-00125-WS"),  # en dashes
        (WESTSIDE, "PO 2023\u201100125\u2011WS", "2023-00125-WS"),  # non-breaking hyphens
        (ACME, "Purchase Order PO\u2212123456", "ACME-123456"),  # a minus sign
        (WESTSIDE, "PO 2023\u00a000125\u00a0WS", "2023-00125-WS"),  # no-break spaces
        (WESTSIDE, "PO:\u202f2023\u202f00125\u202fWS", "2023-00125-WS"),  # narrow ones
    ],
)
def test_typographic_dashes_and_spaces_read_as_plain_ones(
    rules: CustomerRules, text: str, number: str
) -> None:
    found, _ = scan(text, rules)
    assert valid_numbers(found) == {number}


def test_an_em_dash_after_a_number_still_ends_it() -> None:
    found, _ = scan("PO 123456\u2014please ship today", ACME)
    assert valid_numbers(found) == {"ACME-123456"}


KESTREL = compiled(
    "kestrel", name="Kestrel", senders=["*@kestrel.example"],
    pattern=r"(?<![\w-])(?:PO[- ]?)?(?P<num>\d{8})(?![\w-])", format="PO{num}",
    valid=r"PO\d{8}", labels=["PO", "PO Number", "Your order", "Order", "Bestellnummer",
                                 "Bestellung", "Purchase Order"],
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("our PO is 45099999", [("PO45099999", True, True)]),
        ("PO number is: 45012345", [("PO45012345", True, True)]),
        ("Die Bestellnummer lautet 45012345.", [("PO45012345", True, True)]),
        ("Our PO is 4509999, sorry", [("4509999", False, True)]),  # a digit short: malformed
        ("The PO was 450123", [("450123", False, True)]),
        # after a verb, a value needs four digits to be an attempt at a PO
        ("Your order is 100% shipped", []),
        ("Your order is 25 days late", []),
        # a word starting with a verb's letters is no verb
        ("PO issue 12345678 raised", [("PO12345678", True, False)]),
    ],
)
def test_a_verb_between_label_and_value(text: str, expected: list[tuple[str, bool, bool]]) -> None:
    found, _ = scan(text, KESTREL)
    assert [(c.normalized, c.valid, c.labelled) for c in found] == expected


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("PO 4501 2345 for delivery", "4501 2345"),
        ("PO 4501 2345 und Lieferung", "4501 2345"),
        ("PO 4501 2345 abc", "4501 2345 abc"),  # a short code still joins
    ],
)
def test_a_short_common_word_ends_a_value(text: str, raw: str) -> None:
    found, _ = scan(text, KESTREL)
    assert [c.raw for c in found] == [raw]


@pytest.mark.parametrize(
    "text",
    [
        "Please ship against our PO 2023-\n00125-WS by Friday.",  # wrapped at 72 characters
        "PO 2023-00125-\r\n  WS",  # not before letters: stays broken
        "PO 2023-\r\n   00125-WS",
    ],
)
def test_a_number_broken_after_a_hyphen_at_a_line_end(text: str) -> None:
    found, _ = scan(text)
    joined = "\n  WS" not in text
    assert (valid_numbers(found) == {"2023-00125-WS"}) is joined


@pytest.mark.parametrize(
    "text",
    [
        "Order 100% online",
        "your order 12 units are still open",
        "purchase order: 250 pcs of item 4711",
        "Bestellung: 12 Paletten",
        "Your order 75% complete",
        "order number 12 of 20",
        "Order 25 pallets",
        "PO 300 Stück",
    ],
)
def test_a_quantity_after_a_label_is_no_po_attempt(text: str) -> None:
    found, _ = scan(text, KESTREL)
    assert found == []


def test_a_number_without_a_unit_after_a_label_is_still_an_attempt() -> None:
    found, _ = scan("PO 4501234 please", KESTREL)
    assert [(c.raw, c.valid, c.labelled) for c in found] == [("4501234", False, True)]


def sap_rules(labels: list[str]) -> CustomerRules:
    """An SAP customer (45 and eight digits) with the given labels."""
    return compiled(
        "sap",
        name="SAP",
        senders=["*@sap.example"],
        pattern=r"(?<![\w-])45\d{8}(?![\w-])",
        labels=labels,
    )


SAP = sap_rules(["PO"])


@pytest.mark.parametrize("text", ["PO4500123456", "Re: PO4500123456 delivery", "PO#4500123456"])
def test_a_label_glued_to_a_well_formed_number(text: str) -> None:
    """The pattern wants a word boundary before the number, and the glued label has none: the
    value read after the label is still the whole, well-formed number."""
    found, _ = scan(text, SAP)
    assert [(c.normalized, c.valid, c.labelled) for c in found] == [("4500123456", True, True)]


@pytest.mark.parametrize(
    "text",
    ["Art. no. 2021-450-SS", "Art.-Nr. 2021-450-SS", "catalogue no. 2021-450-SS",
     "Materialnummer 2021-450-SS", "Cat. No 2021-450-SS"],
)  # fmt: skip
def test_article_and_catalogue_numbers_are_decoys(text: str) -> None:
    found, _ = scan(text)
    assert found == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a PO with its item (line), as SAP writes it: unlabelled it is weak evidence (it counts
        # as a known PO), labelled it is the PO
        ("please confirm 4500123456/10 today", [("4500123456", True, False)]),
        ("Bestellung 4500123456/00010 vom 12.03.", [("4500123456", True, False)]),
        ("PO 4500998877-10", [("4500998877", True, True)]),
        ("PO 4500998877/10", [("4500998877", True, True)]),
        # still a phone or account number's groups
        ("Tel 0201/4500123456", []),
        ("IBAN 4500123456 7890", []),
        # a short number with a suffix is not a PO and its line
        ("PO 450099887-10", [("450099887-10", False, True)]),
    ],
)
def test_a_long_number_with_an_item_suffix(
    text: str, expected: list[tuple[str, bool, bool]]
) -> None:
    found, _ = scan(text, SAP)
    assert [(c.normalized, c.valid, c.labelled) for c in found] == expected


# --- scripts, invisible marks, accents (round 4 of the black-box review) -------------------------

FULLWIDTH_SAP = "\uff14\uff15\uff10\uff10\uff11\uff12\uff13\uff14\uff15\uff16"  # 4500123456


@pytest.mark.parametrize(
    "text",
    [
        f"PO {FULLWIDTH_SAP}",  # full-width digits, as Japanese and Chinese mail writes them
        f"PO\uff1a{FULLWIDTH_SAP}",  # and the full-width colon
        "PO\uff1a4500123456",
        "PO: \u200b4500123456",  # a zero-width space
        "PO \u200f4500123456\u200e",  # right-to-left and left-to-right marks
        "PO \u0664\u0665\u0660\u0660\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "PO \u06f4\u06f5\u06f0\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6",  # Persian digits
        "PO\u30004500123456",  # the ideographic space
    ],
)
def test_other_scripts_digits_and_invisible_marks_read_as_ascii(text: str) -> None:
    found, _ = scan(text, SAP)
    assert [(c.normalized, c.valid, c.labelled) for c in found] == [("4500123456", True, True)]
    assert found[0].raw == "4500123456"  # one canonical number, shown as people read it


def test_a_full_width_malformed_value_is_still_an_attempt() -> None:
    found, _ = scan("PO\uff1a\uff14\uff15\uff10\uff10\uff11\uff12", SAP)
    assert [(c.raw, c.valid, c.labelled) for c in found] == [("450012", False, True)]


TURKISH = compiled(
    "tr", name="Anadolu", senders=["*@anadolu.example"], pattern=r"(?<![\w-])WO-[A-Z]{2}\d{4}\b",
    labels=["Sipariş no", "Numéro de commande", "Ordine n."],
)  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "Sipariş no: WO-TR55O1",
        "SIPARIS NO: WO-TR55O1",  # written without the Turkish letters
        "SİPARİŞ NO WO-TR55O1",  # capitals with the dotted I
        "sipariş No. WO-TR55O1",
        "NUMERO DE COMMANDE : WO-TR55O1",  # French capitals without their accent
        "Numéro de commande WO-TR55O1",
        "Ordine n° WO-TR55O1",  # the degree sign after an abbreviated label
        "Ordine nº WO-TR55O1",
    ],
)
def test_labels_are_read_without_their_accents(text: str) -> None:
    found, _ = scan(text, TURKISH)
    assert [(c.raw, c.valid, c.labelled) for c in found] == [("WO-TR55O1", False, True)]


def test_a_label_and_its_value_in_table_cells() -> None:
    """HTML tables are read as "cell | cell"."""
    found, _ = scan("PO | 4500111222 | 12 pcs", SAP)
    assert [(c.normalized, c.labelled) for c in found] == [("4500111222", True)]
    found, _ = scan("PO | 45001112 | 12 pcs", SAP)
    assert [(c.raw, c.valid, c.labelled) for c in found] == [("45001112", False, True)]


def test_a_number_broken_after_a_slash_at_a_line_end() -> None:
    slashed = compiled(
        "pl", name="Polmet", senders=["*@polmet.example"],
        pattern=r"(?<![\w/])PO/(?P<y>20\d{2})/(?P<n>\d{4})(?![\w/])", format="PO/{y}/{n}",
        valid=r"PO/20\d{2}/\d{4}", labels=["Zamówienie"],
    )  # fmt: skip
    found, _ = scan("Dotyczy: PO/2024/\n0153, prosimy o potwierdzenie.", slashed)
    assert valid_numbers(found) == {"PO/2024/0153"}


@pytest.mark.parametrize(
    "row",
    [
        "2025-0088 28/02/2025 80012345 7.744,00 7.744,00",
        "2025-0090 2025-03-03 80012345 2,601.50",
        "03.03.2025 80012345",
        "80012345 1.250,00 EUR",
    ],
)
def test_a_number_between_dates_and_amounts_is_a_table_cell(row: str) -> None:
    """PDF text and plain-text mail write a table row as cells with single spaces: a date or an
    amount beside a number does not make it a phone number's group."""
    meridian = compiled(
        "m", name="Meridian", senders=["*@m.example"], pattern=r"(?<![\w-])80\d{6}(?![\w-])"
    )
    found, _ = scan(f"Invoice Date PO Amount\n{row}\n", meridian)
    assert valid_numbers(found) == {"80012345"}


@pytest.mark.parametrize(
    "row",
    [
        "TL-INV-30688 80012345 12-APR-2024",
        "TL-INV-30688 80012345",
        "80012345 12-APR-2024",
        "80012345 12 units",
        "TL-INV-30688 80012345 paid",
        "80012345 00010 500-7000-01 3 ST",  # an SAP dunning row: the PO, its item, a part
    ],
)
def test_a_number_beside_a_lettered_token_or_a_quantity_is_no_phone_group(row: str) -> None:
    """A remittance row's invoice number ("TL-INV-30688"), a date with the month's name or a
    quantity one space away is no group of a phone number: phone numbers are digits."""
    meridian = compiled(
        "m", name="Meridian", senders=["*@m.example"], pattern=r"(?<![\w-])80\d{6}(?![\w-])"
    )
    found, _ = scan(f"Paid today:\n{row}\n", meridian)
    assert valid_numbers(found) == {"80012345"}


@pytest.mark.parametrize(
    "text",
    ["Tel +32 3 80012345", "Tel 0032 80012345 12", "Fax: 03 80012345", "+49 (0)201 80012345"],
)
def test_phone_number_groups_stay_out(text: str) -> None:
    meridian = compiled(
        "m", name="Meridian", senders=["*@m.example"], pattern=r"(?<![\w-])80\d{6}(?![\w-])"
    )
    found, _ = scan(text.replace("Tel ", "call ").replace("Fax: ", "ring "), meridian)
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "Konto-Nr. 4500123456",
        "Kontonummer 4500123456",
        "BLZ 4500123456",
        "N° client 4500123456",
        "Numéro client : 4500123456",
        "Klantnummer 4500123456",
        "Debitorennummer 4500123456",
        "Codice cliente 4500123456",
    ],
)
def test_bank_account_and_customer_numbers_are_decoys(text: str) -> None:
    found, _ = scan(text, SAP)
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "Conferma d'ordine 2250077",
        "Conferma d\u2019ordine n. 2250077",
        "Confirmation de commande 2250077",
        "Confirmación de pedido 2250077",
        "Orderbevestiging 2250077",
    ],
)
def test_our_own_order_confirmation_number_is_no_po_attempt(text: str) -> None:
    """The label ("ordine", "commande", "pedido", "order") inside "order confirmation" in the
    supplier's language names the confirmation's number, not a mistyped PO."""
    sap = sap_rules(["Ordine", "Commande", "Pedido", "Order", "PO"])
    found, _ = scan(text, sap)
    assert found == []


TABLE = (
    "Dear supplier,\n\nPO Number | Date | Total\n4500111222 | 2024-03-01 | 100.00\n"
    "4500111223 | 5.00\n45001112 | 2024-03-02 | 1.00\n\nRegards"
)


def test_cells_under_a_header_label_are_labelled() -> None:
    """An HTML table as read ("cell | cell" lines): the cells under a "PO Number" header cell are
    labelled values, so an unknown or malformed one is flagged. A row with an empty cell (one
    cell fewer) is not aligned and is left to the plain reading (weak evidence)."""
    sap = sap_rules(["PO Number"])
    found, _ = scan(TABLE, sap)
    assert sorted((c.raw, c.valid, c.labelled) for c in found) == [
        ("45001112", False, True),
        ("4500111222", True, True),
        ("4500111223", True, False),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "PO date | Qty\n4500111222 | 5",  # the label is not the whole cell
        "Widget | Qty\n4500111222 | 5",  # no label in the header
        "PO Number | Qty\n\n4500111222 | 5",  # a blank line ends the table
    ],
)
def test_cells_under_a_header_need_the_label_as_the_whole_cell(text: str) -> None:
    sap = sap_rules(["PO", "PO Number"])
    found, _ = scan(text, sap)
    assert [(c.raw, c.labelled) for c in found] == [("4500111222", False)]


def test_a_number_at_the_start_of_a_line_after_a_number_is_no_digit_group() -> None:
    """A line ending in a digit does not make the next line's first number a phone group."""
    found, _ = scan("Qty: 100\n4500123456 is the order", SAP)
    assert valid_numbers(found) == {"4500123456"}


FIXED_WIDTH = (
    "RECORD   PO-NUMBER   PO-DATE   LINE MATERIAL\n"
    "HDR      4500999001  20250312\n"
    "LIN                            0010 000000000010045678\n"
    "HDR      45009990    20250313\n"
    "\n"
    "TRL      4500999002\n"
)


def test_values_under_a_fixed_width_column_header() -> None:
    """An EDI or ERP report in fixed-width columns: the value under "PO-NUMBER" in each row (up
    to a blank line) is that label's; a row with nothing in the column is skipped."""
    sap = sap_rules(["PO"])
    found, _ = scan(FIXED_WIDTH, sap)
    assert sorted((c.raw, c.valid, c.labelled) for c in found) == [
        ("45009990", False, True),
        ("4500999001", True, True),
        ("4500999002", True, False),  # below the blank line: not in the table
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Our PO      Qty\n      4500999001  x",  # the label is not where a column starts
        "PO date     Qty\n4500999001  5",  # more than the label in its cell
        "PO      Qty\n\n4500999001  5",  # a blank line: no row under the header
    ],
)
def test_fixed_width_columns_need_a_header_cell_that_is_the_label(text: str) -> None:
    sap = sap_rules(["PO"])
    found, _ = scan(text, sap)
    assert [(c.raw, c.labelled) for c in found] == [("4500999001", False)]


@pytest.mark.parametrize(
    "text",
    [
        "Confirmation de commande n° 2025-0199",  # the label's "n°" reaches past the phrase
        "Confirmación de pedido nº 2025/1877",
        "Importe del pedido 4.500,00 EUR",  # an amount after the label
        "der Wert der Bestellung 4.500,00 EUR",
        "Bestellung 4.500 EUR",
        "Bestellung: 12.500 \u20ac",
    ],
)
def test_a_label_in_the_suppliers_phrase_or_before_an_amount_is_no_attempt(text: str) -> None:
    kessler = sap_rules(["Bestellung", "Commande", "Pedido"])
    found, _ = scan(text, kessler)
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "Booking ref: 2024-00077-WS",
        "see invoices 2024-00811-WS",
        "Requisition 2024-00988-WS",
        "RFQ 2024-00321-WS",
        "contract 2023-00450-WS",
        "Lot 2023-00015-WS",
    ],
)
def test_booking_requisition_and_contract_numbers_are_decoys(text: str) -> None:
    found, _ = scan(text)
    assert found == []


def test_a_number_under_another_numbers_header_cell_is_dropped() -> None:
    """ "Invoice # | PO | Amount": the first column's values are invoices, the second's POs."""
    text = (
        "Open items\n\nInvoice # | P.O. | Amount\n2023-00126-WS | 2023-00125-WS | 100.00\n"
        "2023-00127-WS | 2023-00128-WS | 5.00\n"
    )
    found, _ = scan(text)
    assert sorted((c.normalized, c.labelled) for c in found) == [
        ("2023-00125-WS", True),
        ("2023-00128-WS", True),
    ]


@pytest.mark.parametrize(
    "text", ["Our ref 2023-00126-WS, your ref 2023-00125-WS", "our reference: 2023-00126-WS"]
)
def test_our_ref_is_weak_evidence(text: str) -> None:
    """ "Our ref" is a buyer's PO in an order, and a writer's own file number elsewhere: what
    follows it is shown with those words and counts only when it is a known PO (weak)."""
    found, _ = scan(text)
    hedged = [c for c in found if c.normalized == "2023-00126-WS"]
    assert [(c.raw.lower().startswith("our ref"), c.weak, c.labelled) for c in hedged] == [
        (True, True, False)
    ]
    strong = {c.normalized for c in found if c.valid and not c.weak}
    assert strong == ({"2023-00125-WS"} if "your ref" in text else set())


@pytest.mark.parametrize(
    "text",
    [
        "Hello,\n\nPO  will follow.\nCall me on 0201 5544.\n",  # two spaces in prose
        "Purchase Order  (see attachment)\nQuote 2024-118 valid until May\n",
        "PO  Description  Qty\nWidget 4711 blue\n",  # a row without columns
        "PO | Status\nsee 2 lines | open\n12345 pcs | done\n",  # words, a quantity
        "PO | Total\n4.500,00 | EUR\n",  # an amount
    ],
)
def test_no_table_where_there_is_none(text: str) -> None:
    found, _ = scan(text, SAP)
    assert found == []


def test_a_value_on_the_line_under_a_table_row_is_the_cell_below_the_label() -> None:
    """ "Invoice | PO" over "881234 | ACME-123456": the invoice in the first cell of the next
    line is not the PO's value; the cell under "PO" is."""
    acme = RULES["acme"]
    found, _ = scan("Invoice | PO\n881234 | ACME-123456\n", acme)
    assert [(c.normalized, c.labelled) for c in found] == [("ACME-123456", True)]


def test_the_header_of_a_number_is_the_nearest_header_row_above() -> None:
    """Two tables with no blank line between them (one HTML table with a second header row):
    the second table's numbers are not the first table's invoices."""
    text = (
        "Invoice | Date\n90012345 | 01.03.2025\nYour purchase order | Delivery\n"
        "4500123456 | 05.03.2025\n"
    )
    found, _ = scan(text, SAP)
    assert valid_numbers(found) == {"4500123456"}


def test_a_fixed_width_table_with_crlf_line_ends() -> None:
    found, _ = scan("Date        PO          Qty\r\n2025-01-01  4500123456  5\r\n", SAP)
    assert [(c.raw, c.labelled) for c in found] == [("4500123456", True)]


def test_table_cells_under_labels_count_toward_the_candidate_limit() -> None:
    rows = ["".join(f"{k:06d}-{t} | y\n" for k in range(150)) for t in "AB"]
    found, problems = scan(f"PO | x\n{rows[0]}\nPO | x\n{rows[1]}", SAP)
    assert len(found) == text_module.MAX_CANDIDATES
    assert [p.kind for p in problems] == [Unreadable.TOO_LARGE]


@pytest.mark.parametrize(
    "text",
    [
        "Buyer's Order No. & Date: 4500128410 dt. 06.05.2024",
        "Ihre Bestell-Nr./Datum: 4500128410 / 06.05.2024",
        "Order No and date: 4500128410, 06.05.2024",
    ],
)
def test_a_label_naming_its_date_too(text: str) -> None:
    sap = sap_rules(["Buyer's Order No", "Ihre Bestell-Nr.", "Order No"])
    found, _ = scan(text, sap)
    assert [(c.normalized, c.labelled) for c in found] == [("4500128410", True)]


def test_an_article_number_written_as_one_word_is_a_decoy() -> None:
    found, _ = scan("Artikelnummer 4500130011 ist wieder da!", SAP)
    assert found == []


def test_the_rows_read_are_not_kept_after_the_scan() -> None:
    """A worker scans message after message: the table rows it read (which hold the text)
    must not pile up between messages."""
    from extractors import tables

    scan("Invoice # | P.O. | Amount\n2023-00126-WS | 2023-00125-WS | 100.00\n")
    assert tables.cell_spans.cache_info().currsize == 0


def test_a_label_ending_a_header_row_does_not_take_the_next_rows_first_cell() -> None:
    """PDF text of a header row over a row of values: the row's first cell (an invoice number)
    is under the first header, not under the label at the row's end."""
    sap = sap_rules(["Ihre Bestellnummer"])
    text = "Rechnungsnr. Datum Ihre Bestellnummer\n2024-10077 28.02.2025 4500132268\n"
    found, _ = scan(text, sap)
    assert [(c.raw, c.valid) for c in found] == [("4500132268", True)]  # no malformed 2024-10077


@pytest.mark.parametrize(
    "text",
    [
        "Please ship against our Purchase Order\n2023-00125-WS as discussed.",  # prose, wrapped
        "Invoice date Purchase Order\n2023-00125-WS\n",  # a row of one value
    ],
)
def test_a_label_at_a_line_end_still_takes_the_value_on_the_next_line(text: str) -> None:
    found, _ = scan(text)
    assert [(c.normalized, c.labelled) for c in found] == [("2023-00125-WS", True)]


@pytest.mark.parametrize(
    "row",
    [
        "1 4500125090 Schraube M8x20",
        "  12  4500125090  Hex bolt",
        "00010 4500125090 Widget, blue",
        "Pos Bestellung Artikel\n2 4500125090 Mutter M8",
    ],
)
def test_a_number_after_a_line_items_position_is_no_phone_group(row: str) -> None:
    """A line item's position number alone at the line start, then the number, then a word: a
    row of an item list, not a phone number's groups."""
    found, _ = scan(f"Dear supplier,\n{row}\nRegards", SAP)
    assert valid_numbers(found) == {"4500125090"}


@pytest.mark.parametrize(
    "text",
    [
        "030 4500125090 Zentrale",  # an area code (0 first)
        "call 1 4500125090 today",  # not at the line start
        "1 4500125090",  # nothing after: a number's groups
        "+1 4500125090 Office",
        "1234 4500125090 Widget",  # four digits: no position number
    ],
)
def test_phone_like_groups_at_a_line_start_stay_out(text: str) -> None:
    found, _ = scan(f"Dear supplier,\n{text}\nRegards", SAP)
    assert found == []


def test_a_number_between_a_reference_and_an_amount_is_a_table_cell() -> None:
    """A statement row: 'INV-10023 4500123457 2,670.00'. The invoice number before ends in a
    digit, but the amount after makes the number a cell of the row, not a phone group."""
    found, _ = scan("11/07/2024 INV-10023 4500123457 2,670.00 2,670.00", SAP)
    assert valid_numbers(found) == {"4500123457"}


@pytest.mark.parametrize(
    "text", ["our drawing 4500123456 rev C", "Zeichnungsnummer 4500123456", "Zeichnung 4500123456"]
)
def test_drawing_numbers_are_decoys(text: str) -> None:
    found, _ = scan(text, SAP)
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "Factuurnummer 4500123456",
        "factuur 4500123456",
        "Fattura n. 4500123456",
        "Factura 4500123456",
        "Fakturanummer 4500123456",
        "Pakbon 4500123456",
        "Bon de livraison 4500123456",
        "Albarán 4500123456",
    ],
)
def test_invoice_and_delivery_note_words_of_other_languages_are_decoys(text: str) -> None:
    found, _ = scan(text, SAP)
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "see work order 4500123456 for the repair",
        "Production order 4500123456 released",
        "Fertigungsauftrag 4500123456",
        "Service order: 4500123456",
        "Accusé de réception de commande 4500123456",  # the supplier's order confirmation
    ],
)
def test_work_and_production_orders_are_decoys_for_an_order_label(text: str) -> None:
    """A customer lists a bare "Order": "work order" names a job, not a purchase order."""
    found, _ = scan(text, sap_rules(["Order", "PO"]))
    assert found == []


def test_an_italian_n_dot_stands_between_label_and_number() -> None:
    found, _ = scan("Vs. ordine n. 4500123456 del 12/03", sap_rules(["Ordine"]))
    assert [(c.normalized, c.labelled) for c in found] == [("4500123456", True)]


@pytest.mark.parametrize(
    ("text", "attempt"),
    [
        ("PO 12 is the line we discussed", None),
        ("PO 45OO", "45OO"),  # OCR: two digits and look-alike letters
        ("PO 123", "123"),
        ("PO 1a", None),
    ],
)
def test_a_labelled_attempt_needs_three_digits_or_look_alikes(
    text: str, attempt: str | None
) -> None:
    found, _ = scan(text, SAP)
    assert [c.raw for c in found if not c.valid] == ([attempt] if attempt else [])


@pytest.mark.parametrize(
    "text",
    ["100 x 4500123456 washers", "5 pcs 4500123456", "12 Stk. 4500123456", "3\u00d7 4500123456"],
)
def test_a_number_after_a_quantity_is_an_article(text: str) -> None:
    found, _ = scan(text, SAP)
    assert found == []


def test_a_labelled_number_after_a_quantity_stays() -> None:
    found, _ = scan("2 x PO 4500123456", SAP)
    assert valid_numbers(found) == {"4500123456"}


FIXED_WIDTH_PRICES = (
    "Our new prices:\n\nItem    Description                 Case   Price\n"
    "4500123456    12oz ripple cup kraft       1000   58.00\n"
    "4500123457    8oz ripple cup kraft        1000   49.00\n"
)


def test_numbers_under_a_fixed_width_item_column_are_articles() -> None:
    """A price list written with spaces: the numbers under "Item" are article numbers."""
    found, _ = scan(FIXED_WIDTH_PRICES, SAP)
    assert found == []
    found, _ = scan(FIXED_WIDTH_PRICES.replace("Item    ", "Ref     "), SAP)
    assert valid_numbers(found) == {"4500123456", "4500123457"}  # not a decoy header


TAKAMI = compiled(
    "takami",
    name="Takami Seiko",
    senders=["*@takami.example"],
    pattern=r"(?<![\w-])TS-\d{4}-\d{4}(?![\w-])",
    labels=["注文番号", "订单号", "PO"],
)


@pytest.mark.parametrize(
    "text",
    [
        "我司订单号\uff1aTS-2411-081\uff0c请确认。",  # "our order number:" inside a sentence
        "弊社注文番号\uff1aTS-2411-081",
        "订单号\uff1aTS-2411-081",
    ],
)
def test_a_chinese_or_japanese_label_inside_a_sentence(text: str) -> None:
    """Chinese and Japanese set no space before a word: a label inside a run of characters is
    still a label, so a mistyped number after it is an attempt."""
    cands, _ = scan(text, TAKAMI)
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("TS-2411-081", False, True)]


def test_a_latin_label_inside_a_word_is_still_none_beside_a_chinese_label() -> None:
    cands, _ = scan("REPO TS-2411-081", TAKAMI)
    assert [c for c in cands if c.labelled] == []


BRESCIANI = compiled(
    "bresciani",
    name="Meccanica Bresciani",
    senders=["*@bresciani.example"],
    pattern=r"(?<![\w/])(?:OA\s?)?(?P<yy>\d{2})/(?P<seq>\d{5})(?![\w/])",
    format="OA {yy}/{seq}",
    valid=r"OA \d{2}/\d{5}",
)


@pytest.mark.parametrize(
    ("text", "weak"),
    [
        ("Nuovo ordine OA 24/00231 - Meccanica Bresciani", False),  # its canonical form
        ("ordine 24/00231", True),  # no letter
    ],
)
def test_a_space_the_canonical_form_has_too_is_no_spread(text: str, weak: bool) -> None:
    (cand,), _ = scan(text, BRESCIANI)
    assert (cand.normalized, cand.labelled, cand.weak) == ("OA 24/00231", False, weak)


def test_a_number_spread_over_more_words_than_its_canonical_form_is_weak() -> None:
    (cand,), _ = scan("in 2024 00999 WS we moved", WESTSIDE)
    assert (cand.normalized, cand.labelled, cand.weak) == ("2024-00999-WS", False, True)


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("Please ship PO-20434 today", "PO-20434"),  # written as one token: shown as written
        ("Please ship PO#20434 today", "PO#20434"),
        ("Please ship PO 20434 today", "20434"),  # a label, then its value
    ],
)
def test_a_malformed_value_glued_to_its_label_is_shown_as_written(text: str, raw: str) -> None:
    coupa = compiled(
        "coupa", name="Coupa", senders=["*@c.example"], pattern=r"(?<![\w-])PO-\d{6}(?![\w-])"
    )
    (cand,), _ = scan(text, coupa)
    assert (cand.raw, cand.normalized, cand.valid, cand.labelled) == (raw, "20434", False, True)


UK = compiled(
    "uk",
    name="Ashcombe",
    senders=["*@ashcombe.example"],
    pattern=r"(?<![\w-])UK-PO-(?P<year>20\d{2})-(?P<seq>\d{5})(?![\w-])",
    format="UK-PO-{year}-{seq}",
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # A narrow PDF table cell wraps the number; only the two pieces together are one.
        ("SI-21044 24/03/2025 UK-PO-20\n25-00031\n2,970.00", ["UK-PO-2025-00031"]),
        ("Our Order No. UK-PO-2025-\n00058", ["UK-PO-2025-00058"]),  # after a dash: joined before
        ("Qty 20\n25 pcs", []),
        ("UK-PO-20\n25 pallets", []),  # the pieces do not make a number of the customer
    ],
)
def test_a_number_wrapped_in_a_narrow_pdf_cell(text: str, found: list[str]) -> None:
    cands, _ = scan(text, UK, page=1)
    assert [c.normalized for c in cands if c.valid] == found


def test_a_wrapped_number_is_read_in_pdf_text_only() -> None:
    cands, _ = scan("SI-21044 UK-PO-20\n25-00031", UK)
    assert [c.normalized for c in cands if c.valid] == []


PHG = compiled(
    "phg",
    name="Pinewood",
    senders=["*@pinewood.example"],
    pattern=r"(?<![\w-])PHG-(?P<yy>\d{2})-(?P<seq>\d{5})(?![\w-])",
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("both POs (PHG-24-01187 and -01203)", ["PHG-24-01187", "PHG-24-01203"]),
        ("PHG-24-01187 und -01203", ["PHG-24-01187", "PHG-24-01203"]),
        ("PHG-24-01187 and -5 pcs", ["PHG-24-01187"]),  # no number of the customer
        ("PHG-24-01187 - 01203 units", ["PHG-24-01187"]),  # no "and" before it
        ("TOP samples for PHG-24-01187/01203 (slim)", ["PHG-24-01187", "PHG-24-01203"]),
        ("POs PHG-24-01187 and 01203 please", ["PHG-24-01187", "PHG-24-01203"]),
        ("PHG-24-01187 and 01203 pcs", ["PHG-24-01187"]),  # a quantity
        ("PHG-24-01187 and 01203,50 EUR", ["PHG-24-01187"]),  # an amount
        ("PHG-24-01187, 1203", ["PHG-24-01187"]),  # shorter than the group
        ("PHG-24-01187/10", ["PHG-24-01187"]),  # a line item: shorter than the group
        ("PHG-24-01187/012034", ["PHG-24-01187"]),  # longer: no second number
    ],
)
def test_a_second_po_written_as_its_last_group(text: str, found: list[str]) -> None:
    cands, _ = scan(text, PHG)
    assert [c.normalized for c in cands if c.valid] == found


# --- near misses of a customer's lettered numbers -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        pytest.param("Quick one - order BST-10019 - can it go today?", "BST-10019", id="short"),
        pytest.param("Bitte Best-000466 heute noch rausschicken", "Best-000466", id="autocorrect"),
        pytest.param("bst1000456 asap", "bst1000456", id="long-glued"),
        pytest.param("it's BST/24/0O799, thanks", "BST/24/0O799", id="in-parts"),
        pytest.param("it's BST-P0-88152, thanks", "BST-P0-88152", id="look-alike-letters"),
        pytest.param("Re: Order BST 10019 - proof", "BST 10019", id="written-apart"),
    ],
)
def test_a_token_with_the_customers_letters_is_an_unlabelled_malformed_candidate(
    text: str, raw: str
) -> None:
    cands = near_miss_candidates(text, KESSLER, "body")
    assert [(c.raw, c.valid, c.labelled, c.customer) for c in cands] == [
        (raw, False, False, "kessler")
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Order BST-000456 is ready", id="well-formed"),
        pytest.param("Bestellung: BST-00045", id="labelled-once"),
        pytest.param("Invoice INV-10019 and SO-4410", id="other-letters"),
        pytest.param(
            "see https://shop.example/BST-10019 or bst-10019@kessler.example", id="address"
        ),
        pytest.param("Part AB-10019 and XYZW-10019", id="two-letters-off"),
        pytest.param("Serial XYBST-2411-081", id="inside-a-longer-code"),
        pytest.param("Order BSX 10019 and Page 20019", id="apart-needs-the-very-letters"),
    ],
)
def test_no_near_miss_beside_a_number_a_label_or_other_letters(text: str) -> None:
    found, _ = scan(text, KESSLER)  # as a message is read: the scan's values are taken
    assert near_miss_candidates(text, KESSLER, "body", taken=frozenset(c.raw for c in found)) == []


def test_customers_without_letter_prefixes_get_no_near_misses() -> None:
    cands = near_miss_candidates("Quick one - order 2023-0012 WS and BST-10019", WESTSIDE, "body")
    assert [c for c in cands if not c.valid] == []


def test_a_prefix_the_pattern_makes_optional_still_marks_near_misses() -> None:
    """Acme writes "ACME-123456" or "123456": "ACME-10019" is written with its letters."""
    cands = near_miss_candidates("Quick one - order ACME-10019, and FM-P0-88152", ACME, "body")
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("ACME-10019", False, False)]
    assert scan("Quick one - order ACME-10019", ACME)[0] == []  # the scan itself: none


def test_a_value_read_after_its_label_is_no_near_miss_written_apart_too() -> None:
    """ "PO 12874" for a customer writing PO0012874: the scan reads "12874" after the label
    "PO" (malformed); the near-miss pass does not name "PO 12874" a second time."""
    hotels = compiled(
        "grand",
        name="Grand Alder Hotels",
        senders=["*@grandalder.example"],
        pattern=r"(?<![\w-])PO(?P<n>\d{7})(?![\w-])",
        format="PO{n}",
    )
    text = "Please charge it to PO 12874, thanks"
    found, _ = scan(text, hotels)
    assert [(c.raw, c.valid, c.labelled) for c in found] == [("12874", False, True)]
    taken = frozenset(c.raw for c in found)
    assert near_miss_candidates(text, hotels, "body", taken=taken) == []


SAP_ORDERS = compiled(
    "sap",
    name="Sap Buyer",
    senders=["*@sap-buyer.example"],
    pattern=r"(?<!\d)(?P<n>45\d{8})(?!\d)",
    format="{n}",
)


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("the PO for the reprint is 45OO716020, sorry for the delay", "45OO716020"),
        ("please book it on 450071602l.", "450071602l"),
        ("Order 4500716O20 - thanks", "4500716O20"),
    ],
)
def test_a_letter_o_or_l_typed_for_a_digit_is_a_near_miss(text: str, raw: str) -> None:
    """All-digit POs have no letters to slip on, but "O" for 0 and "l" for 1 are typed: read as
    digits they are in the format, so they are malformed near misses (triage counts them only
    close to a known PO)."""
    cands = lookalike_candidates(text, SAP_ORDERS, "body")
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [(raw, False, False)]


def test_a_po_typed_with_the_other_scripts_look_alike_letters_is_a_near_miss() -> None:
    """ "КМ-25-01235" typed on a Cyrillic keyboard for a Latin "KM-25-01235", and a Latin "A" in
    a Cyrillic "АЭ-2025-0149": near misses (triage counts them close to a known PO)."""
    latin = compiled(
        "kyiv",
        name="Kyiv Metal",
        senders=["*@kyivmet.example"],
        pattern=r"(?<![\w-])KM-(?P<y>\d{2})-(?P<n>\d{5})(?![\w-])",
        format="KM-{y}-{n}",
    )
    cyrillic = compiled(
        "ural",
        name="Ural",
        senders=["*@ural.example"],
        pattern=r"(?<![\w-])(?:АЭ|AE)-(?P<y>20\d{2})-(?P<n>\d{4})(?![\w-])",
        format="АЭ-{y}-{n}",
    )
    cands = lookalike_candidates("Заказ № КМ-25-01235, срочно", latin, "body")
    assert [(c.raw, c.valid) for c in cands] == [("КМ-25-01235", False)]
    cands = lookalike_candidates("Заказ № AЭ-2025-0149 от 12.03.", cyrillic, "body")
    assert [(c.raw, c.valid) for c in cands] == [("AЭ-2025-0149", False)]
    assert lookalike_candidates("Заказ № АЭ-2025-0149", cyrillic, "body") == []  # as written


def test_an_order_confirmation_quoting_a_long_po_keeps_it_as_weak_evidence() -> None:
    """ "RE: Order confirmation 4500318842" (a reply quoting the buyer's SAP PO): the number
    after the decoy word counts as a known PO; after "Artikelnummer" or "Invoice No." it is
    that document's own, and a short number after "confirmation" is ours."""
    [cand] = decoyed_candidates("RE: Order confirmation 4500318842 / SO-118420", SAP_ORDERS, "s")
    assert (cand.normalized, cand.valid, cand.labelled, cand.weak) == (
        "4500318842",
        True,
        False,
        True,
    )
    for text in ("Artikelnummer 4500130011 ist wieder da", "Invoice No. 4500130011"):
        assert decoyed_candidates(text, SAP_ORDERS, "body") == []


def test_a_lettered_po_with_an_o_for_a_zero_is_a_near_miss_with_its_letters() -> None:
    northgate = compiled(
        "northgate",
        name="Northgate Wine",
        senders=["*@northgate.example"],
        pattern=r"(?<![\w-])NWW-?(?P<n>\d{6})(?![\w-])",
        format="NWW-{n}",
    )
    cands = lookalike_candidates("the PO for it is NWW-01457O, sorry", northgate, "body")
    assert [(c.raw, c.valid, c.labelled) for c in cands] == [("NWW-01457O", False, False)]


@pytest.mark.parametrize(
    "text",
    [
        "Room 1O1, Hall 4500",  # too few digits
        "see 45OOOO7160 here",  # more than two letters
        "call Oliver on 4500716020",  # a word, and a well-formed number (not a near miss)
        "the code is 4500716O2O7",  # read as digits, not in the format
    ],
)
def test_words_and_other_numbers_are_no_look_alike_near_misses(text: str) -> None:
    assert lookalike_candidates(text, SAP_ORDERS, "body") == []


SMALL_FIRM = compiled(
    "brightline",
    name="Brightline Dental",
    senders=["*@brightline.example"],
    pattern=r"(?<![\w-])(?:PO[- ]?)?(?P<n>\d{4})(?![\w-])",
    format="PO{n}",
)


@pytest.mark.parametrize(
    "text",
    [
        "Sent: 8 Nov 2024 10:00",
        "On 12 Nov 2024, at 16:40, Jo wrote:",
        "the November 2024 newsletter",
        "Am 8. März 2024 schrieb Jo:",
        "delivered on 12/11/2024",
        "le 3 décembre 2024",
    ],
)
def test_the_year_of_a_written_date_is_no_four_digit_po(text: str) -> None:
    cands, _ = scan(text, SMALL_FIRM)
    assert cands == []


def test_a_year_shaped_po_with_its_label_or_prefix_still_counts() -> None:
    cands, _ = scan("our PO number is 2024, and PO2025 follows", SMALL_FIRM)
    assert sorted(c.normalized for c in cands) == ["PO2024", "PO2025"]


@pytest.mark.parametrize(
    "text",
    [
        "Payment method: Visa ending in 1031",
        "Card ****1031 was charged $412.50",
        "Mastercard •••• 1031",
        "Account XXXX-XXXX-1031",
    ],
)
def test_the_last_digits_of_a_card_are_no_four_digit_po(text: str) -> None:
    cands, _ = scan(text, SMALL_FIRM)
    assert cands == []


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("Purchase order number not found: 123 456 78", "123 456 78"),  # a platform's rejection
        ("Reden: Inkoopordernummer onbekend / PO number unknown: 1234-567", "1234-567"),
        ("Purchase Order ungültig: 1234-567", "1234-567"),
        ("PO-Line: ACME-123456-3", "ACME-123456-3"),  # the number with its line
    ],
)
def test_words_between_a_label_and_its_value_that_keep_it_labelled(text: str, raw: str) -> None:
    cands, _ = scan(text, ACME)
    assert [(c.raw, c.labelled, c.valid) for c in cands] == [(raw, True, False)]


@pytest.mark.parametrize(
    "text",
    [
        "PO/Item: ACME-123456/00010",
        "PO/Item 123456/00010",
        "PO / Item: ACME-123456 / 00010",  # spaces around the slash, as portals print it
        "PO / Item | ACME-123456 / 00010",  # a table written as text
    ],
)
def test_a_po_given_with_its_item_is_read_labelled(text: str) -> None:
    """SAP mail writes "PO/Item 4500219410/00010", with or without the colon."""
    cands, _ = scan(text, ACME)
    assert [(c.normalized, c.labelled, c.valid) for c in cands] == [("ACME-123456", True, True)]
    assert scan("PO line 100 is short by 2 units", ACME)[0] == []  # a line number, no PO


def test_a_word_starting_like_no_is_no_number_word() -> None:
    """ "PO not found": "no" of "not" is not "No." (the gap once stopped there)."""
    cands, _ = scan("PO nos 1234-567 tomorrow", ACME)
    assert cands == []  # "nos" is a word: the value after the label is none of the customer's


def test_a_label_whose_last_word_the_pattern_takes_still_labels_the_number() -> None:
    """ "Cust PO AW27-40130": the pattern's optional "PO" prefix takes the label's last word."""
    halden = compiled(
        "halden",
        name="Halden",
        senders=["*"],
        pattern=r"(?<![\w-])(?:P\.?O\.?[-#:. ]{0,3})?(?P<s>SS|AW)(?P<y>2\d)-(?P<n>\d{5})(?![\w-])",
        format="PO-{s}{y}-{n}",
        labels=["Cust PO", "Customer PO", "PO"],
    )
    for text in ("T&A update - Cust PO AW27-40130 hoodie", "Customer PO AW27-40130"):
        (cand,) = scan(text, halden)[0]
        assert (cand.normalized, cand.labelled, cand.weak) == ("PO-AW27-40130", True, False)
    (plain,) = scan("see AW27-40130 here", halden)[0]
    assert not plain.labelled


@pytest.mark.parametrize(
    "text", ["Check #123456 enclosed", "cheque no. 123456", "Check number 123456"]
)
def test_a_cheque_number_is_no_po(text: str) -> None:
    """A payment by cheque: "Check #1203" equals a PO only by chance."""
    assert scan(text, ACME)[0] == []


def test_a_label_said_to_be_missing_labels_nothing() -> None:
    """ "Invoice on hold - no purchase order - KDE-INV-25-1079": our own invoice number."""
    assert scan("Invoice on hold - no purchase order - ACME-INV-1079", ACME)[0] == []
    assert scan("Invoice without purchase order: 12-1079 (held)", ACME)[0] == []
    (found,) = scan("Purchase order - 12-1079 attached", ACME)[0]
    assert (found.raw, found.labelled, found.valid) == ("12-1079", True, False)


def test_a_po_given_for_it_is_labelled() -> None:
    """ "The PO number for it\nis 305611" (the line wrapped where the writer did not)."""
    (found,) = scan("Finance raised it. The PO number for it\nis 123456, value 96,000.", ACME)[0]
    assert (found.normalized, found.labelled) == ("ACME-123456", True)


@pytest.mark.parametrize(
    "text",
    [
        "As discussed, the PO number for the Hartley Road chamber rebuild is 123456. Thanks",
        "Our purchase order for this morning's brake exchange is 123456.",
        "Le numéro de PO à indiquer est 123456.",
        "PO for the second phase will be 123456",
    ],
)
def test_a_few_words_and_a_verb_between_a_label_and_a_number_in_the_format(text: str) -> None:
    (found,) = scan(text, ACME)[0]
    assert (found.normalized, found.labelled) == ("ACME-123456", True)


@pytest.mark.parametrize(
    "text",
    [
        "Quote the PO number on every invoice, the job is 123456",
        "PO number for invoice 4471 is 123456",  # a number among the words
        "The PO for the works\nrequested yesterday is 123456",  # another line
        "PO number for the new storage building on the north side of the main site is 123456",
    ],
)
def test_no_label_across_a_comma_a_number_a_line_or_many_words(text: str) -> None:
    (found,) = scan(text, ACME)[0]
    assert (found.normalized, found.labelled) == ("ACME-123456", False)


def test_the_arabic_word_for_number_may_stand_between_a_label_and_its_value() -> None:
    """ "أمر الشراء رقم ٢٨٥٣١٢٥" (purchase order No. …), Arabic-Indic digits."""
    rimal = compiled(
        "rimal",
        name="Rimal",
        senders=["*"],
        pattern=r"(?<!\d)(?P<n>28\d{5})(?!\d)",
        labels=["PO", "أمر الشراء"],
    )
    (found,) = scan("نرجو تأكيد أمر الشراء رقم ٢٨٥٣١٢٥ بتاريخ اليوم", rimal)[0]
    assert (found.normalized, found.labelled) == ("2853125", True)


@pytest.mark.parametrize(
    "text",
    ["objednávka č. 12-3456 prosím", "megrendelés száma: 12-3456", "zamówienie numer 12-3456"],
)
def test_number_words_of_czech_hungarian_and_polish_keep_the_label(text: str) -> None:
    rules = compiled(
        "cee",
        name="CEE",
        senders=["*"],
        pattern=r"(?<![\w-])OBJ-(?P<n>\d{2}-\d{4})(?![\w-])",
        format="OBJ-{n}",
        labels=["objednávka", "megrendelés", "zamówienie"],
    )
    (found,) = scan(text, rules)[0]
    assert (found.raw, found.labelled, found.valid) == ("12-3456", True, False)


@pytest.mark.parametrize(
    "text", ["Solicitud de pedido 123456 (SolPed)", "SolPed 123456", "Requisición 123456"]
)
def test_a_spanish_purchase_requisition_is_no_po(text: str) -> None:
    """SAP's Spanish "Solicitud de pedido" is a requisition, though "pedido" is a PO label."""
    rules = compiled(
        "cl", name="CL", senders=["*"], pattern=r"(?<!\d)(?P<n>\d{6})(?!\d)", labels=["Pedido"]
    )
    assert [c for c in scan(text, rules)[0] if c.labelled] == []


def test_a_customers_own_label_wins_over_a_decoy_word_and_column() -> None:
    """US federal buyers call the PO the "Contract Number": listed as the customer's label, the
    decoy word "contract" no longer drops the number after it or under its column."""
    pattern = r"(?<![\w-])W52P1J-?\d{2}-?P-?\d{4}(?![\w-])"
    table = "Contract Number | CLIN | Due\nW52P1J-24-P-0187 | 0001 | 2025-03-01\n"
    line = "Contract Number: W52P1J-24-P-0187\n"
    plain = compiled("army", name="Army", senders=["*"], pattern=pattern, labels=["PO"])
    assert scan(table, plain)[0] == scan(line, plain)[0] == []
    own = compiled("army", name="Army", senders=["*"], pattern=pattern, labels=["Contract Number"])
    for text in (table, line):
        (found,) = scan(text, own)[0]
        assert (found.raw, found.labelled) == ("W52P1J-24-P-0187", True)


def test_too_many_labels_or_numbers_are_named_as_what_they_are() -> None:
    from extractors.text import MAX_CANDIDATES

    labels = " ".join(["PO"] * (MAX_CANDIDATES + 50))
    (problem,) = scan(labels, ACME)[1]
    assert problem.detail == (
        f"{MAX_CANDIDATES + 50:,} PO labels; only the first {MAX_CANDIDATES} were looked at"
    )
    numbers = " ".join(f"ACME-{100000 + i}" for i in range(MAX_CANDIDATES + 50))
    (problem,) = scan(numbers, ACME)[1]
    assert problem.detail.startswith(f"{MAX_CANDIDATES + 50:,} possible PO numbers; only the first")
