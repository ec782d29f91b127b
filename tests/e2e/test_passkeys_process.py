"""Passkeys against the real process: two replicas sharing MongoDB share every challenge (taken once, whichever
replica it comes back to) and every counter; `authsvc mfa-reset` removes passkeys; the logs hold no cookie value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, TEST_KEY, AuthsvcProcess, cli
from tests.mongodb import mongo_sections
from tests.webauthn_authenticator import SoftAuthenticator

pytestmark = pytest.mark.mongodb


async def post_json(http: aiohttp.ClientSession, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_two_replicas_share_passkey_challenges_and_mfa_reset_removes_passkeys(
    tmp_path: Path, mongodb_url: str, mongodb_database: str
) -> None:
    config: dict[str, Any] = {**FAST_CONFIG, **mongo_sections(mongodb_url, mongodb_database)}
    a, b = AuthsvcProcess(tmp_path, config), AuthsvcProcess(tmp_path, config)
    authenticator = SoftAuthenticator()
    cookies: list[str] = []
    try:
        a.start()
        b.start()
        # One browser (one cookie jar) whose requests the gateway spreads over both replicas.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            body = {"username": "alice", "password": PASSWORD}
            assert (await post_json(http, f"{a.url}/users/signup", body))[0] == 201
            assert (await post_json(http, f"{a.url}/users/login", body))[0] == 200
            proof = {"password": PASSWORD}
            status, options = await post_json(http, f"{a.url}/users/me/webauthn/register/options", proof)
            assert status == 200
            registration = {"name": "laptop", "credential": authenticator.create(options)}
            assert (await post_json(http, f"{b.url}/users/me/webauthn/register", registration))[0] == 201
            assert (await post_json(http, f"{a.url}/users/logout"))[0] == 200

            # Passwordless: options from A, the answer to B; the same answer again to A is a replay.
            status, options = await post_json(http, f"{a.url}/users/login/webauthn/options")
            assert status == 200
            answer = {"credential": authenticator.get(options)}
            status, logged_in = await post_json(http, f"{b.url}/users/login/webauthn", answer)
            assert (status, logged_in["User"]["userName"]) == (200, "alice")
            cookies += [c.value for c in http.cookie_jar]
            assert (await post_json(http, f"{a.url}/users/login/webauthn", answer))[0] == 401

            # Second step: the password on A, options from B, the assertion to A.
            status, first = await post_json(http, f"{a.url}/users/login", body)
            assert first == {"msg": "Second factor required", "mfa": {"methods": ["webauthn"]}}
            cookies += [c.value for c in http.cookie_jar]
            status, options = await post_json(http, f"{b.url}/users/login/mfa/webauthn/options")
            assert status == 200
            stale = authenticator.get(options, sign_count=1)  # below the counter B stored: a clone's answer
            assert (await post_json(http, f"{a.url}/users/login/mfa/webauthn", {"credential": stale}))[0] == 401
            status, options = await post_json(http, f"{b.url}/users/login/mfa/webauthn/options")
            done = await post_json(
                http, f"{a.url}/users/login/mfa/webauthn", {"credential": authenticator.get(options)}
            )
            assert done[0] == 200

            result = cli("mfa-reset", "alice", "--config", str(a.config_path), env={"AUTHSVC_SESSION_KEY": TEST_KEY})
            assert result.returncode == 0 and "second factors removed" in result.stdout, result.stderr
            status, again = await post_json(http, f"{b.url}/users/login", body)
            assert (status, again["msg"]) == (200, "User logged in")
            status, options = await post_json(http, f"{b.url}/users/login/webauthn/options")
            assert (await post_json(http, f"{b.url}/users/login/webauthn", {"credential": authenticator.get(options)}))[
                0
            ] == 401
    finally:
        a.stop()
        b.stop()
    logs = a.logs() + b.logs()
    assert "webauthn.register" in logs and "webauthn.counter_regression" in logs
    for value in cookies:
        assert value not in logs
