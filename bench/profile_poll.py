"""Where a poll's time goes: cProfile of ``analyse`` in-process, and of the polling parent.

    python3 bench/profile_poll.py [--n 1000] [--messages 500] [--top 30] [--poll]

Most of a poll's work runs in forked workers, which a profiler in the parent does not see. So:

1. ``inbox_watcher.pipeline.analyse`` runs in this process on the first ``--messages`` messages of
   the cached benchmark mailbox (``bench/mailbox_cache.py``), under cProfile: the hot functions
   of parse, PDF and text extraction, by own time and by cumulative time;
2. with ``--poll``, the in-process poll (``runtime.make_poller``) against a Dovecot loaded with the
   mailbox, under cProfile: what the parent does (IMAP fetch, pool dispatch, judging, the store).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox_cache import build, load
from bench.poll import PASSWORD, USER, poll_in_process, seed_pos
from inbox_watcher.pipeline import Limits, MessageTask, analyse
from tests.mailgen import load_customers
from tests.servers import Dovecot
from tests.setup_config import write_config


def show(profile: cProfile.Profile, top: int, title: str) -> None:
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(top)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"\n== {title}: top {top} by {key} ==")
        print("\n".join(lines[start - 3 if start >= 3 else 0 :]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="which cached mailbox")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--poll", action="store_true", help="also profile the polling parent")
    args = parser.parse_args()
    built = build(args.n, args.seed)
    customers = load_customers()
    limits = Limits()
    tasks = [MessageTask(p.read_bytes(), customers, limits) for p in built.files()[: args.messages]]
    analyse(tasks[0])  # imports and caches
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for task in tasks:
        analyse(task)
    profile.disable()
    seconds = time.perf_counter() - started
    print(
        f"analyse in-process: {len(tasks)} messages, {1000 * seconds / len(tasks):.2f} ms/msg "
        "under cProfile"
    )
    show(profile, args.top, "analyse")
    if args.poll:
        with Dovecot() as dovecot, tempfile.TemporaryDirectory(prefix="bench-prof-") as tmp:
            dovecot.start()
            user = dovecot.add_user(USER, PASSWORD)
            load(dovecot, user, built)
            cfg = write_config(Path(tmp), user, batch_size=200)
            seed_pos(cfg, args.seed)
            profile = cProfile.Profile()
            profile.enable()
            summary = poll_in_process(cfg)
            profile.disable()
            print(
                f"\npoll (parent process): {summary.line()}; stages "
                f"{ {k: round(v, 2) for k, v in summary.stage_seconds.items()} }"
            )
            show(profile, args.top, "poll, parent process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
