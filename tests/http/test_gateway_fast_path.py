"""The gateway's fast path (authsvc/web/gateway.py) answers exactly as the generic middleware chain does.

Two apps over one storage and one clock: create_app(container) with the fast path, and create_app(other,
fast_path=False) whose storage is the first's. Each case arranges the same state for both (a session of its own for
each, so a renewal on one cannot hide the other's), sends the same request to both, and compares the status, the body
and every header in order (Date, the server's own port and a Set-Cookie's encrypted value aside; its attributes are
compared). The metrics and access-log lines both apps wrote are compared too; so are the main port and
server.gateway_port's listener (gateway_listener.py, below aiohttp).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers
from multidict import CIMultiDict

from authsvc.containers import Container
from authsvc.web.app import create_app
from tests.driver import PASSWORD, enrol
from tests.helpers import ManualClock, cookie_value, free_port

Client = TestClient[Any, Any]
Arrange = Callable[["Pair"], Awaitable[str | list[str] | None]]  # a list: one Cookie header line each


class Pair:
    """The fast app and the generic one, sharing storage and clock."""

    def __init__(self, fast: Client, generic: Client, clock: ManualClock) -> None:
        self.fast, self.generic, self.clock = fast, generic, clock

    async def login(self, name: str = "alice") -> str:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
            response = await bare.post(
                self.fast.make_url("/users/login"), json={"username": name, "password": PASSWORD}
            )
            assert response.status == 200
            return f"sid={cookie_value(response.headers['Set-Cookie'])}"


def comparable(response: aiohttp.ClientResponse) -> list[Any]:
    out: list[Any] = []
    for name, value in response.raw_headers:
        key = name.decode().lower()
        if key == "date":
            continue
        text = re.sub(r"127\.0\.0\.1:\d+", "<this server>", value.decode())  # two servers, two ports
        if key == "set-cookie":
            text = re.sub(r"^([^=]+)=[^;]*", r"\1=<value>", text)
            text = re.sub(r"expires=[^;]*", "expires=<date>", text, flags=re.IGNORECASE)
        out.append((key, text))
    return out


@pytest.fixture
async def pair(make_container: Callable[..., Container], aiohttp_client: Any, clock: ManualClock) -> Pair:
    sections = {"server": {"trusted_proxies": ["127.0.0.1/32"]}, "session": {"verify_renews": True}}
    fast_container = make_container(**sections)
    generic_container = make_container(**sections)
    generic_container.storage.override(providers.Object(fast_container.storage()))
    fast: Client = await aiohttp_client(create_app(fast_container))
    generic: Client = await aiohttp_client(create_app(generic_container, fast_path=False))
    assert (await fast.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    fast.session.cookie_jar.clear()
    return Pair(fast, generic, clock)


async def live(pair: Pair) -> str | None:
    return await pair.login()


async def missing(pair: Pair) -> str | None:
    return None


async def malformed(pair: Pair) -> str | None:
    return "sid=not-a-fernet-token!"


async def forged(pair: Pair) -> str | None:
    return "sid=gAAAAABnotreallyatokenbutbase64urlsafeAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="


async def duplicate(pair: Pair) -> str | None:
    first, second = await pair.login(), await pair.login()
    return f"{first}; {second}"


async def two_lines(pair: Pair) -> list[str]:
    return [await pair.login(), await pair.login()]  # Cookie: sid=A, then Cookie: sid=B: two cookies, neither counts


async def revoked(pair: Pair) -> str | None:
    cookie = await pair.login()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        assert (await bare.post(pair.fast.make_url("/users/logout"), headers={"Cookie": cookie})).status == 200
    return cookie


async def expired(pair: Pair) -> str | None:
    cookie = await pair.login()
    pair.clock.advance(1801)  # past config.yaml's idle_timeout
    return cookie


async def renewal_due(pair: Pair) -> str | None:
    cookie = await pair.login()
    pair.clock.advance(200)  # past renew_after (0.1) of the idle timeout: the cookie is re-issued
    return cookie


ARRANGEMENTS: dict[str, Arrange] = {
    "live": live,
    "missing": missing,
    "malformed": malformed,
    "forged": forged,
    "duplicate": duplicate,
    "two_lines": two_lines,
    "revoked": revoked,
    "expired": expired,
    "renewal_due": renewal_due,
}
REQUESTS = [
    ("GET", "/auth/verify"),
    ("HEAD", "/auth/verify"),
    ("POST", "/auth/verify"),  # Envoy forwards the original method
    ("GET", "/auth/verify/original/path?q=1"),
    ("GET", "/auth/verify/"),
    ("GET", "/auth/verify?next=%2Fadmin"),
    ("GET", "/auth/forward-auth"),
    ("HEAD", "/auth/forward-auth"),
    ("POST", "/auth/forward-auth"),  # the router's 405
    ("GET", "/auth/forward-auth/"),  # no such route: 404
    ("GET", "/users/protected"),
    ("HEAD", "/users/protected"),
    ("GET", "/users/protected?x=1"),
    ("DELETE", "/users/protected"),
    ("GET", "/users/protected/"),
]


async def assert_same(pair: Pair, arrange: Arrange, method: str, path: str, extra: dict[str, str]) -> int:
    cookies = [await arrange(pair), await arrange(pair)]  # one state for each app
    answers = []
    for client, cookie in zip((pair.fast, pair.generic), cookies, strict=True):
        headers = CIMultiDict({"X-Request-Id": "fixed-id", **extra})
        for line in [cookie] if isinstance(cookie, str) else cookie or []:
            headers.add("Cookie", line)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
            response = await bare.request(method, client.make_url(path), headers=headers, allow_redirects=False)
            body = re.sub(rb"127\.0\.0\.1:\d+", b"<this server>", await response.read())  # the denied page's link
            answers.append((response.status, body, comparable(response)))
    fast, generic = answers
    assert fast == generic
    return fast[0]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
@pytest.mark.parametrize("state", list(ARRANGEMENTS))
async def test_fast_path_answers_as_the_generic_chain(pair: Pair, state: str, method: str, path: str) -> None:
    status = await assert_same(pair, ARRANGEMENTS[state], method, path, {})
    if state in ("live", "renewal_due") and not path.endswith("/") and method in ("GET", "HEAD"):
        assert status == 200
    if state not in ("live", "renewal_due") and method == "GET" and not path.endswith("/"):
        assert status == 401


async def test_renewal_reissues_the_cookie_on_both(pair: Pair) -> None:
    answers = []
    for client in (pair.fast, pair.generic):
        cookie = await pair.login()
        pair.clock.advance(200)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
            response = await bare.get(client.make_url("/auth/verify"), headers={"Cookie": cookie})
            answers.append(response.headers.getall("Set-Cookie"))
    assert [len(cookies) for cookies in answers] == [1, 1]
    assert answers[0][0].startswith("sid=") and answers[0][0] != answers[1][0]  # fresh values, same shape


async def test_pending_second_factor_cookie_is_refused_alike(pair: Pair) -> None:
    await enrol(pair.generic, pair.clock, "mfa")
    pair.generic.session.cookie_jar.clear()
    first = await pair.generic.post("/users/login", json={"username": "mfa", "password": PASSWORD})
    assert (await first.json())["msg"] == "Second factor required"
    pending = "; ".join(f"{name}={morsel.value}" for name, morsel in first.cookies.items())
    assert pending
    for method, path in REQUESTS:
        assert await assert_same(pair, _fixed(pending), method, path, {}) in (401, 404, 405)


def _fixed(cookie: str) -> Arrange:
    async def arrange(pair: Pair) -> str | None:
        return cookie

    return arrange


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},  # HSTS: the proxy says https
        {"X-Forwarded-Proto": "https"},
        {"X-Forwarded-Proto": "gopher"},  # 400 problem+json from the forwarded middleware
        {"X-Forwarded-For": "not-an-address"},
        {"Accept": "text/html", "X-Forwarded-Host": "app.example", "X-Forwarded-Uri": "/private?a=b"},
        {"Accept": "text/html", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Uri": "/x"},
        {"X-Request-Id": "bad id with spaces"},  # replaced by a random one: compared by shape below
    ],
)
@pytest.mark.parametrize("state", ["live", "missing"])
@pytest.mark.parametrize("path", ["/auth/verify", "/auth/forward-auth", "/users/protected"])
async def test_fast_path_keeps_the_forwarded_rules_and_request_ids(
    pair: Pair, headers: dict[str, str], state: str, path: str
) -> None:
    if "X-Request-Id" in headers:
        cookies = [await ARRANGEMENTS[state](pair), await ARRANGEMENTS[state](pair)]
        ids = []
        for client, cookie in zip((pair.fast, pair.generic), cookies, strict=True):
            sent = {**headers, **({"Cookie": cookie} if cookie else {})}
            async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
                ids.append((await bare.get(client.make_url(path), headers=sent)).headers["X-Request-Id"])
        assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in ids)
        return
    await assert_same(pair, ARRANGEMENTS[state], "GET", path, headers)


async def test_fast_path_counts_and_logs_as_the_generic_chain(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="authsvc.access"):
        for state in ("live", "missing", "revoked"):
            for method, path in REQUESTS:
                await assert_same(pair, ARRANGEMENTS[state], method, path, {})
    logged = [
        tuple(record.__dict__[k] for k in ("method", "path", "status", "ip"))
        for record in caplog.records
        if record.name == "authsvc.access" and record.__dict__["path"] not in ("/users/login", "/users/logout")
    ]
    assert ("GET", "/users/protected", 200, "127.0.0.1") in logged
    assert not [
        fields
        for fields in logged
        if fields[1].startswith("/auth/verify") or (fields[2] in (200, 401) and fields[1] == "/auth/forward-auth")
    ]  # the gateway's checks are not (server.access_log_verify)
    assert logged[::2] == logged[1::2]  # each request once from the fast app, then the same from the generic one
    fast_metrics = await metric_counts(pair.fast)
    generic_metrics = await metric_counts(pair.generic)
    assert fast_metrics == generic_metrics
    assert any('route="/auth/verify{tail}"' in key and 'status="200"' in key for key in fast_metrics)


async def metric_counts(client: Client) -> dict[str, float]:
    text = await (await client.get("/metrics")).text()
    counts = {}
    for line in text.splitlines():
        if line.startswith("authsvc_http_request_duration_seconds_count{") and "/metrics" not in line:
            key, _, value = line.rpartition(" ")
            if "/users/login" not in key and "/users/logout" not in key and "/users/signup" not in key:
                counts[key] = float(value)
    return counts


GATEWAY_PORT_REQUESTS = [
    ("GET", "/auth/verify"),
    ("HEAD", "/auth/verify"),
    ("PUT", "/auth/verify/original/path?q=1"),
    ("GET", "/auth/verify/"),
    ("GET", "/auth/forward-auth"),
    ("HEAD", "/auth/forward-auth"),
    ("POST", "/auth/forward-auth"),
    ("GET", "/auth/forward-auth/"),
    ("GET", "/auth/verifyx"),
    ("GET", "/healthz"),
    ("DELETE", "/healthz"),
    ("GET", "/nope"),
]


@pytest.fixture
async def ports(make_container: Callable[..., Container], aiohttp_client: Any, clock: ManualClock) -> Pair:
    """The main port (with its fast path) and server.gateway_port, one app: a Pair whose "generic" side is the
    gateway listener."""
    port = free_port()
    container = make_container(
        server={"trusted_proxies": ["127.0.0.1/32"], "gateway_port": port, "public_url": "https://auth.example.com"}
    )
    main: Client = await aiohttp_client(create_app(container))
    assert (await main.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    main.session.cookie_jar.clear()
    listener = _AtPort(main, port)
    return Pair(main, listener, clock)  # type: ignore[arg-type]


class _AtPort:
    """Stands in for a test client: URLs on the gateway listener's port, logins through the main app."""

    def __init__(self, main: Client, port: int) -> None:
        self._main, self._port = main, port

    def make_url(self, path: str) -> Any:
        return self._main.make_url(path).with_port(self._port)


