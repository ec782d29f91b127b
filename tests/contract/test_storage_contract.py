"""The storage ports' contract, pinned method by method on every backend, through the container's Storage."""

from __future__ import annotations

import asyncio

import pytest

from authsvc.auth.models import SessionRecord
from authsvc.errors import DuplicateUsername
from authsvc.storage.ports import Storage
from tests.helpers import ManualClock

NOW = ManualClock().now()  # where the `clock` fixture starts
HASH = "$bcrypt-sha256$$2b$04$" + "x" * 53


def session(id_hash: str, user_id: str = "u1", created_at: float = NOW, idle: float = 1800) -> SessionRecord:
    return SessionRecord(
        id_hash=id_hash,
        user_id=user_id,
        created_at=created_at,
        last_seen_at=created_at,
        expires_at=created_at + idle,
        absolute_expires_at=created_at + 43200,
        ip="192.0.2.10",
        user_agent="pytest",
    )


# Users


async def test_user_create_then_find_by_username_and_by_id(storage: Storage) -> None:
    created = await storage.users.create("alice", HASH, NOW)
    assert (created.username, created.password_hash, created.created_at, created.updated_at) == (
        "alice",
        HASH,
        NOW,
        NOW,
    )
    assert await storage.users.find_by_username("alice") == created
    assert await storage.users.find_by_id(created.id) == created
    assert await storage.users.find_by_username("bob") is None


@pytest.mark.parametrize(
    "user_id", ["", "nope", "x" * 24, "6267c2a07b61b72e5f4689b0", "6267C2A07B61B72E5F4689B", "a\x00b"]
)
async def test_user_find_by_unknown_or_malformed_id_is_none(storage: Storage, user_id: str) -> None:
    await storage.users.create("alice", HASH, NOW)
    assert await storage.users.find_by_id(user_id) is None


async def test_user_create_of_taken_name_raises_duplicate_username(storage: Storage) -> None:
    await storage.users.create("alice", HASH, NOW)
    with pytest.raises(DuplicateUsername):
        await storage.users.create("alice", HASH, NOW + 1)


async def test_16_concurrent_creates_of_one_name_give_one_user(storage: Storage) -> None:
    results = await asyncio.gather(
        *(storage.users.create("racer", HASH, NOW) for _ in range(16)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, DuplicateUsername) for r in results if r is not winners[0])
    assert await storage.users.find_by_username("racer") == winners[0]


async def test_user_update_password_hash(storage: Storage) -> None:
    user = await storage.users.create("alice", HASH, NOW)
    assert await storage.users.update_password_hash(user.id, "new-hash", NOW + 60)
    updated = await storage.users.find_by_id(user.id)
    assert updated is not None
    assert (updated.password_hash, updated.created_at, updated.updated_at) == ("new-hash", NOW, NOW + 60)
    assert not await storage.users.update_password_hash("6267c2a07b61b72e5f4689b0", "h", NOW)
    assert not await storage.users.update_password_hash("not an id", "h", NOW)


async def test_user_delete_frees_the_name(storage: Storage) -> None:
    user = await storage.users.create("alice", HASH, NOW)
    assert await storage.users.delete(user.id)
    assert not await storage.users.delete(user.id)
    assert not await storage.users.delete("not an id")
    assert await storage.users.find_by_id(user.id) is None
    assert await storage.users.find_by_username("alice") is None
    again = await storage.users.create("alice", HASH, NOW)
    assert again.id != user.id


# Sessions


async def test_session_create_then_get_returns_the_record(storage: Storage) -> None:
    record = session("h1")
    await storage.sessions.create(record)
    assert await storage.sessions.get("h1", NOW + 1) == record
    assert await storage.sessions.get("unknown", NOW) is None


async def test_expired_session_is_not_returned(storage: Storage) -> None:
    await storage.sessions.create(session("h1", idle=1800))
    assert await storage.sessions.get("h1", NOW + 1799.999) is not None
    assert await storage.sessions.get("h1", NOW + 1800) is None
    assert await storage.sessions.list_for_user("u1", NOW + 1800) == []


async def test_session_touch_moves_last_seen_and_expiry(storage: Storage) -> None:
    await storage.sessions.create(session("h1"))
    await storage.sessions.touch("h1", NOW + 1000, NOW + 2800)
    touched = await storage.sessions.get("h1", NOW + 2000)
    assert touched is not None
    assert (touched.last_seen_at, touched.expires_at, touched.created_at) == (NOW + 1000, NOW + 2800, NOW)
    await storage.sessions.touch("unknown", NOW, NOW + 1)  # a session revoked meanwhile: nothing happens


