"""The admin surface of the real process on MongoDB (FerretDB): a token read from the environment as the README says,
and the `authsvc users` verbs acting on what the served API sees."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.driver import PASSWORD, new_name
from tests.helpers import FAST_CONFIG, TEST_KEY, AuthsvcProcess, cli
from tests.mongodb import mongo_sections

pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]
TOKEN = secrets.token_urlsafe(32)
SCOPES = ["users:read", "users:write", "sessions:write", "events:read"]


@pytest.fixture
def service(tmp_path: Path, mongodb_url: str, mongodb_database: str) -> Iterator[AuthsvcProcess]:
    config: dict[str, Any] = {
        **FAST_CONFIG,
        **mongo_sections(mongodb_url, mongodb_database),
        "admin": {"tokens": [{"name": "ops", "token": "${AUTHSVC_ADMIN_TOKEN}", "scopes": SCOPES}]},
    }
    process = AuthsvcProcess(tmp_path, config, env={"AUTHSVC_ADMIN_TOKEN": TOKEN}).start()
    yield process
    process.stop()


async def users(service: AuthsvcProcess, *args: str) -> tuple[int, str]:
    """The exit code and standard output (warnings go to standard error) of `authsvc users ...`."""
    command = ("users", *args, "--config", str(service.config_path))
    env = {"AUTHSVC_SESSION_KEY": TEST_KEY, "AUTHSVC_ADMIN_TOKEN": TOKEN}
    result = await asyncio.to_thread(cli, *command, env=env)
    return result.returncode, result.stdout or result.stderr


async def test_the_users_verbs_act_on_what_the_api_serves(service: AuthsvcProcess) -> None:
    name = new_name("dave")
    credentials = {"username": name, "password": PASSWORD}
    admin = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(service.url) as http:
        assert (await http.get("/admin/users", headers=admin)).status == 200  # the token came from the environment
        assert (
            await http.get("/admin/users", headers={"Authorization": "Bearer ${AUTHSVC_ADMIN_TOKEN}"})
        ).status == 401
        signup = await http.post("/users/signup", json=credentials)
        user_id = (await signup.json())["userId"]

        assert await users(service, "list", "--prefix", name) == (0, f"{user_id}\t{name}\tactive\n")
        code, out = await users(service, "disable", name)
        assert code == 0 and "disabled" in out
        assert (await http.post("/users/login", json=credentials)).status == 401
        code, out = await users(service, "show", name)
        assert code == 0 and "state: disabled" in out and "live sessions: 0" in out
        assert await users(service, "list", "--prefix", name, "--state", "active") == (0, "\n")
        assert (await users(service, "enable", name))[0] == 0
        trail = await http.get("/admin/events", params={"user": user_id}, headers=admin)
        assert [(e["type"], e["actor"]) for e in (await trail.json())["events"]] == [
            ("signup", "user"),
            ("account.disabled", "cli"),  # written by the CLI's process before it closed the database
            ("account.enabled", "cli"),
        ]
        assert (await http.post("/users/login", json=credentials)).status == 200

        invitee = new_name("erin")
        code, out = await users(service, "invite", invitee, f"{invitee}@example.com")
        assert code == 0
        shown = await http.get(f"/admin/users/{out.strip()}", headers=admin)
        assert (await shown.json())["email"] == f"{invitee}@example.com"

        assert (await users(service, "delete", name))[0] == 0
        assert (await http.post("/users/login", json=credentials)).status == 401
        code, out = await users(service, "show", name)
        assert code == 1 and "no user with this name" in out
