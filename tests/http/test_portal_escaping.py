"""The portal's pages over HTTP never turn what a visitor typed into markup: a failed login shows the typed name
again, escaped."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.driver import post_login

Client = TestClient[Any, Any]
TYPED = '"><script>alert(1)</script>'


async def test_a_failed_login_shows_a_typed_name_with_markup_escaped(client: Client) -> None:
    response = await post_login(client, username=TYPED, password="wrong password")

    html = await response.text()

    assert response.status in (401, 422), html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
