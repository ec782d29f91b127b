"""The access line AccessLog writes directly is the line the stdlib path (LogRecord, RequestIdFilter, JsonFormatter
or TextFormatter) writes for the same request: same keys, same order, same values; and it keeps the level rule.
The app writing it: tests/http/test_access_log_http.py."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from authsvc.logs import access_log, request_id_var
from tests.helpers import LOG_NOW, Stream, configure, direct_line, stdlib_line

NOW = LOG_NOW  # the `stderr` fixture's time.time(): the stamp is part of the line

FIELDS: list[dict[str, Any]] = [
    {"method": "GET", "path": "/users/protected", "status": 200, "duration_ms": 1.23, "ip": "127.0.0.1"},
    {"method": "POST", "path": '/a b"é=\t', "status": 401, "duration_ms": 0.0, "ip": None},
    {"method": "GET", "path": "", "status": 404, "duration_ms": 12345.67, "ip": "2001:db8::1"},
    {"method": "GET", "path": "/\x1b]0;title\x07\x7f\x9b\u202e\U000e0001", "status": 404, "duration_ms": 1, "ip": None},
]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("request_id", ["0123456789abcdef", None])
@pytest.mark.parametrize("fields", FIELDS)
def test_json_line_is_the_json_formatters_line(stderr: Stream, fields: dict[str, Any], request_id: str | None) -> None:
    configure("INFO", "json", stderr)
    token = request_id_var.set(request_id)
    try:
        expected, got = stdlib_line(stderr, fields), direct_line(stderr, fields)
    finally:
        request_id_var.reset(token)
    assert got == expected and got.endswith("}\n") and got.count("\n") == 1
    assert list(json.loads(got).items()) == list(json.loads(expected).items())  # key order included
    assert list(json.loads(got))[:4] == ["asctime", "level", "name", "message"]
    assert list(json.loads(got))[-1] == ("request_id" if request_id else "ip")


@pytest.mark.parametrize("request_id", ["req-text-1", None])
@pytest.mark.parametrize("fields", FIELDS)
def test_text_line_is_the_text_formatters_line(stderr: Stream, fields: dict[str, Any], request_id: str | None) -> None:
    configure("INFO", "text", stderr)
    token = request_id_var.set(request_id)
    try:
        expected, got = stdlib_line(stderr, fields), direct_line(stderr, fields)
    finally:
        request_id_var.reset(token)
    assert got == expected and " INFO    authsvc.access request method=" in got


def test_the_stamp_follows_the_clock(stderr: Stream, monkeypatch: pytest.MonkeyPatch) -> None:
    configure("INFO", "json", stderr)
    for now in (NOW, NOW + 0.5, NOW + 1.2, NOW + 3600.999):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        assert direct_line(stderr, FIELDS[0]) == stdlib_line(stderr, FIELDS[0])


@pytest.mark.parametrize("level", ["WARNING", "ERROR"])
def test_nothing_is_written_above_info(stderr: Stream, level: str) -> None:
    configure(level, "json", stderr)
    access_log.request(**FIELDS[0])
    assert stderr.getvalue() == ""


def test_each_line_is_flushed_when_written(stderr: Stream) -> None:
    configure("INFO", "json", stderr)
    access_log.request(**FIELDS[0])
    access_log.request(**FIELDS[1])
    lines = stderr.getvalue().splitlines(keepends=True)
    assert stderr.flushed == [lines[0], lines[0] + lines[1]]  # nothing waits in a buffer, at shutdown or ever


def test_another_handler_gets_the_stdlib_record(stderr: Stream) -> None:
    configure("INFO", "json", stderr)
    other = Records()
    logging.getLogger().addHandler(other)  # a second handler (caplog's, say) gets the record as before
    access_log.request(**FIELDS[0])
    [record] = other.records
    assert (record.name, record.getMessage()) == ("authsvc.access", "request")
    assert {k: record.__dict__[k] for k in FIELDS[0]} == FIELDS[0]
    assert json.loads(stderr.getvalue())["path"] == "/users/protected"  # the configured handler wrote it too
