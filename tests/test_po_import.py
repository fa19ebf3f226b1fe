"""PO records CSV import: encodings, delimiters, amounts, dates, hostile cells, broken quotes, and
a round trip of random good rows."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox_watcher.model import PoRecord
from inbox_watcher.po_import import ImportResult, RowError, import_pos_csv, read_pos_csv
from inbox_watcher.records import normalizer
from inbox_watcher.store import Store
from tests.customers import compiled


def write(tmp_path: Path, content: str | bytes, name: str = "pos.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def only_errors(result: ImportResult) -> list[tuple[int, str | None]]:
    return [(e.line, e.column) for e in result.errors]


def test_full_header_in_any_order_and_case(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Buyer,ISSUED_ON,Currency,Amount,Status,Customer,PO Number,Remarks\n"
        'Jane Roe,2024-03-01,eur,"1,234.50",closed,acme,PO-1,call first\n'
        "John Doe,,,,,globex,G-7,\n",
    )
    result = import_pos_csv(path)
    assert result.errors == ()
    assert result.records == (
        PoRecord(
            "PO-1",
            "acme",
            status="closed",
            amount=Decimal("1234.50"),
            currency="EUR",
            issued_on=dt.date(2024, 3, 1),
            buyer="Jane Roe",
        ),
        PoRecord("G-7", "globex", buyer="John Doe"),
    )
    assert result.notes == (RowError(1, "unknown columns ignored: remarks"),)
    assert result.delimiter == ","


def test_utf8_bom(tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + "po_number,customer,buyer\nPO-1,acme,Zoë\n".encode())
    result = import_pos_csv(path)
    assert result.records == (PoRecord("PO-1", "acme", buyer="Zoë"),)
    assert (result.errors, result.notes, result.encoding) == ((), (), "utf-8")


def test_cp1252_falls_back_with_a_note(tmp_path: Path) -> None:
    path = write(
        tmp_path, "po_number;customer;buyer\nPO-1;acme;Müller \u2013 Einkauf\n".encode("cp1252")
    )
    result = import_pos_csv(path)
    assert result.records == (PoRecord("PO-1", "acme", buyer="Müller \u2013 Einkauf"),)
    assert result.encoding == "cp1252"
    assert [n.message for n in result.notes] == ["the file is not UTF-8; read it as Windows-1252"]


def test_utf16_tab_separated_excel_text(tmp_path: Path) -> None:
    text = "po_number\tcustomer\tamount\r\nPO-1\tacme\t12.50\r\n"
    result = import_pos_csv(write(tmp_path, text.encode("utf-16")))
    assert result.records == (PoRecord("PO-1", "acme", amount=Decimal("12.50")),)
    assert (result.encoding, result.delimiter) == ("utf-16", "\t")


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "po_number;customer;amount;issued_on\n"
        "A;acme;1.234,50;31.12.2023\n"
        "B;acme;12,5;1.2.2024\n"
        "C;acme;1.234;\n"
        "D;acme;-7,25;\n"
        "E;acme;1234.56;\n"
        "F;acme;1 234 567,8;\n",
    )
    result = import_pos_csv(path)
    assert result.errors == ()
    assert result.delimiter == ";"
    amounts = {r.po_number: r.amount for r in result.records}
    assert amounts == {
        "A": Decimal("1234.50"),
        "B": Decimal("12.5"),
        "C": Decimal("1234"),  # "." groups thousands in a ";" file
        "D": Decimal("-7.25"),
        "E": Decimal("1234.56"),  # a lone "." with two decimals can only be a decimal point
        "F": Decimal("1234567.8"),
    }
    dates = {r.po_number: r.issued_on for r in result.records}
    assert dates["A"] == dt.date(2023, 12, 31)
    assert dates["B"] == dt.date(2024, 2, 1)


def test_comma_file_amounts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'po_number,customer,amount\nA,acme,"1,234.50"\nB,acme,1.234\nC,acme,"1,234"\n'
        'D,acme,"1,5"\nE,acme,0.0001\nF,acme,"1,234,567"\n',
    )
    result = import_pos_csv(path)
    assert result.errors == ()
    assert {r.po_number: r.amount for r in result.records} == {
        "A": Decimal("1234.50"),
        "B": Decimal("1.234"),
        "C": Decimal("1234"),
        "D": Decimal("1.5"),
        "E": Decimal("0.0001"),
        "F": Decimal("1234567"),
    }


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("12abc", "not a number"),
        ("1,23,4", "misplaced thousands separators"),
        ("1.00001", "more than 4 decimal places"),
        ("123456789012345", "more than 14 digits"),
        ("1.234.567.8", "misplaced thousands separators"),
        ("1,2.3,4", "more than one decimal mark"),
        ("--5", "formula"),
        ("1e5", "not a number"),
        ("NaN", "not a number"),
        ("+5", "formula"),
    ],
)
def test_bad_amounts_name_line_and_column(tmp_path: Path, amount: str, words: str) -> None:
    path = write(tmp_path, f'po_number,customer,amount\nA,acme,ok\nB,acme,"{amount}"\nC,acme,3\n')
    result = import_pos_csv(path)
    assert [r.po_number for r in result.records] == ["C"]
    assert only_errors(result) == [(2, "amount"), (3, "amount")]
    assert words in result.errors[1].message


def test_tab_file_refuses_ambiguous_thousands(tmp_path: Path) -> None:
    path = write(tmp_path, "po_number\tcustomer\tamount\nA\tacme\t1,234\nB\tacme\t1234,5\n")
    result = import_pos_csv(path)
    assert only_errors(result) == [(2, "amount")]
    assert "ambiguous" in result.errors[0].message
    assert result.records == (PoRecord("B", "acme", amount=Decimal("1234.5")),)


@pytest.mark.parametrize("cell", ['"=HYPERLINK(""http://evil"",""x"")"', "@SUM(A1)", "+1+1", "-x"])
def test_formula_cells_are_refused(tmp_path: Path, cell: str) -> None:
    path = write(tmp_path, f"po_number,customer,buyer\nA,acme,{cell}\nB,acme,Jane\n")
    result = import_pos_csv(path)
    assert result.records == (PoRecord("B", "acme", buyer="Jane"),)
    assert only_errors(result) == [(2, "buyer")]
    assert "CSV injection" in result.errors[0].message


def test_formula_po_number_refused_but_negative_amount_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "po_number,customer,amount\n=1+2,acme,5\nA,acme,-5.50\n")
    result = import_pos_csv(path)
    assert only_errors(result) == [(2, "po_number")]
    assert result.records == (PoRecord("A", "acme", amount=Decimal("-5.50")),)


def test_unterminated_quote_keeps_the_other_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'po_number,customer,buyer\nA,acme,Jane\nB,acme,"Jo\nC,acme,Kim\n\nD,acme,"Lee, Ann"\n',
    )
    result = import_pos_csv(path)
    assert [r.po_number for r in result.records] == ["A", "C", "D"]
    assert result.records[-1].buyer == "Lee, Ann"
    assert only_errors(result) == [(3, None)]
    assert "unterminated quote" in result.errors[0].message


def test_quote_closed_lines_later_is_reported_with_its_span(tmp_path: Path) -> None:
    """A quote left open swallows the next rows until a later quote closes it: that record is
    refused once, with its span and the hint, whichever column (ignored ones too) swallowed."""
    for column in ("buyer", "remarks"):
        path = write(
            tmp_path,
            f'po_number,customer,{column}\nA,acme,"Jo\nB,acme,Kim\nC,acme,Lee"\nD,acme,X\n',
        )
        result = import_pos_csv(path)
        assert [r.po_number for r in result.records] == ["D"]
        assert only_errors(result) == [(2, column)]
        assert "lines 2-4" in result.errors[0].message
        assert "is a quote left open?" in result.errors[0].message


def test_swallowed_short_row_of_a_known_customer_is_caught(tmp_path: Path) -> None:
    """A swallowed row that omits its empty trailing cells still looks like a row when its
    customer cell names a known customer."""
    path = write(
        tmp_path,
        "po_number,customer,status,amount,currency,issued_on,buyer\n"
        'A,acme,open,,,,"Jo\nB,acme\nsee above"\nC,acme\n',
    )
    result = import_pos_csv(path, known_customers={"acme"})
    assert [r.po_number for r in result.records] == ["C"]
    assert only_errors(result) == [(2, "buyer")]
    assert "lines 2-4" in result.errors[0].message


# Excel writes a cell's line break (Alt+Enter) inside the quotes; rows end in CRLF.
_EXCEL_MULTILINE = (
    "po_number,customer,status,buyer,description\r\n"
    'A,acme,open,"multi\r\nline",plain\r\n'
    'B,acme,open,"Jane\r\n\r\n  Roe","Deliver to dock 3\r\nCall John, ext 42"\r\n'
    "C,acme,open,x,y\r\n"
    "D,acme,open,x,y,surplus\r\n"
)


def test_line_break_in_a_quoted_free_text_cell_becomes_a_space(tmp_path: Path) -> None:
    result = import_pos_csv(write(tmp_path, _EXCEL_MULTILINE))
    assert result.records == (
        PoRecord("A", "acme", buyer="multi line"),
        PoRecord("B", "acme", buyer="Jane Roe"),
        PoRecord("C", "acme", buyer="x"),
    )
    # the physical line numbers after multi-line records stay right
    assert only_errors(result) == [(9, None)]
    assert "must be quoted" in result.errors[0].message
    assert result.notes == (RowError(1, "unknown columns ignored: description"),)


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ('"PO\r\n1",acme,open,Jane', "po_number"),
        ('B,"ac\r\nme",open,Jane', "customer"),
        ('B,acme,"open\r\nclosed",Jane', "status"),
        ('B,acme,open,"Ja\x01ne"', "buyer"),  # a control character stays refused everywhere
    ],
)
def test_line_break_in_a_key_column_is_refused_once_and_named(
    tmp_path: Path, row: str, column: str
) -> None:
    path = write(tmp_path, f"po_number,customer,status,buyer\r\nA,acme,open,Kim\r\n{row}\r\n")
    result = import_pos_csv(path)
    assert result.records == (PoRecord("A", "acme", buyer="Kim"),)
    assert len(result.errors) == 1  # one refused row, one error: the summary counts errors
    error = result.errors[0]
    assert (error.line, error.column) == (3, column)
    assert str(error).startswith(f"line 3, column {column}: ")
    assert "quote left open" not in str(error)
    if column == "buyer":
        assert "control character" in error.message
    else:
        assert "line break" in error.message
        assert f"not allowed in the {column} column" in error.message


def test_a_row_with_several_bad_cells_is_one_error_naming_each(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "po_number,customer,amount,issued_on,currency\n"
        'A,acme,12x,yesterday,EURO\nB,acme,1,2024-01-01,EUR\n=1,acme,"\x01",,\n',
    )
    result = import_pos_csv(path)
    assert [r.po_number for r in result.records] == ["B"]
    assert only_errors(result) == [(2, "amount"), (4, "po_number")]
    assert "also column issued_on: date 'yesterday'" in result.errors[0].message
    assert "also column currency: currency 'EURO'" in result.errors[0].message
    assert "also column amount: the cell holds a control character" in result.errors[1].message


def test_unrecognised_status_words_are_noted_once_each(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "po_number,customer,status\n"
        "A,acme,open\nB,acme, Closed \nC,acme,cancelled\nD,acme,opn\nE,acme,completed\n"
        "F,acme,\nG,acme,OPN\nH,acme,canceled\nI,acme,complete\nJ,acme,OPEN\nK,acme,done\n",
    )
    result = import_pos_csv(path)
    assert result.errors == ()
    closed = {r.po_number: r.closed for r in result.records}
    assert closed == {
        "A": False,
        "B": True,
        "C": True,
        "D": False,
        "E": True,
        "F": False,
        "G": False,
        "H": True,
        "I": True,
        "J": False,
        "K": False,
    }
    assert [(n.line, n.column) for n in result.notes] == [(5, "status"), (12, "status")]
    opn, done = (n.message for n in result.notes)
    assert opn.startswith(
        "status 'opn' (also on line 8) is not a known word: the PO counts as open"
    )
    assert done.startswith("status 'done' is not a known word")
    # the words the note names as closed are exactly those the model treats as closed
    listed = opn.split("only ")[1].split(", or the same")[0].replace(" and", ",").split(", ")
    assert listed == ["closed", "cancelled", "canceled", "complete", "completed"]
    assert all(PoRecord("X", "acme", status=word).closed for word in listed)
    abroad = opn.split("such as ")[1].split(", count")[0].split(", ")
    assert abroad == ["erledigt", "fermé", "cerrado", "gesloten"]
    assert all(PoRecord("X", "acme", status=word.upper()).closed for word in abroad)


def test_an_erp_export_naming_its_customers_and_statuses_in_german(tmp_path: Path) -> None:
    """An export with the customer's name (not our file's id) and "erledigt" as its status."""
    path = write(
        tmp_path,
        "po_number;customer;status\r\n"
        "A;Acme Corporation;offen\r\nB;ACME  corporation;erledigt\r\nC;Acme Corp;offen\r\n",
    )
    result = import_pos_csv(
        path, known_customers={"acme"}, customer_names={"Acme Corporation": "acme"}
    )
    assert [(r.po_number, r.customer, r.closed) for r in result.records] == [
        ("A", "acme", False),
        ("B", "acme", True),
    ]
    (refused,) = result.errors
    assert refused.line == 4
    assert "unknown customer 'Acme Corp'" in refused.message
    assert "the name the file gives the customer" in refused.message
    assert any(
        n.message == "customer names read as their ids: 'ACME  corporation' as acme, "
        "'Acme Corporation' as acme"
        for n in result.notes
    )
    renamed = next(n for n in result.notes if n.message.startswith("customer names read"))
    assert renamed.line == 2  # the first row naming a customer so, not the header
    # "offen" is open, as ERP exports write it in German: no note about the status
    assert not any(n.column == "status" for n in result.notes)


def test_a_header_without_a_needed_column_lists_the_columns_it_has(tmp_path: Path) -> None:
    result = import_pos_csv(write(tmp_path, "Bestellnummer;Kunde;Status\nA;acme;open\n"))
    assert result.file_refused
    messages = [e.message for e in result.errors]
    assert messages[0].startswith("the header has no po_number column (columns found: ")
    assert "rename the one that holds it to po_number" in messages[0]


def test_garbage_after_closing_quote(tmp_path: Path) -> None:
    path = write(tmp_path, 'po_number,customer\n"A"x,acme\nB,acme\n')
    result = import_pos_csv(path)
    assert only_errors(result) == [(2, None)]
    assert "malformed quoting" in result.errors[0].message
    assert [r.po_number for r in result.records] == ["B"]


@pytest.mark.parametrize(
    ("date", "words"),
    [
        ("2024-02-30", "does not exist"),
        ("2024-13-01", "does not exist"),
        ("01/02/2024", "YYYY-MM-DD or DD.MM.YYYY"),
        ("2024-1-5", "YYYY-MM-DD or DD.MM.YYYY"),
        ("yesterday", "YYYY-MM-DD or DD.MM.YYYY"),
    ],
)
def test_bad_dates(tmp_path: Path, date: str, words: str) -> None:
    result = import_pos_csv(write(tmp_path, f"po_number,customer,issued_on\nA,acme,{date}\n"))
    assert result.records == ()
    assert only_errors(result) == [(2, "issued_on")]
    assert words in result.errors[0].message


@pytest.mark.parametrize(
    ("header", "missing"),
    [("po_number,amount", ["customer"]), ("customer,status", ["po_number"]), ("x", None)],
)
def test_missing_required_columns(tmp_path: Path, header: str, missing: list[str] | None) -> None:
    result = import_pos_csv(write(tmp_path, f"{header}\nA,acme\n"))
    assert result.records == ()
    expected = missing if missing is not None else ["po_number", "customer"]
    assert [(e.line, e.column) for e in result.errors] == [(1, name) for name in expected]


def test_repeated_header_column(tmp_path: Path) -> None:
    result = import_pos_csv(write(tmp_path, "po_number,customer,Customer\nA,acme,b\n"))
    assert result.records == ()
    assert only_errors(result) == [(1, "customer")]


def test_duplicate_rows_last_wins_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path, "po_number,customer,status\nA,acme,open\nB,acme,open\nA,acme,closed\n")
    result = import_pos_csv(path)
    assert {r.po_number: r.status for r in result.records} == {"A": "closed", "B": "open"}
    assert len(result.records) == 2
    assert [(n.line, n.message) for n in result.notes] == [
        (4, "PO A of acme repeats line 2; the later row wins")
    ]


def test_known_customers_and_normalizer(tmp_path: Path) -> None:
    def normalize(customer: str, raw: str) -> str | None:
        digits = "".join(ch for ch in raw if ch.isdigit())
        return f"{customer.upper()}-{int(digits):06d}" if digits else None

    path = write(
        tmp_path,
        "po_number,customer\npo 42,acme\nno number,acme\n7,initech\nPO-0042,acme\n,acme\nA,\n",
    )
    result = import_pos_csv(path, known_customers={"acme", "globex"}, normalize=normalize)
    assert result.records == (PoRecord("ACME-000042", "acme"),)
    assert [n.line for n in result.notes] == [5]  # "PO-0042" is the same PO as "po 42"
    assert only_errors(result) == [
        (3, "po_number"),
        (4, "customer"),
        (6, "po_number"),
        (7, "customer"),
    ]
    assert "not a valid PO number for customer acme" in result.errors[0].message
    assert "unknown customer 'initech'" in result.errors[1].message


def test_a_customer_named_by_its_name_gets_its_rules_as_by_its_id(tmp_path: Path) -> None:
    """An ERP export naming "Pellham Building Ltd" instead of `pellham`: its numbers are
    written in the customer's canonical form (and refused when not well-formed), as for rows
    naming the id; stored as written, "PLB 100117" would never match the mail's PLB-100117."""
    pellham = compiled(
        "pellham",
        name="Pellham Building Ltd",
        senders=["*@pellham.example"],
        pattern=r"(?P<pre>PLB)[- /]?(?P<seq>\d{6})",
        format="{pre}-{seq}",
        valid=r"PLB-\d{6}",
    )
    path = write(
        tmp_path,
        "po_number,customer\nPLB/100117,Pellham Building Ltd\nPLB 100118,pellham\n"
        "XYZ-1,PELLHAM building ltd\n",
    )
    result = import_pos_csv(
        path,
        known_customers={"pellham"},
        normalize=normalizer([pellham]),
        customer_names={"Pellham Building Ltd": "pellham"},
    )
    assert result.records == (
        PoRecord("PLB-100117", "pellham"),
        PoRecord("PLB-100118", "pellham"),
    )
    [refused] = result.errors
    assert refused.line == 4
    assert "'XYZ-1' is not a valid PO number for customer pellham" in refused.message


