"""The SecondFactorRepository contract on every backend: single use is atomic in storage, so replicas agree."""

from __future__ import annotations

import asyncio

import pytest

from authsvc.storage.ports import Storage
from tests.helpers import ManualClock

pytestmark = pytest.mark.driver_contract

NOW = ManualClock().now()
USER = "6267c2a07b61b72e5f4689b0"
HASHES = [f"{i:064x}" for i in range(10)]


async def test_begin_then_confirm_totp(storage: Storage) -> None:
    factors = storage.second_factors
    assert await factors.get(USER) is None
    assert await factors.begin_totp(USER, "sealed-1", NOW)
    assert await factors.begin_totp(USER, "sealed-2", NOW + 1)  # a pending secret is replaced
    pending = await factors.get(USER)
    assert pending is not None
    assert (pending.totp_secret, pending.totp_confirmed, pending.recovery_code_hashes) == ("sealed-2", False, ())
    assert pending.confirmed_at is None and pending.added_at == NOW + 1
    assert await factors.confirm_totp(USER, 100, HASHES, NOW + 5)
    confirmed = await factors.get(USER)
    assert confirmed is not None
    assert (confirmed.totp_confirmed, confirmed.last_used_step, confirmed.recovery_code_hashes) == (
        True,
        100,
        tuple(HASHES),
    )
    assert (confirmed.created_at, confirmed.confirmed_at, confirmed.added_at) == (NOW + 1, NOW + 5, NOW + 5)
    assert not await factors.confirm_totp(USER, 101, HASHES, NOW + 6)  # only a pending secret is confirmed
    assert not await factors.begin_totp(USER, "sealed-3", NOW + 2)  # a confirmed one is not replaced
    assert (await factors.get(USER)) == confirmed


async def test_totp_step_is_used_once_and_only_forward(storage: Storage) -> None:
    factors = storage.second_factors
    assert not await factors.use_totp_step(USER, 5)  # nothing enrolled
    await factors.begin_totp(USER, "sealed", NOW)
    assert not await factors.use_totp_step(USER, 5)  # not confirmed yet
    await factors.confirm_totp(USER, 100, HASHES, NOW)
    assert not await factors.use_totp_step(USER, 100)
    assert not await factors.use_totp_step(USER, 99)
    assert await factors.use_totp_step(USER, 101)
    assert not await factors.use_totp_step(USER, 101)


async def test_16_concurrent_uses_of_one_step_accept_one(storage: Storage) -> None:
    factors = storage.second_factors
    await factors.begin_totp(USER, "sealed", NOW)
    await factors.confirm_totp(USER, 100, HASHES, NOW)
    results = await asyncio.gather(*(factors.use_totp_step(USER, 101) for _ in range(16)))
    assert results.count(True) == 1


async def test_recovery_code_is_used_once(storage: Storage) -> None:
    factors = storage.second_factors
    await factors.begin_totp(USER, "sealed", NOW)
    assert not await factors.use_recovery_code(USER, HASHES[0])  # not confirmed yet
    await factors.confirm_totp(USER, 100, HASHES, NOW)
    results = await asyncio.gather(*(factors.use_recovery_code(USER, HASHES[3]) for _ in range(8)))
    assert results.count(True) == 1
    assert not await factors.use_recovery_code(USER, "f" * 64)
    left = await factors.get(USER)
    assert left is not None
    assert left.recovery_code_hashes == tuple(h for h in HASHES if h != HASHES[3])


async def test_recovery_codes_are_replaced_as_a_set_only_for_a_confirmed_totp(storage: Storage) -> None:
    factors = storage.second_factors
    fresh = [f"{i:064x}" for i in range(100, 110)]
    assert not await factors.replace_recovery_codes(USER, fresh)  # nothing enrolled
    await factors.begin_totp(USER, "sealed", NOW)
    assert not await factors.replace_recovery_codes(USER, fresh)  # not confirmed yet
    await factors.confirm_totp(USER, 100, HASHES, NOW)
    assert await factors.use_recovery_code(USER, HASHES[0])
    assert await factors.replace_recovery_codes(USER, fresh)
    replaced = await factors.get(USER)
    assert replaced is not None and replaced.recovery_code_hashes == tuple(fresh)
    assert not await factors.use_recovery_code(USER, HASHES[1])  # every old code is gone
    assert await factors.use_recovery_code(USER, fresh[0])
    assert replaced.totp_secret == "sealed" and replaced.last_used_step == 100


async def test_delete_removes_every_factor_of_the_user_only(storage: Storage) -> None:
    factors = storage.second_factors
    other = "6267c2a07b61b72e5f4689b1"
    await factors.begin_totp(USER, "sealed", NOW)
    await factors.begin_totp(other, "sealed", NOW)
    assert await factors.delete(USER)
    assert not await factors.delete(USER)
    assert await factors.get(USER) is None
    assert await factors.get(other) is not None
