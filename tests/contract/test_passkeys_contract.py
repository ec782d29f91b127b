"""The passkey ports on every backend: credential ids unique across users, counters compare-and-set, challenges
taken once (what lets replicas share a ceremony)."""

from __future__ import annotations

import asyncio

import pytest

from authsvc.auth.models import Passkey, PasskeyChallenge
from authsvc.storage.ports import Storage
from tests.helpers import ManualClock

pytestmark = pytest.mark.driver_contract

NOW = ManualClock().now()
USER = "6267c2a07b61b72e5f4689b0"
OTHER = "6267c2a07b61b72e5f4689b1"


def passkey(credential_id: str, user_id: str = USER, created_at: float = NOW) -> Passkey:
    return Passkey(
        credential_id, user_id, "laptop", b"\xa5\x01\x02" + credential_id.encode(), 0, ("internal",), created_at
    )


async def test_a_passkey_is_stored_found_by_its_id_and_listed_oldest_first(storage: Storage) -> None:
    passkeys = storage.passkeys
    assert await passkeys.find("cred-a") is None
    assert await passkeys.add(passkey("cred-b", created_at=NOW + 5))
    assert await passkeys.add(passkey("cred-a"))
    assert await passkeys.add(passkey("cred-c", OTHER))
    found = await passkeys.find("cred-a")
    assert found == passkey("cred-a")  # the public key's bytes and the transports come back as they went in
    assert [p.credential_id for p in await passkeys.list_for_user(USER)] == ["cred-a", "cred-b"]
    assert await passkeys.list_for_user("6267c2a07b61b72e5f4689b2") == []


async def test_a_credential_id_is_registered_once_whoever_registers_it(storage: Storage) -> None:
    assert await storage.passkeys.add(passkey("cred-a"))
    assert not await storage.passkeys.add(passkey("cred-a", OTHER))
    found = await storage.passkeys.find("cred-a")
    assert found is not None and found.user_id == USER


async def test_the_counter_is_compare_and_set_so_16_concurrent_uses_accept_one(storage: Storage) -> None:
    await storage.passkeys.add(passkey("cred-a"))
    results = await asyncio.gather(*(storage.passkeys.record_use("cred-a", 0, 7, NOW + 1) for _ in range(16)))
    assert results.count(True) == 1
    used = await storage.passkeys.find("cred-a")
    assert used is not None and (used.sign_count, used.last_used_at) == (7, NOW + 1)
    assert not await storage.passkeys.record_use("cred-a", 0, 8, NOW + 2)  # a stale view of the counter
    assert not await storage.passkeys.record_use("missing", 0, 1, NOW)


async def test_a_counter_of_zero_is_kept_by_authenticators_that_do_not_count(storage: Storage) -> None:
    await storage.passkeys.add(passkey("cred-a"))
    assert await storage.passkeys.record_use("cred-a", 0, 0, NOW + 1)
    assert await storage.passkeys.record_use("cred-a", 0, 0, NOW + 2)
    used = await storage.passkeys.find("cred-a")
    assert used is not None and used.last_used_at == NOW + 2


async def test_delete_takes_only_the_owners_passkey(storage: Storage) -> None:
    await storage.passkeys.add(passkey("cred-a"))
    await storage.passkeys.add(passkey("cred-b"))
    await storage.passkeys.add(passkey("cred-c", OTHER))
    assert not await storage.passkeys.delete(OTHER, "cred-a")
    assert await storage.passkeys.delete(USER, "cred-a")
    assert not await storage.passkeys.delete(USER, "cred-a")
    assert await storage.passkeys.delete_for_user(USER) == 1
    assert await storage.passkeys.list_for_user(USER) == []
    assert await storage.passkeys.find("cred-c") is not None


async def test_a_challenge_is_taken_once_even_by_16_at_a_time(storage: Storage) -> None:
    challenge = PasskeyChallenge("chal-1", "passwordless", "browser", NOW + 120)
    await storage.passkey_challenges.put(challenge)
    results = await asyncio.gather(*(storage.passkey_challenges.take("chal-1", NOW) for _ in range(16)))
    assert [r for r in results if r is not None] == [challenge]
    assert await storage.passkey_challenges.take("chal-1", NOW) is None
    assert await storage.passkey_challenges.take("never-issued", NOW) is None


async def test_an_expired_challenge_is_refused_and_purged(storage: Storage) -> None:
    await storage.passkey_challenges.put(PasskeyChallenge("old", "register", USER, NOW + 120))
    await storage.passkey_challenges.put(PasskeyChallenge("older", "register", USER, NOW + 60))
    await storage.passkey_challenges.put(PasskeyChallenge("live", "register", USER, NOW + 600))
    assert await storage.passkey_challenges.take("old", NOW + 120) is None
    assert await storage.passkey_challenges.purge_expired(NOW + 300) == 1
    assert await storage.passkey_challenges.take("live", NOW + 300) is not None
