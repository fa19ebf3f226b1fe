"""How fast a poll chews through a backlog, next to the physical limit and a peer.

    python3 bench/poll.py                       # 1,000 and 10,000 messages
    python3 bench/poll.py --n 1000              # quick (< 1 min once the mailbox is cached)
    python3 bench/poll.py --n 100000            # on request (generating it takes ~5 min once)

For each N: a Dovecot mailbox of N generated messages (``bench/mailbox_cache.py``, cached
under ``bench/out/``), then in one run:

1. the raw limit: ``UID FETCH 1:* BODY.PEEK[]`` over a plain socket (``bench/rawfetch.py``), the
   best of 3 after a warm-up read;
2. ``po-watcher poll`` end to end: ``python -m inbox_watcher --config CFG poll`` as a child process
   against a fresh SQLite database holding the PO records; peak memory from ``wait4`` (the largest
   single process: the CLI or one of its workers, which it reaps) and the peak of the summed PSS of
   the whole process tree (sampled every 0.2 s; PSS splits pages shared after fork fairly);
   then exactly-once is checked (N records, N distinct keys, checkpoint at the last UID, a second
   poll records nothing) and the statuses are compared with the generator's truth;
3. the same poll in-process (``runtime.make_poller``), for the poller's stage times (fetch,
   analyse in the worker pool, judge+store) that the CLI does not print;
4. ``analyse`` in-process on one core over (a sample of) the same messages, split into parse,
   PDF, text extraction and hashing;
5. once: the peer, invoice2data, on the mailbox's PDF invoices next to our ``extract_pdf``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox_cache import Built, build, load
from bench.peer_invoice2data import Timing, collect, time_ours, time_peer
from bench.rawfetch import RawFetch, raw_fetch
from extractors.message import PdfOutcome, extract_email
from extractors.pdf_extract import extract_pdf
from extractors.rules import CustomerRules
from extractors.types import Attachment
from inbox_watcher.config import load_config
from inbox_watcher.mime import read_message
from inbox_watcher.pipeline import Limits, content_hash
from inbox_watcher.poller import PollSummary
from inbox_watcher.runtime import limits_of, make_poller, make_pool, open_store
from inbox_watcher.store import Store
from tests.mailgen import load_customers, po_records
from tests.servers import Dovecot, ImapUser
from tests.setup_config import write_config

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench", "bench-password"


# -- the machine -------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        mem_kib = int(f.readline().split()[1])
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kib / 1024**2:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


# -- the CLI poll in a child process -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CliPoll:
    seconds: float
    exit_code: int
    maxrss_mib: float  # largest single process (the CLI or a reaped worker), from wait4
    pss_sum_mib: float  # peak of the summed PSS of the process tree, sampled
    rss_sum_mib: float  # peak of the summed RSS (double-counts pages shared after fork)
    output: str


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children", encoding="ascii") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return pids


def _memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB, (0, 0) when it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        return 0, 0
    return pss, rss


# The CLI is started by a small launcher process that waits for it. ``ru_maxrss`` of a process
# that was exec'd from a (v)fork of this bench starts at this bench's own peak (the kernel keeps
# the old address space's high-water mark across exec), so it would report our memory, not
# po-watcher's. The launcher is ~10 MiB: what it reports from wait4 is po-watcher's and its
# workers' (reaped by it), the largest single process.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": seconds, "exit": os.waitstatus_to_exitcode(status),
               "maxrss_kib": usage.ru_maxrss}, f)
"""


def run_cli_poll(config: Path) -> CliPoll:
    out_path = config.parent / "cli.out"
    report = config.parent / "cli.json"
    argv = [sys.executable, "-m", "inbox_watcher", "--config", str(config), "poll"]
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(report), *argv],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        peaks = [0, 0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                pss = rss = 0
                for p in _tree(proc.pid)[1:]:  # po-watcher and its workers, not the launcher
                    a, b = _memory_kib(p)
                    pss += a
                    rss += b
                peaks[0] = max(peaks[0], pss)
                peaks[1] = max(peaks[1], rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        done.set()
        sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"the launcher failed ({proc.returncode}): {out_path.read_text()[-2000:]}")
    facts = json.loads(report.read_text())
    return CliPoll(
        seconds=float(facts["seconds"]),
        exit_code=int(facts["exit"]),
        maxrss_mib=int(facts["maxrss_kib"]) / 1024,
        pss_sum_mib=peaks[0] / 1024,
        rss_sum_mib=peaks[1] / 1024,
        output=out_path.read_text(errors="replace").strip(),
    )


# -- exactly once and agreement with the truth -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ledger:
    records: int
    distinct_keys: int
    checkpoint: int
    statuses: Counter[str]
    agree: int  # messages whose status is the generator's expected status


def ledger(db: Path, built: Built) -> Ledger:
    truth = {}
    with built.truth.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            truth[row["uid"]] = row["status"]
    con = sqlite3.connect(db)
    try:
        records, distinct = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT account || char(31) || folder || char(31) || "
            "uidvalidity || char(31) || uid) FROM message"
        ).fetchone()
        (checkpoint,) = con.execute(
            "SELECT COALESCE(MAX(last_uid), 0) FROM folder_state"
        ).fetchone()
        rows = con.execute("SELECT uid, status FROM message").fetchall()
    finally:
        con.close()
    statuses = Counter(status for _, status in rows)
    agree = sum(1 for uid, status in rows if truth.get(uid) == status)
    return Ledger(records, distinct, checkpoint, statuses, agree)


