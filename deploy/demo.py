"""The README's run command: po-watcher end to end on this machine, with nothing to set up.

Starts a private Dovecot on 127.0.0.1:10143 (the port `config/watcher.toml` names) with the
user and password of the example configuration, delivers the sample customer mail from
`config/samples/`, imports the sample PO records, polls once and prints the results table.
The state lands in the example configuration's SQLite database (`config/po-watcher.db`).

    python3 deploy/demo.py            # run it once and stop the mail server
    python3 deploy/demo.py --keep     # leave the mail server running (Ctrl-C to stop)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import Dovecot  # noqa: E402 - after the path set-up above

CONFIG = ROOT / "config" / "watcher.toml"
SAMPLES = ROOT / "config" / "samples"


def po_watcher(*args: str) -> None:
    cmd = [sys.executable, "-m", "inbox_watcher", "--config", str(CONFIG), *args]
    print(f"\n$ po-watcher --config config/watcher.toml {' '.join(args)}", flush=True)
    subprocess.run(cmd, check=False, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the mail server running")
    parser.add_argument("--port", type=int, default=10143)
    args = parser.parse_args()

    password = (ROOT / "config" / "demo-imap-password").read_text(encoding="utf-8").strip()
    samples = sorted(SAMPLES.glob("*.eml"))
    server = Dovecot()
    server.port = args.port
    server.start()
    try:
        user = server.add_user("po@example.com", password)
        server.append(user.username, "INBOX", (p.read_bytes() for p in samples))
        print(f"Dovecot on 127.0.0.1:{args.port}: {len(samples)} sample messages in INBOX")
        po_watcher("check")
        po_watcher("pos", "import", str(SAMPLES / "pos.csv"))
        po_watcher("poll")
        po_watcher("messages", "--format", "table")
        if args.keep:
            print("\nThe mail server keeps running; Ctrl-C stops it.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
