"""Issue 10, finding 3: a users document of unexpected shape answered 500 (and so told that it exists).

Against a real MongoDB-wire server, through the HTTP app; tests/http/test_findings.py fuzzes the mapping itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import bcrypt
import pymongo
import pytest
from bson import ObjectId

from authsvc.containers import Container
from authsvc.web.app import create_app
from tests.driver import PASSWORD
from tests.mongodb import mongo_sections

pytestmark = pytest.mark.mongodb
LEGACY = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()

MALFORMED = [
    {"username": "nullpassword", "password": None},
    {"username": "numberpassword", "password": 12345},
    {"_id": "string-id", "username": "stringid", "password": LEGACY},  # no createdAt, no ObjectId to date it
    {"username": "listname", "password": LEGACY, "createdAt": "yesterday"},
]


@pytest.fixture
def backend(mongodb_driver: str, mongodb_url: str, mongodb_database: str) -> dict[str, Any]:
    return mongo_sections(mongodb_url, mongodb_database, mongodb_driver)


async def test_finding3_malformed_user_documents_are_no_match_never_500(
    make_container: Callable[..., Container],
    aiohttp_client: Any,
    mongodb_admin: pymongo.MongoClient[dict[str, Any]],
    mongodb_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    users = mongodb_admin[mongodb_database]["users"]
    users.insert_many([dict(doc) for doc in MALFORMED])
    container = make_container()
    client = await aiohttp_client(create_app(container))
    hasher = container.password_hasher()
    checked: list[str] = []
    original = hasher.verify

    async def counting_verify(password: str, stored: str) -> bool:
        checked.append(stored)
        return await original(password, stored)

    hasher.verify = counting_verify  # type: ignore[method-assign]
    unknown = await client.post("/users/login", json={"username": "nobody", "password": PASSWORD})
    assert unknown.status == 401
    with caplog.at_level(logging.ERROR, logger="authsvc.storage"):
        for _ in range(2):
            for doc in MALFORMED:
                response = await client.post("/users/login", json={"username": doc["username"], "password": PASSWORD})
                assert response.status == 401, doc
                assert await response.json() == await unknown.json()
    assert len(checked) == 1 + 2 * len(MALFORMED)  # the dummy check every time, as for an unknown user
    assert len(set(checked)) == 1
    problems = [r for r in caplog.records if r.__dict__.get("event") == "data.problem"]
    assert len(problems) == len(MALFORMED)  # once per document, however often it is looked up
    assert {r.__dict__["document_id"] for r in problems} >= {"'string-id'"}
    assert PASSWORD not in caplog.text and LEGACY not in caplog.text


async def test_finding3_a_user_whose_document_went_bad_is_logged_out(
    make_container: Callable[..., Container],
    aiohttp_client: Any,
    mongodb_admin: pymongo.MongoClient[dict[str, Any]],
    mongodb_database: str,
) -> None:
    client = await aiohttp_client(create_app(make_container()))
    signup = await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    user_id = ObjectId((await signup.json())["userId"])
    mongodb_admin[mongodb_database]["users"].update_one({"_id": user_id}, {"$set": {"password": None}})
    assert (await client.get("/users/protected")).status == 401
