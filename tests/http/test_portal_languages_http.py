"""Every portal page speaks the reader's language, through and through: each page (and each message a page shows,
the services' own texts included) is rendered by the real app in English and again, on a second app that walks the
same steps, with Accept-Language de or fr; a visible text of the German or French page that is word for word a text
of the English one is an English text left behind. Only what is the same in any language passes: the brand, the
user's name, address and codes, numbers and dates, and the words the catalogue itself keeps (Passkeys).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient
from babel.messages.pofile import read_po

from authsvc.web.app import create_app
from tests.driver import PASSWORD, enrolment_of, form_token, register
from tests.helpers import ROOT, ManualClock
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]
Walk = Callable[[Client, ManualClock], Awaitable[list[str]]]
# The brand and what the user typed (names, an address, a passkey's name); numbers, dates, codes and the secret, and
# the test client's user agent (the session list's device) have no words to translate.
SAME_EVERYWHERE = {"authsvc", "alice", "alice@example.com", "nobody", "laptop", "a", "b@d name!"}
NO_WORDS = re.compile(r"[^A-Za-z]*|[A-Z2-7]{16,}|[a-z2-7]{4}(-[a-z2-7]{4}){3}|Python/[\d.]+ aiohttp/[\w.]+")
VISIBLE_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label", "data-cancelled", "data-refused")


class VisibleText(HTMLParser):
    """The texts a reader sees: text nodes (the title too, not scripts or styles), the visible attributes, and
    the value of a text box."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden_depth += 1
        found = dict(attrs)
        self.texts += [value for name, value in attrs if name in VISIBLE_ATTRIBUTES and value]
        if tag == "input" and found.get("type", "text") == "text" and found.get("value"):
            self.texts.append(found["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth and data.strip():
            self.texts.append(data)


def visible_texts(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return [" ".join(text.split()) for text in parser.texts]


def kept_by_the_catalogue(language: str) -> set[str]:
    """The catalogue's texts that read the same translated (German's "Passkeys")."""
    with (ROOT / "authsvc" / "web" / "pages" / "locales" / language / "LC_MESSAGES" / "portal.po").open("rb") as po:
        return {m.id for m in read_po(po) if isinstance(m.id, str) and m.id == m.string}


async def text(answer: Any) -> str:
    assert answer.headers["Content-Type"].startswith("text/html"), (answer.status, answer.headers["Content-Type"])
    return str(await answer.text())


async def form(client: Client, path: str) -> str:
    return form_token(await text(await client.get(path)))


async def sign_up(client: Client, **fields: str) -> None:
    body = {"username": "alice", "password": PASSWORD, "csrf": await form(client, "/signup"), **fields}
    assert (await client.post("/signup", data=body, allow_redirects=False)).status == 303


async def account_post(client: Client, action: str, **fields: str) -> str:
    return await text(await client.post(action, data={"csrf": await form(client, "/account"), **fields}))


async def signing_in(client: Client, clock: ManualClock) -> list[str]:
    pages = [await text(await client.get("/login"))]
    wrong = {"username": "nobody", "password": "not it", "csrf": await form(client, "/login")}
    pages.append(await text(await client.post("/login", data=wrong)))
    pages.append(await text(await client.post("/login", data={**wrong, "csrf": "forged"})))
    for _ in range(11):  # throttle.client_max_failures: the wait, plural-correct
        throttled = await client.post("/login", data={**wrong, "csrf": await form(client, "/login")})
    assert throttled.status == 429
    pages.append(await text(throttled))
    pages.append(await text(await client.post("/login", data={"csrf": "x"})))  # a form without its fields
    return pages


async def signing_up(client: Client, clock: ManualClock) -> list[str]:
    pages = [await text(await client.get("/signup"))]
    bad = {"username": "a", "password": "short", "email": "not an address", "csrf": await form(client, "/signup")}
    pages.append(await text(await client.post("/signup", data=bad)))
    common = {"username": "b@d name!", "password": "password1234", "csrf": await form(client, "/signup")}
    pages.append(await text(await client.post("/signup", data=common)))
    await sign_up(client)
    await client.post("/logout", data={"csrf": await form(client, "/logout")})
    taken = {"username": "alice", "password": PASSWORD, "csrf": await form(client, "/signup")}
    pages.append(await text(await client.post("/signup", data=taken)))
    return pages


async def mailed_links(client: Client, clock: ManualClock) -> list[str]:
    pages = [await text(await client.get("/forgot"))]
    sent = await client.post("/forgot", data={"account": "alice", "csrf": await form(client, "/forgot")})
    pages.append(await text(sent))
    for page in ("reset", "verify-email", "not-me"):
        shown = await text(await client.get(f"/{page}?token=dead"))
        pages.append(shown)
        body = {"token": "dead", "csrf": form_token(shown), **({"newPassword": PASSWORD} if page == "reset" else {})}
        pages.append(await text(await client.post(f"/{page}", data=body)))
    return pages


async def account_actions(client: Client, clock: ManualClock) -> list[str]:
    await sign_up(client, email="alice@example.com")
    pages = [await text(await client.get("/account"))]
    pages.append(await account_post(client, "/account/email", email="bob@example.com", password="not it"))
    pages.append(await account_post(client, "/account/email", email="not an address", password=PASSWORD))
    pages.append(await account_post(client, "/account/email/resend"))
    pages.append(await account_post(client, "/account/email/resend"))  # too soon
    pages.append(await account_post(client, "/account/password", currentPassword=PASSWORD, newPassword="short"))
    pages.append(await account_post(client, "/account/sessions/end-others"))
    pages.append(await account_post(client, "/account/sessions/end", id="gone"))
    pages.append(await text(await client.get("/login/step-up")))  # one factor, none enrolled
    pages.append(await text(await client.get("/login?rd=/app")))  # signed in already, somewhere to go
    pages.append(await text(await client.get("/logout")))
    for _ in range(11):
        throttled = await client.post(
            "/account/delete", data={"password": "not it", "csrf": await form(client, "/account")}
        )
    pages.append(await text(throttled))
    return pages


async def second_factors(client: Client, clock: ManualClock) -> list[str]:
    await sign_up(client)
    started = await account_post(client, "/security/totp", password=PASSWORD)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', started)
    assert secret
    confirm = {"enrolment": enrolment_of(started), "csrf": form_token(started)}
    pages = [started, await text(await client.post("/security/totp/confirm", data={**confirm, "code": "000000"}))]
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    pages.append(await text(await client.post("/security/totp/confirm", data={**confirm, "code": code})))
    clock.advance(30)
    step_up = await text(await client.get("/login/step-up"))  # this session proved one factor
    wrong = {"code": "000000", "csrf": form_token(step_up)}
    pages += [step_up, await text(await client.post("/login/step-up", data=wrong))]
    assert (await register(client, SoftAuthenticator(), name="laptop")).status == 201
    pages.append(await text(await client.get("/account")))
    pages.append(await account_post(client, "/account/recovery-codes", password=PASSWORD))
    clock.advance(700)  # older than mfa.recent_auth_seconds: new codes need a code too
    pages.append(await account_post(client, "/account/recovery-codes", password=PASSWORD))
    pages.append(await account_post(client, "/account/recovery-codes", password=PASSWORD, code="000000"))
    await client.post("/logout", data={"csrf": await form(client, "/logout")})
    signed = {"username": "alice", "password": PASSWORD, "csrf": await form(client, "/login")}
    code_page = await text(await client.post("/login", data=signed))
    pages += [
        code_page,
        await text(await client.post("/login/mfa", data={"code": "000000", "csrf": form_token(code_page)})),
    ]
    return pages


async def leaving(client: Client, clock: ManualClock) -> list[str]:
    await sign_up(client)
    return [await account_post(client, "/account/delete", password=PASSWORD)]


async def closed_sign_up(client: Client, clock: ManualClock) -> list[str]:
    return [await text(await client.get("/signup"))]


WALKS: dict[str, tuple[Walk, dict[str, Any]]] = {
    "signing-in": (signing_in, {}),
    "signing-up": (signing_up, {}),
    "mailed-links": (mailed_links, {}),
    "account": (account_actions, {}),
    "second-factors": (second_factors, {}),
    "leaving": (leaving, {}),
    "sign-up-closed": (closed_sign_up, {"users": {"self_signup": False}}),
}


@pytest.mark.parametrize("language", ["de", "fr"])
@pytest.mark.parametrize("walk", list(WALKS))
async def test_no_english_is_left_on_a_translated_page(
    make_container: Any, aiohttp_client: Any, clock: ManualClock, walk: str, language: str
) -> None:
    steps, sections = WALKS[walk]
    pages: dict[str, list[str]] = {}
    for reader in ("en", language):  # one app after the other: creating an app wires the handlers to its container
        client: Client = await aiohttp_client(
            create_app(make_container(**sections)), headers={"Accept-Language": reader}
        )
        pages[reader] = await steps(client, clock)
    english_pages, translated_pages = pages["en"], pages[language]
    assert len(english_pages) == len(translated_pages)
    kept = kept_by_the_catalogue(language) | SAME_EVERYWHERE
    left: list[tuple[int, str]] = []
    for number, (source, page) in enumerate(zip(english_pages, translated_pages, strict=True)):
        assert f'<html lang="{language}">' in page
        english_texts = set(visible_texts(source))
        left += [
            (number, node)
            for node in visible_texts(page)
            if node in english_texts and node not in kept and not NO_WORDS.fullmatch(node)
        ]
    assert left == []
