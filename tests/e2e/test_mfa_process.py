"""The second factor against the real process: its logs hold no secret, code or cookie, and `authsvc mfa-reset`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest

from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, TEST_KEY, AuthsvcProcess, cli
from tests.mongodb import mongo_sections
from tests.smtp import SmtpServer, smtp_sections, text_of, token_in


async def enrol(http: aiohttp.ClientSession) -> tuple[str, list[str], list[str]]:
    """Sign up, log in, enrol; returns the secret, the recovery codes and every cookie value seen."""
    await http.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    login = await http.post("/users/login", json={"username": "alice", "password": PASSWORD})
    started = await (await http.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    secret, token = started["secret"], started["enrolmentToken"]
    confirmed = await http.post(
        "/users/me/mfa/totp/confirm", json={"enrolmentToken": token, "code": pyotp.TOTP(secret).now()}
    )
    assert confirmed.status == 200
    return secret, (await confirmed.json())["recoveryCodes"], [login.cookies["sid"].value]


async def test_logs_of_the_mfa_flow_hold_no_secret_code_or_cookie(tmp_path: Path) -> None:
    process = AuthsvcProcess(tmp_path, FAST_CONFIG).start()
    try:
        async with aiohttp.ClientSession(process.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            secret, codes, cookies = await enrol(http)
            await http.post("/users/logout")
            first = await http.post("/users/login", json={"username": "alice", "password": PASSWORD})
            cookies.append(first.cookies["sid_mfa"].value)
            assert (await http.post("/users/login/mfa", json={"code": "000000"})).status == 401
            next_step = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment used the current step
            second = await http.post("/users/login/mfa", json={"code": next_step})
            assert second.status == 200
            cookies.append(second.cookies["sid"].value)
            await http.post("/users/logout")
            await http.post("/users/login", json={"username": "alice", "password": PASSWORD})
            assert (await http.post("/users/login/mfa", json={"code": codes[0]})).status == 200
    finally:
        process.stop()
    logs = process.logs()
    assert "login.mfa_required" in logs and "login.mfa_failure" in logs and "mfa.recovery.use" in logs
    for secret_value in [secret, next_step, *codes, *(c.replace("-", "") for c in codes), *cookies]:
        assert secret_value not in logs


async def test_a_stolen_session_cookie_adds_no_factor_to_the_real_process(tmp_path: Path) -> None:
    """The finding of issue 30 as it was seen: the owner's cookie, copied into another client, without the password."""
    process = AuthsvcProcess(tmp_path, FAST_CONFIG).start()
    try:
        async with aiohttp.ClientSession(process.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as owner:
            body = {"username": "alice", "password": PASSWORD}
            assert (await owner.post("/users/signup", json=body)).status == 201
            stolen = (await owner.post("/users/login", json=body)).cookies["sid"].value
            async with aiohttp.ClientSession(process.url, headers={"Cookie": f"sid={stolen}"}) as attacker:
                assert (await attacker.get("/users/protected")).status == 200  # the cookie works
                guess = {"password": "a guessed password"}
                statuses = [(await attacker.post("/users/me/mfa/totp", json=guess)).status for _ in range(5)]
                statuses += [
                    (await attacker.post("/users/me/webauthn/register/options", json=guess)).status for _ in range(5)
                ]
                assert statuses == [422] * 10
                throttled = await attacker.post("/users/me/webauthn/register/options", json=guess)
                assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
                assert await (await attacker.get("/users/me/mfa")).json() == {
                    "methods": [],
                    "pending": [],
                    "recoveryCodesLeft": 0,
                }
            # The owner's browser, from the same address, counts on its device cookie's own allowance: not locked out.
            assert (await owner.post("/users/me/mfa/totp", json={"password": PASSWORD})).status == 200
    finally:
        process.stop()
    assert "reauth.failure" in process.logs()


def test_mfa_reset_refuses_memory_backend() -> None:
    result = cli("mfa-reset", "alice")
    assert result.returncode == 2 and "persistent backend" in result.stderr


@pytest.mark.mongodb
async def test_mfa_reset_removes_the_factor_and_ends_sessions(
    tmp_path: Path, mongodb_url: str, mongodb_database: str
) -> None:
    config: dict[str, Any] = {**FAST_CONFIG, **mongo_sections(mongodb_url, mongodb_database)}
    process = AuthsvcProcess(tmp_path, config).start()
    try:
        async with aiohttp.ClientSession(process.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await enrol(http)
            env = {"AUTHSVC_SESSION_KEY": TEST_KEY}
            result = cli("mfa-reset", "alice", "--config", str(process.config_path), env=env)
            assert result.returncode == 0, result.stderr
            assert "second factors removed" in result.stdout
            assert (await http.get("/users/protected")).status == 401  # every session ended
            login = await http.post("/users/login", json={"username": "alice", "password": PASSWORD})
            assert (await login.json())["msg"] == "User logged in"
            unknown = cli("mfa-reset", "nobody", "--config", str(process.config_path), env=env)
            assert unknown.returncode == 0 and "no such user" in unknown.stdout
    finally:
        process.stop()


@pytest.mark.mongodb
async def test_mfa_reset_mails_the_owner_a_notice_at_the_verified_address(
    tmp_path: Path, mongodb_url: str, mongodb_database: str, smtp_server: SmtpServer
) -> None:
    config: dict[str, Any] = {**FAST_CONFIG, **mongo_sections(mongodb_url, mongodb_database)}
    config.update(smtp_sections(smtp_server))
    config["server"] = {**FAST_CONFIG["server"], **config["server"]}
    process = AuthsvcProcess(tmp_path, config).start()
    try:
        async with aiohttp.ClientSession(process.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            body = {"username": "alice", "password": PASSWORD, "email": "alice@example.com"}
            assert (await http.post("/users/signup", json=body)).status == 201
            verify = await smtp_server.wait_for("alice@example.com", "Confirm your email address")
            assert (
                await http.post("/users/email/verify", json={"token": token_in(verify, "verify-email")})
            ).status == 200
            await enrol(http)
            await smtp_server.wait_for("alice@example.com", "Your two-factor settings were changed")  # the enrolment's
            env = {"AUTHSVC_SESSION_KEY": TEST_KEY}
            result = cli("mfa-reset", "alice", "--config", str(process.config_path), env=env)
            assert result.returncode == 0, result.stderr
            deadline = time.monotonic() + 15
            while not any(
                "removed by an administrator" in text_of(m) for m in smtp_server.mails_to("alice@example.com")
            ):
                assert time.monotonic() < deadline, [m["Subject"] for m in smtp_server.messages]
                await asyncio.sleep(0.05)  # the outbox is delivered by a background sender (the CLI's or the server's)
            notice = next(m for m in smtp_server.mails_to("alice@example.com") if "administrator" in text_of(m))
            assert notice["Subject"] == "Your two-factor settings were changed"
            assert "/not-me?token=" in text_of(notice)
    finally:
        process.stop()
    assert "alice@example.com" not in process.logs()


@pytest.mark.mongodb
async def test_a_code_used_on_one_replica_is_refused_on_the_other(
    tmp_path: Path, mongodb_url: str, mongodb_database: str
) -> None:
    config: dict[str, Any] = {**FAST_CONFIG, **mongo_sections(mongodb_url, mongodb_database)}
    a, b = AuthsvcProcess(tmp_path, config), AuthsvcProcess(tmp_path, config)
    try:
        a.start()
        b.start()
        async with aiohttp.ClientSession(a.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as on_a:
            secret, codes, _ = await enrol(on_a)
        pending_on = {}
        for replica in (a, b):  # a pending login on each replica, each from its own browser
            http = aiohttp.ClientSession(replica.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
            first = await http.post("/users/login", json={"username": "alice", "password": PASSWORD})
            assert (await first.json())["msg"] == "Second factor required"
            pending_on[replica.port] = http
        try:
            code = pyotp.TOTP(secret).at(time.time() + 30)  # the enrolment used the current step
            assert (await pending_on[a.port].post("/users/login/mfa", json={"code": code})).status == 200
            assert (await pending_on[b.port].post("/users/login/mfa", json={"code": code})).status == 401
            assert (await pending_on[b.port].post("/users/login/mfa", json={"code": codes[0]})).status == 200
        finally:
            for http in pending_on.values():
                await http.close()
    finally:
        a.stop()
        b.stop()
