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
            assert stored["password"].startswith("$bcrypt-sha256$"), username
            assert stored["createdAt"] == before[username]["createdAt"]
            assert stored["updatedAt"] > before[username]["updatedAt"]
            assert stored["__v"] == 0
            assert (await login(http, username, entry["password"])).status == 200, username


async def test_daves_whole_100_byte_password_counts_after_the_upgrade(authsvc: AuthsvcProcess) -> None:
    password = tutorial_passwords()["dave"]["password"]
    assert len(password.encode("utf-8")) == 100
    first_72_bytes = password.encode("utf-8")[:72].decode("utf-8")
    async with aiohttp.ClientSession(authsvc.url) as http:
        assert (await login(http, "dave", password)).status == 200  # the legacy hash: node's 72-byte cut
        assert (await login(http, "dave", first_72_bytes)).status == 401  # the upgraded hash covers every byte
        assert (await login(http, "dave", password)).status == 200


async def test_tutorial_names_stay_taken(authsvc: AuthsvcProcess) -> None:
    async with aiohttp.ClientSession(authsvc.url) as http:
        again = await http.post("/users/signup", json={"username": "Alice", "password": "a fresh passphrase"})
        assert again.status == 409
