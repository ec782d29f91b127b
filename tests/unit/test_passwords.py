from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import pytest

from authsvc.users.passwords import PREFIX, PasswordHasher, PasswordPolicy, load_common_passwords

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    with ThreadPoolExecutor(2) as executor:
        yield PasswordHasher(executor, cost=4)


async def test_hash_is_self_describing_and_verifies(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery")
    assert stored.startswith(PREFIX + "$2b$04$")
    assert await hasher.verify("correct horse battery", stored)
    assert not await hasher.verify("correct horse batterx", stored)
    assert not hasher.needs_rehash(stored)


async def test_v6_2_9_long_password_is_not_truncated(hasher: PasswordHasher) -> None:
    password = "p" * 100
    stored = await hasher.hash(password)
    assert await hasher.verify(password, stored)
    assert not await hasher.verify(password[:72], stored)


async def test_any_script_and_128_characters_accepted(hasher: PasswordHasher) -> None:
    password = "пароль-密码-🔑" * 11  # 132 code points, over 300 UTF-8 bytes
    stored = await hasher.hash(password)
    assert await hasher.verify(password, stored)


async def test_legacy_tutorial_hash_verifies_like_node_and_needs_upgrade(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode()
    assert await hasher.verify("x" * 72 + "ignored tail", legacy)
    assert hasher.needs_rehash(legacy)


async def test_other_cost_needs_rehash(hasher: PasswordHasher) -> None:
    with ThreadPoolExecutor(1) as executor:
        stronger = PasswordHasher(executor, cost=5)
        assert stronger.needs_rehash(await hasher.hash("correct horse battery"))


@pytest.mark.parametrize("stored", ["", "plain", "$2b$10$short", PREFIX + "garbage", "$argon2id$v=19$x"])
async def test_malformed_stored_hash_never_matches(hasher: PasswordHasher, stored: str) -> None:
    assert not await hasher.verify("anything at all", stored)


def _fixture_users() -> list[tuple[dict[str, str], str]]:
    users = [json.loads(line) for line in (FIXTURES / "tutorial-users.jsonl").read_text().splitlines() if line]
    passwords = json.loads((FIXTURES / "tutorial-users.passwords.json").read_text())
    by_name = {entry["username"]: entry["password"] for entry in passwords}
    return [(user, by_name[user["username"]]) for user in users]


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures are not beside the checkout")
async def test_tutorial_fixture_hashes_verify_with_their_passwords(hasher: PasswordHasher) -> None:
    for user, password in _fixture_users():
        assert await hasher.verify(password, user["password"]), user["username"]
        assert not await hasher.verify("not " + password, user["password"]), user["username"]
        assert hasher.needs_rehash(user["password"])


def test_common_password_list_is_large() -> None:
    common = load_common_passwords()
    assert len(common) >= 10_000
    assert {"password", "123456", "qwerty"} <= common


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8"),
        ("password1", "common"),
        ("Password1", "common"),
        ("alice.smith", "username"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_v6_2_1_v6_2_4_policy_refuses(password: str, problem: str) -> None:
    policy = PasswordPolicy(8, 1024, load_common_passwords())
    assert problem in (policy.problem(password, "alice.smith") or "")


def test_v6_2_5_no_composition_rules() -> None:
    policy = PasswordPolicy(8, 1024, load_common_passwords())
    assert policy.problem("all lower case words here", "alice") is None


def test_v6_2_11_context_specific_words_are_refused() -> None:
    policy = PasswordPolicy(8, 1024, frozenset(), ["authsvc", "Acme"])
    assert policy.problem("my AuthSvc password", "alice") is not None
    assert policy.problem("ACME-2026-rocks", "alice") is not None
    assert policy.problem("correct horse battery", "alice") is None


async def test_v6_2_8_password_checked_exactly_as_received(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("Correct Horse Battery")
    assert not await hasher.verify("correct horse battery", stored)
    assert not await hasher.verify("Correct Horse Battery ", stored)
    assert not await hasher.verify("Correct Horse Batter", stored)
