"""What only the memory backend's counters have: a bound, and what they evict first to keep it."""

from __future__ import annotations

import contextlib
import secrets

import pytest

from authsvc.config import ThrottleSettings
from authsvc.errors import TooManyRequests
from authsvc.metrics import Metrics
from authsvc.storage.memory import MemoryAttemptCounter
from authsvc.throttle.rules import LoginThrottle
from tests.conftest import make_settings
from tests.helpers import ManualClock


def throttle_over(counter: MemoryAttemptCounter, clock: ManualClock) -> LoginThrottle:
    settings: ThrottleSettings = make_settings().throttle
    return LoginThrottle(counter, clock, settings, Metrics())


async def test_a_flood_of_random_names_stays_within_the_bound_and_keeps_the_guessers_back_off(
    clock: ManualClock,
) -> None:
    counter = MemoryAttemptCounter(max_units=1_000)
    throttle = throttle_over(counter, clock)
    for _ in range(10):
        await throttle.begin("alice", "203.0.113.5", None)
    with pytest.raises(TooManyRequests):
        await throttle.begin("alice", "203.0.113.5", None)
    most = 0
    for n in range(5_000):  # 3 units each: the store evicts several times over
        await throttle.begin(secrets.token_hex(8), f"10.0.{n >> 8}.{n & 255}", None)
        most = max(most, counter.units)
    assert most <= 1_000
    with pytest.raises(TooManyRequests):  # the one-off records went first, the guesser's stayed
        await throttle.begin("alice", "203.0.113.5", None)


async def test_refused_attempts_of_a_spraying_address_leave_no_records(clock: ManualClock) -> None:
    counter = MemoryAttemptCounter()
    throttle = throttle_over(counter, clock)
    for _ in range(5_000):
        with contextlib.suppress(TooManyRequests):
            await throttle.begin(secrets.token_hex(8), "203.0.113.6", None)
    assert counter.units < 200  # 51 names' records and one capped set, not 5,000 names'


async def test_memory_counters_are_keyed_by_hashes(clock: ManualClock) -> None:
    counter = MemoryAttemptCounter()
    await throttle_over(counter, clock).begin("alice@example.com", "203.0.113.7", None)
    dumped = repr(counter.__dict__)
    assert "alice" not in dumped and "203.0.113" not in dumped