@pytest.mark.parametrize(("method", "path"), GATEWAY_PORT_REQUESTS)
@pytest.mark.parametrize("state", ["live", "missing", "malformed", "duplicate", "two_lines", "revoked", "renewal_due"])
async def test_gateway_port_answers_as_the_main_port(ports: Pair, state: str, method: str, path: str) -> None:
    status = await assert_same(ports, ARRANGEMENTS[state], method, path, {})
    if path == "/nope":
        assert status == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        {"X-Forwarded-Proto": "gopher"},
        {"Accept": "text/html", "X-Forwarded-Host": "app.example", "X-Forwarded-Uri": "/private?a=b"},
    ],
)
@pytest.mark.parametrize("path", ["/auth/verify", "/auth/forward-auth"])
async def test_gateway_port_keeps_the_forwarded_rules(ports: Pair, headers: dict[str, str], path: str) -> None:
    await assert_same(ports, ARRANGEMENTS["live"], "GET", path, headers)
    await assert_same(ports, ARRANGEMENTS["missing"], "GET", path, headers)


RULES = {
    "default_policy": "one_factor",
    "networks": [],
    "rules": [
        {"domain": "public.test", "policy": "bypass"},
        {"domain": "admin.test", "subject": "group:admins", "policy": "two_factor"},
        {"domain": "admin.test", "policy": "deny"},
        {"domain": "secure.test", "policy": "two_factor"},
        {"domain": "*.test", "resources": ["^/forbidden"], "policy": "deny"},
    ],
}