def seed_pos(config: Path, seed: int) -> None:
    url = load_config(config).database.url_with_password()
    with Store.open(url) as store:
        store.upsert_pos(po_records(load_customers(), seed=seed))


def poll_in_process(config: Path) -> PollSummary:
    cfg = load_config(config)
    store = open_store(cfg)
    try:
        with make_pool(cfg) as pool:
            return make_poller(cfg, store, pool).poll()
    finally:
        store.close()


def _cpu() -> tuple[float, float]:
    """CPU seconds so far of this process and of its reaped children (the pool's workers are
    reaped when the poll closes its pool)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def _cpu_since(before: tuple[float, float], n: int) -> tuple[float, float]:
    now = _cpu()
    return 1000 * (now[0] - before[0]) / n, 1000 * (now[1] - before[1]) / n


# -- analyse in-process, split into its parts --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    messages: int
    pdf_pages: int
    parse: float
    pdf: float
    text: float  # extract_email without the PDF reads: routing, text scan, normalisation
    hash: float

    @property
    def total(self) -> float:
        return self.parse + self.pdf + self.text + self.hash


class _TimedPdf:
    """A ``read_pdf`` for ``extract_email`` that adds up the time and pages of each PDF."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.seconds = 0.0
        self.pages = 0

    def __call__(self, att: Attachment, rules: Sequence[CustomerRules]) -> PdfOutcome:
        start = time.perf_counter()
        result = extract_pdf(att.data, att.filename, rules, self.limits.pdf)
        self.seconds += time.perf_counter() - start
        self.pages += result.page_count
        return PdfOutcome(result.candidates, result.problems, result.page_count)


def analyse_split(
    built: Built, customers: Sequence[CustomerRules], limits: Limits, n: int
) -> Split:
    """``pipeline.analyse`` taken apart: the same calls, timed one by one."""
    parse = text = hashing = 0.0
    count = 0
    rules = tuple(customers)
    read_pdf = _TimedPdf(limits)
    for path in built.files()[:n]:
        raw = path.read_bytes()
        before = read_pdf.seconds
        t0 = time.perf_counter()
        email = read_message(raw, limits=limits.mime)
        t1 = time.perf_counter()
        extract_email(email, rules, read_pdf=read_pdf, timeout=limits.pattern_timeout)
        t2 = time.perf_counter()
        content_hash(raw)
        t3 = time.perf_counter()
        parse += t1 - t0
        text += (t2 - t1) - (read_pdf.seconds - before)
        hashing += t3 - t2
        count += 1
    return Split(count, read_pdf.pages, parse, read_pdf.seconds, text, hashing)


# -- one mailbox size --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    n: int
    mb: float
    load_seconds: float
    raw: RawFetch
    cli: CliPoll
    cli_ledger: Ledger
    second_poll_recorded: int
    inproc: PollSummary
    cpu: tuple[float, float]  # CPU ms a message of the in-process poll: (parent, workers)
    inproc_ledger: Ledger
    split: Split


