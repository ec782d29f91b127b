"""Users the tutorial's libraries hashed, and hashes they must verify, over HTTP on every backend.

Each backend holds a tutorial user through its repository: the name as the tutorial's app stored it, the hash from
node's bcrypt (tests/node/tutorial_users.js). On MongoDB, tests/e2e/test_mongodb_tutorial_app.py writes them with
the tutorial's mongodb driver too and runs the real process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.users.models import User
from authsvc.web.app import create_app
from tests.driver import PASSWORD
from tests.tutorial_app import TutorialLibraries

Client = TestClient[Any, Any]
LONG = "x" * 70 + "🔑 the real tail of this passphrase, past node's cut"  # the key's 4 bytes straddle byte 72


async def tutorial_user(container: Container, tutorial: TutorialLibraries, stored_name: str, password: str) -> User:
    """Arrange: a user as the tutorial's app stored it, hashed by node's bcrypt (cost 10)."""
    return await container.users_repository().create(stored_name, await tutorial.hash(password), 0.0)


async def login(client: Client, username: str, password: str) -> int:
    response = await client.post("/users/login", json={"username": username, "password": password})
    return response.status


async def stored_hash(container: Container, user_id: str) -> str:
    user = await container.users_repository().find_by_id(user_id)
    assert user is not None
    return user.password_hash


async def test_a_typo_past_72_bytes_logs_in_once_and_the_real_password_still_works(
    client: Client, container: Container, tutorial: TutorialLibraries
) -> None:
    assert len(LONG.encode("utf-8")) >= 100
    dave = await tutorial_user(container, tutorial, "dave", LONG)
    typo = "x" * 70 + "🔑, then a tail dave never meant"
    assert await tutorial.compare(typo, dave.password_hash)  # node's bcrypt reads 72 bytes: the tutorial let it in
    assert await login(client, "dave", typo) == 200
    assert await login(client, "dave", LONG) == 200
    upgraded = await stored_hash(container, dave.id)
    assert upgraded.startswith("$2b$04$")  # only the cost changed (10 -> the configured 4)
    assert await tutorial.compare(LONG, upgraded) and await tutorial.compare(typo, upgraded)
    assert await login(client, "dave", "x" * 70) == 401


async def test_a_fullwidth_name_logs_in_as_typed_and_its_look_alike_cannot_sign_up(
    client: Client, container: Container, tutorial: TutorialLibraries
) -> None:
    carol = await tutorial_user(container, tutorial, "\uff23arol".lower(), PASSWORD)  # what toLowerCase() stored
    response = await client.post("/users/login", json={"username": "\uff23arol", "password": PASSWORD})
    assert response.status == 200
    assert (await response.json())["User"]["userId"] == carol.id
    for look_alike in ("carol", "Carol", "\uff23arol"):
        signup = await client.post("/users/signup", json={"username": look_alike, "password": "another passphrase"})
        assert signup.status == 409, look_alike
    assert await login(client, "carol", PASSWORD) == 401


@pytest.fixture
async def compatible(make_container: Callable[..., Container], aiohttp_client: Any) -> tuple[Container, Client]:
    container = make_container(passwords={"tutorial_compatible": True})
    return container, await aiohttp_client(create_app(container))


async def test_tutorial_compatible_login_upgrades_no_hash(
    compatible: tuple[Container, Client], tutorial: TutorialLibraries
) -> None:
    container, client = compatible
    for stored_name, password in [("alice", PASSWORD), ("dave", LONG)]:
        user = await tutorial_user(container, tutorial, stored_name, password)
        assert await login(client, stored_name, password) == 200
        assert await stored_hash(container, user.id) == user.password_hash, stored_name


async def test_tutorial_compatible_new_and_changed_passwords_verify_with_nodes_bcrypt(
    compatible: tuple[Container, Client], tutorial: TutorialLibraries
) -> None:
    container, client = compatible
    password = "Ünïcødé ﬁ passphrase 🔑"  # stored as typed: no NFKC, so node's bcrypt sees the same bytes
    signup = await client.post("/users/signup", json={"username": "bob", "password": password})
    assert signup.status == 201
    bob_id = (await signup.json())["userId"]
    stored = await stored_hash(container, bob_id)
    assert stored.startswith("$2b$04$") and await tutorial.compare(password, stored)
    assert await login(client, "bob", password) == 200
    changed = await client.post("/users/me/password", json={"currentPassword": password, "newPassword": "x" * 72})
    assert changed.status == 200
    stored = await stored_hash(container, bob_id)
    assert await tutorial.compare("x" * 72, stored) and not await tutorial.compare(password, stored)


async def test_tutorial_compatible_refuses_an_80_byte_new_password_naming_the_field(
    compatible: tuple[Container, Client],
) -> None:
    _, client = compatible
    refused = await client.post("/users/signup", json={"username": "bob", "password": "p" * 80})
    assert refused.status == 422
    [error] = (await refused.json())["errors"]
    assert error["pointer"] == "#/password" and "72 bytes" in error["detail"] and "tutorial" in error["detail"]
    assert (await client.post("/users/signup", json={"username": "bob", "password": PASSWORD})).status == 201
    assert await login(client, "bob", PASSWORD) == 200
    change = await client.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": "é" * 40})
    assert change.status == 422  # 40 characters, 80 bytes
    [error] = (await change.json())["errors"]
    assert error["pointer"] == "#/newPassword" and "72 bytes" in error["detail"]
