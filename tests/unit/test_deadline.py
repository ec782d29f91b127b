"""The request's storage deadline: what it bounds, and what a request that met a failure skips."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from authsvc import deadline
from authsvc.errors import StorageUnavailable
from authsvc.storage.mongo.client import Availability
from authsvc.users.passwords import PasswordHasher


def test_outage_bound_is_the_selection_timeout_rounded_up_to_the_next_half_second() -> None:
    assert deadline.outage_bound(2000) == 2.5
    assert deadline.outage_bound(1000) == 1.5
    assert deadline.outage_bound(1200) == 1.5
    assert deadline.outage_bound(12000) == 12.5


def test_storage_work_after_a_failure_with_nothing_left_is_skipped_without_asking() -> None:
    ran = False
    with deadline.request_deadline(0.0):
        request = deadline.current()
        assert request is not None
        request.failed = True
        with pytest.raises(StorageUnavailable), Availability().guard():
            ran = True
    assert not ran
    assert deadline.current() is None  # the deadline was the request's only


def test_a_request_whose_deadline_passed_before_it_reached_the_database_answers_503_without_asking() -> None:
    # Queued elsewhere (the index lock behind a request that met the outage, a full bcrypt pool) until its deadline
    # passed, with no failure of its own yet: 503 at once, not the driver's ValueError for a negative timeout (a 500).
    ran = False
    with deadline.request_deadline(-0.1):
        request = deadline.current()
        assert request is not None
        assert not request.failed
        with pytest.raises(StorageUnavailable), Availability().guard():
            ran = True
    assert not ran


def test_half_a_second_left_while_the_database_is_known_away_answers_503_without_asking() -> None:
    # The driver notices a selection timeout only every half second: it would answer past the deadline.
    available = Availability()
    available.down = True
    ran = False
    with deadline.request_deadline(deadline.DRIVER_RECHECK_SECONDS - 0.1):
        with pytest.raises(StorageUnavailable), available.guard():
            ran = True
        request = deadline.current()
        assert request is not None and request.failed
    assert not ran


async def test_follow_up_skips_and_logs_a_storage_failure(caplog: pytest.LogCaptureFixture) -> None:
    async def notice() -> None:
        raise StorageUnavailable()

    assert await deadline.follow_up("a notice", notice(), user_id="u1") is False
    assert "a notice skipped: the storage is unavailable" in caplog.text


async def test_time_spent_hashing_a_password_is_given_back_to_the_deadline() -> None:
    """A login queued behind other hashes (one thread, three at once) still reaches the database with its budget."""
    executor = ThreadPoolExecutor(max_workers=1)
    hasher = PasswordHasher(executor, cost=8, threads=1)
    stored = await hasher.hash("correct horse battery")

    async def login() -> float:
        with deadline.request_deadline(0.05):
            request = deadline.current()
            assert request is not None
            for _ in range(5):  # bcrypt at cost 8, the other two logins' hashes in between
                assert await hasher.verify("correct horse battery", stored)
            return request.remaining()

    try:
        started = time.monotonic()
        left = await asyncio.gather(login(), login(), login())
        assert time.monotonic() - started > 0.1  # the hashing took longer than the whole budget...
        assert all(0.025 < remaining <= 0.05 for remaining in left)  # ...and none of it was spent
    finally:
        executor.shutdown()
