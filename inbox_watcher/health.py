"""Optional HTTP endpoint: ``/healthz`` (last successful poll per folder) and ``/metrics``
(Prometheus text: messages by status, last poll duration, errors by kind)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from inbox_watcher.store import StoreUnavailable

if TYPE_CHECKING:
    from inbox_watcher.poller import PollSummary
    from inbox_watcher.store import Store

log = logging.getLogger(__name__)


class Metrics:
    """Counters kept in memory by the daemon (reset at restart, as Prometheus expects)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.errors: Counter[str] = Counter()
        self.polls = 0
        self.last_poll_seconds = 0.0
        self.recorded: Counter[str] = Counter()
        # What is wrong with the daemon beyond its folders, in words, until it is right again:
        # "digest" (today's did not go out), "config" (a reload was refused).
        self.problems: dict[str, str] = {}

    def problem(self, key: str, words: str | None) -> None:
        """Note a problem (``words``), or clear it (None)."""
        with self._lock:
            if words is None:
                self.problems.pop(key, None)
            else:
                self.problems[key] = words

    def observe_poll(self, summary: PollSummary) -> None:
        with self._lock:
            self.polls += 1
            self.last_poll_seconds = summary.seconds
            self.recorded.update(summary.statuses)
            for f in summary.folders:
                if f.error:
                    self.errors["folder"] += 1
            if summary.action_failures:
                self.errors["action"] += summary.action_failures

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def render(self, stats: dict[str, int]) -> str:
        with self._lock:
            lines = [
                "# HELP po_watcher_messages Messages recorded, by status.",
                "# TYPE po_watcher_messages gauge",
                *(f'po_watcher_messages{{status="{s}"}} {n}' for s, n in sorted(stats.items())),
                "# HELP po_watcher_recorded_total Messages recorded since start, by status.",
                "# TYPE po_watcher_recorded_total counter",
                *(
                    f'po_watcher_recorded_total{{status="{s}"}} {n}'
                    for s, n in sorted(self.recorded.items())
                ),
                "# HELP po_watcher_polls_total Polls run since start.",
                "# TYPE po_watcher_polls_total counter",
                f"po_watcher_polls_total {self.polls}",
                "# HELP po_watcher_poll_duration_seconds Duration of the last poll.",
                "# TYPE po_watcher_poll_duration_seconds gauge",
                f"po_watcher_poll_duration_seconds {self.last_poll_seconds:.3f}",
                "# HELP po_watcher_errors_total Errors since start, by kind.",
                "# TYPE po_watcher_errors_total counter",
                *(
                    f'po_watcher_errors_total{{kind="{k}"}} {n}'
                    for k, n in sorted(self.errors.items())
                ),
            ]
        return "\n".join(lines) + "\n"


class HealthServer:
    def __init__(
        self,
        port: int,
        store: Store,
        metrics: Metrics,
        *,
        account: str,
        folders: tuple[str, ...],
        host: str = "127.0.0.1",
    ) -> None:
        self.store = store
        self.metrics = metrics
        self._watched = (account, folders)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    if self.path.startswith("/healthz"):
                        code, body, ctype = outer.healthz()
                    elif self.path.startswith("/metrics"):
                        code, body, ctype = 200, outer.metrics_text(), "text/plain; version=0.0.4"
                    else:
                        code, body, ctype = 404, "not found\n", "text/plain"
                except Exception as exc:  # a request boundary: an answer, never a dropped line
                    log.warning("health request failed", extra={"error": str(exc)})
                    code, body, ctype = 500, f"error: {exc}\n", "text/plain"
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def watch(self, account: str, folders: tuple[str, ...]) -> None:
        """The account and folders /healthz reports on (after a configuration reload)."""
        self._watched = (account, folders)

    def healthz(self) -> tuple[int, str, str]:
        try:
            folders, healthy = self._folders()
        except StoreUnavailable as exc:
            folders, healthy = {"database": str(exc)}, False
        problems = dict(self.metrics.problems)
        doc = {
            "status": "ok" if healthy and not problems else "degraded",
            "folders": folders,
            **({"problems": problems} if problems else {}),
            "time": dt.datetime.now(dt.UTC).isoformat(),
        }
        return (200 if doc["status"] == "ok" else 503), json.dumps(doc) + "\n", "application/json"

    def _folders(self) -> tuple[dict[str, Any], bool]:
        folders: dict[str, Any] = {}
        healthy = True
        account, watched = self._watched
        for folder in watched:
            state = self.store.folder_state(account, folder)
            last_ok = state.last_success_at if state else None
            last_error = state.last_error if state else None
            owed = 0
            if state is not None and state.uidvalidity is not None:
                pending = self.store.pending_actions(account, folder, state.uidvalidity)
                owed = sum(len(uids) for uids in pending.values())
            folders[folder] = {
                "last_success": last_ok.isoformat() if last_ok else None,
                "last_poll": state.last_poll_at.isoformat()
                if state and state.last_poll_at
                else None,
                "last_error": last_error,
                "actions_owed": owed,
            }
            # Healthy: every folder was polled successfully and its latest poll did not fail
            # (the store clears last_error on each successful poll), and no mailbox action is
            # owed between polls (one that failed: a move to a folder that does not exist).
            if last_ok is None or last_error or owed:
                healthy = False
        return folders, healthy

    def metrics_text(self) -> str:
        try:
            stats, up = self.store.stats(), 1
        except StoreUnavailable:
            stats, up = {}, 0
        return self.metrics.render(stats) + (
            "# HELP po_watcher_database_up Whether the database answered this scrape.\n"
            "# TYPE po_watcher_database_up gauge\n"
            f"po_watcher_database_up {up}\n"
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
