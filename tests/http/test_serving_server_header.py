"""No answer names the server software (serving.py): routed answers lose aiohttp's Server header in the app's
on_response_prepare hook, on the main port and the metrics port; a request aiohttp cannot parse, which fires no hook,
gets a problem+json answer that drops it too. Each through serving.AppRunner on a real socket, as serve runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from authsvc.containers import Container
from authsvc.web import serving
from authsvc.web.app import create_app
from tests.helpers import exchange, free_port


def header_names(answer: bytes) -> list[str]:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    return [line.partition(":")[0].lower() for line in head[1:]]


@pytest.fixture
async def ports(make_container: Callable[..., Container]) -> AsyncIterator[tuple[int, int]]:
    main, metrics = free_port(), free_port()
    runner = serving.AppRunner(create_app(make_container(server={"metrics_port": metrics})), access_log=None)
    await runner.setup()
    try:
        await serving.web.TCPSite(runner, "127.0.0.1", main).start()
        yield main, metrics
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /auth/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: sid=" + b"A" * 9000 + b"\r\n\r\n",  # refused before routing
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # not HTTP: refused before routing
    ],
    ids=["routed", "not-found", "fast-path", "long-header", "not-http"],
)
async def test_main_port_answers_without_a_server_header(ports: tuple[int, int], request_bytes: bytes) -> None:
    answer = await exchange(ports[0], request_bytes)
    assert answer.startswith(b"HTTP/1.")
    assert "date" in header_names(answer) and "server" not in header_names(answer)


async def test_metrics_port_answers_without_a_server_header(ports: tuple[int, int]) -> None:
    answer = await exchange(ports[1], b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert "server" not in header_names(answer)
