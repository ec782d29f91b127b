"""Log lines on stderr, each carrying the request id of the request it belongs to: JSON, or text for a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import TextIO

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
    the code that logs. No character a terminal would act on reaches it raw (ESC, BEL, DEL, C1 controls, bidi
    overrides...): a field holding one is quoted and escaped, and the message and traceback are escaped, their line
    breaks aside. The JSON formatters escape them already (ensure_ascii).
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s", datefmt=_TEXT_DATEFMT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if not line.isprintable():
            line = "\n".join(_escaped(part) for part in line.split("\n"))
        head, sep, tail = line.partition("\n")  # a traceback, if any, stays below the fields
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in _extra_fields(record))
        return f"{head} {fields}{sep}{tail}" if fields else line


def _extra_fields(record: logging.LogRecord) -> list[tuple[str, object]]:
    return [(key, value) for key, value in record.__dict__.items() if key not in _RECORD_ATTRS]


def _text_value(value: object) -> str:
    text = str(value)
    if not text or not text.isprintable() or " " in text or "=" in text or '"' in text:
        return _escaped(json.dumps(text, ensure_ascii=False))  # json escapes only C0 controls, quotes, backslash
    return text


def _escaped(text: str) -> str:
    """Every character str.isprintable() refuses (controls, separators, format characters) as \\uXXXX."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"
        for char in text
    )


class AccessLog:
    """authsvc.access: the one line a request, the same line the handler configure_logging sets up would write.

    Once configure_logging has run (and while its handler is still the only one), the line is formatted here and
    written straight to the handler's stream: no LogRecord, no filter, no JsonFormatter for each request. Anything
    else (a test's caplog, a handler added later, before configure_logging) gets the stdlib record, with the same
    fields: the keyword arguments of request() are the one list of them.
    """

    def __init__(self) -> None:
        self._logger = logging.getLogger("authsvc.access")
        self._handler: logging.StreamHandler[TextIO] | None = None
        self._text = False
        self._second = -1
        self._stamp = ""

    def bind(self, handler: logging.StreamHandler[TextIO] | None, text: bool = False) -> None:
        self._handler, self._text, self._second = handler, text, -1

    def request(self, *, method: str, path: str, status: int, duration_ms: float, ip: str | None) -> None:
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms, "ip": ip}
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._handler
        root = logging.root.handlers
        if handler is None or len(root) != 1 or root[0] is not handler or logger.handlers:
            logger.info("request", extra=fields)
            return
        try:
            line = self._line(fields)
            with handler.lock or _NO_LOCK:
                handler.stream.write(line)
                handler.flush()
        except Exception:  # the stream failed: the stdlib path reports it the usual way (handleError)
            logger.info("request", extra=fields)

    def _line(self, fields: dict[str, object]) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:  # logging.Formatter.formatTime's stamp, once a second
            local = time.localtime(second)
            self._stamp = time.strftime(_TEXT_DATEFMT if self._text else logging.Formatter.default_time_format, local)
            self._second = second
        request_id = request_id_var.get()
        if self._text:
            items = [*fields.items(), *([("request_id", request_id)] if request_id is not None else [])]
            pairs = " ".join(f"{key}={_text_value(value)}" for key, value in items)
            return f"{self._stamp} INFO    {self._logger.name} request {pairs}\n"
        line: dict[str, object] = {
            "asctime": f"{self._stamp},{int((now - second) * 1000):03d}",
            "level": "INFO",
            "name": self._logger.name,
            "message": "request",
            **fields,
        }
        if request_id is not None:
            line["request_id"] = request_id
        return json.dumps(line) + "\n"


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
_TEXT_DATEFMT = "%Y-%m-%d %H:%M:%S"
access_log = AccessLog()


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
    access_log.bind(handler, text=log_format == "text")
