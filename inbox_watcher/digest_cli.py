"""``po-watcher digest``: print today's digest (the default; nothing is marked) or send it now."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

from inbox_watcher.config import Config
from inbox_watcher.digest import (
    Digest,
    build_digest,
    render_html,
    render_text,
    send_digest,
    subject_line,
)
from inbox_watcher.runtime import open_store

EXIT_OK = 0
EXIT_FAILED = 1


def digest_command(config: Config, *, send: bool, html: Path | None) -> int:
    now = dt.datetime.now(dt.UTC)
    store = open_store(config, existing=True)
    try:
        if send:
            result = send_digest(config, store, now=now)
            print(result.summary, file=sys.stdout if result.ok else sys.stderr)
            if result.digest is not None and html is not None and not _write(html, result.digest):
                return EXIT_FAILED
            return EXIT_OK if result.ok else EXIT_FAILED
        digest = build_digest(config, store, now=now)
        sent_today = store.digest_sent_on(digest.local_date.isoformat())
    finally:
        store.close()
    if sent_today:
        print(
            f"(the digest for {digest.local_date.isoformat()} was already sent; below is what "
            "tomorrow's would hold so far: flags not in a digest yet)\n"
        )
        # Dated and counted as tomorrow's: its subject must not pass for today's.
        digest = dataclasses.replace(digest, local_date=digest.local_date + dt.timedelta(days=1))
    print(f"To: {', '.join(config.digest.to)}")
    print(f"Subject: {subject_line(config, digest)}")
    print()
    sys.stdout.write(render_text(digest))
    if sent_today:  # --send would only say that today's went out
        print("\n(dry run: nothing was sent or marked; these go in tomorrow's digest)")
    else:
        print(
            "\n(dry run: nothing was sent or marked; send it now with: "
            f"{config.command} digest --send)"
        )
    if html is not None and not _write(html, digest):
        return EXIT_FAILED
    return EXIT_OK


def _write(path: Path, digest: Digest) -> bool:
    try:
        path.write_text(render_html(digest), encoding="utf-8")
    except OSError as exc:
        print(f"could not write the HTML to {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    print(f"HTML written to {path}")
    return True
