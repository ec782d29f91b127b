"""Two authsvc replicas on one database, as behind a gateway: sessions, revocations and throttling are shared."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest

from authsvc.login.outcomes import NO_PENDING_LOGIN
from tests.driver import PASSWORD, new_name, session_cookie
from tests.helpers import FAST_CONFIG, TEST_KEY, AuthsvcProcess, cli
from tests.mongodb import mongo_sections

CLIENT_MAX_FAILURES = 3
ADMIN_TOKEN = secrets.token_urlsafe(32)
pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]


@pytest.fixture
def replicas(tmp_path: Path, mongodb_url: str, mongodb_database: str) -> Iterator[tuple[AuthsvcProcess, ...]]:
    """Replica A and replica B: one database, one session key (AuthsvcProcess gives every process TEST_KEY)."""
    config: dict[str, Any] = {
        **FAST_CONFIG,
        **mongo_sections(mongodb_url, mongodb_database),
        "throttle": {"client_max_failures": CLIENT_MAX_FAILURES},
        "session": {"max_per_user": 2},
        "admin": {"tokens": [{"name": "ops", "token": ADMIN_TOKEN, "scopes": ["users:read", "users:write"]}]},
    }
    processes = (AuthsvcProcess(tmp_path, config), AuthsvcProcess(tmp_path, config))
    try:
        yield tuple(process.start() for process in processes)
    finally:
        for process in processes:
            process.stop()


async def test_session_made_on_one_replica_is_live_on_the_other_until_logout(
    replicas: tuple[AuthsvcProcess, AuthsvcProcess],
) -> None:
    a, b = replicas
    credentials = {"username": new_name("shared"), "password": PASSWORD}
    async with aiohttp.ClientSession(a.url) as on_a, aiohttp.ClientSession(b.url) as on_b:
        signup = await on_a.post("/users/signup", json=credentials)
        assert signup.status == 201
        cookie = {"Cookie": f"sid={session_cookie(await on_a.post('/users/login', json=credentials))}"}
        protected = await on_b.get("/users/protected", headers=cookie)
        assert protected.status == 200
        assert (await protected.json())["userId"] == (await signup.json())["userId"]
        assert (await on_b.post("/users/signup", json=credentials)).status == 409

        assert (await on_a.post("/users/logout", headers=cookie)).status == 200
        assert (await on_a.get("/users/protected", headers=cookie)).status == 401  # at once on this replica
        # On the other, within mongodb.revocation_lag_ms (test_a_revocation_through_one_replica_... measures it).
        logged_out = time.monotonic()
        while (await on_b.get("/users/protected", headers=cookie)).status == 200:
            assert time.monotonic() - logged_out <= LAG_S
            await asyncio.sleep(0.01)


async def test_failed_logins_on_one_replica_throttle_the_other(replicas: tuple[AuthsvcProcess, AuthsvcProcess]) -> None:
    a, b = replicas
    credentials = {"username": new_name("target"), "password": PASSWORD}
    async with aiohttp.ClientSession(a.url) as on_a, aiohttp.ClientSession(b.url) as on_b:
        assert (await on_b.post("/users/signup", json=credentials)).status == 201
        for _ in range(CLIENT_MAX_FAILURES):
            wrong = await on_a.post("/users/login", json={**credentials, "password": "wrong password"})
            assert wrong.status == 401
        throttled = await on_b.post("/users/login", json=credentials)
        assert throttled.status == 429
        assert int(throttled.headers["Retry-After"]) > 0


LAG_S = 1.0  # mongodb.revocation_lag_ms's default: the replicas run with it


@dataclass
class Scene:
    """A user with two sessions made through replica A: the victim's is revoked, the actor's does it."""

    a: AuthsvcProcess
    on_a: aiohttp.ClientSession
    name: str
    victim: dict[str, str]
    actor: dict[str, str]


async def logout(scene: Scene) -> None:
    assert (await scene.on_a.post("/users/logout", headers=scene.victim)).status == 200


async def revoke_one(scene: Scene) -> None:
    listed = (await (await scene.on_a.get("/users/me/sessions", headers=scene.actor)).json())["sessions"]
    (handle,) = [entry["id"] for entry in listed if not entry["current"]]
    assert (await scene.on_a.delete(f"/users/me/sessions/{handle}", headers=scene.actor)).status == 200


async def revoke_others(scene: Scene) -> None:
    assert (await scene.on_a.delete("/users/me/sessions", headers=scene.actor)).status == 200


async def change_password(scene: Scene) -> None:
    body = {"currentPassword": PASSWORD, "newPassword": "another password 42"}
    assert (await scene.on_a.post("/users/me/password", headers=scene.actor, json=body)).status == 200


async def delete_account(scene: Scene) -> None:
    assert (await scene.on_a.delete("/users/me", headers=scene.actor, json={"password": PASSWORD})).status == 200


async def session_limit(scene: Scene) -> None:
    third = await scene.on_a.post("/users/login", json={"username": scene.name, "password": PASSWORD})
    assert third.status == 200  # session.max_per_user: 2 ends the least recently used, the victim's


async def admin_disable(scene: Scene) -> None:
    """Disabling the user through the admin API ends every session of theirs (and refuses their logins)."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    found = await (await scene.on_a.get("/admin/users", params={"prefix": scene.name}, headers=admin)).json()
    (user,) = [user for user in found["users"] if user["username"] == scene.name]
    assert (await scene.on_a.post(f"/admin/users/{user['id']}/disable", headers=admin)).status == 200


