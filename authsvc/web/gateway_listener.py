"""server.gateway_port: an asyncio.Protocol over httptools (llhttp), below aiohttp.

It answers GET|HEAD /auth/verify (any method, and any path below it: Envoy forwards the original ones),
/auth/forward-auth and /healthz with the same parts the main port's fast path uses (the X-Forwarded-* rules, the Edge,
the gateway's check, the session cookie facade), so each answer is the main port's, byte for byte (Date aside); any
other request gets the same 404 or 405 problem+json. What aiohttp's server did around them, it does itself:

- HTTP/1.1 keep-alive and pipelining (answers in request order, at most PIPELINE_DEPTH waiting before it stops
  reading), HTTP/1.0 with or without keep-alive;
- limits: the request target, each header line, the header count and the whole head; a request with a body (a
  non-zero Content-Length, any Transfer-Encoding) or a head llhttp refuses (obsolete line folding, both
  Content-Length and Transfer-Encoding, a space before a colon) is answered 400 problem+json and the connection closed;
- timeouts: a connection with no request for idle_timeout, or a head not complete header_timeout after it began, is
  closed;
- back-pressure: while the transport's buffer is over its high-water mark it stops reading and answering;
- shutdown: it stops accepting, closes idle connections, lets every request in flight finish (its connection then
  closes), and after shutdown_timeout closes the rest.

aiohttp's web.Response is kept as the answer's value (the Edge, the check and the cookie facade build one);
render() writes it as aiohttp's StreamResponse.prepare() would, in one transport.write.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import logging
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any, cast

import httptools
from aiohttp import hdrs, web
from aiohttp.helpers import rfc822_formatted_time
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from authsvc.web.edge.cookies import SessionCookies
from authsvc.web.edge.gate import GatewayCheck
from authsvc.web.edge.middlewares import Edge, ForwardedRules, Headed
from authsvc.web.serving import protocol_error_response

log = logging.getLogger("authsvc")

VERIFY, VERIFY_ROUTE = "/auth/verify", "/auth/verify{tail}"  # the path, and the app's route for it and below it
FORWARD_AUTH, HEALTHZ = "/auth/forward-auth", "/healthz"
# aiohttp's own defaults for the request line and a header line, so both ports refuse the same heads.
MAX_TARGET_BYTES = 8190
MAX_FIELD_BYTES = 8190
MAX_HEADERS = 100
MAX_HEAD_BYTES = 32 * 1024
PIPELINE_DEPTH = 16
IDLE_TIMEOUT = 75.0  # aiohttp's keepalive_timeout, which the listener had before
HEADER_TIMEOUT = 10.0
HEALTHZ_BODY = {"status": "ok"}


class _Refused(Exception):
    """A limit was crossed inside a parser callback: the head is answered 400 and the connection closed."""


@functools.lru_cache(maxsize=4096)  # a gateway asks about the same few targets again and again
def path_of(target: bytes) -> str:
    """The decoded path of a request target, as aiohttp's request.path reads it."""
    text = target.decode("utf-8", "surrogateescape")
    if text.startswith("/"):
        path = text.partition("?")[0].partition("#")[0]
        return URL.build(path=path, encoded=True).path
    return URL(text, encoded=True).path


@functools.lru_cache(maxsize=1)
def _fqdn() -> str:
    return socket.getfqdn()


class GatewayRequest:
    """One request as the Edge and the gateway's check read it (middlewares.Asked), without aiohttp's machinery."""

    __slots__ = (
        "headers",
        "keep_alive",
        "method",
        "path",
        "remote",
        "renewed",
        "scheme",
        "secure",
        "transport",
        "version",
    )

    def __init__(
        self,
        method: str,
        path: str,
        headers: CIMultiDictProxy[str],
        version: str,
        keep_alive: bool,
        remote: str | None,
        transport: asyncio.Transport,
    ) -> None:
        self.method, self.path, self.headers = method, path, headers
        self.version, self.keep_alive = version, keep_alive
        self.remote, self.transport = remote, transport
        self.scheme, self.secure = "http", False
        self.renewed = False  # its answer carries a re-issued session cookie

    @property
    def host(self) -> str:
        host = self.headers.get(hdrs.HOST)
        return host if host is not None else _fqdn()  # as aiohttp's request.host


