"""A `users` collection written by the NestJS tutorial's app works as it is (see ../shared/fixtures/README.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pymongo
import pytest
from bson import json_util

from tests.helpers import FAST_CONFIG, ROOT, AuthsvcProcess
from tests.mongodb import mongo_sections, new_database_name

FIXTURES = ROOT.parent / "shared" / "fixtures"
Admin = pymongo.MongoClient[dict[str, Any]]
pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]


def tutorial_users() -> list[dict[str, Any]]:
    lines = (FIXTURES / "tutorial-users.jsonl").read_text(encoding="utf-8").splitlines()
    return [json_util.loads(line) for line in lines if line.strip()]


def tutorial_passwords() -> dict[str, dict[str, str]]:
    entries = json.loads((FIXTURES / "tutorial-users.passwords.json").read_text(encoding="utf-8"))
    return {entry["username"]: entry for entry in entries}


@pytest.fixture
def tutorial_database(mongodb_admin: Admin) -> Iterator[Any]:
    """A database whose `users` the tutorial's app wrote, before authsvc ever saw it."""
    name = new_database_name()
    database = mongodb_admin[name]
    database["users"].insert_many(tutorial_users())
    yield database
    mongodb_admin.drop_database(name)


@pytest.fixture
def authsvc(tmp_path: Path, mongodb_url: str, tutorial_database: Any) -> Iterator[AuthsvcProcess]:
    process = AuthsvcProcess(tmp_path, {**FAST_CONFIG, **mongo_sections(mongodb_url, tutorial_database.name)})
    yield process.start()
    process.stop()


async def login(http: aiohttp.ClientSession, username: str, password: str) -> aiohttp.ClientResponse:
    return await http.post("/users/login", json={"username": username, "password": password})


async def test_tutorial_users_log_in_keep_their_ids_and_get_upgraded_hashes(
    authsvc: AuthsvcProcess, tutorial_database: Any
) -> None:
    before = {doc["username"]: doc for doc in tutorial_database["users"].find()}
    users = tutorial_passwords()
    assert users.keys() == before.keys()
    async with aiohttp.ClientSession(authsvc.url) as http:
        for username, entry in users.items():
            response = await login(http, username, entry["password"])
            assert response.status == 200, username
            assert (await response.json())["User"] == {"userId": entry["userId"], "userName": username}
            stored = tutorial_database["users"].find_one({"username": username})
            # dave's 100-byte password keeps node's 72-byte semantics, re-hashed only for the configured cost
            upgraded = "$2b$04$" if len(entry["password"].encode()) >= 72 else "$bcrypt-sha256$$2b$04$"
            assert stored["password"].startswith(upgraded), username
            assert stored["createdAt"] == before[username]["createdAt"]
            assert stored["updatedAt"] > before[username]["updatedAt"]
            assert stored["__v"] == 0
            assert (await login(http, username, entry["password"])).status == 200, username


async def test_a_login_with_a_typo_past_72_bytes_does_not_replace_daves_password(authsvc: AuthsvcProcess) -> None:
    password = tutorial_passwords()["dave"]["password"]
    assert len(password.encode("utf-8")) == 100
    typo = password[:72] + "a typo in the part node's bcrypt never read"
    async with aiohttp.ClientSession(authsvc.url) as http:
        assert (await login(http, "dave", typo)).status == 200  # node's 72-byte cut, as in the tutorial's app
        assert (await login(http, "dave", password)).status == 200  # the real password still opens the account
        assert (await login(http, "dave", typo)).status == 200  # 72-byte semantics until dave changes it
        assert (await login(http, "dave", password[:71])).status == 401


async def test_tutorial_names_stay_taken(authsvc: AuthsvcProcess) -> None:
    async with aiohttp.ClientSession(authsvc.url) as http:
        again = await http.post("/users/signup", json={"username": "Alice", "password": "a fresh passphrase"})
        assert again.status == 409