def by_cli(*command: str) -> Callable[[Scene], Awaitable[None]]:
    async def revoke(scene: Scene) -> None:
        args = (*command, scene.name, "--config", str(scene.a.config_path))
        result = await asyncio.to_thread(cli, *args, env={"AUTHSVC_SESSION_KEY": TEST_KEY})
        assert result.returncode == 0, result.stderr

    revoke.__name__ = "_".join(command).replace("-", "_")
    return revoke


REVOCATIONS = [
    logout,
    revoke_one,
    revoke_others,
    change_password,
    delete_account,
    session_limit,
    by_cli("revoke-sessions"),
    by_cli("mfa-reset"),
    admin_disable,
    by_cli("users", "disable"),
]


@pytest.mark.parametrize("revoke", REVOCATIONS, ids=lambda revoke: revoke.__name__)
async def test_a_revocation_through_one_replica_reaches_the_others_cache_within_the_lag(
    replicas: tuple[AuthsvcProcess, AuthsvcProcess], revoke: Callable[[Scene], Awaitable[None]]
) -> None:
    a, b = replicas
    name = new_name("lag")
    credentials = {"username": name, "password": PASSWORD}
    async with aiohttp.ClientSession(a.url) as on_a, aiohttp.ClientSession(b.url) as on_b:
        assert (await on_a.post("/users/signup", json=credentials)).status == 201
        victim = {"Cookie": f"sid={session_cookie(await on_a.post('/users/login', json=credentials))}"}
        actor = {"Cookie": f"sid={session_cookie(await on_a.post('/users/login', json=credentials))}"}
        for _ in range(3):  # the first look-up fills B's cache, the others are answered from it
            assert (await on_b.get("/auth/verify", headers=victim)).status == 200
        ready = await (await on_b.get("/readyz")).json()
        assert ready == {"status": "ready", "details": {"cache": "following the revocations log"}}
        assert "authsvc_cache_fallback 0.0" in await (await on_b.get("/metrics")).text()

        await revoke(Scene(a, on_a, name, victim, actor))
        revoked_at = time.monotonic()
        if revoke.__name__ not in ("revoke_sessions", "mfa_reset", "users_disable"):  # the CLI is a third process
            assert (await on_a.get("/auth/verify", headers=victim)).status == 401  # the same replica: at once
        while (await on_b.get("/auth/verify", headers=victim)).status == 200:
            assert time.monotonic() - revoked_at <= LAG_S, "replica B still accepts the revoked session"
            await asyncio.sleep(0.01)
        assert time.monotonic() - revoked_at <= LAG_S


async def test_authsvc_revoke_sessions_refuses_a_pending_login_on_every_replica_within_the_lag(
    replicas: tuple[AuthsvcProcess, AuthsvcProcess],
) -> None:
    """Issue 30: the administrator's revoke-sessions (a third process) also ends a login waiting for its second
    factor, begun through A and known to B's cache; B refuses it within the lag."""
    a, b = replicas
    name = new_name("pending")
    credentials = {"username": name, "password": PASSWORD}
    async with aiohttp.ClientSession(a.url) as on_a, aiohttp.ClientSession(b.url) as on_b:
        assert (await on_a.post("/users/signup", json=credentials)).status == 201
        owner = {"Cookie": f"sid={session_cookie(await on_a.post('/users/login', json=credentials))}"}
        enrolment = await (await on_a.post("/users/me/mfa/totp", headers=owner, json={"password": PASSWORD})).json()
        secret = enrolment["secret"]
        code = {"enrolmentToken": enrolment["enrolmentToken"], "code": pyotp.TOTP(secret).now()}
        assert (await on_a.post("/users/me/mfa/totp/confirm", headers=owner, json=code)).status == 200
        first = await on_a.post("/users/login", json=credentials)  # the attacker's password step
        assert (await first.json())["msg"] == "Second factor required"
        pending = {"Cookie": f"sid_mfa={first.cookies['sid_mfa'].value}"}
        # Live on B (which now keeps the user cached): it only has no passkey to offer.
        assert (await on_b.post("/users/login/mfa/webauthn/options", headers=pending)).status == 404

        await by_cli("revoke-sessions")(Scene(a, on_a, name, owner, owner))
        revoked_at = time.monotonic()
        while (await on_b.post("/users/login/mfa/webauthn/options", headers=pending)).status != 401:
            assert time.monotonic() - revoked_at <= LAG_S, "replica B still honours the pending login"
            await asyncio.sleep(0.01)
        for replica in (on_a, on_b):
            late = await replica.post("/users/login/mfa", headers=pending, json={"code": pyotp.TOTP(secret).now()})
            assert late.status == 401 and (await late.json())["detail"] == NO_PENDING_LOGIN
