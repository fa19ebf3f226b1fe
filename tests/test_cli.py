"""The command line as a person uses it: check, try (message and PDF), messages in each format."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from extractors.types import Candidate
from inbox_watcher.cli import main
from inbox_watcher.config import load_config
from inbox_watcher.instance import sqlite_path
from inbox_watcher.model import JudgedCandidate, MessageKey, Outcome, ProcessedMessage, Status
from inbox_watcher.store import Store
from tests.pdfgen import bomb_pdf, invoice_pdf
from tests.servers import Dovecot, ImapUser
from tests.setup_config import make_mail, write_config

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "watcher.toml"
SAMPLES = REPO / "config" / "samples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_passes_on_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(CONFIG), "check")
    assert code == 0
    assert "configuration is sound" in out


def test_check_notes_customers_that_share_a_sender_glob(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    customers = demo.parent / "customers"
    shutil.copy(customers / "acme.toml", customers / "acme-old.toml")
    code, out, _ = run(capsys, "--config", str(demo), "check")
    assert code == 0
    assert "note: customers acme-old, acme share the sender glob '*@acme-corp.example'" in out
    assert (
        "note: customers acme-old, acme have the same PO pattern and format: mail from a sender "
        "on none of their lists is told apart by their PO records only"
    ) in out
    assert "westside" not in out.split("note:", 1)[1]


def test_check_warns_of_a_pattern_that_backtracks_badly(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """ "TL-(?:\\d|\\d\\d)+-R\\d": a job number of 40 digits after "TL-" takes it seconds."""
    (demo.parent / "customers" / "tallis.toml").write_text(
        'name = "Tallis"\nsenders = ["*@tallis.example"]\n\n[po]\n'
        "pattern = '(?<![\\w-])TL-(?P<num>(?:\\d|\\d\\d)+)-R(?P<rev>\\d)(?![\\w-])'\n"
        'format = "TL-{num}-R{rev}"\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "--config", str(demo), "check")
    assert code == 0  # a warning: the configuration still works
    (warning,) = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: customer tallis: its PO pattern needs more than 0.1 s")
    assert "(TL-111111111...)" in warning


def test_check_does_not_call_a_shared_catch_all_glob_a_copy(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """An accounts-payable mailbox may route every sender to two customers on purpose."""
    customers = demo.parent / "customers"
    for name in ("acme.toml", "westside.toml"):
        text = (customers / name).read_text(encoding="utf-8")
        start = text.index("senders")
        end = text.index("\n", start)
        (customers / name).write_text(text[:start] + 'senders = ["*"]' + text[end:], "utf-8")
    code, out, _ = run(capsys, "--config", str(demo), "check")
    assert code == 0
    assert "note: customers acme, westside share the sender glob '*'" in out
    assert "copied" not in out


def test_check_notes_po_records_the_rules_no_longer_fit(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """A `format` changed after the import leaves the stored records unreachable: every message
    naming them would be flagged unknown. `check` says so, and names records of customers that
    have no file any more."""
    code, _, err = run(capsys, "--config", str(demo), "pos", "import", str(SAMPLES / "pos.csv"))
    assert code == 0, err
    code, out, _ = run(capsys, "--config", str(demo), "check")
    assert (code, out.count("note:")) == (0, 0)
    acme = demo.parent / "customers" / "acme.toml"
    text = acme.read_text(encoding="utf-8")
    text = text.replace('format = "ACME-{num}"', 'format = "AC-{num}"')
    acme.write_text(text.replace("valid = 'ACME-\\d{6}'", "valid = 'AC-\\d{6}'"), "utf-8")
    (demo.parent / "customers" / "nordwind.toml").unlink()
    code, out, _ = run(capsys, "--config", str(demo), "check")
    assert code == 0
    assert "PO record(s) of customer acme do not fit its `valid` pattern (such as ACME-" in out
    assert "PO record(s) belong to customer 'nordwind', which has no customer file" in out
    assert "westside" not in out.split("note:", 1)[1]


def test_check_notes_a_pattern_that_misses_a_po_before_a_comma(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    code, _, err = run(capsys, "--config", str(demo), "pos", "import", str(SAMPLES / "pos.csv"))
    assert code == 0, err
    acme = demo.parent / "customers" / "acme.toml"
    text = acme.read_text(encoding="utf-8")
    assert "(?![\\w-])'" in text
    acme.write_text(text.replace("(?![\\w-])'", "(?![\\w,.-])'"), "utf-8")
    code, out, _ = run(capsys, "--config", str(demo), "check")
    assert code == 0
    (note,) = [line for line in out.splitlines() if "does not find its PO" in line]
    assert note.startswith("note: customer acme: its pattern does not find its PO ACME-")
    assert "in 'PO ACME-" in note
    assert ", thanks', though it does in 'PO ACME-" in note


def test_check_lists_each_problem_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shutil.copytree(REPO / "config" / "customers", tmp_path / "customers")
    (tmp_path / "demo-imap-password").write_text("x\n", encoding="utf-8")
    text = CONFIG.read_text(encoding="utf-8").replace('poll_every = "5m"', 'poll_evry = "5m"')
    (tmp_path / "watcher.toml").write_text(text, encoding="utf-8")
    bad = (tmp_path / "customers" / "acme.toml").read_text(encoding="utf-8")
    bad = bad.replace("(?P<num>", "(?P<num")
    (tmp_path / "customers" / "acme.toml").write_text(bad, encoding="utf-8")
    code, _, err = run(capsys, "--config", str(tmp_path / "watcher.toml"), "check")
    assert code == 2
    lines = err.strip().splitlines()
    assert any(
        "watcher.toml: schedule.poll_evry" in line and "poll_every" in line for line in lines
    )
    assert any("acme.toml: po.pattern: does not compile" in line for line in lines)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The example configuration in a folder of its own: no database there yet."""
    shutil.copytree(REPO / "config" / "customers", tmp_path / "customers")
    (tmp_path / "demo-imap-password").write_text("x\n", encoding="utf-8")
    shutil.copy(CONFIG, tmp_path / "watcher.toml")
    return tmp_path / "watcher.toml"


