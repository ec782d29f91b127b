"""The gateway path for real: Debian's nginx runs the shipped deploy/nginx/authsvc.conf in front of the real
`authsvc serve` process and a tiny app, and every request of the test goes through nginx's port only."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.driver import PASSWORD
from tests.gateway import EchoUpstream, NginxProcess, find_nginx, second_loopback_address
from tests.helpers import FAST_CONFIG, AuthsvcProcess

pytestmark = pytest.mark.e2e

COOKIE_NAME = "__Host-sid"
NGINX_MISSING = "nginx is not installed (/usr/sbin/nginx); `make system-packages` installs it"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """One fresh connection per request to nginx, from a chosen loopback source address; cookies by hand."""

    port: int
    source: str

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: object | None = None
    ) -> Reply:
        headers = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(self.source, 0))
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()


@dataclass
class Gateway:
    nginx: NginxProcess
    authsvc: AuthsvcProcess
    upstream: EchoUpstream
    client: Client

    @property
    def origin(self) -> str:
        """The Origin a browser sends from a page served through the gateway."""
        return f"http://127.0.0.1:{self.nginx.port}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    binary = find_nginx()
    if binary is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{NGINX_MISSING}; CI must run this test")
        pytest.skip(NGINX_MISSING)
    # The production cookie (Secure, __Host- prefix) and nginx as the trusted proxy.
    config = {
        **FAST_CONFIG,
        "server": {**FAST_CONFIG["server"], "trusted_proxies": ["127.0.0.1/32"]},
        "session": {"secure": True, "host_prefix": True},
    }
    upstream = EchoUpstream().start()
    authsvc = AuthsvcProcess(Path(tmp_path_factory.mktemp("authsvc")), config)
    nginx: NginxProcess | None = None
    try:
        authsvc.start()
        nginx = NginxProcess(binary, Path(tmp_path_factory.mktemp("nginx")), authsvc.port, upstream.port).start()
        yield Gateway(nginx, authsvc, upstream, Client(nginx.port, second_loopback_address()))
    finally:
        if nginx is not None:
            nginx.stop()
        authsvc.stop()
        upstream.stop()


def session_cookie(reply: Reply) -> str:
    """The Cookie header a browser sends back (over https; here by hand): the value exactly as Set-Cookie wrote it."""
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(reply.headers["Set-Cookie"])
    morsel = cookie[COOKIE_NAME]
    assert morsel["secure"] and morsel["httponly"] and morsel["path"] == "/"
    return f"{COOKIE_NAME}={morsel.coded_value}"


def test_session_gates_the_app_and_logout_closes_it(gateway: Gateway) -> None:
    client, upstream = gateway.client, gateway.upstream
    name = f"gw{secrets.token_hex(4)}"
    browser = {"Origin": gateway.origin}

    # No session: nginx answers 401 itself and the app never sees the request, whatever identity it claims.
    refused = client.request("GET", "/app/report", {"X-Auth-User-Id": "0" * 24, "X-Auth-User-Name": "admin"})
    assert refused.status == 401
    assert upstream.requests == 0

    # Signup and login through nginx, as a browser on the gateway's origin: Host reaches authsvc with its port, so
    # the CSRF origin check accepts them. The client's forged X-Forwarded-For is replaced by nginx.
    signup = client.request("POST", "/users/signup", browser, {"username": name, "password": PASSWORD})
    assert signup.status == 201, signup.body
    user_id = signup.json()["userId"]
    spoofed = {**browser, "X-Forwarded-For": "203.0.113.7"}
    login = client.request("POST", "/users/login", spoofed, {"username": name, "password": PASSWORD})
    assert login.status == 200, login.body
    cookie = session_cookie(login)

    # With the cookie the request reaches the app, carrying authsvc's answer in place of the client's forgeries.
    forged = {"Cookie": cookie, "X-Auth-User-Id": "0" * 24, "X-Auth-User-Name": "admin", "X-Auth-User-Groups": "admins"}
    allowed = client.request("GET", "/app/report?page=2", forged)
    assert allowed.status == 200, allowed.body
    assert allowed.json() == {
        "path": "/app/report?page=2",
        "userIds": [user_id],
        "userNames": [name],
        "userGroups": [],  # none: nginx drops the empty header, and the client's forgery with it
        "host": "127.0.0.1",
        "forwardedFor": client.source,
    }
    assert upstream.requests == 1

    # authsvc's own routes through nginx: whoami, and the session list, whose address is the client's as nginx
    # forwarded it (X-Forwarded-For from the trusted proxy), neither the forged one nor, when the client could
    # use 127.0.0.2, the proxy's 127.0.0.1.
    whoami = client.request("GET", "/auth/session", {"Cookie": cookie})
    assert whoami.status == 200
    assert whoami.json()["user"] == {"userId": user_id, "userName": name, "groups": []}
    sessions = client.request("GET", "/users/me/sessions", {"Cookie": cookie})
    assert sessions.status == 200
    [session] = sessions.json()["sessions"]
    assert session["ip"] == client.source
    assert re.fullmatch(r"[0-9a-f]{32}", sessions.headers["X-Request-Id"])  # nginx's $request_id, echoed

    # Logout through nginx ends the session: the same cookie is refused again and the app is not reached.
    logout = client.request("POST", "/users/logout", {**browser, "Cookie": cookie})
    assert logout.status == 200, logout.body
    assert client.request("GET", "/app/report", {"Cookie": cookie}).status == 401
    assert client.request("GET", "/auth/session", {"Cookie": cookie}).status == 401
    assert upstream.requests == 1


def test_cross_site_login_is_still_refused_behind_nginx(gateway: Gateway) -> None:
    name = f"gw{secrets.token_hex(4)}"
    credentials = {"username": name, "password": PASSWORD}
    assert gateway.client.request("POST", "/users/signup", {"Origin": gateway.origin}, credentials).status == 201
    evil = {"Origin": "http://evil.example"}
    assert gateway.client.request("POST", "/users/login", evil, credentials).status == 403
    # A client-sent X-Forwarded-Host must not make the evil origin look like the request's own.
    evil_host = {**evil, "X-Forwarded-Host": "evil.example"}
    assert gateway.client.request("POST", "/users/login", evil_host, credentials).status == 403


def test_forged_forwarded_for_is_replaced_even_from_a_trusted_network(gateway: Gateway) -> None:
    # In docker-compose the host's clients reach nginx from the bridge gateway, which lies inside the network that
    # authsvc trusts; here 127.0.0.1 plays that part. Were the client's X-Forwarded-For passed on, authsvc would
    # take the forged address for the client's and throttle or record it.
    client = Client(gateway.nginx.port, "127.0.0.1")
    name = f"gw{secrets.token_hex(4)}"
    credentials = {"username": name, "password": PASSWORD}
    assert client.request("POST", "/users/signup", {}, credentials).status == 201
    login = client.request("POST", "/users/login", {"X-Forwarded-For": "203.0.113.7"}, credentials)
    assert login.status == 200
    sessions = client.request("GET", "/users/me/sessions", {"Cookie": session_cookie(login)})
    assert [session["ip"] for session in sessions.json()["sessions"]] == ["127.0.0.1"]


def test_verify_location_is_internal(gateway: Gateway) -> None:
    assert gateway.client.request("GET", "/_authsvc_verify").status == 404


def test_browser_without_session_is_sent_to_the_portal_with_the_url_encoded(gateway: Gateway) -> None:
    page = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    reached = gateway.upstream.requests
    sent = gateway.client.request("GET", "/app/report?page=2&sort=name", page)
    assert sent.status == 302
    original = f"{gateway.origin}/app/report?page=2&sort=name"
    assert sent.headers["Location"] == f"{gateway.origin}/login?rd={quote(original, safe='')}"
    # The portal is served through nginx on the gateway's origin; the app never saw the request.
    login = gateway.client.request("GET", "/login?rd=" + quote(original, safe=""), page)
    assert login.status == 200 and login.headers["Content-Type"].startswith("text/html")
    assert f'name="rd" value="{original.replace("&", "&amp;")}"' in login.body.decode()
    assert gateway.client.request("GET", "/portal/style.css").status == 200
    assert gateway.upstream.requests == reached
