"""The one logging configuration point: stderr, text on a terminal or JSON when asked.

Log records carry keys and statuses in ``extra``; never message bodies. Registered secrets
(passwords read from env or files) are masked in every rendered line, tracebacks included.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def register_secret(value: str) -> None:
    """Mask this text wherever a log line would show it (ignored when too short to be safe)."""
    if len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, "******")
    return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = (
            f"{self.formatTime(record, '%Y-%m-%d %H:%M:%S%z')} {record.levelname:<7} "
            f"{record.name}: {record.getMessage()}"
        )
        # one line a record: a value with line breaks (a database driver's error) stays on it
        extras = " ".join(f"{k}={' '.join(str(v).split())}" for k, v in _extras(record).items())
        if extras:
            base += " " + extras
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return redact(base)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for k, v in _extras(record).items():
            doc[k] = v if isinstance(v, int | float | bool | type(None)) else str(v)
        if record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        return redact(json.dumps(doc, ensure_ascii=False))


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json"
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays at warnings.
    for name in ("imapclient", "pdfminer", "apscheduler", "sqlalchemy", "mailparser"):
        logging.getLogger(name).setLevel(logging.WARNING)
