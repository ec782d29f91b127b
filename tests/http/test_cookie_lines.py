"""Issue 30, item 6: every Cookie header line is read, joined with "; ", by every cookie reader.

aiohttp's request.cookies (and a `headers.get`) see only the first line: `Cookie: sid=A` then `Cookie: sid=B`
authenticated as A (the duplicate-cookie defence bypassed) and logout left B alive. tests/http/test_gateway_fast_path.py
pins the same answer on the fast path and the gateway port; tests/e2e/test_edges_process.py sends the two lines to
the real process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, make_mocked_request
from multidict import CIMultiDict

from authsvc.containers import Container
from authsvc.throttle.rules import Device
from authsvc.web.edge.cookie_header import cookie_header, cookie_values, only_cookie
from tests.driver import PASSWORD
from tests.helpers import cookie_value

Client = TestClient[Any, Any]


def request_with(*lines: str) -> Any:
    return make_mocked_request("GET", "/", headers=CIMultiDict(("Cookie", line) for line in lines))


def test_every_cookie_line_is_joined() -> None:
    assert cookie_header(request_with("a=1", "b=2; c=3")) == "a=1; b=2; c=3"
    assert cookie_header(request_with("a=1")) == "a=1"
    assert cookie_header(request_with()) is None
    assert cookie_values("a=1; b=2; a=3", "a") == ["1", "3"]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("x=1", "c=v"), "v"),  # on the second line: seen
        (("c=v", "x=1"), "v"),
        (("c=v", "c=w"), None),  # one on each line: two cookies of one name, neither chosen
        (("c=v; c=w",), None),
        (("x=1",), None),
    ],
)
def test_a_cookie_is_found_on_any_line_and_two_of_one_name_are_none(lines: tuple[str, ...], expected: str) -> None:
    assert only_cookie(request_with(*lines), "c") == expected


async def test_every_reader_reads_every_line(container: Container) -> None:
    # The session cookie (facade, fast-path split, aiohttp-session's load hook), the device, pending-login and passkey
    # challenge cookies, and the form token: each finds its cookie on a second line, and none takes one of two.
    cookies, devices = container.session_cookies(), container.device_cookies()
    pending, challenge, forms = (
        container.pending_login_cookie(),
        container.passkey_challenge_cookie(),
        container.form_tokens(),
    )
    session = cookies._fernet.encrypt(b'{"created": 1, "session": {"sid": "s1", "uid": "u1"}}').decode()
    other = cookies._fernet.encrypt(b'{"created": 1, "session": {"sid": "s2", "uid": "u1"}}').decode()
    device = devices._fernet.encrypt(b'{"p": "device", "u": "u1", "d": "d1"}').decode()
    nonce = "n" * 43
    second_line = request_with(
        "x=1", f"sid={session}; did={device}; sid_mfa=pending; sid_wa=challenge; sid-csrf={nonce}"
    )
    assert cookies.read(second_line) == ("s1", "u1")
    assert [ids.session_id for ids in cookies.read_all(second_line)] == ["s1"]
    assert not (await cookies.load_session(second_line)).new
    assert devices.read(second_line) == Device("u1", "d1")
    assert pending.read(second_line) == "pending" and challenge.read(second_line) == "challenge"
    assert forms.valid(second_line, forms._sign(nonce))

    duplicates = request_with(
        f"sid={session}; did={device}; sid_mfa=a; sid_wa=a; sid-csrf={nonce}",
        f"sid={other}; did={device}; sid_mfa=b; sid_wa=b; sid-csrf={'m' * 43}",
    )
    assert cookies.read(duplicates) is None
    assert [ids.session_id for ids in cookies.read_all(duplicates)] == ["s1", "s2"]  # logout ends both
    assert (await cookies.load_session(duplicates)).new
    assert devices.read(duplicates) is None
    assert pending.read(duplicates) is None and challenge.read(duplicates) is None
    assert not forms.valid(duplicates, forms._sign(nonce))


async def login(client: Client) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        response = await bare.post(client.make_url("/users/login"), json={"username": "alice", "password": PASSWORD})
        assert response.status == 200
        return cookie_value(response.headers["Set-Cookie"])


async def status(client: Client, method: str, path: str, *lines: str, **kwargs: Any) -> int:
    headers = CIMultiDict(("Cookie", line) for line in lines)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        response = await bare.request(method, client.make_url(path), headers=headers, allow_redirects=False, **kwargs)
        return response.status


@pytest.fixture
async def web(aiohttp_client: Any, make_container: Callable[..., Container]) -> Client:
    from authsvc.web.app import create_app

    client: Client = await aiohttp_client(create_app(make_container()))
    assert (await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    client.session.cookie_jar.clear()
    return client


@pytest.mark.parametrize("path", ["/auth/verify", "/auth/forward-auth", "/users/protected", "/users/me/sessions"])
async def test_two_session_cookies_on_two_lines_authenticate_as_neither(web: Client, path: str) -> None:
    first, second = await login(web), await login(web)
    assert await status(web, "GET", path, f"sid={first}") == 200
    assert await status(web, "GET", path, f"sid={first}", f"sid={second}") == 401
    assert await status(web, "GET", path, "theme=dark", f"sid={second}") == 200  # a lone one on line two counts


async def test_logout_with_two_lines_ends_both_sessions(web: Client) -> None:
    first, second = await login(web), await login(web)
    assert await status(web, "POST", "/users/logout", f"sid={first}", f"sid={second}") == 200
    assert await status(web, "GET", "/users/protected", f"sid={first}") == 401
    assert await status(web, "GET", "/users/protected", f"sid={second}") == 401


async def test_portal_logout_with_two_lines_ends_both_sessions(web: Client) -> None:
    first, second = await login(web), await login(web)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        page = await bare.get(web.make_url("/login"))
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert token is not None
        nonce = page.cookies["sid-csrf"].value
        lines = CIMultiDict([("Cookie", f"sid-csrf={nonce}"), ("Cookie", f"sid={first}"), ("Cookie", f"sid={second}")])
        ended = await bare.post(
            web.make_url("/logout"), data={"csrf": token.group(1)}, headers=lines, allow_redirects=False
        )
        assert ended.status == 303
    assert await status(web, "GET", "/users/protected", f"sid={first}") == 401
    assert await status(web, "GET", "/users/protected", f"sid={second}") == 401