@pytest.mark.parametrize(
    "names",
    [
        {"user_name_header": "Remote-User", "user_groups_header": "Remote-Groups", "user_email_header": "Remote-Email"},
        {"user_groups_header": "Cache-Control"},  # a name the Edge sets too: the listener builds a web.Response
    ],
)
async def test_gateway_port_names_the_user_as_the_main_port(
    make_container: Callable[..., Container], aiohttp_client: Any, clock: ManualClock, names: dict[str, str]
) -> None:
    """The identity's header names as configured, its verified address and a change of groups: the listener writes
    a signed-in user's answer from header lines it keeps per identity, the main port through web.Response."""
    port = free_port()
    container = make_container(server={"gateway_port": port, "public_url": "https://auth.example.com"}, gateway=names)
    main: Client = await aiohttp_client(create_app(container))
    assert (await main.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    main.session.cookie_jar.clear()
    ports = Pair(main, _AtPort(main, port), clock)  # type: ignore[arg-type]
    assert await assert_same(ports, live, "GET", "/auth/verify", {}) == 200
    users, mail = container.users_service(), container.account_mail()
    alice = await users.set_groups("alice", ["dev", "admins"])
    assert alice is not None
    await mail.set_address(alice, "alice@example.com")
    stored = await container.storage().email_addresses.get(alice.id)
    assert stored is not None and await container.storage().email_addresses.mark_verified(alice.id, stored.key)
    for method in ("GET", "HEAD"):
        assert await assert_same(ports, live, method, "/auth/verify", {}) == 200
        assert await assert_same(ports, live, method, "/auth/forward-auth", {"X-Forwarded-Proto": "https"}) == 200
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        url = ports.generic.make_url("/auth/verify")
        answer = await bare.get(url, headers={"Cookie": await live(ports)})
        assert answer.headers[names["user_groups_header"]] == "admins,dev"
        if "user_email_header" in names:
            assert answer.headers["Remote-Email"] == "alice@example.com"


@pytest.fixture
async def ruled_pair(make_container: Callable[..., Container], aiohttp_client: Any, clock: ManualClock) -> Pair:
    sections = {"server": {"trusted_proxies": ["127.0.0.1/32"]}, "access_control": RULES}
    fast_container = make_container(**sections)
    generic_container = make_container(**sections)
    generic_container.storage.override(providers.Object(fast_container.storage()))
    fast: Client = await aiohttp_client(create_app(fast_container))
    generic: Client = await aiohttp_client(create_app(generic_container, fast_path=False))
    for name in ("alice", "root"):
        assert (await fast.post("/users/signup", json={"username": name, "password": PASSWORD})).status == 201
    assert await fast_container.users_service().set_groups("root", ["admins"]) is not None
    fast.session.cookie_jar.clear()
    return Pair(fast, generic, clock)


async def root(pair: Pair) -> str | None:
    return await pair.login("root")


def original(url: str, method: str = "GET", **extra: str) -> dict[str, str]:
    return {"X-Original-URL": url, "X-Original-Method": method, **extra}


def forwarded(host: str, uri: str, method: str = "GET", **extra: str) -> dict[str, str]:
    return {"X-Forwarded-Host": host, "X-Forwarded-Uri": uri, "X-Forwarded-Method": method, **extra}


HTML = {"Accept": "text/html"}
RULE_CASES = [
    # (who, headers, status on /auth/verify, status on /auth/forward-auth)
    (missing, original("https://public.test/"), 200, 200),  # bypass: no session read
    (missing, forwarded("public.test", "/x?y=1"), 200, 200),
    (missing, original("https://app.test/forbidden"), 403, 403),  # a deny without subject: no session read
    (live, original("https://app.test/forbidden"), 403, 403),
    (missing, original("https://app.test/"), 401, 401),
    (missing, original("https://app.test/", **HTML), 401, 302),
    (live, original("https://app.test/"), 200, 200),
    (live, forwarded("app.test:8443", "/a"), 200, 200),
    (missing, original("https://admin.test/"), 401, 401),  # a subject rule: sign in first
    (live, original("https://admin.test/"), 403, 403),  # alice is not an admin: the next rule denies
    (live, original("https://admin.test/", **HTML), 403, 403),  # a short HTML page on forward-auth
    (root, original("https://admin.test/"), 401, 401),  # an admin with one factor: step up
    (root, original("https://admin.test/", **HTML), 401, 302),
    (live, forwarded("secure.test", "/", **HTML), 401, 302),
    (live, original("not a url"), 400, 400),
    (live, forwarded("app.test", "no-slash"), 400, 400),
    (live, {}, 200, 200),  # no original request: default_policy
]


@pytest.mark.parametrize(("arrange", "headers", "on_verify", "on_forward_auth"), RULE_CASES)
async def test_fast_path_decides_access_rules_as_the_generic_chain(
    ruled_pair: Pair, arrange: Arrange, headers: dict[str, str], on_verify: int, on_forward_auth: int
) -> None:
    assert await assert_same(ruled_pair, arrange, "GET", "/auth/verify", headers) == on_verify
    assert await assert_same(ruled_pair, arrange, "GET", "/auth/forward-auth", headers) == on_forward_auth


async def test_rule_answers_carry_identity_groups_and_where_to_go(ruled_pair: Pair) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        url = ruled_pair.generic.make_url("/auth/forward-auth")  # its /metrics is the one wired last
        allowed = await bare.get(url, headers={"Cookie": await root(ruled_pair), **original("https://app.test/")})
        assert allowed.headers["X-Auth-User-Name"] == "root" and allowed.headers["X-Auth-User-Groups"] == "admins"
        bypassed = await bare.get(url, headers=original("https://public.test/"))
        assert (
            bypassed.status == 200
            and bypassed.headers["X-Auth-User-Id"] == bypassed.headers["X-Auth-User-Groups"] == ""
        )
        step_up = await bare.get(
            url,
            headers={"Cookie": await root(ruled_pair), **original("https://admin.test/x?a=1", **HTML)},
            allow_redirects=False,
        )
        assert step_up.headers["Location"].endswith("/login/step-up?rd=https%3A%2F%2Fadmin.test%2Fx%3Fa%3D1")
        denied = await bare.get(url, headers={"Cookie": await live(ruled_pair), **original("https://admin.test/")})
        assert denied.status == 403 and denied.headers["Content-Type"].startswith("application/problem+json")
        german = {"Cookie": await live(ruled_pair), "Accept-Language": "de", **original("https://admin.test/", **HTML)}
        page = await bare.get(url, headers=german)
        assert page.status == 403 and page.headers["Content-Language"] == "de"
        assert '<html lang="de">' in (text := await page.text()) and "<h1>Zugriff verweigert</h1>" in text
    metrics = await (await ruled_pair.generic.get("/metrics")).text()
    assert 'authsvc_access_decisions_total{policy="bypass",rule="0"} 1.0' in metrics
    assert 'authsvc_access_decisions_total{policy="deny",rule="2"} 2.0' in metrics  # the JSON and the German page
