"""The storage ports' contract, pinned method by method on every backend, through the container's Storage."""

from __future__ import annotations

import asyncio

import pytest

from authsvc.errors import DuplicateUsername
from authsvc.storage.ports import Storage
from tests.helpers import HASH, NOW, session

pytestmark = pytest.mark.driver_contract

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


async def test_user_generation_starts_at_zero_and_each_bump_moves_it_past_the_last_and_to_now(
    storage: Storage,
) -> None:
    user = await storage.users.create("alice", HASH, NOW)
    assert user.generation == 0 and (await storage.users.find_by_id(user.id)) == user
    first = await storage.users.bump_generation(user.id, NOW + 1)
    assert first == round((NOW + 1) * 1000)
    assert await storage.users.bump_generation(user.id, NOW + 1) == first + 1  # same millisecond: still moves
    assert await storage.users.bump_generation(user.id, NOW) == first + 2  # a clock behind: still moves
    found = await storage.users.find_by_id(user.id)
    assert found is not None and found.generation == first + 2 and found.password_hash == HASH
    assert found.issued_before_revocation(NOW + 1) and not found.issued_before_revocation(NOW + 2)
    assert await storage.users.bump_generation("6267c2a07b61b72e5f4689b0", NOW) is None
    assert await storage.users.bump_generation("not an id", NOW) is None


async def test_16_concurrent_bumps_of_one_generation_each_move_it(storage: Storage) -> None:
    user = await storage.users.create("alice", HASH, NOW)
    results = await asyncio.gather(*(storage.users.bump_generation(user.id, NOW) for _ in range(16)))
    assert sorted(r for r in results if r is not None) == [round(NOW * 1000) + i for i in range(16)]


async def test_user_set_groups_replaces_them_and_the_next_look_up_sees_them(storage: Storage) -> None:
    user = await storage.users.create("alice", HASH, NOW)
    assert user.groups == ()
    assert await storage.users.set_groups(user.id, ("admins", "dev"), NOW + 60)
    for found in (await storage.users.find_by_id(user.id), await storage.users.find_by_username("alice")):
        assert found is not None
        assert (found.groups, found.password_hash, found.updated_at) == (("admins", "dev"), HASH, NOW + 60)
    assert await storage.users.set_groups(user.id, (), NOW + 120)
    found = await storage.users.find_by_id(user.id)
    assert found is not None and found.groups == ()
    assert not await storage.users.set_groups("6267c2a07b61b72e5f4689b0", ("x",), NOW)
    assert not await storage.users.set_groups("not an id", ("x",), NOW)


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


async def test_session_touch_moves_last_seen_and_expiry_once_per_renew_window(storage: Storage) -> None:
    await storage.sessions.create(session("h1"))
    assert await storage.sessions.touch("h1", NOW + 1000, NOW + 2800, seen_before=NOW + 820)
    # Another replica (or request) that found it due from the same old copy: no second write.
    assert not await storage.sessions.touch("h1", NOW + 1001, NOW + 2801, seen_before=NOW + 821)
    touched = await storage.sessions.get("h1", NOW + 2000)
    assert touched is not None
    assert (touched.last_seen_at, touched.expires_at, touched.created_at) == (NOW + 1000, NOW + 2800, NOW)
    assert not await storage.sessions.touch("unknown", NOW, NOW + 1, seen_before=NOW)  # revoked meanwhile


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


# Attempt counters


async def test_attempt_hits_count_up_until_the_record_expires(storage: Storage) -> None:
    assert [await storage.attempts.hit("p:1", NOW, NOW + 900) for _ in range(3)] == [1, 2, 3]
    assert await storage.attempts.hit("p:2", NOW, NOW + 900) == 1
    assert await storage.attempts.hit("p:1", NOW + 899, NOW + 1800) == 4  # a later expiry extends the record
    assert await storage.attempts.hit("p:1", NOW + 1800, NOW + 2700) == 1  # expired: it starts again


