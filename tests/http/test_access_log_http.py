"""The app writes the access line (tests/unit/test_access_log.py pins the line itself) only with server.access_log,
and never the query string."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authsvc.web.app import create_app
from tests.helpers import Stream, configure


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
