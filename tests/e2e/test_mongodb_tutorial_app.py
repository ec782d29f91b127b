"""The real process beside the tutorial's app on one MongoDB database: users written and checked by its libraries.

tests/node/tutorial_users.js signs users up and logs them in as the NestJS tutorial's app does (toLowerCase()d
names, node bcrypt 5 at cost 10, Mongoose's document shape), while authsvc serves the same `users` collection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pymongo
import pytest
from bson import ObjectId

from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, AuthsvcProcess
from tests.mongodb import mongo_sections
from tests.tutorial_app import TutorialLibraries

pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]
Admin = pymongo.MongoClient[dict[str, Any]]
DAVE = "x" * 70 + "🔑 and the rest of dave's long passphrase"  # over 72 bytes; the key straddles the cut
DAVE_TYPO = "x" * 70 + "🔑 and a typo after node's 72-byte cut"


class SideBySide:
    """One database, the tutorial's libraries on it, and an authsvc process started and restarted on it."""

    def __init__(self, tmp_path: Path, url: str, database: str, admin: Admin, tutorial: TutorialLibraries) -> None:
        self._tmp_path = tmp_path
        self.url = url
        self.database = database
        self.users = admin[database]["users"]
        self._tutorial = tutorial
        self.process: AuthsvcProcess | None = None

    def start(self, *, tutorial_compatible: bool) -> str:
        self.stop()
        passwords = {**FAST_CONFIG["passwords"], "tutorial_compatible": tutorial_compatible}
        config = {**FAST_CONFIG, "passwords": passwords, **mongo_sections(self.url, self.database)}
        self.process = AuthsvcProcess(self._tmp_path, config).start()
        return self.process.url

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    async def tutorial_signup(self, users: dict[str, str]) -> dict[str, dict[str, str]]:
        return await self._tutorial.write(self.url, self.database, users)

    async def tutorial_login(self, username: str, password: str) -> dict[str, str] | None:
        return await self._tutorial.login(self.url, self.database, username, password)

    def stored(self, user_id: str) -> dict[str, Any]:
        doc = self.users.find_one({"_id": ObjectId(user_id)})
        assert doc is not None
        return doc


@pytest.fixture
def side_by_side(
    tmp_path: Path, mongodb_url: str, mongodb_database: str, mongodb_admin: Admin, tutorial: TutorialLibraries
) -> Iterator[SideBySide]:
    both = SideBySide(tmp_path, mongodb_url, mongodb_database, mongodb_admin, tutorial)
    yield both
    both.stop()


@pytest.fixture
async def http() -> AsyncIterator[Callable[[str], aiohttp.ClientSession]]:
    """A new client (own cookie jar) for a base URL; closed after the test."""
    opened: list[aiohttp.ClientSession] = []

    def open_(base_url: str) -> aiohttp.ClientSession:
        opened.append(aiohttp.ClientSession(base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)))
        return opened[-1]

    yield open_
    for session in opened:
        await session.close()


async def login(client: aiohttp.ClientSession, username: str, password: str) -> aiohttp.ClientResponse:
    return await client.post("/users/login", json={"username": username, "password": password})


async def test_a_login_with_a_typo_past_72_bytes_leaves_the_real_password_working_in_both_apps(
    side_by_side: SideBySide, http: Callable[[str], aiohttp.ClientSession]
) -> None:
    client = http(side_by_side.start(tutorial_compatible=False))
    dave = (await side_by_side.tutorial_signup({"dave": DAVE}))["dave"]
    assert (await login(client, "dave", DAVE_TYPO)).status == 200  # as in the tutorial's app: node read 72 bytes
    assert side_by_side.stored(dave["userId"])["password"].startswith("$2b$04$")  # re-costed, 72-byte semantics
    assert (await login(client, "dave", DAVE)).status == 200
    assert (await login(client, "dave", "x" * 70)).status == 401
    assert await side_by_side.tutorial_login("dave", DAVE) == dave  # the tutorial's app still lets him in


async def test_a_fullwidth_name_the_tutorial_stored_logs_in_and_no_look_alike_can_sign_up(
    side_by_side: SideBySide, http: Callable[[str], aiohttp.ClientSession]
) -> None:
    client = http(side_by_side.start(tutorial_compatible=False))
    carol = (await side_by_side.tutorial_signup({"\uff23arol": PASSWORD}))["\uff23arol"]
    assert carol["username"] == "\uff43arol"  # toLowerCase(), no NFKC
    response = await login(client, "\uff23arol", PASSWORD)
    assert response.status == 200
    assert (await response.json())["User"] == {"userId": carol["userId"], "userName": "\uff43arol"}
    for look_alike in ("carol", "CAROL", "\uff23arol", "\uff43\uff41\uff52\uff4f\uff4c"):
        signup = await client.post("/users/signup", json={"username": look_alike, "password": "someone else's pass"})
        assert signup.status == 409, look_alike
    assert (await login(client, "carol", PASSWORD)).status == 401
    doc = side_by_side.stored(carol["userId"])
    assert doc["username"] == "\uff43arol" and doc["usernameKey"] == "carol" and doc["__v"] == 0


async def test_side_by_side_mode_keeps_every_hash_verifiable_by_the_tutorials_app_until_it_is_turned_off(
    side_by_side: SideBySide, http: Callable[[str], aiohttp.ClientSession]
) -> None:
    client = http(side_by_side.start(tutorial_compatible=True))
    written = await side_by_side.tutorial_signup({"alice": PASSWORD, "dave": DAVE})
    for name, password in [("alice", PASSWORD), ("dave", DAVE)]:
        before = side_by_side.stored(written[name]["userId"])["password"]
        assert (await login(client, name, password)).status == 200, name
        assert side_by_side.stored(written[name]["userId"])["password"] == before, name  # no upgrade
        assert await side_by_side.tutorial_login(name, password) == written[name], name

    signup = await client.post("/users/signup", json={"username": "Bob", "password": "a fresh passphrase"})
    assert signup.status == 201
    bob = await side_by_side.tutorial_login("BOB", "a fresh passphrase")  # signed up here, logs in there
    assert bob == {"userId": (await signup.json())["userId"], "username": "bob"}

    assert (await login(client, "alice", PASSWORD)).status == 200
    change = {"currentPassword": PASSWORD, "newPassword": "a changed passphrase"}
    assert (await client.post("/users/me/password", json=change)).status == 200
    assert await side_by_side.tutorial_login("alice", "a changed passphrase") == written["alice"]
    assert await side_by_side.tutorial_login("alice", PASSWORD) is None

    refused = await client.post("/users/signup", json={"username": "erin", "password": "p" * 80})
    assert refused.status == 422
    [error] = (await refused.json())["errors"]
    assert error["pointer"] == "#/password" and "72 bytes" in error["detail"]

    client = http(side_by_side.start(tutorial_compatible=False))  # clients have moved: the mode goes off
    assert (await login(client, "alice", "a changed passphrase")).status == 200
    assert side_by_side.stored(written["alice"]["userId"])["password"].startswith("$bcrypt-sha256$")
    assert await side_by_side.tutorial_login("alice", "a changed passphrase") is None  # the old app is retired
