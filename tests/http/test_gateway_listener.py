"""server.gateway_port's own HTTP/1.1 (authsvc/web/gateway_listener.py), through real sockets on 127.0.0.1: keep-alive,
pipelining, the limits and the heads it refuses, its timeouts, back-pressure and shutdown. That its answers are the
main port's is test_gateway_fast_path.py's (the cases) and test_gateway_fuzz.py's (generated heads)."""

from __future__ import annotations

import asyncio
import contextvars
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httptools
import pytest
import uvloop
from aiohttp import web

from authsvc.containers import Container
from authsvc.web.app import create_app
from authsvc.web.edge.middlewares import DRAIN, Edge, ForwardedRules
from authsvc.web.gateway_listener import (
    MAX_HEADERS,
    MAX_TARGET_BYTES,
    GatewayAnswers,
    GatewayListener,
    GatewayRequest,
    path_of,
)
from tests.driver import PASSWORD
from tests.helpers import exchange, free_port


class Answer:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


class Answers:
    """The answers in a byte stream, read with llhttp's response parser."""

    def __init__(self, data: bytes) -> None:
        self.all: list[Answer] = []
        self._parser = httptools.HttpResponseParser(self)
        self._parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.all.append(Answer())

    def on_status(self, status: bytes) -> None:
        self.all[-1].status = self._parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.all[-1].headers.append((name.decode(), value.decode()))

    def on_body(self, body: bytes) -> None:
        self.all[-1].body += body


def head(path: str, *lines: str, method: str = "GET", version: str = "1.1") -> bytes:
    return (
        f"{method} {path} HTTP/{version}\r\nHost: gate\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n"
    ).encode()


@pytest.fixture
async def port(make_container: Callable[..., Container], aiohttp_client: Any) -> int:
    """The app's gateway listener, as serve starts it; a user alice exists."""
    gateway_port = free_port()
    server = {"trusted_proxies": ["127.0.0.1/32"], "gateway_port": gateway_port, "public_url": "https://auth.test"}
    container = make_container(server=server)
    client = await aiohttp_client(create_app(container))
    assert (await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    return gateway_port


def _answers(container: Container) -> GatewayAnswers:
    edge = Edge(container.metrics(), access_log=True, access_log_verify=False)
    forwarded = ForwardedRules(["127.0.0.1/32"], container.metrics())
    return GatewayAnswers(edge, container.gateway_check(), container.session_cookies(), forwarded)


@pytest.fixture
async def quick(container: Container) -> AsyncIterator[GatewayListener]:
    """A listener of its own with short timers (the behaviour, not the speed, is under test)."""
    listener = GatewayListener(_answers(container), idle_timeout=0.2, header_timeout=0.2, shutdown_timeout=5)
    await listener.start("127.0.0.1", 0)
    yield listener
    await listener.stop()


def bound_port(listener: GatewayListener) -> int:
    return int(next(iter(listener.sockets)).getsockname()[1])


async def test_keep_alive_answers_each_request_on_one_connection(port: int) -> None:
    data = await exchange(port, head("/healthz") + head("/auth/verify") + head("/nope", "Connection: close"))
    answers = Answers(data).all
    assert [answer.status for answer in answers] == [200, 401, 404]
    assert json.loads(answers[0].body) == {"status": "ok"}
    assert answers[2].header("Connection") == "close"


async def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    requests = b"".join(head("/healthz", f"X-Request-Id: r{n}") for n in range(50))
    data = await exchange(port, requests + head("/healthz", "X-Request-Id: last", "Connection: close"))
    ids = [answer.header("X-Request-Id") for answer in Answers(data).all]
    assert ids == [f"r{n}" for n in range(50)] + ["last"]


async def test_http_1_0_closes_unless_asked_to_keep_alive(port: int) -> None:
    closed = Answers(await exchange(port, head("/healthz", version="1.0"))).all
    assert len(closed) == 1 and closed[0].header("Connection") is None
    kept = await exchange(
        port, head("/healthz", "Connection: keep-alive", version="1.0") + head("/healthz", version="1.0")
    )
    answers = Answers(kept).all
    assert [answer.header("Connection") for answer in answers] == ["keep-alive", None]


async def test_while_draining_every_answer_closes_its_connection(
    make_container: Callable[..., Container], aiohttp_client: Any
) -> None:
    """A signed-in check (the answer written from header lines) and a refused one alike: Connection: close, and
    what the client pipelined after it is not answered."""
    gateway_port = free_port()
    container = make_container(server={"gateway_port": gateway_port, "public_url": "https://auth.test"})
    app = create_app(container)
    client = await aiohttp_client(app)
    body = {"username": "alice", "password": PASSWORD}
    assert (await client.post("/users/signup", json=body)).status == 201
    login = await client.post("/users/login", json=body)
    live = f"Cookie: sid={login.cookies['sid'].value}"
    app[DRAIN].draining = True
    for first, status in ((head("/auth/verify", live), 200), (head("/auth/verify"), 401)):
        answers = Answers(await exchange(gateway_port, first + head("/healthz"))).all
        assert [(answer.status, answer.header("Connection")) for answer in answers] == [(status, "close")]


async def test_head_answers_without_a_body(port: int) -> None:
    data = await exchange(port, head("/healthz", "Connection: close", method="HEAD"))
    assert data.endswith(b"\r\n\r\n") and b"Content-Length: 16\r\n" in data


@pytest.mark.parametrize(
    "request_bytes",
    [
        head("/" + "a" * MAX_TARGET_BYTES),  # the request target
        head("/healthz", "X-Big: " + "b" * 9000),  # one header line
        head("/healthz", *(f"X-H{n}: v" for n in range(MAX_HEADERS + 1))),  # the header count
        head("/healthz", *(f"X-H{n}: {'c' * 4000}" for n in range(10))),  # the whole head
        head("/auth/verify", "Content-Length: 3") + b"abc",  # a body
        head("/auth/verify", "Transfer-Encoding: chunked") + b"3\r\nabc\r\n0\r\n\r\n",
        head("/auth/verify", "Content-Length: 3", "Transfer-Encoding: chunked") + b"3\r\nabc\r\n0\r\n\r\n",
        head("/auth/verify", "Content-Length: 0", "Content-Length: 0"),
        b"GET /auth/verify HTTP/1.1\r\nHost: gate\r\nX-Folded: a\r\n b\r\n\r\n",  # obsolete line folding
        b"GET /auth/verify HTTP/1.1\r\nHost : gate\r\n\r\n",
        b"GET /auth/verify HTTP/2.0\r\nHost: gate\r\n\r\n",
        b"CONNECT gate:443 HTTP/1.1\r\nHost: gate\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS spoken to a plain-HTTP port
    ],
)
async def test_refused_heads_get_400_problem_json_and_the_connection_closes(port: int, request_bytes: bytes) -> None:
    data = await exchange(port, head("/healthz") + request_bytes + head("/healthz"))
    answers = Answers(data).all  # the server closed after the 400: the request behind it is not answered
    assert [answer.status for answer in answers] == [200, 400]
    refused = answers[1]
    assert refused.header("Content-Type") == "application/problem+json; charset=utf-8"
    assert refused.header("Connection") == "close" and refused.header("X-Content-Type-Options") == "nosniff"
    assert json.loads(refused.body)["detail"] == "The request could not be read."


async def test_an_idle_connection_is_closed(quick: GatewayListener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bound_port(quick))
    try:
        assert await asyncio.wait_for(reader.read(), 30) == b""  # the server closed it: no request came
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_head_that_never_ends_is_closed(quick: GatewayListener) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bound_port(quick))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gate\r\n")  # and nothing more
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 30) == b""
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_reader_that_does_not_read_gets_every_answer_in_the_end(quick: GatewayListener) -> None:
    """Thousands of pipelined requests against a small receive buffer: the listener stops reading while its
    transport's buffer is full (pause_writing) and goes on when the client reads."""
    count = 3000
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", bound_port(quick)))
        requests = b"".join(head("/healthz", f"X-Request-Id: n{n}") for n in range(count))
        await loop.sock_sendall(sock, requests + head("/healthz", "X-Request-Id: end", "Connection: close"))
        received = bytearray()
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 65536), 30):
            received += chunk
    ids = [answer.header("X-Request-Id") for answer in Answers(bytes(received)).all]
    assert ids == [f"n{n}" for n in range(count)] + ["end"]


