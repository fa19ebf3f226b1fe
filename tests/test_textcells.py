"""Terminal tables: cells cut by shown width, columns aligned with wide characters."""

from __future__ import annotations

from inbox_watcher.textcells import aligned, cell, shown_width


def test_shown_width_counts_wide_characters_twice_and_accents_not() -> None:
    assert shown_width("PO 123") == 6
    assert shown_width("注文書") == 6
    assert shown_width("Cafe\u0301") == 4  # e and a combining acute accent


def test_cell_cuts_by_columns_and_drops_control_characters() -> None:
    assert cell("abc\x1b[31mdef", 20) == "abc [31mdef"
    assert cell("a  b\n c", 20) == "a b c"
    assert cell("abcdef", 4) == "abc…"
    assert cell("注文書注文書", 7) == "注文書…"
    assert shown_width(cell("注文書注文書", 7)) == 7


def test_columns_line_up_with_wide_characters() -> None:
    lines = aligned(("id", "subject", "why"), [["1", "注文書 PO 1", "x"], ["22", "order", "y"]])
    header, first, second = lines
    assert header.index("why") == shown_width(first[: first.index("x")])
    assert header.index("why") == second.index("y")
    assert aligned(("a", "b"), [["1", "2"]], rule=True)[1] == "-  -"
