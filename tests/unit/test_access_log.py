"""The access line AccessLog writes directly is the line the stdlib path (LogRecord, RequestIdFilter, JsonFormatter
or TextFormatter) writes for the same request: same keys, same order, same values; and it keeps the level rule."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from authsvc.logs import access_log, configure_logging, request_id_var
from authsvc.web.app import create_app

NOW = 1_764_640_000.123456  # a fixed time.time() for both paths: the stamp is part of the line

FIELDS: list[dict[str, Any]] = [
    {"method": "GET", "path": "/users/protected", "status": 200, "duration_ms": 1.23, "ip": "127.0.0.1"},
    {"method": "POST", "path": '/a b"é=\t', "status": 401, "duration_ms": 0.0, "ip": None},
    {"method": "GET", "path": "", "status": 404, "duration_ms": 12345.67, "ip": "2001:db8::1"},
    {"method": "GET", "path": "/\x1b]0;title\x07\x7f\x9b\u202e\U000e0001", "status": 404, "duration_ms": 1, "ip": None},
]


class Stream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stream]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = Stream()
    monkeypatch.setattr(time, "time", lambda: NOW)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        access_log.bind(None)


def configure(level: str, log_format: str, stream: Stream) -> None:
    """configure_logging, its handler then pointed at stream (pytest swaps sys.stderr between a test's phases)."""
    configure_logging(level, log_format)
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    handler.setStream(stream)


def stdlib_line(stream: Stream, fields: dict[str, Any]) -> str:
    start = len(stream.getvalue())
    logging.getLogger("authsvc.access").info("request", extra=fields)
    return stream.getvalue()[start:]


def direct_line(stream: Stream, fields: dict[str, Any]) -> str:
    start = len(stream.getvalue())
    access_log.request(**fields)
    return stream.getvalue()[start:]


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


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_app_writes_the_line_only_with_server_access_log(
    stderr: Stream, make_container: Any, aiohttp_client: Any, enabled: bool
) -> None:
    client = await aiohttp_client(create_app(make_container(server={"access_log": enabled})))
    configure("INFO", "json", stderr)
    response = await client.get("/users/protected?token=s3cret", headers={"X-Request-Id": "req-1"})
    lines = [json.loads(line) for line in stderr.getvalue().splitlines() if '"authsvc.access"' in line]
    if not enabled:
        assert lines == []
        return
    [line] = lines
    keys = ["asctime", "level", "name", "message", "method", "path", "status", "duration_ms", "ip", "request_id"]
    assert list(line) == keys
    assert (line["path"], line["status"], line["request_id"]) == ("/users/protected", response.status, "req-1")
    assert "s3cret" not in stderr.getvalue()  # never the query string
