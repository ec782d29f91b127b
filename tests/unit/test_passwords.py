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
    assert await hasher.upgrade("correct horse battery", stored) is None


async def test_v6_2_9_long_password_is_not_truncated(hasher: PasswordHasher) -> None:
    password = "p" * 100
    stored = await hasher.hash(password)
    assert await hasher.verify(password, stored)
    assert not await hasher.verify(password[:72], stored)


async def test_any_script_and_128_characters_accepted(hasher: PasswordHasher) -> None:
    password = "пароль-密码-🔑" * 11  # 132 code points, over 300 UTF-8 bytes
    stored = await hasher.hash(password)
    assert await hasher.verify(password, stored)


async def test_legacy_tutorial_hash_verifies_like_node(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode()
    assert await hasher.verify("x" * 72 + "ignored tail", legacy)
    assert not await hasher.verify("x" * 71, legacy)


async def test_legacy_hash_of_a_short_password_is_upgraded_to_the_prehashed_scheme(hasher: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(4)).decode()
    upgraded = await hasher.upgrade("correct horse battery", legacy)
    assert upgraded is not None and upgraded.startswith(PREFIX + "$2b$04$")
    assert await hasher.verify("correct horse battery", upgraded)


@pytest.mark.parametrize("legacy_cost", [4, 5])
async def test_login_with_72_bytes_or_more_never_makes_the_typed_tail_the_password(
    hasher: PasswordHasher, legacy_cost: int
) -> None:
    real = "x" * 71 + "é" + "the real tail"  # é is 2 bytes in UTF-8: the 72-byte cut splits it
    legacy = bcrypt.hashpw(real.encode()[:72], bcrypt.gensalt(legacy_cost)).decode()
    typo = "x" * 71 + "é" + "a typo in the tail"
    assert await hasher.verify(typo, legacy)
    upgraded = await hasher.upgrade(typo, legacy) or legacy
    assert upgraded == legacy if legacy_cost == 4 else upgraded.startswith("$2b$04$")
    # exactly what the legacy hash accepted: the first 72 bytes, even half a character
    for accepted in (real, typo, "x" * 71 + "è"):  # è and é share their first UTF-8 byte
        assert await hasher.verify(accepted, legacy) and await hasher.verify(accepted, upgraded), accepted
    for refused in ("x" * 71, "x" * 72, "x" * 71 + "a"):
        assert not await hasher.verify(refused, legacy) and not await hasher.verify(refused, upgraded), refused


async def test_other_cost_is_upgraded(hasher: PasswordHasher) -> None:
    with ThreadPoolExecutor(1) as executor:
        stronger = PasswordHasher(executor, cost=5)
        upgraded = await stronger.upgrade("correct horse battery", await hasher.hash("correct horse battery"))
        assert upgraded is not None and upgraded.startswith(PREFIX + "$2b$05$")


async def test_tutorial_compatible_hashes_are_node_bcrypt_of_the_bytes_and_never_upgraded() -> None:
    with ThreadPoolExecutor(1) as executor:
        compatible = PasswordHasher(executor, cost=5, tutorial_compatible=True)
        password = "Ünïcødé ﬁ 🔑 kept as typed"  # no NFKC: ﬁ stays one ligature
        stored = await compatible.hash(password)
        assert stored.startswith("$2b$05$") and len(stored) == 60
        assert bcrypt.checkpw(password.encode("utf-8"), stored.encode())
        assert await compatible.verify(password, stored)
        assert compatible.max_bytes == 72
        for old in (bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode(), PREFIX + "$2b$04$" + "x" * 53, stored):
            assert await compatible.upgrade("x" * 100, old) is None


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
        assert await hasher.upgrade(password, user["password"]) is not None, user["username"]


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


def test_tutorial_compatible_policy_refuses_more_than_72_utf8_bytes_and_says_why() -> None:
    policy = PasswordPolicy(8, 1024, max_bytes=72)
    assert policy.problem("é" * 36, "alice") is None  # 72 bytes
    assert "at most 72 bytes" in (policy.problem("é" * 36 + "x", "alice") or "")
    assert "ignore the rest" in (policy.problem("p" * 80, "alice") or "")
    assert PasswordPolicy(8, 1024).problem("p" * 80, "alice") is None


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
