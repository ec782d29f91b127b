"""What operators set for the portal's look (portal.title, logo_url, primary_color) reaches every page and the
stylesheet, over HTTP against the app; no inline style, and the pages' policy is unchanged."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from authsvc.web.pages.handlers import PAGE_POLICY, SCRIPTED_PAGE_POLICY

Client = TestClient[Any, Any]


async def test_title_logo_and_colour_reach_the_pages_and_the_stylesheet(
    make_container: Any, aiohttp_client: Any
) -> None:
    look = {"title": "Example & Co", "logo_url": "/static/logo.svg", "primary_color": "#AA3300"}
    web: Client = await aiohttp_client(create_app(make_container(portal=look)))
    for path, policy in (("/login", SCRIPTED_PAGE_POLICY), ("/signup", PAGE_POLICY), ("/forgot", PAGE_POLICY)):
        page = await web.get(path)
        html = await page.text()
        assert re.search(r"<title>[^<]+ · Example &amp; Co</title>", html), path
        assert '<img src="/static/logo.svg" alt="" height="32"><span>Example &amp; Co</span>' in html
        assert "style=" not in html and "<style" not in html
        assert page.headers["Content-Security-Policy"] == policy
    css = await (await web.get("/portal/style.css")).text()
    assert "#aa3300" in css and "#1d4ed8" not in css
    assert "@media(prefers-color-scheme:dark)" in css


async def test_the_defaults_name_authsvc_and_show_no_logo(make_container: Any, aiohttp_client: Any) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    html = await (await web.get("/login")).text()
    assert "<title>Sign in · authsvc</title>" in html and "<img" not in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "#1d4ed8" in await (await web.get("/portal/style.css")).text()
