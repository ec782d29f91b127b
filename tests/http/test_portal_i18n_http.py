"""The portal speaks English, German and French, chosen from Accept-Language, over HTTP against the app (the
catalogues themselves: tests/unit/test_portal_i18n.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app

Client = TestClient[Any, Any]


@pytest.mark.parametrize(
    ("accept", "lang", "text"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de", "Passwort vergessen?"),
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr", "Mot de passe oublié ?"),
        ("en-GB,de;q=0.5", "en", "Forgot password?"),
        ("es, fr;q=0.3", "fr", "Mot de passe oublié ?"),
        ("es", "en", "Forgot password?"),
        ("de;q=0.2, fr;q=0.7", "fr", "Mot de passe oublié ?"),
        ("x" * 2000, "en", "Forgot password?"),
        ("", "en", "Forgot password?"),
    ],
)
async def test_the_sign_in_page_speaks_the_readers_language(
    make_container: Any, aiohttp_client: Any, accept: str, lang: str, text: str
) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    page = await web.get("/login", headers={"Accept-Language": accept})
    html = await page.text()
    assert f'<html lang="{lang}">' in html and text in html
    assert page.headers["Content-Language"] == lang and "Accept-Language" in page.headers["Vary"]


async def test_titles_and_messages_from_the_handlers_are_translated_too(
    make_container: Any, aiohttp_client: Any
) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    german = {"Accept-Language": "de"}
    page = await web.get("/login", headers=german)
    assert "<title>Anmelden · authsvc</title>" in await page.text()
    refused = await web.post("/login", data={"username": "a", "password": "b", "csrf": "forged"}, headers=german)
    assert refused.status == 403 and "Das Formular ist abgelaufen" in await refused.text()