def acme_mail(subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "orders@acme-corp.example"
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def saved(msg: EmailMessage, path: Path) -> Path:
    path.write_bytes(msg.as_bytes())
    return path


def try_(capsys: pytest.CaptureFixture[str], config: Path, file: Path) -> tuple[int, str]:
    code, out, _ = run(capsys, "--config", str(config), "try", str(file))
    return code, out


def test_try_on_a_sample_message(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    code, out = try_(capsys, demo, SAMPLES / "12-malformed-did-you-mean.eml")
    assert code == 0
    assert "customer: westside" in out
    assert "MALFORMED" in out
    assert "2024-O673O-IT" in out
    assert "PO records: not consulted: the database does not exist yet" in out
    assert "would be: malformed" in out
    assert not (demo.parent / "po-watcher.db").exists()  # try creates nothing


def test_try_judges_against_the_po_records(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """With records in the database, try gives a poll's verdict and reasons, and writes nothing."""
    code, _, err = run(capsys, "--config", str(demo), "pos", "import", str(SAMPLES / "pos.csv"))
    assert code == 0, err
    db = demo.parent / "po-watcher.db"
    before = db.read_bytes()
    code, out = try_(capsys, demo, SAMPLES / "12-malformed-did-you-mean.eml")
    assert code == 0
    assert "would be: malformed" in out
    assert "why: Did you mean 2024-06730-IT?" in out
    code, out = try_(capsys, demo, SAMPLES / "13-ambiguous-two-pos.eml")
    assert "would be: ambiguous: " in out
    code, out = try_(capsys, demo, SAMPLES / "10-unknown-po.eml")
    assert "would be: unknown: 2019-09242-IT (not in the PO records)" in out
    assert "but is not in the PO records yet: if it is a new order, it links by itself" in out
    code, out = try_(capsys, demo, SAMPLES / "02-linked-pdf-only.eml")
    assert "would be: linked: ACME-231430" in out
    assert db.read_bytes() == before


def test_try_says_when_an_ignore_rule_would_close_the_flag(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    code, _, err = run(capsys, "--config", str(demo), "pos", "import", str(SAMPLES / "pos.csv"))
    assert code == 0, err
    code, out = try_(capsys, demo, SAMPLES / "09-missing-newsletter.eml")
    assert "would be: missing" in out
    assert "not flagged" not in out
    example = demo.read_text(encoding="utf-8")
    assert "\nsenders = []" in example  # the example's [ignore] table, empty
    demo.write_text(example.replace("\nsenders = []", '\nsenders = ["News@*"]'), encoding="utf-8")
    code, out = try_(capsys, demo, SAMPLES / "09-missing-newsletter.eml")
    assert code == 0
    assert "would be: missing" in out
    assert (
        "  not flagged: the sender matches 'news@*' in [ignore] senders; it would be "
        "recorded as dismissed" in out
    )


def test_try_names_the_customers_the_po_records_settle_on(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    """A sender on no list naming two customers' known POs: the first customer line says no
    pattern decided; after the verdict, the records' owners are named."""
    code, _, err = run(capsys, "--config", str(demo), "pos", "import", str(SAMPLES / "pos.csv"))
    assert code == 0, err
    mail = tmp_path / "report.eml"
    mail.write_text(
        "From: erp@stranger.example\nTo: po@example.com\nSubject: Open orders\n\n"
        "Open: ACME-PO-153217 and BN-2020-6148.\n",
        encoding="utf-8",
    )
    code, out = try_(capsys, demo, mail)
    assert "customer: none (the sender matches no customer and no pattern decided)" in out
    assert "would be: ambiguous: ACME-153217, BN-2020-6148" in out
    assert "  customer in the end: acme, nordwind (by the PO records)" in out


def test_try_says_when_the_records_cannot_be_read(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    (demo.parent / "po-watcher.db").write_bytes(b"this is not a database" * 100)
    code, out = try_(capsys, demo, SAMPLES / "10-unknown-po.eml")
    assert code == 0
    assert "PO records: not consulted: the PO records could not be read" in out
    assert "would be: PO numbers found: " in out


def test_try_on_a_message_with_a_pdf_shows_the_page(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    code, out = try_(capsys, demo, SAMPLES / "02-linked-pdf-only.eml")
    assert code == 0
    assert "PDF attachments: 1" in out
    assert "attachment:" in out
    assert "attachment:PurchaseOrder.pdf page 2" in out
    assert "would be: PO numbers found: ACME-231430" in out


def test_try_reads_a_message_again_with_a_pdf_that_blows_the_limits_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    """As a poll does: the decompression bomb costs only itself; the body's PO still counts."""
    msg = acme_mail("Order", "Please deliver PO ACME-231430.")
    msg.add_attachment(bomb_pdf(), maintype="application", subtype="pdf", filename="datasheet.pdf")
    code, out = try_(capsys, demo, saved(msg, tmp_path / "bomb.eml"))
    assert code == 0
    assert "would be: PO numbers found: ACME-231430" in out
    assert "datasheet.pdf" in out


def test_try_says_when_a_poll_would_not_download_the_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    cfg = demo.read_text(encoding="utf-8").replace(
        'max_message_size = "25MB"', 'max_message_size = "1KB"'
    )
    demo.write_text(cfg, encoding="utf-8")
    code, out = try_(capsys, demo, SAMPLES / "10-unknown-po.eml")
    assert code == 0
    assert "is over imap.max_message_size (1KB): a poll records it as unreadable" in out


def test_try_says_a_reply_without_a_po_would_follow_its_thread(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    msg = acme_mail("Re: delivery", "Thanks, received.\n")
    msg["In-Reply-To"] = "<order-1@acme-corp.example>"
    code, out = try_(capsys, demo, saved(msg, tmp_path / "reply.eml"))
    assert code == 0
    assert "thread: it answers an earlier message and names no PO of its own" in out


def test_try_says_nothing_of_the_thread_when_the_quoted_po_links_the_reply(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    code, _, err = run(capsys, "--config", str(demo), "pos", "import", str(SAMPLES / "pos.csv"))
    assert code == 0, err
    msg = acme_mail("Re: delivery", "Thanks, received.\n\n> Our PO ACME-231430 is attached.\n")
    msg["In-Reply-To"] = "<order-1@acme-corp.example>"
    code, out = try_(capsys, demo, saved(msg, tmp_path / "reply.eml"))
    assert code == 0
    assert "would be: linked: ACME-231430" in out
    assert "thread:" not in out


def test_try_on_a_pdf(capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(invoice_pdf(po="2024/815/mt", placement="header", pages=2, po_page=2))
    code, out = try_(capsys, demo, pdf)
    assert code == 0
    assert "pages: 2" in out
    assert "2024-00815-MT" in out
    assert "attachment:invoice.pdf page 2" in out


def test_try_on_a_pdf_says_whose_rules_and_what_is_weak(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(invoice_pdf(po="2024/815/mt", footer="Registered in England 482113"))
    code, out = try_(capsys, demo, pdf)
    assert code == 0
    lines = out.splitlines()
    westside = next(i for i, line in enumerate(lines) if line.lstrip().startswith("2024-00815-MT"))
    acme = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ACME-482113"))
    assert "by westside's rules" in lines[westside]
    assert "by acme's rules" in lines[acme]
    assert (
        "(weak: no PO label and no letter: it counts only if it is a known PO)" in lines[acme + 2]
    )
    assert not any("weak:" in line for line in lines[westside : westside + 3])


def test_try_on_an_encrypted_pdf_names_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    from tests.pdfgen import encrypted_pdf

    pdf = tmp_path / "locked.pdf"
    pdf.write_bytes(encrypted_pdf("secret"))
    code, out = try_(capsys, demo, pdf)
    assert code == 0
    assert "password-protected" in out
    assert "would be: unreadable" in out


def test_try_on_a_missing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    code, out = try_(capsys, demo, tmp_path / "nope.eml")
    assert code == 2
    assert "cannot read" in out


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A configuration whose database holds one linked and one flagged message."""
    shutil.copytree(REPO / "config" / "customers", tmp_path / "customers")
    (tmp_path / "demo-imap-password").write_text("x\n", encoding="utf-8")
    text = CONFIG.read_text(encoding="utf-8")
    (tmp_path / "watcher.toml").write_text(text, encoding="utf-8")
    linked = Candidate("2024/815/mt", "2024-00815-MT", "subject", True, labelled=True)
    bad = Candidate("=2024-0815", "=2024-0815", "body", False, labelled=True)
    with Store.open(f"sqlite:///{tmp_path / 'po-watcher.db'}") as store:
        store.record(
            [
                ProcessedMessage(
                    MessageKey("po@example.com@127.0.0.1", "INBOX", 7, 1),
                    "<a@x>",
                    "b@w.example",
                    "Order 2024/815/mt",
                    None,
                    "h1",
                    10,
                    None,
                    (),
                    Outcome(
                        Status.LINKED,
                        ("2024-00815-MT",),
                        ("PO 2024-00815-MT is closed (status 'closed').",),
                        "westside",
                        (JudgedCandidate(linked, True),),
                    ),
                ),
                ProcessedMessage(
                    MessageKey("po@example.com@127.0.0.1", "INBOX", 7, 2),
                    "<b@x>",
                    "b@w.example",
                    "=cmd|' /C calc'!A0",
                    None,
                    "h2",
                    10,
                    None,
                    (),
                    Outcome(
                        Status.MALFORMED,
                        (),
                        ("'=2024-0815' is not a PO.",),
                        "westside",
                        (JudgedCandidate(bad, False),),
                    ),
                ),
            ],
            checkpoint=MessageKey("po@example.com@127.0.0.1", "INBOX", 7, 2),
        )
    return tmp_path / "watcher.toml"


def test_messages_as_jsonl(capsys: pytest.CaptureFixture[str], recorded: Path) -> None:
    code, out, _ = run(capsys, "--config", str(recorded), "messages", "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in rows] == ["linked", "malformed"]
    assert rows[0]["po_numbers"] == ["2024-00815-MT"]
    assert rows[0]["candidates"] == [
        {
            "raw": "2024/815/mt",
            "normalized": "2024-00815-MT",
            "source": "subject",
            "page": None,
            "quoted": False,
            "labelled": True,
            "valid": True,
            "known": True,
        }
    ]
    assert set(rows[0]) == {
        "id",
        "message_id",
        "folder",
        "uid",
        "uidvalidity",
        "sender",
        "subject",
        "customer",
        "status",
        "po_numbers",
        "candidates",
        "reasons",
        "review",
        "review_note",
    }


def test_messages_as_csv_neutralises_formulas(
    capsys: pytest.CaptureFixture[str], recorded: Path
) -> None:
    code, out, _ = run(
        capsys, "--config", str(recorded), "messages", "--format", "csv", "--status", "malformed"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert rows[0]["subject"].startswith("'=")  # a spreadsheet will not run it
    assert rows[0]["status"] == "malformed"


def test_messages_table_and_bad_status(capsys: pytest.CaptureFixture[str], recorded: Path) -> None:
    code, out, _ = run(capsys, "--config", str(recorded), "messages")
    assert code == 0
    assert "(2 message(s))" in out
    assert "2024-00815-MT" in out
    linked = next(line for line in out.splitlines() if " linked " in line)
    assert "is closed (status 'closed')" in linked  # a linked message's reason shows too
    code, _, err = run(capsys, "--config", str(recorded), "messages", "--status", "lost")
    assert code == 2
    assert "unknown status 'lost'" in err


# --- poll from the command line: exit codes, one poller per SQLite database, pipes -----------


def _po_watcher(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox_watcher", "--config", str(cfg), *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_poll_exits_1_while_a_folder_fails_even_when_others_recorded(
    dovecot: Dovecot, imap_user: ImapUser, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, imap_user, folders=("Gone", "INBOX"))
    dovecot.append(imap_user.username, "INBOX", [make_mail("PO 2024-00815-MT")])
    first = _po_watcher(cfg, "poll")
    assert "1 unknown" in first.stdout  # recorded (no PO records here)
    assert "Gone" in first.stderr
    assert first.returncode == 1
    again = _po_watcher(cfg, "poll")  # nothing new, the folder still missing: the same answer
    assert again.returncode == 1
    dovecot.create_folder(imap_user.username, "Gone")
    assert _po_watcher(cfg, "poll").returncode == 0


def test_poll_refuses_to_run_beside_another_poller_on_the_same_sqlite_database(
    tmp_path: Path, demo: Path
) -> None:
    from inbox_watcher.instance import InstanceLock

    lock = InstanceLock.acquire(load_config(demo))  # as the daemon holds it
    try:
        refused = _po_watcher(demo, "poll")
    finally:
        lock.release()
    assert refused.returncode == 75
    assert "already running on the database" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_output_into_a_pipe_that_closes_early_is_no_traceback(recorded: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "inbox_watcher", "--config", str(recorded), "messages",
         "--format", "jsonl"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.close()  # the reader leaves before the first line, like `| head -0`
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err
    assert b"BrokenPipeError" not in err


def test_reading_commands_need_no_imap_password_file(
    capsys: pytest.CaptureFixture[str], recorded: Path
) -> None:
    """A finance user lists and resolves flags without read access to the IMAP secret; the
    commands that talk to the mailbox still refuse, naming the key."""
    (recorded.parent / "demo-imap-password").unlink()
    for argv in (["messages"], ["flagged"], ["digest", "--dry-run"]):
        code, _, err = run(capsys, "--config", str(recorded), *argv)
        assert code == 0, (argv, err)
    for argv in (["check"], ["poll"]):
        code, _, err = run(capsys, "--config", str(recorded), *argv)
        assert code == 2, argv
        assert "imap.password_file" in err
        assert "does not exist" in err


def test_a_password_file_missing_when_needed_is_a_clean_error(
    capsys: pytest.CaptureFixture[str], recorded: Path
) -> None:
    text = recorded.read_text(encoding="utf-8")
    url = 'url = "sqlite:///po-watcher.db"'
    assert url in text
    recorded.write_text(text.replace(url, url + '\npassword_file = "db-pw"'), encoding="utf-8")
    code, _, err = run(capsys, "--config", str(recorded), "messages")
    assert code == 2
    assert "database.password_file" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["messages", "reprocess"])
def test_an_unknown_customer_is_refused_not_silently_empty(
    capsys: pytest.CaptureFixture[str], recorded: Path, command: str
) -> None:
    code, out, err = run(capsys, "--config", str(recorded), command, "--customer", "nosuch")
    assert code == 2
    assert "no customer 'nosuch': the customers are acme, nordwind, westside" in err
    assert out == ""


def test_a_file_refused_at_its_header_is_no_count_of_rows(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    csv_file = demo.parent / "pos.csv"
    csv_file.write_text("number,client\n4500123456,acme\n", encoding="utf-8")
    code, out, err = run(capsys, "--config", str(demo), "pos", "import", str(csv_file))
    assert code == 1
    assert "the header has no po_number column" in err
    assert "nothing imported: the file was refused" in out
    assert "row(s) refused" not in out + err
    assert not (demo.parent / "po-watcher.db").exists()  # nothing to store: no database made


def test_pos_list_shows_what_an_import_left(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    csv_file = demo.parent / "pos.csv"
    csv_file.write_text(
        'po_number,customer,status,amount\n2024/815/mt,westside,Cancelled,"1,234.50"\n'
        "ACME-123456,acme,open,\n=cmd,acme,open,\n",
        encoding="utf-8",
    )
    _, out, err = run(capsys, "--config", str(demo), "pos", "import", str(csv_file))
    assert "2 PO record(s) added, 0 updated, 1 row(s) refused" in out + err  # the formula
    code, out, _ = run(capsys, "--config", str(demo), "pos", "list")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["po_number"], r["customer"], r["closed"], r["amount"]) for r in rows] == [
        ("ACME-123456", "acme", "no", ""),
        ("2024-00815-MT", "westside", "yes", "1234.50"),
    ]
    code, out, _ = run(capsys, "--config", str(demo), "pos", "list", "--customer", "acme")
    assert [r["po_number"] for r in csv.DictReader(io.StringIO(out))] == ["ACME-123456"]


def test_pos_import_replace_removes_what_the_erp_no_longer_lists(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    first = demo.parent / "first.csv"
    first.write_text(
        "po_number,customer\nACME-123456,acme\nACME-654321,acme\n2024-00815-MT,westside\n",
        encoding="utf-8",
    )
    assert run(capsys, "--config", str(demo), "pos", "import", str(first))[0] == 0
    broken = demo.parent / "broken.csv"
    broken.write_text("po_number,customer,amount\nACME-123456,acme,\nACME-1,acme,abc\n")
    code, out, err = run(capsys, "--config", str(demo), "pos", "import", "--replace", str(broken))
    assert "--replace removes nothing while rows are refused" in err
    assert "0 PO record(s) added, 0 updated, 0 removed, 1 row(s) refused" in out
    later = demo.parent / "later.csv"
    later.write_text("po_number,customer\nACME-123456,acme\nACME-777777,acme\n", encoding="utf-8")
    code, out, err = run(capsys, "--config", str(demo), "pos", "import", "--replace", str(later))
    assert code == 0, err
    assert "1 PO record(s) added, 0 updated, 1 removed, 0 row(s) refused" in out
    _, out, _ = run(capsys, "--config", str(demo), "pos", "list")
    assert sorted(r["po_number"] for r in csv.DictReader(io.StringIO(out))) == [
        "2024-00815-MT",  # westside is not in the file: kept
        "ACME-123456",
        "ACME-777777",
    ]


def test_try_on_an_e_invoice_xml(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo: Path
) -> None:
    xml = tmp_path / "XR-1.xml"
    xml.write_text(
        '<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:'
        'Invoice-2" xmlns:cac="c" xmlns:cbc="b"><cbc:ID>RE-1</cbc:ID><cac:OrderReference>'
        "<cbc:ID>2024/815/mt</cbc:ID></cac:OrderReference></Invoice>",
        encoding="utf-8",
    )
    code, out = try_(capsys, demo, xml)
    assert code == 0
    assert "(e-invoice XML)" in out
    assert "2024-00815-MT        valid, labelled  raw='2024/815/mt'  in attachment:XR-1.xml" in out
    assert "MALFORMED" not in out  # the other customers' readings of it are not shown


def test_try_says_when_several_customers_sender_globs_match(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    (demo.parent / "customers" / "plant2.toml").write_text(
        'name = "Plant 2"\nsenders = ["*@acme-corp.example"]\n[po]\n'
        "pattern = '(?<![\\w-])P2-(?P<n>\\d{5})(?![\\w-])'\nformat = \"P2-{n}\"\n",
        encoding="utf-8",
    )
    mail = tmp_path / "m.eml"
    mail.write_text(
        "From: buyer@acme-corp.example\nSubject: hello\n\nNo number here.\n", encoding="utf-8"
    )
    _, out = try_(capsys, demo, mail)
    assert "customer: none yet (2 customers' sender globs match; no pattern decided)" in out
    mail.write_text(
        "From: buyer@acme-corp.example\nSubject: order\n\nOrder P2-12345 please.\n",
        encoding="utf-8",
    )
    _, out = try_(capsys, demo, mail)
    assert "customer: plant2 (Plant 2), chosen by the numbers found among the 2 customers" in out


def test_pos_import_keeps_fields_the_file_has_no_column_for_and_exits_1_on_refused_rows(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    full = demo.parent / "full.csv"
    full.write_text(
        "po_number,customer,status,amount,currency,buyer\n"
        "ACME-123456,acme,closed,12.50,EUR,Ann\nACME-654321,acme,open,1.00,EUR,Bob\n",
        encoding="utf-8",
    )
    assert run(capsys, "--config", str(demo), "pos", "import", str(full))[0] == 0
    bare = demo.parent / "bare.csv"  # an export of the numbers alone, one row bad
    bare.write_text("po_number,customer\nACME-123456,acme\nACME-1,acme\n", encoding="utf-8")
    code, out, _ = run(capsys, "--config", str(demo), "pos", "import", str(bare))
    assert code == 1  # a row was refused: a scheduled import notices
    assert "1 row(s) refused" in out
    assert "0 PO record(s) added, 0 updated" in out  # nothing of ACME-123456 was blanked
    _, out, _ = run(capsys, "--config", str(demo), "pos", "list")
    rows = {r["po_number"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["ACME-123456"]["closed"], rows["ACME-123456"]["amount"]) == ("yes", "12.50")


def test_a_broken_customer_file_leaves_the_clerks_commands_working(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    Store.open(load_config(demo).database.url).close()  # the database a first poll made
    acme = demo.parent / "customers" / "acme.toml"
    acme.write_text(acme.read_text(encoding="utf-8").replace("(?P<num>", "(?P<num"), "utf-8")
    code, out, err = run(capsys, "--config", str(demo), "flagged")
    assert code == 0, err
    assert "warning: customer file left out:" in err
    assert "acme.toml: po.pattern" in err
    assert "No open flags" in out
    code, out, err = run(capsys, "--config", str(demo), "digest")
    assert code == 0, err
    assert "warning: customer file left out:" in err
    assert "PO watcher digest for" in out
    code, _, err = run(capsys, "--config", str(demo), "check")
    assert code == 2  # the admin's check still refuses it
    assert "acme.toml: po.pattern" in err


def test_the_clerks_commands_refuse_a_database_file_that_is_not_there(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """A wrong [database] url or a deleted file: "no open flags" from a database made anew would
    be a lie, and a daemon started on it would read the whole mailbox again. `pos import` still
    makes the database of a new install."""
    path = sqlite_path(load_config(demo).database.url)
    assert path is not None
    assert not path.exists()
    for command in (["flagged"], ["messages"], ["digest"], ["pos", "list"]):
        code, out, err = run(capsys, "--config", str(demo), *command)
        assert code == 78, (command, err)
        assert f"there is no database at {path}" in err
        assert "No open flags" not in out
    assert not path.exists()
