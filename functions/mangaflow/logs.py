"""Structured logs: one JSON object per line on stdout, which Cloud Logging parses without an agent.

Secrets never reach the logs: values of keys that look secret (token, password, key, secret,
authorization, callback URLs carry signatures too) are masked before anything is written.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

_SECRET_KEY = re.compile(r"(token|password|passwd|secret|authorization|api[_-]?key|signature|callback_url|dsn|database_url)", re.I)
_URL_CREDENTIALS = re.compile(r"(\w+://[^:/\s@]*:)([^@\s]+)(@)")
_MASK = "***"


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` with secret-looking fields masked and URL passwords removed."""
    if key and _SECRET_KEY.search(key):
        return _MASK
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(r"\1" + _MASK + r"\3", value)
    return value


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARNING" else "WARNING",
            "message": redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(redact(fields))
        trace = getattr(record, "trace", None)
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # A lone surrogate quoted from hostile input becomes its escape, never a failed log line.
        return json.dumps(entry, ensure_ascii=False, default=str).encode("utf-8", "backslashreplace").decode("utf-8")


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is now (a replaced stdout is followed, not the one at start-up)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


_configured = False


def get_logger(name: str = "mangaflow") -> logging.Logger:
    """The project's logger, configured once: JSON lines on stdout."""
    global _configured
    if not _configured:
        handler = _StdoutHandler()
        handler.setFormatter(_JsonFormatter())
        root = logging.getLogger("mangaflow")
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        root.propagate = False
        _configured = True
    return logging.getLogger(name)


def log_event(message: str, severity: int = logging.INFO, **fields: Any) -> None:
    """Log `message` with structured `fields` (redacted)."""
    get_logger().log(severity, message, extra={"fields": fields})