def render(
    response: web.Response, method: str, version: str, keep_alive: bool, cookies: bool = False
) -> tuple[bytes, bool]:
    """The bytes aiohttp's StreamResponse.prepare() and write_eof() send for response, and whether the connection
    stays open after it (Response._start, then StreamResponse._prepare_headers, in their order); cookies: whether
    response has any (its cookies property makes a SimpleCookie when it has none)."""
    headers = response.headers
    body = response.body
    assert body is None or isinstance(body, bytes | bytearray), "the gateway's answers carry bytes"
    status = response.status
    lines = [f"HTTP/{version} {status} {response.reason}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
    length = len(body) if body else 0
    if hdrs.CONTENT_LENGTH not in headers and (length or (status != 304 and method != hdrs.METH_HEAD)):
        lines.append(f"Content-Length: {length}\r\n")
    for cookie in response.cookies.values() if cookies else ():
        lines.append(f"Set-Cookie: {cookie.output(header='')[1:]}\r\n")
    empty = method == hdrs.METH_HEAD or status in (204, 304) or 100 <= status < 200
    if not empty and length and hdrs.CONTENT_TYPE not in headers:
        lines.append("Content-Type: application/octet-stream\r\n")
    if hdrs.DATE not in headers:
        lines.append(f"Date: {rfc822_formatted_time()}\r\n")
    if response.keep_alive is not None:
        keep_alive = response.keep_alive
    if hdrs.CONNECTION not in headers:
        if keep_alive and version == "1.0":
            lines.append("Connection: keep-alive\r\n")
        elif not keep_alive and version == "1.1":
            lines.append("Connection: close\r\n")
    lines.append("\r\n")
    head = "".join(lines).encode("utf-8")
    return (head + bytes(body) if body and not empty else head), keep_alive


STATUS_200 = {"1.1": b"HTTP/1.1 200 OK\r\n", "1.0": b"HTTP/1.0 200 OK\r\n"}


@functools.lru_cache(maxsize=2)  # aiohttp's Date text changes once a second
def _date_line(now: str) -> bytes:
    return f"Date: {now}\r\n".encode()


def render_headed(answer: Headed, method: str, version: str, keep_alive: bool) -> tuple[bytes, bool]:
    """render() of the web.Response whose lines answer holds: the same bytes, without building it."""
    if answer.close:
        keep_alive = False
    if keep_alive:
        connection = b"Connection: keep-alive\r\n\r\n" if version == "1.0" else b"\r\n"
    else:
        connection = b"Connection: close\r\n\r\n" if version == "1.1" else b"\r\n"
    length = b"" if method == hdrs.METH_HEAD else b"Content-Length: 0\r\n"
    date = _date_line(rfc822_formatted_time())
    return b"".join((STATUS_200[version], answer.lines, length, date, connection)), keep_alive


class GatewayAnswers:
    """What the listener answers, by path: the main port's fast path, for the listener's own requests."""

    def __init__(self, edge: Edge, check: GatewayCheck, cookies: SessionCookies, forwarded: ForwardedRules) -> None:
        self._edge, self._check, self._cookies, self._forwarded = edge, check, cookies, forwarded

    async def answer(self, request: GatewayRequest) -> web.StreamResponse | Headed:
        path, method = request.path, request.method
        if path == VERIFY or path.startswith("/auth/verify/"):
            handler, gateway_check, route = self._verify, True, VERIFY_ROUTE
        elif method in ("GET", "HEAD") and path == FORWARD_AUTH:
            handler, gateway_check, route = self._forward_auth, True, FORWARD_AUTH
        elif method in ("GET", "HEAD") and path == HEALTHZ:
            handler, gateway_check, route = self._healthz, False, HEALTHZ
        else:  # a refusal skips the X-Forwarded-* rules, as the aiohttp listener this replaces did
            return await self._edge.serve(request, self._refuse, gateway_check=False, route="unmatched")
        headers = request.headers
        if hdrs.X_FORWARDED_FOR in headers or hdrs.X_FORWARDED_PROTO in headers:
            changed = self._forwarded.apply(request, request.remote)
            if isinstance(changed, web.Response):
                return changed
            if changed is not None:
                request.remote, request.scheme = changed
                request.secure = request.scheme == "https"
        return await self._edge.serve(request, handler, gateway_check=gateway_check, route=route)

    async def _verify(self, request: GatewayRequest) -> web.StreamResponse | Headed:
        response, renew = await self._check.answer_headed(request, browser=False)
        if renew is not None:
            assert isinstance(response, web.Response), "a re-issued cookie comes on a web.Response"
            self._cookies.renew_on(response, renew)
            request.renewed = True
        return response

    async def _forward_auth(self, request: GatewayRequest) -> web.StreamResponse | Headed:
        response, renew = await self._check.answer_headed(request, browser=self._check.browser(request))
        if renew is not None:
            assert isinstance(response, web.Response), "a re-issued cookie comes on a web.Response"
            self._cookies.renew_on(response, renew)
            request.renewed = True
        return response

    async def _healthz(self, request: GatewayRequest) -> web.StreamResponse:
        return web.json_response(HEALTHZ_BODY)

    async def _refuse(self, request: GatewayRequest) -> web.StreamResponse:
        if request.path in (VERIFY, FORWARD_AUTH, HEALTHZ):
            raise web.HTTPMethodNotAllowed(request.method, ("GET", "HEAD"))
        raise web.HTTPNotFound()


async def _resumed(coroutine: Coroutine[Any, None, None], waiting: Any) -> None:
    """Drive a coroutine whose first step already ran to its end, as a Task does: wait for what it yielded, then
    resume it (a Future's __await__ reads the result, or raises the exception, inside the coroutine itself)."""
    while True:
        try:
            if waiting is None:  # a bare yield: asyncio.sleep(0)
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False  # taken over, as Task.__step does with what a step yields
                await waiting
        except asyncio.CancelledError as cancelled:  # this Task's, or the future's: the coroutine sees it either way
            try:
                waiting = coroutine.throw(cancelled)
            except StopIteration:
                return
            continue
        except Exception:  # noqa: S110  # the coroutine reads it from the future when resumed
            pass
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return


class GatewayProtocol(asyncio.Protocol):
    """One connection: parse with llhttp, answer in order, keep the limits and the timers."""

    def __init__(self, listener: GatewayListener) -> None:
        self._listener = listener
        self._loop = listener.loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._remote: str | None = None
        self._queue: collections.deque[GatewayRequest | int] = collections.deque()
        self._serving = False  # answering what is queued: synchronously, or in self._task once it had to wait
        self._task: asyncio.Task[None] | None = None
        self.deadline: float | None = None  # when the listener's sweep closes it, unless a request comes or completes
        self._writable: asyncio.Future[None] | None = None
        self._reading = True
        self._closing = False  # no more requests are read: what is queued is answered, then the connection closes
        self._url = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._in_head = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's TCPTransport is one, but no subclass
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, list | tuple) else None
        self._listener.connections.add(self)
        self.deadline = self._loop.time() + self._listener.idle_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.forget(self)
        self.deadline = None
        self._queue.clear()
        self._closing = True
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, _Refused):
            self._refuse(400)
        except httptools.HttpParserUpgrade:
            self._refuse(400)  # no Upgrade and no CONNECT here

    def eof_received(self) -> bool | None:
        self._closing = True
        if not self._serving and self._transport is not None:
            self._transport.close()
        return True  # half-open: what is queued is still answered

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()
        self._pause_reading()

    def resume_writing(self) -> None:
        if self._writable is not None:
            if not self._writable.done():
                self._writable.set_result(None)
            self._writable = None
        self._resume_reading()

    # llhttp's callbacks

    def on_message_begin(self) -> None:
        self._url, self._fields, self._head_bytes, self._in_head = b"", [], 0, True
        self.deadline = self._loop.time() + self._listener.header_timeout

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if len(self._url) > MAX_TARGET_BYTES:
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self._head_bytes += size
        if size > MAX_FIELD_BYTES or len(self._fields) >= MAX_HEADERS or self._head_bytes > MAX_HEAD_BYTES:
            raise _Refused
        self._fields.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser, transport = self._parser, self._transport
        assert transport is not None
        version = parser.get_http_version()
        if version not in ("1.1", "1.0") or parser.should_upgrade():
            raise _Refused  # nor CONNECT, nor a protocol switch
        headers = CIMultiDictProxy(
            CIMultiDict(
                [(n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape")) for n, v in self._fields]
            )
        )
        if hdrs.TRANSFER_ENCODING in headers or headers.get(hdrs.CONTENT_LENGTH, "0") != "0":
            raise _Refused  # no body is read here: a gateway's check carries none
        try:
            path = path_of(self._url)
        except ValueError:
            raise _Refused from None
        method = parser.get_method().decode("ascii")
        keep_alive = parser.should_keep_alive()
        self._queue.append(GatewayRequest(method, path, headers, version, keep_alive, self._remote, transport))

    def on_message_complete(self) -> None:
        self.deadline = None
        if len(self._queue) >= PIPELINE_DEPTH:
            self._pause_reading()
        if not self._serving:
            self._start_serving()

    # Answering

    async def _serve(self) -> None:
        transport = self._transport
        assert transport is not None
        queue = self._queue
        try:
            while queue:
                request = queue.popleft()
                if isinstance(request, int):
                    data, keep_alive = render(protocol_error_response(request), "GET", "1.1", False)
                else:
                    method, version, keep_alive = request.method, request.version, request.keep_alive
                    try:
                        answered = await self._listener.answers.answer(request)
                    except (asyncio.CancelledError, KeyboardInterrupt):
                        raise
                    except Exception:
                        log.exception("unhandled error")
                        answered = protocol_error_response(500)
                    if isinstance(answered, Headed):
                        data, keep_alive = render_headed(answered, method, version, keep_alive)
                    else:
                        assert isinstance(answered, web.Response), "the gateway's answers are whole"
                        data, keep_alive = render(answered, method, version, keep_alive, request.renewed)
                if transport.is_closing():
                    return
                transport.write(data)
                if not keep_alive:
                    self._closing = True
                    queue.clear()
                    break
                if self._writable is not None:
                    await self._writable
                if len(queue) < PIPELINE_DEPTH // 2:
                    self._resume_reading()
        finally:
            self._serving, self._task = False, None
        if self._closing or self._listener.stopping:
            transport.close()
        elif not self._in_head:
            self.deadline = self._loop.time() + self._listener.idle_timeout

    def _start_serving(self) -> None:
        """Answer what is queued, synchronously as far as it goes: a cached session needs no wait, and a Task per
        request would cost more than the answer. What has to wait goes on in a Task, in the same context."""
        self._serving = True
        context = contextvars.copy_context()
        serving = self._serve()
        try:
            waiting = context.run(serving.send, None)
        except StopIteration:
            return
        self._task = self._loop.create_task(_resumed(serving, waiting), context=context)

    def _refuse(self, status: int) -> None:
        """Answer status after what is queued, then close; read nothing more."""
        log.warning(
            "request refused before routing", extra={"event": "http.protocol_error", "status": status, "error": None}
        )
        self._closing = True
        self._in_head = False
        self.deadline = None
        self._pause_reading()
        self._queue.append(status)
        if not self._serving:
            self._start_serving()

    # Timers and flow

    def timed_out(self) -> None:
        """Idle for too long, or a head too slow: close now if nothing is being answered, else after it."""
        self.deadline = None
        self.close_when_done()

    def _pause_reading(self) -> None:
        if self._reading and self._transport is not None and not self._transport.is_closing():
            self._reading = False
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if not self._reading and not self._closing and self._transport is not None:
            self._reading = True
            self._transport.resume_reading()

    # Shutdown

    def close_when_done(self) -> None:
        """Stop reading; close now when idle, else once what is queued is answered."""
        self._closing = True
        self._pause_reading()
        if not self._serving and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class GatewayListener:
    """The listening socket and its connections."""

    def __init__(
        self,
        answers: GatewayAnswers,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        shutdown_timeout: float = 60.0,
    ) -> None:
        self.answers = answers
        self.idle_timeout, self.header_timeout, self.shutdown_timeout = idle_timeout, header_timeout, shutdown_timeout
        self.connections: set[GatewayProtocol] = set()
        self.stopping = False
        self.loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._emptied = asyncio.Event()
        # One timer for every connection's deadline, rather than a timer armed and cancelled for each request.
        self._tick = min(1.0, idle_timeout / 4, header_timeout / 4)
        self._sweeping: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int, reuse_port: bool = False) -> None:
        self._server = await self.loop.create_server(
            lambda: GatewayProtocol(self), host, port, reuse_address=True, reuse_port=reuse_port or None
        )
        self._sweeping = self.loop.call_later(self._tick, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for connection in [c for c in self.connections if c.deadline is not None and c.deadline <= now]:
            connection.timed_out()
        self._sweeping = None if self.stopping else self.loop.call_later(self._tick, self._sweep)

    def forget(self, connection: GatewayProtocol) -> None:
        self.connections.discard(connection)
        if self.stopping and not self.connections:
            self._emptied.set()

    @property
    def sockets(self) -> Iterable[socket.socket]:
        return self._server.sockets if self._server is not None else ()

    async def stop(self) -> None:
        """Stop accepting; idle connections close now, busy ones after their answers, or after shutdown_timeout."""
        self.stopping = True
        if self._sweeping is not None:
            self._sweeping.cancel()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_when_done()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), self.shutdown_timeout)
        for connection in list(self.connections):
            connection.abort()
        if self.connections:  # an aborted transport reports its loss on the next turn of the loop
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), 1.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


def gateway_listener(
    answers: GatewayAnswers, host: str, port: int, *, reuse_port: bool, shutdown_timeout: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """server.gateway_port, for the app's cleanup_ctx: up with the app, down before its storage closes."""

    async def listen(app: web.Application) -> AsyncIterator[None]:
        listener = GatewayListener(answers, shutdown_timeout=shutdown_timeout)
        await listener.start(host, port, reuse_port)
        try:
            yield
        finally:
            await listener.stop()

    return listen