def measure(n: int, args: argparse.Namespace) -> tuple[Result, Built]:
    print(f"[{n:,}] building the mailbox (cached under bench/out/)", flush=True)
    built = build(n, args.seed)
    with Dovecot() as dovecot, tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        dovecot.start()
        user: ImapUser = dovecot.add_user(USER, PASSWORD)
        load_seconds = load(dovecot, user, built)
        print(f"[{n:,}] loaded into Dovecot in {load_seconds:.1f} s; raw FETCH", flush=True)
        raw_fetch(user.host, user.port, USER, PASSWORD)  # warm-up: Dovecot's index and cache
        raws = [raw_fetch(user.host, user.port, USER, PASSWORD) for _ in range(3)]
        raw = min(raws, key=lambda r: r.seconds)
        if raw.messages != built.count:
            raise SystemExit(f"the raw FETCH saw {raw.messages} messages, not {built.count}")

        cli_dir = Path(tmp) / "cli"
        cli_dir.mkdir()
        extra = f"[limits]\nworkers = {args.workers}\n" if args.workers else ""
        cli_cfg = write_config(cli_dir, user, batch_size=args.batch_size, extra=extra)
        seed_pos(cli_cfg, args.seed)
        print(f"[{n:,}] po-watcher poll (child process)", flush=True)
        cli = run_cli_poll(cli_cfg)
        if cli.exit_code != 0:
            raise SystemExit(f"po-watcher poll exited {cli.exit_code}:\n{cli.output[-3000:]}")
        cli_ledger = ledger(cli_dir / "state.db", built)
        second = poll_in_process(cli_cfg)
        after = ledger(cli_dir / "state.db", built)
        if after.records != cli_ledger.records:
            raise SystemExit("a second poll over an unchanged mailbox changed the record count")

        in_dir = Path(tmp) / "inproc"
        in_dir.mkdir()
        in_cfg = write_config(in_dir, user, batch_size=args.batch_size, extra=extra)
        seed_pos(in_cfg, args.seed)
        print(f"[{n:,}] po-watcher poll (in-process, for stage times)", flush=True)
        before = _cpu()
        inproc = poll_in_process(in_cfg)
        cpu = _cpu_since(before, n)
        inproc_ledger = ledger(in_dir / "state.db", built)

        cfg = load_config(in_cfg)
    sample = min(n, args.analyse_sample)
    print(f"[{n:,}] analyse in-process on one core ({sample:,} messages)", flush=True)
    split = analyse_split(built, cfg.customers, limits_of(cfg), sample)
    result = Result(
        n=n,
        mb=built.total_bytes / 1e6,
        load_seconds=load_seconds,
        raw=raw,
        cli=cli,
        cli_ledger=cli_ledger,
        second_poll_recorded=second.recorded,
        inproc=inproc,
        cpu=cpu,
        inproc_ledger=inproc_ledger,
        split=split,
    )
    return result, built


# -- printing ----------------------------------------------------------------------------------


def _row(label: str, values: Sequence[str], width: int = 44) -> str:
    return f"{label:<{width}}" + "".join(f"{v:>14}" for v in values)


