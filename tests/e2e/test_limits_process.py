"""Issue 30's findings on forgotten passwords and passwordless challenges, against the real `authsvc serve` process
and a real SMTP server: 40 forgot requests in 8 s sent 40 mails, each a live link; challenges piled up unbounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, AuthsvcProcess
from tests.smtp import SmtpServer, smtp_sections, token_in

pytestmark = pytest.mark.e2e


@pytest.fixture
async def served(tmp_path: Path, smtp_server: SmtpServer) -> AsyncIterator[AuthsvcProcess]:
    sections = smtp_sections(smtp_server, send_interval=0.2)
    config: dict[str, Any] = {
        **FAST_CONFIG,
        **sections,
        "server": {**FAST_CONFIG["server"], **sections["server"], "trusted_proxies": ["127.0.0.1/32"]},
        "webauthn": {"passwordless_max_challenges": 100, "challenge_seconds": 600},
    }
    process = AuthsvcProcess(tmp_path, config).start()
    yield process
    process.stop()


async def verified_user(http: aiohttp.ClientSession, smtp: SmtpServer, name: str) -> None:
    body = {"username": name, "password": PASSWORD, "email": f"{name}@example.com"}
    async with http.post("/users/signup", json=body) as response:
        assert response.status == 201
    mail = await smtp.wait_for(f"{name}@example.com", "Confirm your email address")
    async with http.post("/users/email/verify", json={"token": token_in(mail, "verify-email")}) as response:
        assert response.status == 200


async def forgot(http: aiohttp.ClientSession, ip: str, name: str) -> tuple[int, bytes]:
    async with http.post(
        "/users/password/forgot", json={"username": name}, headers={"X-Forwarded-For": ip}
    ) as response:
        return response.status, await response.read()


async def test_40_forgot_requests_in_8_seconds_send_one_mail_with_one_live_link(
    served: AuthsvcProcess, smtp_server: SmtpServer
) -> None:
    async with aiohttp.ClientSession(served.url) as http:
        await verified_user(http, smtp_server, "alice")
        answers = set()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for second in range(8):  # five at once every second, from 40 addresses
            answers |= set(
                await asyncio.gather(*(forgot(http, f"198.51.100.{5 * second + n}", "alice") for n in range(5)))
            )
            await asyncio.sleep(max(0.0, started + second + 1 - loop.time()))  # the real process keeps real time
        assert len(answers) == 1 and next(iter(answers))[0] == 202
        await verified_user(http, smtp_server, "bob")  # a later mail: the one sender has sent alice's by now
        resets = [m for m in smtp_server.mails_to("alice@example.com") if m["Subject"] == "Reset your password"]
        assert len(resets) == 1
        body = {"token": token_in(resets[0], "reset"), "newPassword": "a brand new staple"}
        async with http.post("/users/password/reset", json=body) as response:
            assert response.status == 200


async def test_a_flood_of_passwordless_options_is_capped_per_client_and_per_store(served: AuthsvcProcess) -> None:
    async with aiohttp.ClientSession(served.url) as http:

        async def options(ip: str) -> int:
            async with http.post("/users/login/webauthn/options", headers={"X-Forwarded-For": ip}) as response:
                assert response.content_type in ("application/json", "application/problem+json")
                return response.status

        one_client = [await options("203.0.113.50") for _ in range(30)]
        assert one_client == [200] * 20 + [429] * 10
        many = await asyncio.gather(*(options(f"198.18.{n // 200}.{n % 200}") for n in range(300)))
        # A cap of 100: 50 at once (20 of them the first client's), then one per 600 / 51 s of real time.
        assert 30 <= many.count(200) <= 31 and many.count(200) + many.count(503) == 300
