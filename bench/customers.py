"""What each configured customer costs: analysis time as the number of customers grows.

    python3 bench/customers.py [--n 1000] [--extra 0,10,30,100]

A message whose sender no customer's globs match is read with every customer's rules (its text
and its PDF pages), so its cost grows with the number of customers; a routed message's does not.
This runs ``pipeline.analyse``'s reading (``extract_email`` with PDFs, in-process, one core) over
the cached benchmark mailbox (``bench/mailbox_cache.py``) with the three demo customers plus
``--extra`` synthetic ones (two-letter prefix + 5-7 digits; half with the default labels, half
with a short list of their own), and prints ms per message for the unrouted ones and for the
whole mix. Parsing is done once, before timing.
"""

from __future__ import annotations

import argparse
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox_cache import build
from extractors.message import extract_email, route
from extractors.rules import CustomerRules
from inbox_watcher.mime import read_message
from inbox_watcher.pipeline import Limits, _pdf_inline
from tests.mailgen import load_customers


def synthetic(count: int) -> list[CustomerRules]:
    out = []
    for i in range(count):
        prefix = string.ascii_uppercase[i % 26] + string.ascii_uppercase[(i * 7 + i // 26) % 26]
        rules = CustomerRules.compile(
            f"extra{i}",
            name=f"Extra {i}",
            senders=[f"*@extra{i}.example"],
            pattern=rf"(?<![\w-]){prefix}[- ]?(?P<num>\d{{5,7}})(?![\w-])",
            format=prefix + "-{num}",
            valid=prefix + r"-\d{5,7}",
            labels=None if i % 2 else ["PO", "Order No", "Purchase Order"],
        )
        assert isinstance(rules, CustomerRules), rules
        out.append(rules)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="which cached mailbox")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--extra", default="0,10,30,100", help="extra customers, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    limits = Limits()
    emails = [
        read_message(p.read_bytes(), limits=limits.mime) for p in build(args.n, args.seed).files()
    ]
    read_pdf = _pdf_inline(limits)
    demo = tuple(load_customers())
    print(f"mailbox: {len(emails):,} messages; analysis without parsing, one core, best of "
          f"{args.repeat}")  # fmt: skip
    columns = ("customers", "unrouted", "ms/unrouted", "ms/routed", "ms/msg (mix)")
    print("".join(f"{c:>14}" for c in columns))
    for extra in (int(x) for x in args.extra.split(",")):
        customers = demo + tuple(synthetic(extra))
        unrouted = [e for e in emails if not route(e.sender, customers)]
        routed = [e for e in emails if route(e.sender, customers)]
        timings = []
        for group in (unrouted, routed):
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                for email in group:
                    extract_email(email, customers, read_pdf=read_pdf)
                best = min(best, time.perf_counter() - start)
            timings.append(best)
        mix = sum(timings) / len(emails) * 1e3
        per_unrouted = timings[0] / max(1, len(unrouted)) * 1e3
        per_routed = timings[1] / max(1, len(routed)) * 1e3
        row = (f"{len(customers)}", f"{len(unrouted)}", f"{per_unrouted:.2f}", f"{per_routed:.2f}",
               f"{mix:.2f}")  # fmt: skip
        print("".join(f"{c:>14}" for c in row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