class _Held:
    """Answers that wait until released: a request in flight at shutdown."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def answer(self, request: GatewayRequest) -> web.StreamResponse:
        self.arrived.set()
        await self.release.wait()
        return web.json_response({"path": request.path})


async def test_shutdown_finishes_the_request_in_flight_and_closes_idle_connections() -> None:
    held = _Held()
    listener = GatewayListener(held, shutdown_timeout=30)  # type: ignore[arg-type]
    await listener.start("127.0.0.1", 0)
    port = bound_port(listener)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        busy_writer.write(head("/in-flight"))
        await busy_writer.drain()
        await asyncio.wait_for(held.arrived.wait(), 30)
        stopping = asyncio.ensure_future(listener.stop())
        assert await asyncio.wait_for(idle_reader.read(), 30) == b""  # the idle one is closed at once
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)  # no longer accepting
        assert not stopping.done()
        held.release.set()
        answer = Answers(await asyncio.wait_for(busy_reader.read(), 30)).all
        assert [(a.status, json.loads(a.body)) for a in answer] == [(200, {"path": "/in-flight"})]
        await asyncio.wait_for(stopping, 30)
    finally:
        for writer in (busy_writer, idle_writer):
            writer.close()
            await writer.wait_closed()


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/auth/verify?x=1", "/auth/verify"),
        (b"/auth/%76erify", "/auth/verify"),
        (b"/auth/verify/a%2Fb#frag", "/auth/verify/a/b"),
        (b"http://gate/auth/verify?q", "/auth/verify"),
    ],
)
def test_path_is_read_as_aiohttp_reads_it(target: bytes, path: str) -> None:
    assert path_of(target) == path


class _Waiting:
    """Answers that wait (on a bare yield, then on a future) between setting a context variable and resetting it,
    as the Edge does around a storage read; a path /fail raises after waiting."""

    def __init__(self) -> None:
        self.variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")

    async def answer(self, request: GatewayRequest) -> web.StreamResponse:
        token = self.variable.set(request.path)
        try:
            await asyncio.sleep(0)
            await asyncio.get_running_loop().run_in_executor(None, lambda: None)
            if request.path == "/fail":
                raise RuntimeError("the storage broke")
            return web.json_response({"path": self.variable.get()})
        finally:
            self.variable.reset(token)  # a ValueError if the answer went on in another context


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_answers_that_wait_keep_their_context_and_their_order(loop_factory: Callable[[], Any]) -> None:
    async def scenario() -> list[tuple[int, Any]]:
        listener = GatewayListener(_Waiting())  # type: ignore[arg-type]
        await listener.start("127.0.0.1", 0)
        try:
            requests = head("/a") + head("/b") + head("/fail") + head("/c")
            data = await exchange(bound_port(listener), requests)
        finally:
            await listener.stop()
        return [(a.status, json.loads(a.body)) for a in Answers(data).all]

    loop = loop_factory()
    try:
        answered = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert answered[:2] == [(200, {"path": "/a"}), (200, {"path": "/b"})]
    assert answered[2][0] == 500 and len(answered) == 3  # the error closes the connection: /c is not answered
