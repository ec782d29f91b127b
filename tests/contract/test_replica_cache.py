"""The MongoDB backend's per-replica cache and its revocations log, on the real server with both drivers.

Two MongoStorage on one database are two replicas. A change written straight into the database (the admin client,
no log entry) is how a test sees whether a replica answered from its cache or from MongoDB.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
from bson import ObjectId

from authsvc.auth.models import Passkey
from authsvc.clock import SystemClock
from authsvc.metrics import Metrics
from authsvc.storage.mongo import MongoStorage
from authsvc.storage.mongo.client import connect
from authsvc.storage.mongo.revocations import RETENTION_SECONDS
from tests.conftest import make_settings
from tests.helpers import HASH, session
from tests.mongodb import mongo_sections

Admin = pymongo.MongoClient[dict[str, Any]]
pytestmark = [pytest.mark.mongodb, pytest.mark.driver_contract]
POLL_MS, LAG_MS = 20, 300
CLOCK = SystemClock()  # the follower's freshness is real time: a manual clock would never let a poll go stale


class Wrapped:
    """A real collection with some methods replaced."""

    def __init__(self, collection: Any, **methods: Callable[..., Any]) -> None:
        self._collection = collection
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        return self._methods.get(name) or getattr(self._collection, name)


class Client:
    """A real client whose databases hand out Wrapped collections where a test asks for them."""

    def __init__(self, client: Any, wrap: dict[str, Callable[[Any], Any]]) -> None:
        self._client = client
        self._wrap = wrap

    def __getitem__(self, database: str) -> Any:
        real = self._client[database]
        wrap = self._wrap

        class Database:
            def __getitem__(self, name: str) -> Any:
                return wrap[name](real[name]) if name in wrap else real[name]

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        return Database()

    def close(self) -> Any:
        return self._client.close()


Replica = Callable[..., Awaitable[MongoStorage]]


@pytest.fixture
async def replica(mongodb_driver: str, mongodb_url: str, mongodb_database: str) -> AsyncIterator[Replica]:
    """Opens a replica on the test's database: replica(cache_size=..., wrap={"sessions": lambda c: Wrapped(c, ...)})."""
    opened: list[MongoStorage] = []

    async def open_(
        wrap: dict[str, Callable[[Any], Any]] | None = None, metrics: Metrics | None = None, **mongodb: Any
    ) -> MongoStorage:
        sections = mongo_sections(mongodb_url, mongodb_database, mongodb_driver)
        sections["mongodb"] |= {"revocation_poll_ms": POLL_MS, "revocation_lag_ms": LAG_MS, **mongodb}
        settings = make_settings(**sections).mongodb
        client = Client(connect(settings), wrap or {})
        storage = MongoStorage(settings, CLOCK, metrics or Metrics(), client=client)
        await storage.open()
        opened.append(storage)
        return storage

    yield open_
    for storage in opened:
        await storage.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until check() holds; fails after `within`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started <= within, f"not within {within} s"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


def now() -> float:
    return CLOCK.now()


