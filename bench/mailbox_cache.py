"""A benchmark mailbox of N generated messages: built once, cached, loaded into Dovecot in seconds.

``build(n, seed)`` writes ``bench/out/mix-<n>-s<seed>-<stamp>/`` (the stamp: a hash of the
generators and the example customers, so that a mailbox made by other code is made again):

- ``cur/``: one Maildir file per message (``tests.mailgen.mailbox_mix``: ~70 % text/HTML mail of
  5-20 KB, ~30 % with a 1-3 page PDF invoice), named so that Dovecot gives UIDs in order;
- ``truth.jsonl``: one line per message (kind, expected status, POs, customer);
- ``pos.csv``: the PO records the truth assumes are known (``po-watcher pos import`` reads it).

Up to ``CHUNK`` messages this is exactly ``mailbox_mix(n, seed)``. Larger mailboxes are generated
in chunks of ``CHUNK`` (seeds ``seed``, ``seed + 1_000_003``...) against the same PO records, so
100,000 messages never sit in memory at once.

``load(dovecot, user, folder_dir)`` hard-links (or copies) the cached files into the user's
Maildir and runs ``doveadm force-resync``: ~1 s for 10,000 messages, against ~2 s by MULTIAPPEND.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.mailgen import generate, load_customers, po_records, records_csv
from tests.servers import Dovecot, ImapUser

OUT = Path(__file__).resolve().parent / "out"
CHUNK = 10_000
_DONE = "complete"  # marker file: the cache is whole (a build killed half-way is rebuilt)


@dataclass(frozen=True, slots=True)
class Built:
    root: Path
    count: int
    total_bytes: int

    @property
    def cur(self) -> Path:
        return self.root / "cur"

    @property
    def pos_csv(self) -> Path:
        return self.root / "pos.csv"

    @property
    def truth(self) -> Path:
        return self.root / "truth.jsonl"

    def files(self) -> list[Path]:
        """The message files in UID order."""
        return sorted(self.cur.iterdir())

    def messages(self) -> Iterator[bytes]:
        for path in self.files():
            yield path.read_bytes()


def _name(index: int, size: int) -> str:
    # <time>.<unique>.<host>,S=<size>,W=<size>:2,  -- S and W let Dovecot skip stat() and the
    # CRLF count (the generator writes CRLF already). The zero-padded "time" keeps UIDs in order.
    return f"{1_700_000_000 + index:010d}.M{index:07d}P1.bench,S={size},W={size}:2,"


def _generator_stamp() -> str:
    """A short hash of what generates the mailbox (the generators and the example customers):
    a cached mailbox made by other code is made again."""
    repo = Path(__file__).resolve().parent.parent
    parts = [repo / "tests" / "mailgen.py", repo / "tests" / "pdfgen.py"]
    parts += sorted((repo / "config" / "customers").glob("*.toml"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in parts))
    return digest.hexdigest()[:8]


def build(n: int, seed: int, *, quiet: bool = False) -> Built:
    root = OUT / f"mix-{n}-s{seed}-{_generator_stamp()}"
    if (root / _DONE).exists():
        meta = json.loads((root / _DONE).read_text())
        return Built(root, int(meta["count"]), int(meta["bytes"]))
    if root.exists():
        shutil.rmtree(root)
    cur = root / "cur"
    cur.mkdir(parents=True)
    customers = load_customers()
    records = po_records(customers, seed=seed)
    (root / "pos.csv").write_text(records_csv(records), encoding="utf-8")
    started = time.monotonic()
    total = 0
    index = 0
    with (root / "truth.jsonl").open("w", encoding="utf-8") as truth:
        for chunk in range((n + CHUNK - 1) // CHUNK):
            count = min(CHUNK, n - chunk * CHUNK)
            mails = generate(
                count,
                seed=seed + chunk * 1_000_003,
                customers=customers,
                pdf_share=0.3,
                known_pos=records,
            )
            for mail in mails:
                index += 1
                (cur / _name(index, len(mail.raw))).write_bytes(mail.raw)
                total += len(mail.raw)
                truth.write(
                    json.dumps(
                        {
                            "uid": index,
                            "kind": mail.kind,
                            "status": mail.expected_status,
                            "pos": list(mail.expected_pos),
                            "customer": mail.customer,
                        }
                    )
                    + "\n"
                )
            if not quiet:
                print(
                    f"  generated {index}/{n} messages ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
    (root / _DONE).write_text(json.dumps({"count": index, "bytes": total}))
    return Built(root, index, total)


def load(dovecot: Dovecot, user: ImapUser, built: Built) -> float:
    """Put the cached messages into ``user``'s INBOX; returns the seconds it took."""
    started = time.monotonic()
    maildir = dovecot.root / "home" / user.username / "Maildir"
    owner = os.stat(maildir.parent)  # the home dir belongs to the mail user
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    link = True
    for src in built.files():
        dst = maildir / "cur" / src.name
        if link:
            try:
                os.link(src, dst)
            except OSError:
                link = False
        if not link:
            shutil.copyfile(src, dst)
        if os.geteuid() == 0:
            os.chown(dst, owner.st_uid, owner.st_gid)
    for path in (maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
        if os.geteuid() == 0:
            os.chown(path, owner.st_uid, owner.st_gid)
    dovecot.doveadm("force-resync", "-u", user.username, "INBOX")
    return time.monotonic() - started
