"""Structured logging: one JSON object (or a readable text line) per event, secrets masked."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import orjson

from sesmon import redact

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``sesmon`` hierarchy."""
    return logging.getLogger(name if name.startswith("sesmon") else f"sesmon.{name}")


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` (a short snake_case name) with structured ``fields``."""
    logger.log(level, event, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: time, level, logger, event and fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        line = orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return redact.redact(line)


class TextFormatter(logging.Formatter):
    """Render a record for humans: ``time level event key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        line = f"{stamp} {record.levelname.lower():7s} {record.getMessage()} {fields}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact.redact(line)


def configure(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Send sesmon's logs to ``stream`` (stdout by default) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("sesmon").setLevel(level.upper())
