"""`po-watcher flagged`, `resolve` and `dismiss` through the real command line, on a temp config
and SQLite database: what they print, what they refuse and what they leave in the store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from inbox_watcher.cli import main
from inbox_watcher.config import Config, load_config
from inbox_watcher.digest import build_digest, render_text
from inbox_watcher.model import PoRecord, Review, Status
from inbox_watcher.records import rejudge
from inbox_watcher.store import Link, Store
from tests.test_digest import XSS, acme_unknown, processed, write_config

NOW = dt.datetime(2024, 5, 2, 5, 0, tzinfo=dt.UTC)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Config]:
    path = write_config(tmp_path, smtp_port=9)  # nothing is sent here
    config = load_config(path)
    with Store.open(config.database.url) as store:
        store.record(
            [
                acme_unknown(1, subject="Acme order"),
                processed(
                    2,
                    Status.MALFORMED,
                    customer="westside",
                    subject="Westside order",
                    suggestions=("2024-00815-MT",),
                ),
                processed(3, Status.MISSING, customer=None, subject=XSS + "\x1b[31mred"),
                processed(
                    4,
                    Status.LINKED,
                    customer="acme",
                    subject="Already linked",
                    po_numbers=("ACME-123456",),
                ),
            ],
            checkpoint=None,
        )
        store.upsert_pos([PoRecord("ACME-123456", "acme"), PoRecord("2024-00815-MT", "westside")])
    return path, config


def run(path: Path, *argv: str) -> int:
    return main(["--config", str(path), *argv])


def test_flagged_lists_open_flags_oldest_first(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = setup
    assert run(path, "flagged") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["id", "date", "folder", "customer", "status", "reason", "subject"]
    rows = [line for line in lines[1:] if line[:1].isdigit()]
    assert [r.split()[0] for r in rows] == ["1", "2", "3"]
    assert rows[0].split()[1:5] == ["2024-04-30", "INBOX", "acme", "unknown"]
    assert "Flagged as unknown (test 1)." in rows[0]
    assert "Already linked" not in out
    assert "\x1b" not in out  # a hostile subject cannot drive the terminal
    assert "(3 open flag(s);" in out
    # The hint a clerk acts on is shown without --full, under its row; for a well-formed
    # number not in the records without a ready command (it may be a new PO).
    assert lines[lines.index(rows[0]) + 1] == (
        "      did you mean: ACME-123456  (or a new PO, not imported yet?)"
    )
    # For a number written wrongly, the command that links the message to the one PO meant,
    # naming the configuration in use (not the default one).
    assert lines[lines.index(rows[1]) + 1] == (
        f"      did you mean: 2024-00815-MT  (if so: po-watcher --config {path} resolve 2 --po "
        "2024-00815-MT)"
    )
    assert f"close one with `po-watcher --config {path} resolve ID --po NUMBER`" in out


def test_commands_shown_are_bare_with_the_default_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", smtp_port=9)
    monkeypatch.chdir(tmp_path)  # ./config/watcher.toml: what --config defaults to
    config = load_config(Path("config/watcher.toml").resolve())
    assert config.command == "po-watcher"
    with Store.open(config.database.url) as store:
        store.record([acme_unknown(1, subject="Acme order")], checkpoint=None)
        store.upsert_pos([PoRecord("ACME-123456", "acme")])
        text = render_text(build_digest(config, store, now=NOW))
    assert "To link a message to a PO by hand:  po-watcher resolve NUMBER" in text
    assert "--config" not in text
    elsewhere = load_config(write_config(tmp_path, smtp_port=9))
    assert elsewhere.command == f"po-watcher --config {tmp_path / 'watcher.toml'}"


def test_resolve_normalizes_and_links_by_hand(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = setup
    # "ACME PO 123456" is Acme's way of writing ACME-123456
    assert run(path, "resolve", "1", "--po", "ACME PO 123456") == 0
    captured = capsys.readouterr()
    assert "message 1 linked to PO ACME-123456 (acme)" in captured.out
    assert "warning" not in captured.err  # the PO is in the records

    with Store.open(config.database.url) as store:
        stored = store.message("1")
        assert stored is not None
        assert stored.review is Review.RESOLVED
        assert stored.review_note == "linked by hand to ACME-123456"
        assert Link("acme", "ACME-123456", "manual") in stored.links
        assert [m.id for m in store.undigested_flags()] == [2, 3]
        assert "Acme order" not in str(build_digest(config, store, now=NOW).listed)


def test_resolve_by_message_id_warns_when_the_po_is_not_in_the_records(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = setup
    assert run(path, "resolve", "<m2@customer.example>", "--po", "2024/999/mt") == 0
    captured = capsys.readouterr()
    assert "linked to PO 2024-00999-MT (westside)" in captured.out
    assert "warning: PO 2024-00999-MT is not in the records of westside" in captured.err
    with Store.open(config.database.url) as store:
        stored = store.message("2")
        assert stored is not None
        assert stored.review is Review.RESOLVED
        assert Link("westside", "2024-00999-MT", "manual") in stored.links


def test_resolve_refuses_an_invalid_number(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = setup
    assert run(path, "resolve", "1", "--po", "BN-2024-0815") == 1
    err = capsys.readouterr().err
    assert "not linked" in err
    assert "'BN-2024-0815' is not a valid PO number for Acme Corporation" in err
    # A clerk is shown a number from the records, not the pattern.
    assert (
        "(its PO numbers are written like ACME-123456 (one of its POs, for the form only))" in err
    )
    assert "\\d" not in err
    with Store.open(config.database.url) as store:
        stored = store.message("1")
        assert stored is not None
        assert stored.review is Review.OPEN
        assert stored.links == ()


def test_resolve_without_a_customer_uses_the_only_customer_whose_format_fits(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = setup
    assert run(path, "resolve", "3", "--po", "BN 2024 0815") == 0
    assert "linked to PO BN-2024-0815 (nordwind)" in capsys.readouterr().out
    with Store.open(config.database.url) as store:
        stored = store.message("3")
        assert stored is not None
        assert Link("nordwind", "BN-2024-0815", "manual") in stored.links


def test_resolve_an_unknown_message_is_refused(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = setup
    assert run(path, "resolve", "99", "--po", "ACME-123456") == 1
    assert "no recorded message '99'" in capsys.readouterr().err
    assert run(path, "dismiss", "9" * 30, "--reason", "x") == 1  # beyond any database id
    assert "no recorded message" in capsys.readouterr().err
    assert run(path, "resolve", "<nobody@nowhere>", "--po", "ACME-123456") == 1
    assert "no recorded message '<nobody@nowhere>'" in capsys.readouterr().err


def test_dismiss_keeps_the_reason_and_leaves_the_digest(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = setup
    assert run(path, "dismiss", "3", "--reason", "  a newsletter,\n not an order ") == 0
    assert "message 3 dismissed: a newsletter, not an order" in capsys.readouterr().out
    with Store.open(config.database.url) as store:
        stored = store.message("3")
        assert stored is not None
        assert stored.review is Review.DISMISSED
        assert stored.review_note == "a newsletter, not an order"
        assert [m.id for m in store.undigested_flags()] == [1, 2]

    assert run(path, "dismiss", "2", "--reason", "   ") == 1
    assert "give a reason" in capsys.readouterr().err
    assert run(path, "flagged") == 0
    out = capsys.readouterr().out
    assert "(2 open flag(s);" in out


def _links(config: Config, ref: str) -> list[tuple[str, str]]:
    with Store.open(config.database.url) as store:
        stored = store.message(ref)
        assert stored is not None
        return sorted((link.po_number, link.how) for link in stored.links)


def test_resolve_links_every_po_given_or_none(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    """A message about two orders: one --po each. A bad one refuses them all."""
    path, config = setup
    assert run(path, "resolve", "2", "--po", "2024-00815-MT", "--po", "2024/99/xx!") == 1
    assert _links(config, "2") == []
    assert run(path, "resolve", "2", "--po", "2024-00815-MT", "--po", "2024-00816-MT") == 0
    out = capsys.readouterr().out
    assert "message 2 linked to PO 2024-00815-MT, 2024-00816-MT (westside)" in out
    assert _links(config, "2") == [("2024-00815-MT", "manual"), ("2024-00816-MT", "manual")]


def test_resolving_again_with_force_replaces_the_link_and_dismissing_removes_it(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = setup
    assert run(path, "resolve", "2", "--po", "2024-00815-MT") == 0
    assert _links(config, "2") == [("2024-00815-MT", "manual")]
    capsys.readouterr()
    # A decision already taken (by a colleague, or a second thought) is replaced only with --force.
    assert run(path, "resolve", "2", "--po", "2024-00816-MT") == 1
    assert "was already resolved (linked by hand to 2024-00815-MT). Give --force" in (
        capsys.readouterr().err
    )
    assert _links(config, "2") == [("2024-00815-MT", "manual")]
    assert run(path, "resolve", "2", "--po", "2024-00816-MT", "--force") == 0
    assert _links(config, "2") == [("2024-00816-MT", "manual")]
    assert run(path, "dismiss", "2", "--reason", "a quote request, not an order") == 1
    assert run(path, "dismiss", "2", "--reason", "a quote request, not an order", "--force") == 0
    assert _links(config, "2") == []
    capsys.readouterr()
    assert run(path, "messages", "--format", "table") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "Westside order" in line)
    assert "malformed, dismissed" in row
    assert "a quote request, not an order" in row


def test_messages_lists_by_review(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = setup
    assert run(path, "dismiss", "2", "--reason", "a quote request, not an order") == 0
    capsys.readouterr()
    assert run(path, "messages", "--review", "dismissed", "--format", "jsonl") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["review"]) for r in rows] == [(2, "dismissed")]
    assert run(path, "messages", "--review", "open", "--format", "jsonl") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows
    assert all(r["review"] == "open" for r in rows)
    assert 2 not in [r["id"] for r in rows]


def test_a_message_that_is_not_flagged_changes_only_with_force(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    """An id typed from the wrong list (a UID, another folder's row) must not replace a good
    link: message 4 is linked by po-watcher, not flagged."""
    path, config = setup
    assert run(path, "resolve", "4", "--po", "ACME-654321") == 1
    err = capsys.readouterr().err
    assert "not linked: message 4 (INBOX UID 4, 'Already linked') is not flagged" in err
    assert "--force" in err
    assert _links(config, "4") == [("ACME-123456", "found")]
    assert run(path, "dismiss", "4", "--reason", "typo") == 1
    assert _links(config, "4") == [("ACME-123456", "found")]
    assert run(path, "resolve", "4", "--po", "ACME-654321", "--force") == 0
    assert _links(config, "4") == [("ACME-654321", "manual")]


def test_messages_shows_the_id_that_resolve_takes(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = setup
    capsys.readouterr()
    assert run(path, "messages", "--format", "table") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["id", "folder", "uid"]
    row = next(line for line in lines if "Westside order" in line)
    assert row.split()[:3] == ["2", "INBOX", "2"]


def test_resolving_an_ambiguous_message_keeps_only_the_po_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, smtp_port=9)
    config = load_config(path)
    with Store.open(config.database.url) as store:
        store.upsert_pos([PoRecord("ACME-123456", "acme"), PoRecord("ACME-654321", "acme")])
        both = ("ACME-123456", "ACME-654321")
        store.record(
            [processed(1, Status.AMBIGUOUS, customer="acme", subject="Two", po_numbers=both)],
            checkpoint=None,
        )
    assert [n for n, _ in _links(config, "1")] == list(both)
    assert run(path, "resolve", "1", "--po", "ACME-654321") == 0
    assert _links(config, "1") == [("ACME-654321", "manual")]
    # Re-judging (reprocess after a pattern change) does not bring the other link back.
    from inbox_watcher.model import Outcome

    with Store.open(config.database.url) as store:
        stored = store.message("1")
        assert stored is not None
        store.rejudge(stored.id, Outcome(Status.AMBIGUOUS, both, ("again",), "acme"))
    assert _links(config, "1") == [("ACME-654321", "manual")]
    capsys.readouterr()
    assert run(path, "messages", "--format", "jsonl") == 0
    import json

    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["po_numbers"] == ["ACME-654321"]
    assert (row["review"], row["review_note"]) == ("resolved", "linked by hand to ACME-654321")


def test_flagged_dates_are_in_the_configured_zone_as_in_the_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    path = write_config(tmp_path, smtp_port=9)  # timezone Europe/Berlin
    config = load_config(path)
    late = replace(acme_unknown(1), date="2024-04-30T23:30:00+00:00")  # 01:30 in Berlin
    with Store.open(config.database.url) as store:
        store.record([late], checkpoint=None)
    assert run(path, "flagged") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("1 "))
    assert row.split()[1] == "2024-05-01"


def test_flagged_full_prints_every_reason_whole(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = setup
    assert run(path, "flagged", "--full") == 0
    out = capsys.readouterr().out
    assert "      why: Flagged as unknown (test 1)." in out
    assert "      why: Did you mean ACME-123456?" in out  # cut off in the table's column
    # the ready command of a number written wrongly, as without --full
    assert "did you mean: 2024-00815-MT  (if so: po-watcher --config" in out


def test_flagged_full_shows_a_statement_s_first_reasons_and_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    path = write_config(tmp_path, smtp_port=9)
    config = load_config(path)
    many = acme_unknown(1)
    reasons = tuple(f"PO ACME-{n} is not in the PO records." for n in range(100000, 100300))
    many = replace(many, outcome=replace(many.outcome, reasons=reasons))
    with Store.open(config.database.url) as store:
        store.record([many], checkpoint=None)
    assert run(path, "flagged", "--full") == 0
    out = capsys.readouterr().out
    assert out.count("      why: ") == 25
    assert "      ... and 275 more reasons" in out


def test_an_import_leaves_a_message_a_person_decided_alone(
    setup: tuple[Path, Config], capsys: pytest.CaptureFixture[str]
) -> None:
    """A flag dismissed by a person is not rejudged (nor restated) by a later `pos import`,
    while an open one with the same number links."""
    path, config = setup
    assert run(path, "dismiss", "1", "--reason", "a sample, not an order") == 0
    with Store.open(config.database.url) as store:
        store.record([acme_unknown(5, subject="Open Acme order")], checkpoint=None)
        store.upsert_pos([PoRecord("ACME-123457", "acme")])
        changes = rejudge(store, config)
        changed = [c.message.subject for c in changes]
        assert "Open Acme order" in changed
        assert "Acme order" not in changed
        linked = next(m for m in store.messages() if m.subject == "Open Acme order")
        assert linked.status is Status.LINKED
        assert linked.reasons[-1].startswith("Linked when the PO records were imported on ")
        assert linked.reasons[-1].endswith("; it was unknown.")
        dismissed = store.message("1")
        assert dismissed is not None
        assert (dismissed.status, dismissed.review) == (Status.UNKNOWN, Review.DISMISSED)