def test_a_refused_number_says_whether_the_pattern_or_the_format_refused_it(
    tmp_path: Path,
) -> None:
    """An admin whose `format` can never give a valid number sees what it made of the record,
    not only that the record is "not a valid PO number"."""
    pellham = compiled(
        "pellham",
        name="Pellham",
        senders=["*@pellham.example"],
        pattern=r"(?P<pre>PLB)[- ]?(?P<seq>\d{6})",
        format="{seq}-{pre}",  # a slip: the canonical form is "PLB-100117"
        valid=r"PLB-\d{6}",
    )
    path = write(tmp_path, "po_number,customer\nPLB 100117,pellham\nXYZ-1,pellham\n")
    result = import_pos_csv(path, known_customers={"pellham"}, normalize=normalizer([pellham]))
    assert result.records == ()
    assert [e.message for e in result.errors] == [
        "'PLB 100117' is not a valid PO number for customer pellham: the customer's format "
        "makes it '100117-PLB', which its `valid` pattern refuses",
        "'XYZ-1' is not a valid PO number for customer pellham: the customer's pattern does not "
        "match it",
    ]


def test_control_characters_long_cells_and_extra_cells(tmp_path: Path) -> None:
    long_buyer = "x" * 1001
    path = write(
        tmp_path,
        f"po_number,customer,buyer\nA\x00,acme,\nB,acme,{long_buyer}\nC,acme,b,extra\nD,acme,b,,\n",
    )
    result = import_pos_csv(path)
    assert [r.po_number for r in result.records] == ["D"]  # empty trailing cells are harmless
    assert only_errors(result) == [(2, "po_number"), (3, "buyer"), (4, None)]
    assert "must be quoted" in result.errors[2].message


