"""The tutorial's flow against the real process on the MongoDB backend, on PyMongo; the process's own use of the
client (start-up with its indexes, a restart that closes and reopens it) on Motor too (tests/contract/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pymongo
import pytest

from tests.driver import PASSWORD, new_name, session_cookie
from tests.e2e import test_tutorial_flow as tutorial_flow
from tests.helpers import TUTORIAL_FLOW_CONFIG, AuthsvcProcess
from tests.mongodb import drivers_for, mongo_sections, new_database_name

pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]

# Every test of the tutorial flow, collected again here, where the `authsvc` fixture stands on MongoDB.
globals().update({name: test for name, test in vars(tutorial_flow).items() if name.startswith("test_")})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mongo_config" in metafunc.fixturenames:
        metafunc.parametrize("mongo_config", drivers_for(metafunc), indirect=True, scope="module")


@pytest.fixture(scope="module")
def mongo_config(request: pytest.FixtureRequest, mongodb_url: str, mongodb_admin: Any) -> Iterator[dict[str, Any]]:
    """This module's database, on one driver; dropped afterwards."""
    database = new_database_name()
    yield {**TUTORIAL_FLOW_CONFIG, **mongo_sections(mongodb_url, database, request.param)}
    mongodb_admin.drop_database(database)


@pytest.fixture(scope="module")
def authsvc(tmp_path_factory: pytest.TempPathFactory, mongo_config: dict[str, Any]) -> Iterator[AuthsvcProcess]:
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("authsvc")), mongo_config).start()
    yield process
    process.stop()


@pytest.mark.driver_contract
async def test_readyz_answers_and_start_up_logs_at_most_one_ttl_line(authsvc: AuthsvcProcess) -> None:
    assert authsvc.get("/readyz") == 200
    assert "MongoDB indexes are in place" in authsvc.logs()
    assert authsvc.logs().count("refuses TTL indexes") <= 1  # one on FerretDB v1, none on MongoDB


@pytest.mark.driver_contract
async def test_users_and_sessions_outlive_a_restart(tmp_path: Path, mongo_config: dict[str, Any]) -> None:
    name = new_name("durable")
    first = AuthsvcProcess(tmp_path, mongo_config).start()
    try:
        async with aiohttp.ClientSession(first.url) as http:
            assert (await http.post("/users/signup", json={"username": name, "password": PASSWORD})).status == 201
            cookie = session_cookie(await http.post("/users/login", json={"username": name, "password": PASSWORD}))
    finally:
        first.stop()
    second = AuthsvcProcess(tmp_path, mongo_config).start()
    try:
        async with aiohttp.ClientSession(second.url) as http:
            assert (await http.get("/users/protected", headers={"Cookie": f"sid={cookie}"})).status == 200
            assert (await http.post("/users/login", json={"username": name, "password": PASSWORD})).status == 200
    finally:
        second.stop()


async def test_signup_stores_the_user_under_its_object_id(
    authsvc: AuthsvcProcess, mongo_config: dict[str, Any], mongodb_admin: pymongo.MongoClient[dict[str, Any]]
) -> None:
    name = new_name("written")
    async with aiohttp.ClientSession(authsvc.url) as http:
        signup = await http.post("/users/signup", json={"username": name, "password": PASSWORD})
        assert signup.status == 201
        user_id = (await signup.json())["userId"]
    doc = mongodb_admin[mongo_config["mongodb"]["database"]]["users"].find_one({"username": name})
    assert doc is not None and str(doc["_id"]) == user_id and doc["password"].startswith("$bcrypt-sha256$")