async def test_attempt_count_reads_without_counting(storage: Storage) -> None:
    assert await storage.attempts.count("u:1", NOW) == 0
    await storage.attempts.hit("u:1", NOW, NOW + 600)
    await storage.attempts.hit("u:1", NOW, NOW + 600)
    assert await storage.attempts.count("u:1", NOW) == 2
    assert await storage.attempts.count("u:1", NOW + 600) == 0  # expired


async def test_attempt_give_back_takes_one_back_and_never_below_zero(storage: Storage) -> None:
    for _ in range(3):
        await storage.attempts.hit("p:1", NOW, NOW + 900)
    await storage.attempts.give_back("p:1", NOW)
    assert await storage.attempts.hit("p:1", NOW, NOW + 900) == 3
    for _ in range(5):
        await storage.attempts.give_back("p:1", NOW)
    await storage.attempts.give_back("p:unknown", NOW)
    assert await storage.attempts.hit("p:1", NOW, NOW + 900) == 1
    assert await storage.attempts.hit("p:unknown", NOW, NOW + 900) == 1


async def test_attempt_reset_forgets_the_key_only(storage: Storage) -> None:
    await storage.attempts.hit("p:alice", NOW, NOW + 900)
    await storage.attempts.hit("p:bob", NOW, NOW + 900)
    await storage.attempts.hold("p:alice", NOW, NOW + 60)
    await storage.attempts.reset("p:alice")
    await storage.attempts.reset("p:nobody")
    assert await storage.attempts.hold("p:alice", NOW, NOW + 60) is None  # the gate went with the count
    assert await storage.attempts.hit("p:alice", NOW, NOW + 900) == 1
    assert await storage.attempts.hit("p:bob", NOW, NOW + 900) == 2


async def test_16_concurrent_attempt_hits_all_count(storage: Storage) -> None:
    counts = await asyncio.gather(*(storage.attempts.hit("p:1", NOW, NOW + 900) for _ in range(16)))
    assert sorted(counts) == list(range(1, 17))


async def test_attempt_gate_passes_once_then_says_when_it_opens(storage: Storage) -> None:
    await storage.attempts.hit("p:1", NOW, NOW + 900)
    assert await storage.attempts.hold("p:1", NOW, NOW + 4) is None
    assert await storage.attempts.hold("p:1", NOW + 1, NOW + 5) == NOW + 4
    assert await storage.attempts.hold("p:1", NOW + 4, NOW + 12) is None  # open again at its time
    assert await storage.attempts.hit("p:1", NOW + 4, NOW + 900) == 2  # the count is the same record's
    assert await storage.attempts.hold("p:new", NOW, NOW + 2) is None  # no record yet: passes, and closes
    assert await storage.attempts.hold("p:new", NOW + 1, NOW + 3) == NOW + 2


async def test_16_concurrent_passes_of_one_gate_let_one_through(storage: Storage) -> None:
    await storage.attempts.hit("p:1", NOW, NOW + 900)
    opens = await asyncio.gather(*(storage.attempts.hold("p:1", NOW, NOW + 30) for _ in range(16)))
    assert sorted(opens, key=lambda o: o is not None) == [None] + [NOW + 30] * 15


async def test_attempt_gate_outlives_a_shorter_record(storage: Storage) -> None:
    await storage.attempts.hit("p:1", NOW, NOW + 10)
    assert await storage.attempts.hold("p:1", NOW, NOW + 60) is None
    assert await storage.attempts.hold("p:1", NOW + 30, NOW + 90) == NOW + 60


