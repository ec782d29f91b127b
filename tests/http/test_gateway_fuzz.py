"""Generated request heads, each sent to the main port (aiohttp, with its fast path) and to server.gateway_port (the
listener below aiohttp): the two answers are the same bytes, the Date header and a request id the server made up
aside. The app runs with access rules, trusted proxies and a live session, so the heads reach every branch: the
forwarded-header rules, bypass, deny, step-up, the portal redirect, 404 and 405."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.web import serving
from authsvc.web.app import create_app
from authsvc.web.container import create_container
from authsvc.web.gateway_listener import path_of
from tests.conftest import make_settings
from tests.driver import PASSWORD
from tests.helpers import cookie_value, free_port

RULES = {
    "default_policy": "one_factor",
    "networks": [],
    "rules": [
        {"domain": "public.test", "policy": "bypass"},
        {"domain": "admin.test", "subject": "group:admins", "policy": "two_factor"},
        {"domain": "admin.test", "policy": "deny"},
        {"domain": "*.test", "resources": ["^/forbidden"], "policy": "deny"},
    ],
}


class Servers:
    """The app on its main port and its gateway port, served from a loop in a thread of its own."""

    def __init__(self) -> None:
        self.main_port, self.gateway_port = free_port(), free_port()
        server = {"trusted_proxies": ["127.0.0.1/32"], "gateway_port": self.gateway_port}
        server["public_url"] = "https://auth.test"
        self.container = create_container(make_settings(server=server, access_control=RULES))
        self.loop = uvloop.new_event_loop()  # as serve runs it
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-servers", daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self) -> None:
        runner = serving.AppRunner(create_app(self.container), access_log=None, handle_signals=False)
        await runner.setup()
        self._stop = asyncio.Event()
        try:
            await serving.web.TCPSite(runner, "127.0.0.1", self.main_port).start()
            self._started.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def start(self) -> Servers:
        self._thread.start()
        assert self._started.wait(30)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def login(self) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.main_port, timeout=30)
        try:
            body = json.dumps({"username": "alice", "password": PASSWORD})
            for path in ("/users/signup", "/users/login"):
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            return f"sid={cookie_value(response.headers['Set-Cookie'])}"
        finally:
            connection.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Servers, str]]:
    running = Servers().start()
    try:
        yield running, running.login()
    finally:
        running.stop()


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


def comparable(answer: bytes, made_up_id: bool) -> bytes:
    answer = re.sub(rb"\r\nDate: [^\r]*", b"", answer)
    if made_up_id:
        answer = re.sub(rb"\r\nX-Request-Id: [0-9a-f]{16}\r\n", b"\r\nX-Request-Id: <made>\r\n", answer)
    return re.sub(rb"(\r\nSet-Cookie: [^=]+=)[^;]*", rb"\1<value>", answer)


SEGMENT = st.sampled_from(["x", "a.b", "%2F", "%41", "%7e", "..", ".", "", "%20", "auth", "verify", "%ZZ", "~"])
PATHS = st.one_of(
    st.sampled_from(["/auth/verify", "/auth/forward-auth", "/healthz", "/auth/verify/", "/auth/verifyx", "/metrics"]),
    st.builds(
        lambda base, segments, query: base + "/".join(segments) + query,
        st.sampled_from(["/auth/verify/", "/auth/forward-auth/", "/", "/auth/", "/healthz/"]),
        st.lists(SEGMENT, max_size=3),
        st.sampled_from(["", "?", "?a=1", "?rd=%2Fx&b", "#frag"]),
    ),
)
HEADERS: dict[str, st.SearchStrategy[str]] = {
    "Cookie": st.sampled_from(["<live>", "sid=not-a-token", "<live>; sid=other", "other=1", "sid="]),
    "X-Forwarded-For": st.sampled_from(
        ["203.0.113.7", "203.0.113.7, 127.0.0.1", "127.0.0.1", "not-an-ip", "", "::1", "10.0.0.1,  198.51.100.2"]
    ),
    "X-Forwarded-Proto": st.sampled_from(["https", "http", "HTTPS", "gopher", "https, http", ""]),
    "X-Forwarded-Host": st.sampled_from(["app.test", "public.test", "admin.test:8443", "", "a.test, b.test"]),
    "X-Forwarded-Uri": st.sampled_from(["/", "/forbidden/x", "no-slash", "/a?b=c", ""]),
    "X-Forwarded-Method": st.sampled_from(["GET", "POST", "delete"]),
    "X-Original-URL": st.sampled_from(
        ["https://app.test/x", "http://public.test/", "not a url", "https://admin.test/"]
    ),
    "X-Original-Method": st.sampled_from(["GET", "PUT"]),
    "Accept": st.sampled_from(["text/html", "application/json", "*/*", "text/html,application/xhtml+xml"]),
    "X-Request-Id": st.sampled_from(["fixed-1", "bad id", "a" * 129]),
}
HEAD = st.tuples(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    PATHS,
    st.sampled_from(["1.1", "1.0"]),
    st.lists(st.sampled_from(sorted(HEADERS)).flatmap(lambda n: st.tuples(st.just(n), HEADERS[n])), max_size=6),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(head=HEAD)
def test_both_ports_answer_generated_heads_alike(servers: tuple[Servers, str], head: Any) -> None:
    running, live = servers
    method, path, version, headers = head
    lines = [f"{method} {path} HTTP/{version}", "Host: auth.test", "Connection: close"]
    lines += [f"{name}: {value.replace('<live>', live)}" for name, value in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    given_id = next((value for name, value in headers if name == "X-Request-Id"), None)
    made_up = given_id is None or not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", given_id)
    main = comparable(exchange(running.main_port, data), made_up)
    gateway = comparable(exchange(running.gateway_port, data), made_up)
    routed = path_of(path.encode())
    if (
        routed == "/auth/verify"
        or routed.startswith("/auth/verify/")
        or (method in ("GET", "HEAD") and routed in ("/auth/forward-auth", "/healthz"))
    ):
        assert gateway == main
    else:  # not the gateway port's: the main port may serve it, the gateway port answers 404 or 405
        assert gateway.split(b" ", 2)[1] in (b"404", b"405")


@pytest.mark.parametrize("version", ["1.1", "1.0"])
@pytest.mark.parametrize("connection", ["keep-alive", None])
@pytest.mark.parametrize(("path", "extra"), [("/auth/verify", ""), ("/auth/forward-auth", "Accept: text/html\r\n")])
def test_both_ports_keep_alive_alike(
    servers: tuple[Servers, str], version: str, connection: str | None, path: str, extra: str
) -> None:
    """Two checks on one connection, the first as the generated heads never send it (Connection: close there): the
    Connection header each answer carries, and whether the first leaves the connection open, are the main port's."""
    running, live = servers
    kept = f"Connection: {connection}\r\n" if connection else ""
    first = f"GET {path} HTTP/{version}\r\nHost: auth.test\r\nCookie: {live}\r\n{extra}{kept}X-Request-Id: one\r\n\r\n"
    last = f"HEAD {path} HTTP/{version}\r\nHost: auth.test\r\nCookie: {live}\r\nConnection: close\r\n\r\n"
    keeps = connection == "keep-alive" or version == "1.1"  # else the first answer closes: nothing follows it
    data = (first + last if keeps else first).encode()
    main = comparable(exchange(running.main_port, data), made_up_id=True)
    assert main.startswith(f"HTTP/{version} 200 OK\r\n".encode())
    assert comparable(exchange(running.gateway_port, data), made_up_id=True) == main