async def test_session_delete(storage: Storage) -> None:
    await storage.sessions.create(session("h1"))
    assert await storage.sessions.delete("h1")
    assert not await storage.sessions.delete("h1")
    assert await storage.sessions.get("h1", NOW) is None


async def test_session_delete_for_user_keeps_the_one_named_and_other_users(storage: Storage) -> None:
    for id_hash in ("a1", "a2", "a3"):
        await storage.sessions.create(session(id_hash, user_id="alice"))
    await storage.sessions.create(session("b1", user_id="bob"))
    assert await storage.sessions.delete_for_user("alice", keep_id_hash="a2") == 2
    assert [r.id_hash for r in await storage.sessions.list_for_user("alice", NOW)] == ["a2"]
    assert await storage.sessions.get("b1", NOW) is not None
    assert await storage.sessions.delete_for_user("alice") == 1
    assert await storage.sessions.delete_for_user("nobody") == 0


async def test_session_list_for_user_is_live_only_oldest_first(storage: Storage) -> None:
    await storage.sessions.create(session("late", user_id="alice", created_at=NOW + 20))
    await storage.sessions.create(session("early", user_id="alice", created_at=NOW))
    await storage.sessions.create(session("short", user_id="alice", created_at=NOW + 10, idle=5))
    await storage.sessions.create(session("bob's", user_id="bob"))
    listed = await storage.sessions.list_for_user("alice", NOW + 30)
    assert [r.id_hash for r in listed] == ["early", "late"]
    assert listed[0] == session("early", user_id="alice")


async def test_session_purge_expired(storage: Storage) -> None:
    await storage.sessions.create(session("gone", idle=10))
    await storage.sessions.create(session("kept", idle=100))
    assert await storage.sessions.purge_expired(NOW + 10) == 1
    assert await storage.sessions.purge_expired(NOW + 10) == 0
    assert await storage.sessions.get("kept", NOW + 10) is not None


# Failed-attempt counters


async def test_attempt_hits_count_up_within_a_window(storage: Storage) -> None:
    assert [await storage.attempts.hit("ip:192.0.2.1", NOW, NOW + 900) for _ in range(3)] == [1, 2, 3]
    assert await storage.attempts.count("ip:192.0.2.1", NOW) == 3
    assert await storage.attempts.count("ip:192.0.2.2", NOW) == 0


async def test_attempt_new_window_starts_from_one(storage: Storage) -> None:
    await storage.attempts.hit("user:alice", NOW, NOW + 900)
    await storage.attempts.hit("user:alice", NOW, NOW + 900)
    assert await storage.attempts.hit("user:alice", NOW + 900, NOW + 1800) == 1
    assert await storage.attempts.count("user:alice", NOW + 900) == 1


async def test_attempt_reset_forgets_the_key_only(storage: Storage) -> None:
    await storage.attempts.hit("user:alice", NOW, NOW + 900)
    await storage.attempts.hit("user:bob", NOW, NOW + 900)
    await storage.attempts.reset("user:alice")
    await storage.attempts.reset("user:nobody")
    assert await storage.attempts.count("user:alice", NOW) == 0
    assert await storage.attempts.count("user:bob", NOW) == 1


async def test_16_concurrent_attempt_hits_all_count(storage: Storage) -> None:
    counts = await asyncio.gather(*(storage.attempts.hit("ip:192.0.2.1", NOW, NOW + 900) for _ in range(16)))
    assert sorted(counts) == list(range(1, 17))
    assert await storage.attempts.count("ip:192.0.2.1", NOW) == 16


async def test_attempt_purge_expired(storage: Storage) -> None:
    await storage.attempts.hit("user:alice", NOW, NOW + 60)
    await storage.attempts.hit("user:bob", NOW, NOW + 900)
    assert await storage.attempts.purge_expired(NOW + 60) == 1
    assert await storage.attempts.count("user:alice", NOW) == 0
    assert await storage.attempts.count("user:bob", NOW) == 1


# The backend as a whole


async def test_ping_answers(storage: Storage) -> None:
    await storage.ping()


async def test_storage_purge_expired_drops_sessions_and_counters(storage: Storage) -> None:
    await storage.sessions.create(session("gone", idle=10))
    await storage.sessions.create(session("kept", idle=100))
    await storage.attempts.hit("user:alice", NOW, NOW + 10)
    assert await storage.purge_expired(NOW + 10) == 2
    assert await storage.sessions.get("kept", NOW + 10) is not None