def print_poll_table(results: Sequence[Result], batch_size: int, workers: int) -> None:
    r_ = results
    print()
    print(f"machine: {machine()}")
    print(f"poll settings: batch_size {batch_size}, workers {workers or os.cpu_count()}, SQLite")
    print()
    print(_row("mailbox (messages)", [f"{r.n:,}" for r in r_]))
    print(_row("  size (MB) / mean KB", [f"{r.mb:,.1f}/{r.mb * 1000 / r.n:.0f}" for r in r_]))
    print(_row("raw FETCH, socket: msg/s", [f"{r.raw.per_second:,.0f}" for r in r_]))
    print(_row("                   MB/s", [f"{r.raw.mb_per_second:,.0f}" for r in r_]))
    print(_row("po-watcher poll (CLI): msg/s", [f"{r.n / r.cli.seconds:,.0f}" for r in r_]))
    print(_row("                       MB/s", [f"{r.mb / r.cli.seconds:,.1f}" for r in r_]))
    print(_row("                       seconds", [f"{r.cli.seconds:,.1f}" for r in r_]))
    print(_row("  peak RSS, largest process (MiB)", [f"{r.cli.maxrss_mib:,.0f}" for r in r_]))
    print(_row("  peak PSS, all processes summed (MiB)", [f"{r.cli.pss_sum_mib:,.0f}" for r in r_]))
    print(_row("  peak RSS, all processes summed (MiB)", [f"{r.cli.rss_sum_mib:,.0f}" for r in r_]))
    print(
        _row("po-watcher poll (in-process): msg/s", [f"{r.n / r.inproc.seconds:,.0f}" for r in r_])
    )
    print(
        _row(
            "  CPU ms/message: parent + workers",
            [f"{r.cpu[0]:.2f} + {r.cpu[1]:.2f}" for r in r_],
        )
    )
    stages = list(dict.fromkeys(k for r in r_ for k in r.inproc.stage_seconds))
    for stage in stages:
        print(
            _row(
                f"  stage {stage} (% of poll)",
                [
                    f"{100 * r.inproc.stage_seconds.get(stage, 0.0) / r.inproc.seconds:.0f} %"
                    for r in r_
                ],
            )
        )
    print(_row("ours (CLI) / raw limit", [f"{r.raw.seconds / r.cli.seconds:.3f}" for r in r_]))
    print(
        _row(
            "exactly once: records / distinct keys",
            [f"{r.cli_ledger.records}/{r.cli_ledger.distinct_keys}" for r in r_],
        )
    )
    print(_row("  checkpoint (last UID)", [f"{r.cli_ledger.checkpoint}" for r in r_]))
    print(_row("  second poll recorded", [f"{r.second_poll_recorded}" for r in r_]))
    print(
        _row(
            "  in-process run: records / distinct",
            [f"{r.inproc_ledger.records}/{r.inproc_ledger.distinct_keys}" for r in r_],
        )
    )
    print(
        _row(
            "status = generator's truth",
            [f"{100 * r.cli_ledger.agree / max(1, r.cli_ledger.records):.1f} %" for r in r_],
        )
    )
    print()
    print("analyse in-process, one core (ms per message; share of analyse):")
    print(
        _row(
            "  messages analysed / PDF pages",
            [f"{r.split.messages:,}/{r.split.pdf_pages:,}" for r in r_],
        )
    )
    for part in ("parse", "pdf", "text", "hash"):
        print(
            _row(
                f"  {part}",
                [
                    f"{1000 * getattr(r.split, part) / r.split.messages:.2f} "
                    f"{100 * getattr(r.split, part) / r.split.total:3.0f}%"
                    for r in r_
                ],
            )
        )
    print(
        _row(
            "  total ms/msg (-> msg/s per core)",
            [
                f"{1000 * r.split.total / r.split.messages:.2f} "
                f"({r.split.messages / r.split.total:,.0f})"
                for r in r_
            ],
        )
    )
    print(
        _row("  PDF ms/page", [f"{1000 * r.split.pdf / max(1, r.split.pdf_pages):.2f}" for r in r_])
    )
    for r in r_:
        print(f"\n[{r.n:,}] statuses: {dict(sorted(r.cli_ledger.statuses.items()))}")
        print(f"[{r.n:,}] CLI said: {r.cli.output.splitlines()[-1] if r.cli.output else ''}")
        print(f"[{r.n:,}] in-process: {r.inproc.line()}")


def print_peer_table(ours: Timing, peers: Sequence[Timing]) -> None:
    print()
    print(f"PDF invoices from the mailbox: {ours.docs} documents, {ours.pages} pages")
    print(f"{'reader':<46}{'ms/doc':>9}{'median':>9}{'ms/page':>9}{'found':>12}")
    for t in (ours, *peers):
        print(
            f"{t.name:<46}{t.ms_per_doc:9.2f}{t.ms_median:9.2f}{t.ms_per_page:9.2f}"
            f"{f'{t.found}/{t.judged}':>12}"
        )
    for p in peers:
        print(f"ours / {p.name}: {ours.ms_per_doc / p.ms_per_doc:.2f} (time per document)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="mailbox size (repeatable)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=200, help="the product's default: 200")
    parser.add_argument("--workers", type=int, default=0, help="0: one per CPU (the default)")
    parser.add_argument("--analyse-sample", type=int, default=1000)
    parser.add_argument("--peer-docs", type=int, default=300, help="PDFs for the peer (0: skip)")
    args = parser.parse_args(argv)
    sizes = args.n or [1000, 10_000]
    results: list[Result] = []
    first: Built | None = None
    for n in sizes:
        result, built = measure(n, args)
        results.append(result)
        first = first or built
        bad = [
            led
            for led in (result.cli_ledger, result.inproc_ledger)
            if not (led.records == led.distinct_keys == n and led.checkpoint == n)
        ]
        if bad or result.second_poll_recorded:
            print_poll_table(results, args.batch_size, args.workers)
            raise SystemExit(f"exactly-once broken at N={n}: {bad} {result.second_poll_recorded}")
    print_poll_table(results, args.batch_size, args.workers)
    if args.peer_docs and first is not None:
        print("\npeer: collecting PDFs ...", flush=True)
        docs = collect(first, args.peer_docs)
        customers = load_customers()
        ours = time_ours(docs, customers)
        peers = [time_peer(docs, customers, None), time_peer(docs, customers, "pdftotext")]
        print_peer_table(ours, peers)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n(bench process itself: peak RSS {usage.ru_maxrss / 1024:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