def test_bad_currency(tmp_path: Path) -> None:
    result = import_pos_csv(
        write(tmp_path, "po_number,customer,currency\nA,acme,EURO\nB,acme,usd\n")
    )
    assert only_errors(result) == [(2, "currency")]
    assert result.records == (PoRecord("B", "acme", currency="USD"),)


def test_excel_sep_line_and_blank_lines_keep_physical_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "sep=;\r\n\r\npo_number;customer;amount\r\n\r\nA;acme;x\r\nB;acme;1\r\n")
    result = import_pos_csv(path)
    assert result.delimiter == ";"
    assert only_errors(result) == [(5, "amount")]
    assert result.records == (PoRecord("B", "acme", amount=Decimal("1")),)


def test_whole_file_problems(tmp_path: Path) -> None:
    assert [e.message for e in import_pos_csv(write(tmp_path, "\n\n")).errors] == [
        "the file is empty"
    ]
    too_big = import_pos_csv(write(tmp_path, "po_number,customer\n" * 10), max_bytes=50)
    assert "more than the limit of 50" in too_big.errors[0].message
    missing = import_pos_csv(tmp_path / "nope.csv")
    assert missing.errors[0].line == 0
    assert "cannot read" in missing.errors[0].message


def test_reimport_through_the_store_is_idempotent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'po_number;customer;amount;currency\nA;acme;"1.234,5";EUR\nB;acme;;\nA;globex;0,0001;\n',
    )
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        first = import_pos_csv(path)
        assert first.errors == ()
        assert store.upsert_pos(first.records) == (3, 0, 0)
        again = import_pos_csv(path)
        assert store.upsert_pos(again.records) == (0, 0, 0)
        index = store.po_index()
        assert sorted((c, n) for c, numbers in index.items() for n in numbers) == [
            ("acme", "A"),
            ("acme", "B"),
            ("globex", "A"),
        ]
        assert index["acme"]["A"] == PoRecord("A", "acme", amount=Decimal("1234.5"), currency="EUR")