async def test_a_replica_answers_from_its_cache_until_a_logged_revocation(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    a, b = await replica(), await replica()
    await a.sessions.create(session("h1", created_at=now()))
    assert await b.sessions.get("h1", now()) is not None
    mongodb_admin[mongodb_database]["sessions"].update_one({"_id": "h1"}, {"$set": {"userAgent": "changed"}})
    cached = await b.sessions.get("h1", now())
    assert cached is not None and cached.user_agent == "pytest"  # no round trip: the copy it keeps
    assert await a.sessions.delete("h1")
    assert await a.sessions.get("h1", now()) is None  # this replica: at once
    await eventually(lambda: none(b.sessions.get("h1", now())), within=LAG_MS / 1000)


async def none(lookup: Awaitable[object]) -> bool:
    return await lookup is None


async def test_the_cache_is_re_read_after_its_max_age_even_without_a_log_entry(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    b = await replica(cache_max_age_seconds=0.2)
    await b.sessions.create(session("h1", created_at=now()))
    assert await b.sessions.get("h1", now()) is not None
    mongodb_admin[mongodb_database]["sessions"].delete_one({"_id": "h1"})  # outside authsvc: no log entry
    assert await b.sessions.get("h1", now()) is not None
    await asyncio.sleep(0.2)
    assert await b.sessions.get("h1", now()) is None


# Each way authsvc ends a session or changes a user, as its adapters are called; all are logged.
async def _logout(storage: MongoStorage, user_id: str) -> None:
    await storage.sessions.delete("h1")


async def _end_all(storage: MongoStorage, user_id: str) -> None:
    await storage.sessions.delete_for_user(user_id)


async def _end_others(storage: MongoStorage, user_id: str) -> None:
    await storage.sessions.delete_for_user(user_id, keep_id_hash="h2")


async def _new_password(storage: MongoStorage, user_id: str) -> None:
    await storage.users.update_password_hash(user_id, HASH.replace("x", "y"), now())


async def _groups_set(storage: MongoStorage, user_id: str) -> None:
    await storage.users.set_groups(user_id, ("admins",), now())


async def _delete_user(storage: MongoStorage, user_id: str) -> None:
    await storage.users.delete(user_id)


async def _factor_removed(storage: MongoStorage, user_id: str) -> None:
    await storage.second_factors.delete(user_id)


async def _factor_confirmed(storage: MongoStorage, user_id: str) -> None:
    assert await storage.second_factors.begin_totp(user_id, "sealed", now())
    assert await storage.second_factors.confirm_totp(user_id, 1, [], now())


def passkey(user_id: str) -> Passkey:
    return Passkey("cred-1", user_id, "laptop", b"cose", 0, ("internal",), now())


async def _passkey_added(storage: MongoStorage, user_id: str) -> None:
    assert await storage.passkeys.add(passkey(user_id))


async def _passkey_removed(storage: MongoStorage, user_id: str) -> None:
    await storage.passkeys.delete(user_id, "cred-1")


async def _generation_bumped(storage: MongoStorage, user_id: str) -> None:
    assert await storage.users.bump_generation(user_id, now()) is not None


CHANGES = [
    _generation_bumped,
    _logout,
    _end_all,
    _end_others,
    _new_password,
    _groups_set,
    _delete_user,
    _factor_removed,
    _factor_confirmed,
    _passkey_added,
    _passkey_removed,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda change: change.__name__.strip("_"))
async def test_every_kind_of_change_reaches_the_other_replicas_cache_within_the_lag(
    replica: Replica,
    mongodb_admin: Admin,
    mongodb_database: str,
    change: Callable[[MongoStorage, str], Awaitable[None]],
) -> None:
    a, b = await replica(), await replica()
    user = await a.users.create("alice", HASH, now())
    for id_hash in ("h1", "h2"):
        await a.sessions.create(session(id_hash, user_id=user.id, created_at=now()))
        assert await b.sessions.get(id_hash, now()) is not None
    assert await b.users.find_by_id(user.id) is not None
    # Changed behind authsvc's back: what B answers from MongoDB now differs from the copy it keeps.
    db = mongodb_admin[mongodb_database]
    db["users"].update_one({"_id": ObjectId(user.id)}, {"$set": {"username": "alice2"}})
    db["sessions"].update_many({}, {"$set": {"userAgent": "re-read"}})

    await change(a, user.id)

    async def b_has_let_go() -> bool:
        found = await b.users.find_by_id(user.id)
        first = await b.sessions.get("h1", now())
        if change in (_logout,):
            return first is None
        if change in (_end_all, _end_others):
            return first is None and (found is not None and found.username == "alice2")
        return found is None or found.username == "alice2"

    elapsed = await eventually(b_has_let_go, within=LAG_MS / 1000)
    assert elapsed <= LAG_MS / 1000


async def test_a_revocation_is_logged_only_once_its_delete_has_landed(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    """Delete, then log: a replica that reads the entry and then MongoDB cannot find the session again."""
    seen_by_the_log: list[bool] = []

    def checking(collection: Any) -> Wrapped:
        async def update_one(*args: Any, **kwargs: Any) -> Any:
            seen_by_the_log.append(mongodb_admin[mongodb_database]["sessions"].find_one({"_id": "h1"}) is None)
            return await collection.update_one(*args, **kwargs)

        return Wrapped(collection, update_one=update_one)

    a = await replica(wrap={"revocations": checking})
    await a.sessions.create(session("h1", created_at=now()))
    assert await a.sessions.delete("h1")
    assert seen_by_the_log == [True]
    entry = mongodb_admin[mongodb_database]["revocations"].find_one({"key": "h1"})
    assert entry is not None and entry["kind"] == "session" and entry["at"] is not None  # keyed as sessions are


async def test_a_look_up_in_flight_while_the_log_evicts_is_not_kept(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    """B reads the live session, A revokes and B applies the log entry, then B's read returns: not cached."""
    read, release = asyncio.Event(), asyncio.Event()
    reads = 0

    def gated(collection: Any) -> Wrapped:
        async def find_one(query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            nonlocal reads
            doc = await collection.find_one(query, *args, **kwargs)
            if query["_id"] == "h1":
                reads += 1
                read.set()
                await release.wait()
            return doc

        return Wrapped(collection, find_one=find_one)

    a, b = await replica(), await replica(wrap={"sessions": gated})
    await a.sessions.create(session("h1", created_at=now()))
    await a.sessions.create(session("marker", created_at=now()))
    assert await b.sessions.get("marker", now()) is not None
    in_flight = asyncio.create_task(b.sessions.get("h1", now()))
    await read.wait()
    assert await a.sessions.delete("h1")
    assert await a.sessions.delete("marker")
    # Once B has let the marker go it has applied the earlier entry too.
    await eventually(lambda: none(b.sessions.get("marker", now())), within=LAG_MS / 1000)
    release.set()
    assert await in_flight is not None  # it read before the delete: a fair answer for a concurrent request
    assert await b.sessions.get("h1", now()) is None  # but it was not kept
    assert reads == 2


async def test_the_cache_holds_at_most_cache_size_sessions(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    b = await replica(cache_size=2)
    for id_hash in ("h1", "h2", "h3"):
        await b.sessions.create(session(id_hash, created_at=now()))
        assert await b.sessions.get(id_hash, now()) is not None
    mongodb_admin[mongodb_database]["sessions"].delete_many({})  # no log entry: only the cache can still answer
    assert await b.sessions.get("h1", now()) is None  # pushed out by h3
    assert await b.sessions.get("h2", now()) is not None and await b.sessions.get("h3", now()) is not None


async def test_only_one_replica_writes_a_renewal_per_window(replica: Replica, mongodb_admin: Admin) -> None:
    a, b = await replica(), await replica()
    await a.sessions.create(session("h1", created_at=now() - 1000))
    assert await a.sessions.get("h1", now()) is not None and await b.sessions.get("h1", now()) is not None
    due = now() - 180
    written = [await storage.sessions.touch("h1", now(), now() + 1800, seen_before=due) for storage in (a, b)]
    assert written == [True, False]
    renewed = await b.sessions.get("h1", now())  # the replica that did not write reads what the other wrote
    assert renewed is not None and renewed.expires_at > now() + 1700


class Broken(Exception):
    """The revocations collection cannot be read."""


def breakable(state: dict[str, Any]) -> Callable[[Any], Wrapped]:
    def wrap(collection: Any) -> Wrapped:
        def find(*args: Any, **kwargs: Any) -> Any:
            if state["broken"]:
                raise Broken("revocations cannot be read")
            return collection.find(*args, **kwargs)

        return Wrapped(collection, find=find)

    return wrap


async def following(storage: MongoStorage) -> bool:
    return storage.readiness()["cache"].startswith("following")


async def reading_mongodb(storage: MongoStorage) -> bool:
    return not await following(storage)


def fallback_gauge(metrics: Metrics) -> str:
    lines = [line for line in metrics.render().decode().splitlines() if line.startswith("authsvc_cache_fallback ")]
    return lines[0].split()[1]


async def test_a_replica_that_cannot_follow_the_log_reads_mongodb_until_it_can_again(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    state = {"broken": False}
    metrics = Metrics()
    b = await replica(wrap={"revocations": breakable(state)}, metrics=metrics)
    await b.sessions.create(session("h1", created_at=now()))
    await b.sessions.create(session("h2", created_at=now()))
    assert await b.sessions.get("h1", now()) is not None and await b.sessions.get("h2", now()) is not None
    assert b.readiness() == {"cache": "following the revocations log"}
    assert fallback_gauge(metrics) == "0.0"

    state["broken"] = True
    await eventually(lambda: reading_mongodb(b), within=1)
    assert b.readiness() == {"cache": "reading MongoDB on every request: the revocations log cannot be followed now"}
    assert fallback_gauge(metrics) == "1.0"
    assert "authsvc_revocation_poll_failures_total" in metrics.render().decode()
    sessions = mongodb_admin[mongodb_database]["sessions"]
    sessions.delete_one({"_id": "h1"})  # a revocation it cannot hear of
    assert await b.sessions.get("h1", now()) is None  # no stale answer: MongoDB was asked
    assert await b.sessions.get("h2", now()) is not None

    state["broken"] = False
    await eventually(lambda: following(b), within=1)
    assert fallback_gauge(metrics) == "0.0"
    assert await b.sessions.get("h2", now()) is not None  # cached again
    sessions.delete_one({"_id": "h2"})
    assert await b.sessions.get("h2", now()) is not None  # served from the cache once more


async def test_a_replica_whose_polls_stall_reads_mongodb_once_the_lag_has_passed(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    stalled = asyncio.Event()

    def stalling(collection: Any) -> Wrapped:
        def find(*args: Any, **kwargs: Any) -> Any:
            cursor = collection.find(*args, **kwargs)
            if not stalled.is_set():
                return cursor

            class Stalled:
                def __getattr__(self, name: str) -> Any:
                    return getattr(cursor, name)

                async def to_list(self, length: int | None) -> list[Any]:
                    await asyncio.sleep(3600)  # a server that accepted the query and never answers
                    return []

            return Stalled()

        return Wrapped(collection, find=find)

    metrics = Metrics()
    b = await replica(wrap={"revocations": stalling}, metrics=metrics)
    await b.sessions.create(session("h1", created_at=now()))
    assert await b.sessions.get("h1", now()) is not None
    stalled.set()
    mongodb_admin[mongodb_database]["sessions"].delete_one({"_id": "h1"})
    await eventually(lambda: none(b.sessions.get("h1", now())), within=LAG_MS / 1000 + 2 * POLL_MS / 1000)
    assert fallback_gauge(metrics) == "1.0"


async def test_old_log_entries_are_purged_and_the_log_is_indexed_by_stamp(
    replica: Replica, mongodb_admin: Admin, mongodb_database: str
) -> None:
    a = await replica()
    await a.sessions.delete("fresh")
    log = mongodb_admin[mongodb_database]["revocations"]
    old = datetime.now(UTC) - timedelta(seconds=RETENTION_SECONDS + 60)
    log.insert_one({"kind": "session", "key": "old", "at": old})
    await a.purge_expired(now())
    assert sorted(entry["key"] for entry in log.find()) == ["fresh"]
    assert "at_1" in log.index_information()
