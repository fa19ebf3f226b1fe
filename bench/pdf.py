"""How fast, and how hungry, each PDF reader path is, on generated 1-page and 10-page invoices.

    python bench/pdf.py [--repeat N]

Paths (cumulative, as ``extractors.pdf.read_pdf`` runs them):

- text:          pypdfium2 text of every page (the fast pass every PDF gets)
- text+words:    plus words with positions on every page (from PDFium's character boxes)
- text+tables:   plus pdfplumber's table cells on every page

``ms/page`` is the best wall time over the repeats divided by the pages (the best, not the
median: this machine is shared, and interference only ever adds time); the derived rows
(words, tables) subtract the path before. Memory is measured in a forked child per path: the
peak resident set above what the child started with (``wait4`` rusage, so PDFium's C heap
counts) and the peak of Python allocations (tracemalloc).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from extractors.pdf import read_pdf
from tests.pdfgen import invoice_pdf

Reader = Callable[[bytes], object]


def _all(_page: int, _text: str) -> bool:
    return True


PATHS: dict[str, Reader] = {
    "text": read_pdf,
    "text+words": lambda data: read_pdf(data, layout_pages=_all, layout_tables=False),
    "text+tables": lambda data: read_pdf(data, layout_pages=_all, layout_tables=True),
}


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def timed(readers: dict[str, Reader], data: bytes, repeat: int) -> dict[str, float]:
    """Best seconds per path; the paths take turns, so a busy spell hits them alike."""
    best = {name: float("inf") for name in readers}
    for reader in readers.values():
        reader(data)  # warm up (imports, font caches)
    for _ in range(repeat):
        for name, reader in readers.items():
            start = time.perf_counter()
            reader(data)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def peak_memory(reader: Reader, data: bytes) -> tuple[float, float]:
    """(MiB resident above the start, MiB of Python allocations at peak), in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # reset the peak resident size (VmHWM) to the current one
            start = _status_kib("VmRSS")
            tracemalloc.start()
            reader(data)
            _, peak = tracemalloc.get_traced_memory()
            grown = _status_kib("VmHWM") - start
            os.write(write_end, pickle.dumps((grown * 1024, peak)))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        grown, traced = pickle.loads(f.read())  # noqa: S301 - from our own child
    os.waitpid(pid, 0)
    return max(0, grown) / (1 << 20), traced / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"{'invoice':<9} {'path':<13} {'ms/page':>8} {'peak RSS MiB':>13} {'py peak MiB':>12}")
    for pages in (1, 10):
        data = invoice_pdf(placement="table", pages=pages, po_page=pages)
        repeat = max(3, args.repeat // pages * 2) if pages > 1 else args.repeat
        seconds = timed(PATHS, data, repeat)
        for name, reader in PATHS.items():
            rss, traced = peak_memory(reader, data)
            ms = 1000 * seconds[name] / pages
            print(
                f"{pages:>2} page{'s' if pages > 1 else ' '} {name:<13} {ms:8.2f} "
                f"{rss:13.1f} {traced:12.1f}"
            )
        words = 1000 * (seconds["text+words"] - seconds["text"]) / pages
        tables = 1000 * (seconds["text+tables"] - seconds["text+words"]) / pages
        print(f"{pages:>2} page{'s' if pages > 1 else ' '} {'= words':<13} {words:8.2f}")
        print(f"{pages:>2} page{'s' if pages > 1 else ' '} {'= tables':<13} {tables:8.2f}")


if __name__ == "__main__":
    main()