# --- property: random good rows survive a write and a read --------------------------------------

_COLUMNS = ("po_number", "customer", "status", "amount", "currency", "issued_on", "buyer")
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30
).map(str.strip)
_records = st.builds(
    PoRecord,
    po_number=st.from_regex(r"[A-Z0-9][A-Z0-9/._-]{0,15}", fullmatch=True),
    customer=st.sampled_from(["acme", "globex", "initech"]),
    status=st.sampled_from(["open", "closed", "partially delivered"]),
    amount=st.none()
    | st.integers(0, 4).flatmap(
        lambda places: st.decimals(
            min_value=-(10**13), max_value=10**13, places=places, allow_nan=False
        )
    ),
    currency=st.none() | st.from_regex(r"[A-Z]{3}", fullmatch=True),
    issued_on=st.none() | st.dates(),
    buyer=st.none() | _text.filter(lambda s: s != "" and s[0] not in "=+-@"),
)


def _amount_text(amount: Decimal | None, delimiter: str, grouped: bool) -> str:
    if amount is None:
        return ""
    written = format(amount, ",f" if grouped else "f")
    if delimiter == ";":  # decimal comma, "." groups
        written = written.translate(str.maketrans(",.", ".,"))
    return written


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(_records, max_size=12, unique_by=lambda r: (r.customer, r.po_number)),
    delimiter=st.sampled_from([",", ";"]),
    order=st.permutations(_COLUMNS),
    grouped=st.booleans(),
    bom=st.booleans(),
)
def test_random_good_rows_round_trip(
    records: list[PoRecord],
    delimiter: str,
    order: list[str],
    grouped: bool,
    bom: bool,
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(order)
    for r in records:
        cells = {
            "po_number": r.po_number,
            "customer": r.customer,
            "status": r.status,
            "amount": _amount_text(r.amount, delimiter, grouped),
            "currency": r.currency or "",
            "issued_on": r.issued_on.isoformat() if r.issued_on else "",
            "buyer": r.buyer or "",
        }
        writer.writerow([cells[name] for name in order])
    data = ("\ufeff" if bom else "") + out.getvalue()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pos.csv"
        path.write_text(data, encoding="utf-8", newline="")
        result = import_pos_csv(path)
    assert result.errors == ()
    assert result.records == tuple(records)


def test_read_from_bytes_matches_file(tmp_path: Path) -> None:
    content = b"po_number,customer\nA,acme\n"
    assert read_pos_csv(content) == import_pos_csv(write(tmp_path, content))
