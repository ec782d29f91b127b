"""Log lines on stderr, each carrying the request id of the request it belongs to: JSON, or text for a terminal."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Whatever a LogRecord has before `extra` is added: the rest are the fields the caller chose to log.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value ...`: the fields of the JSON line, readable in a terminal.

    It prints exactly the fields the JSON formatter would, so what must never be logged is kept out in one place:
    the code that logs.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        head, sep, tail = line.partition("\n")  # a traceback, if any, stays below the fields
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in _extra_fields(record))
        return f"{head} {fields}{sep}{tail}" if fields else line


def _extra_fields(record: logging.LogRecord) -> list[tuple[str, object]]:
    return [(key, value) for key, value in record.__dict__.items() if key not in _RECORD_ATTRS]


def _text_value(value: object) -> str:
    text = str(value)
    if not text or any(char.isspace() or char in '="' for char in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def configure_logging(level: str, log_format: str = "json") -> None:
    """log_format: text, or json (anything else: settings resolve server.log_format: auto before this)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "text":
        handler.setFormatter(TextFormatter())
    else:
        handler.setFormatter(
            JsonFormatter("{asctime}{levelname}{name}{message}", style="{", rename_fields={"levelname": "level"})
        )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").disabled = True  # authsvc.access writes one line a request instead