async def test_attempt_set_counts_distinct_members_up_to_its_cap(storage: Storage) -> None:
    added = [await storage.attempts.add_distinct("s:1", m, NOW, NOW + 900, cap=3) for m in ("a", "b", "a", "c", "d")]
    assert added == [(1, True), (2, True), (2, False), (3, True), (3, False)]
    await storage.attempts.discard("s:1", "b")
    await storage.attempts.discard("s:1", "never there")
    await storage.attempts.discard("s:unknown", "a")
    assert await storage.attempts.add_distinct("s:1", "d", NOW, NOW + 900, cap=3) == (3, True)
    assert await storage.attempts.add_distinct("s:1", "e", NOW + 900, NOW + 1800, cap=3) == (1, True)  # expired


async def test_16_concurrent_distinct_adds_all_count(storage: Storage) -> None:
    results = await asyncio.gather(
        *(storage.attempts.add_distinct("s:1", f"m{n}", NOW, NOW + 900, cap=100) for n in range(16))
    )
    assert sorted(size for size, _ in results) == list(range(1, 17))
    assert all(added for _, added in results)


async def test_a_token_bucket_gives_its_burst_then_one_per_interval(storage: Storage) -> None:
    taken = [await storage.attempts.take_token("b:1", NOW, 3, 60) for _ in range(3)]
    assert taken == [None, None, None]
    assert await storage.attempts.take_token("b:1", NOW, 3, 60) == NOW + 60
    assert await storage.attempts.take_token("b:1", NOW + 30, 3, 60) == NOW + 60  # a refusal takes nothing
    assert await storage.attempts.take_token("b:1", NOW + 60, 3, 60) is None
    assert await storage.attempts.take_token("b:1", NOW + 60, 3, 60) == NOW + 120
    assert await storage.attempts.take_token("b:2", NOW, 3, 60) is None  # another key, another bucket
    assert [await storage.attempts.take_token("b:1", NOW + 240, 3, 60) for _ in range(4)] == [None] * 3 + [NOW + 300]


async def test_a_returned_token_can_be_taken_again(storage: Storage) -> None:
    assert await storage.attempts.take_token("b:1", NOW, 1, 60) is None
    await storage.attempts.return_token("b:1", NOW + 1, 60)
    assert await storage.attempts.take_token("b:1", NOW + 1, 1, 60) is None
    assert await storage.attempts.take_token("b:1", NOW + 1, 1, 60) == NOW + 61
    await storage.attempts.return_token("b:unknown", NOW, 60)
    assert await storage.attempts.take_token("b:unknown", NOW, 1, 60) is None


async def test_16_concurrent_takes_from_a_bucket_of_5_get_5_tokens(storage: Storage) -> None:
    await storage.attempts.take_token("b:1", NOW - 600, 5, 60)  # a drained record from before, full again now
    results = await asyncio.gather(*(storage.attempts.take_token("b:1", NOW, 5, 60) for _ in range(16)))
    assert results.count(None) == 5
    assert await storage.attempts.take_token("b:1", NOW + 59, 5, 60) is not None
    assert await storage.attempts.take_token("b:1", NOW + 60, 5, 60) is None


async def test_attempt_purge_expired(storage: Storage) -> None:
    await storage.attempts.hit("p:alice", NOW, NOW + 60)
    await storage.attempts.hit("p:bob", NOW, NOW + 900)
    await storage.attempts.add_distinct("s:1", "a", NOW, NOW + 60, cap=10)
    await storage.attempts.take_token("b:1", NOW, 5, 60)  # full again at NOW + 60: nothing left to keep
    assert await storage.attempts.purge_expired(NOW + 60) == 3
    assert await storage.attempts.hit("p:bob", NOW + 60, NOW + 900) == 2


# The backend as a whole


async def test_ping_answers(storage: Storage) -> None:
    await storage.ping()


async def test_storage_purge_expired_drops_sessions_and_counters(storage: Storage) -> None:
    await storage.sessions.create(session("gone", idle=10))
    await storage.sessions.create(session("kept", idle=100))
    await storage.attempts.hit("p:alice", NOW, NOW + 10)
    assert await storage.purge_expired(NOW + 10) == 2
    assert await storage.sessions.get("kept", NOW + 10) is not None
