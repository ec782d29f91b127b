"""The web edge's seams (issue 23, phase 2, item 4): the caller once per request and only when asked, the page guard
that redirects, the form-token decorator, the one cookie helper, and routes declared beside their handlers."""

from __future__ import annotations

import importlib
import pkgutil
import re
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from multidict import CIMultiDict

import authsvc.web.api
import authsvc.web.pages
from authsvc.containers import Container
from authsvc.throttle.rules import Device
from authsvc.web.app import create_app
from authsvc.web.edge.caller import CALLER, CALLERS, Callers, caller
from authsvc.web.edge.cookie_header import Cookie, HasHeaders
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.forms import form, form_checked
from authsvc.web.edge.guards import current, login_required
from tests.driver import PASSWORD

Client = TestClient[Any, Any]


class CountingDevices(DeviceCookies):
    def __init__(self, real: DeviceCookies) -> None:
        self.__dict__.update(real.__dict__)
        self.reads = 0

    def read(self, request: HasHeaders) -> Device | None:
        self.reads += 1
        return super().read(request)


def mocked(container: Container, devices: DeviceCookies, *cookie_lines: str) -> web.Request:
    app = web.Application()
    app[CALLERS] = Callers(container.session_cookies(), devices)
    headers = CIMultiDict([("User-Agent", "Firefox/1"), *(("Cookie", line) for line in cookie_lines)])
    return make_mocked_request("GET", "/", headers=headers, app=app)


def test_the_caller_is_made_once_per_request_and_reads_each_part_only_when_asked(container: Container) -> None:
    devices = CountingDevices(container.device_cookies())
    request = mocked(container, devices, "did=junk")

    assert CALLER not in request  # nothing is made until a handler asks
    who = caller(request)
    assert caller(request) is who and request[CALLER] is who
    assert who.previous is None and who.sessions == [] and devices.reads == 0  # the device cookie not read yet
    assert who.client.user_agent == "Firefox/1" and who.client.device is None
    assert who.client is who.client and devices.reads == 1


async def test_the_gateway_routes_make_no_caller(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[web.Request] = []
    real = Callers.of
    monkeypatch.setattr(Callers, "of", lambda self, request: made.append(request) or real(self, request))

    for path in ("/auth/verify", "/auth/forward-auth", "/users/protected", "/healthz"):
        await client.get(path)
    assert made == []
    await client.post("/users/login", json={"username": "nobody", "password": PASSWORD})
    assert len(made) == 1  # a login asks who is calling


@pytest.fixture
async def guarded(aiohttp_client: Any, make_container: Callable[..., Container]) -> Client:
    async def expired(request: web.Request, fields: dict[str, str]) -> web.Response:
        return web.Response(status=403, text="expired")

    @login_required(redirect="/login?rd=/here")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=current(request).user.username)

    @form_checked(("name",), expired=expired)
    async def posted(request: web.Request) -> web.Response:
        return web.Response(text=form(request)["name"])

    app = create_app(make_container())
    app.router.add_get("/t/page", page)
    app.router.add_post("/t/form", posted)
    client: Client = await aiohttp_client(app)
    assert (await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    return client


async def test_a_page_guard_sends_a_signed_out_browser_to_sign_in_and_lets_a_signed_in_one_through(
    guarded: Client,
) -> None:
    guarded.session.cookie_jar.clear()
    away = await guarded.get("/t/page", allow_redirects=False)
    assert away.status == 303 and away.headers["Location"] == "/login?rd=/here"
    assert (await guarded.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    shown = await guarded.get("/t/page", allow_redirects=False)
    assert shown.status == 200 and await shown.text() == "alice"


async def test_a_checked_form_runs_its_handler_only_with_a_valid_token(guarded: Client) -> None:
    page = await guarded.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token is not None

    good = await guarded.post("/t/form", data={"name": "x", "csrf": token.group(1)})
    assert good.status == 200 and await good.text() == "x"
    stale = await guarded.post("/t/form", data={"name": "x", "csrf": "forged"})
    assert stale.status == 403 and await stale.text() == "expired"
    unexpected = await guarded.post("/t/form", data={"name": "x", "csrf": token.group(1), "more": "1"})
    assert unexpected.status == 400  # the form is read as read_form reads it, before the token
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:  # no token cookie at all
        cookieless = await bare.post(guarded.make_url("/t/form"), data={"name": "x", "csrf": token.group(1)})
        assert cookieless.status == 403


def test_the_cookie_helper_names_reads_sets_and_clears_one_way() -> None:
    cookie = Cookie("sid_x", secure=True, samesite="Strict", max_age=60, host_prefix=True)
    assert cookie.name == "__Host-sid_x"
    lines = [("Cookie", "a=1"), ("Cookie", "__Host-sid_x=v")]
    request = make_mocked_request("GET", "/", headers=CIMultiDict(lines))
    assert cookie.read(request) == "v" and cookie.values(request) == ["v"]
    twice = make_mocked_request("GET", "/", headers=CIMultiDict([*lines, ("Cookie", "__Host-sid_x=w")]))
    assert cookie.read(twice) is None and cookie.values(twice) == ["v", "w"]

    response = web.Response()
    cookie.set(response, "value")
    written = response.cookies["__Host-sid_x"].OutputString()
    assert {"Max-Age=60", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"} <= set(written.split("; "))
    cookie.clear(response)
    cleared = response.cookies["__Host-sid_x"].OutputString()
    assert "Max-Age=0" in cleared and "expires=Thu, 01 Jan 1970 00:00:00 GMT" in cleared and "Secure" in cleared


def test_every_route_of_the_app_is_declared_in_a_routes_table_beside_its_handler(
    make_container: Callable[..., Container],
) -> None:
    declared: set[object] = set()
    for package in (authsvc.web.api, authsvc.web.pages):
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(found.name)
            for table in vars(module).values():
                if isinstance(table, web.RouteTableDef):
                    declared.update(route.handler for route in table if isinstance(route, web.RouteDef))

    def handlers(app: web.Application) -> list[object]:
        found = []
        for resource in app.router.resources():
            sub = getattr(resource, "_app", None)
            found += handlers(sub) if isinstance(sub, web.Application) else [r.handler for r in resource]
        return found

    admin = {"tokens": [{"name": "ops", "token": secrets.token_urlsafe(32), "scopes": ["users:read"]}]}
    app = create_app(make_container(admin=admin, introspection={"enabled": True}))
    routed = handlers(app)
    assert len(routed) > 60 and [handler for handler in routed if handler not in declared] == []
