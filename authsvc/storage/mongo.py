"""The MongoDB backend: users, sessions and failed-login counters shared by every replica.

One code path serves both drivers: PyMongo's native AsyncMongoClient (the default) and Motor. Both expose awaitable
collection methods and cursors with ``to_list``; only the client's class and its ``close`` differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from authsvc.auth.models import SessionRecord
from authsvc.clock import Clock
from authsvc.errors import DuplicateUsername, StorageUnavailable
from authsvc.users.models import User

log = logging.getLogger("authsvc.storage")

OBJECT_ID = re.compile(r"[0-9a-f]{24}")
SESSION_CACHE_SIZE = 10_000
INDEX_RETRY_MAX_DELAY = 10.0
NOT_IMPLEMENTED = 238  # FerretDB v1's answer to a TTL index
# Server answers that mean "not now" rather than "never": elections, shutdowns, time limits, write concern timeouts.
TRANSIENT_CODES = frozenset({6, 7, 50, 64, 89, 91, 133, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


async def open_mongo_client(
    driver: str,
    url: str,
    server_selection_timeout_ms: int,
    connect_timeout_ms: int,
    socket_timeout_ms: int,
) -> AsyncIterator[Any]:
    """The client, for a providers.Resource: opened lazily (no I/O here), closed at shutdown."""
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": server_selection_timeout_ms,
        "connectTimeoutMS": connect_timeout_ms,
        "socketTimeoutMS": socket_timeout_ms,
        "w": "majority",  # an acknowledged signup survives a primary's failover
        "journal": True,
        "readPreference": "primary",  # a revocation is seen by the very next read, on any replica
        "tz_aware": True,
        "appname": "authsvc",
    }
    client: Any
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient  # imported only when chosen: Motor is deprecated

        client = AsyncIOMotorClient(url, **options)
    else:
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(url, **options)
    try:
        yield client
    finally:
        closed = client.close()  # a coroutine for PyMongo, None for Motor
        if inspect.isawaitable(closed):
            await closed


def _unavailable(exc: PyMongoError) -> bool:
    """Whether the database could not answer now, as opposed to refusing what we asked."""
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError) or exc.timeout:
        return True
    if exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError"):
        return True
    return isinstance(exc, OperationFailure) and exc.code in TRANSIENT_CODES


class Availability:
    """Turns "the database cannot answer now" into StorageUnavailable; logs when it goes away and when it is back."""

    def __init__(self) -> None:
        self.down = False

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except PyMongoError as exc:
            if not _unavailable(exc):
                raise
            if not self.down:
                self.down = True
                log.warning(
                    "MongoDB is unavailable; requests that need it answer 503: %s: %.200s", type(exc).__name__, exc
                )
            raise StorageUnavailable() from exc
        if self.down:
            self.down = False
            log.info("MongoDB answers again")


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _seconds(value: datetime) -> float:
    # tz_aware=True on our clients; a naive value from another client is UTC all the same.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _user(doc: dict[str, Any]) -> User:
    # The NestJS tutorial's documents: Mongoose's timestamps may be missing on hand-made ones.
    created = doc.get("createdAt") or doc["_id"].generation_time
    return User(
        id=str(doc["_id"]),
        username=doc["username"],
        password_hash=doc["password"],
        created_at=_seconds(created),
        updated_at=_seconds(doc.get("updatedAt") or created),
    )


def _object_id(user_id: str) -> ObjectId | None:
    return ObjectId(user_id) if OBJECT_ID.fullmatch(user_id) else None


class MongoUserRepository:
    """`users` in the shape the tutorial's Mongoose model writes: _id, username, password, createdAt, updatedAt, __v."""

    def __init__(self, collection: Any, available: Availability, ensure_indexes: Callable[[], Awaitable[None]]) -> None:
        self._collection = collection
        self._available = available
        self._ensure_indexes = ensure_indexes

    async def create(self, username: str, password_hash: str, now: float) -> User:
        await self._ensure_indexes()  # the unique index decides races: never insert without it
        created = _datetime(now)
        doc = {"username": username, "password": password_hash, "createdAt": created, "updatedAt": created, "__v": 0}
        try:
            with self._available.guard():
                result = await self._collection.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateUsername() from None
        return User(str(result.inserted_id), username, password_hash, _seconds(created), _seconds(created))

    async def find_by_username(self, username: str) -> User | None:
        with self._available.guard():
            doc = await self._collection.find_one({"username": username})
        return _user(doc) if doc else None

    async def find_by_id(self, user_id: str) -> User | None:
        object_id = _object_id(user_id)
        if object_id is None:
            return None
        with self._available.guard():
            doc = await self._collection.find_one({"_id": object_id})
        return _user(doc) if doc else None

    async def update_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        object_id = _object_id(user_id)
        if object_id is None:
            return False
        with self._available.guard():
            result = await self._collection.update_one(
                {"_id": object_id}, {"$set": {"password": password_hash, "updatedAt": _datetime(now)}}
            )
        return bool(result.matched_count)

    async def delete(self, user_id: str) -> bool:
        object_id = _object_id(user_id)
        if object_id is None:
            return False
        with self._available.guard():
            result = await self._collection.delete_one({"_id": object_id})
        return bool(result.deleted_count)


def _session_doc(record: SessionRecord) -> dict[str, Any]:
    return {
        "_id": record.id_hash,
        "userId": record.user_id,
        "createdAt": _datetime(record.created_at),
        "lastSeenAt": _datetime(record.last_seen_at),
        "expiresAt": _datetime(record.expires_at),
        "absoluteExpiresAt": _datetime(record.absolute_expires_at),
        "ip": record.ip,
        "userAgent": record.user_agent,
    }


def _session(doc: dict[str, Any]) -> SessionRecord:
    return SessionRecord(
        id_hash=doc["_id"],
        user_id=doc["userId"],
        created_at=_seconds(doc["createdAt"]),
        last_seen_at=_seconds(doc["lastSeenAt"]),
        expires_at=_seconds(doc["expiresAt"]),
        absolute_expires_at=_seconds(doc["absoluteExpiresAt"]),
        ip=doc.get("ip"),
        user_agent=doc.get("userAgent"),
    )


class SessionCache:
    """This replica's recently looked-up sessions, served for at most max_age seconds (LRU-bounded).

    Every eviction bumps a generation; a look-up that was in flight meanwhile may have read what was just deleted, so
    its result is cached only if no eviction happened since it started.
    """

    def __init__(self, max_age: float, clock: Clock, size: int = SESSION_CACHE_SIZE) -> None:
        self._max_age = max_age
        self._clock = clock
        self._size = size
        self._entries: OrderedDict[str, tuple[SessionRecord, float]] = OrderedDict()
        self.generation = 0

    def get(self, id_hash: str) -> SessionRecord | None:
        entry = self._entries.get(id_hash)
        if entry is None:
            return None
        record, fetched_at = entry
        if self._clock.now() - fetched_at >= self._max_age:
            del self._entries[id_hash]
            return None
        self._entries.move_to_end(id_hash)
        return record

    def put(self, record: SessionRecord, generation: int) -> None:
        if generation != self.generation:
            return
        self._entries[record.id_hash] = (record, self._clock.now())
        self._entries.move_to_end(record.id_hash)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def evict(self, id_hash: str) -> None:
        self.generation += 1
        self._entries.pop(id_hash, None)

    def evict_user(self, user_id: str) -> None:
        self.generation += 1
        for id_hash in [h for h, (record, _) in self._entries.items() if record.user_id == user_id]:
            del self._entries[id_hash]


class MongoSessionRepository:
    """`sessions`: _id is the session id's hash; every read checks expiresAt itself, TTL index or not."""

    def __init__(self, collection: Any, available: Availability, cache: SessionCache | None) -> None:
        self._collection = collection
        self._available = available
        self._cache = cache

    async def create(self, record: SessionRecord) -> None:
        with self._available.guard():
            await self._collection.insert_one(_session_doc(record))

    async def get(self, id_hash: str, now: float) -> SessionRecord | None:
        if self._cache is None:
            return await self._find(id_hash, now)
        cached = self._cache.get(id_hash)
        if cached is not None and cached.live(now):
            return cached
        generation = self._cache.generation
        record = await self._find(id_hash, now)
        if record is not None:
            self._cache.put(record, generation)
        return record

    async def _find(self, id_hash: str, now: float) -> SessionRecord | None:
        with self._available.guard():
            # By _id alone, expiry checked here: the same answer, and FerretDB's SQLite backend scans otherwise.
            doc = await self._collection.find_one({"_id": id_hash})
        record = _session(doc) if doc else None
        return record if record is not None and record.live(now) else None

    @contextlib.contextmanager
    def _evicting(self, id_hash: str | None = None, user_id: str | None = None) -> Iterator[None]:
        """Evict once the write is done (or failed): a look-up racing with it cannot cache what it replaced."""
        try:
            yield
        finally:
            if self._cache is not None and id_hash is not None:
                self._cache.evict(id_hash)
            if self._cache is not None and user_id is not None:
                self._cache.evict_user(user_id)

    async def touch(self, id_hash: str, last_seen_at: float, expires_at: float) -> None:
        with self._evicting(id_hash=id_hash), self._available.guard():
            await self._collection.update_one(
                {"_id": id_hash},
                {"$set": {"lastSeenAt": _datetime(last_seen_at), "expiresAt": _datetime(expires_at)}},
            )

    async def delete(self, id_hash: str) -> bool:
        with self._evicting(id_hash=id_hash), self._available.guard():
            result = await self._collection.delete_one({"_id": id_hash})
        return bool(result.deleted_count)

    async def delete_for_user(self, user_id: str, keep_id_hash: str | None = None) -> int:
        query: dict[str, Any] = {"userId": user_id}
        if keep_id_hash is not None:
            query["_id"] = {"$ne": keep_id_hash}
        with self._evicting(user_id=user_id), self._available.guard():
            result = await self._collection.delete_many(query)
        return int(result.deleted_count)

    async def list_for_user(self, user_id: str, now: float) -> list[SessionRecord]:
        with self._available.guard():
            cursor = self._collection.find({"userId": user_id, "expiresAt": {"$gt": _datetime(now)}})
            docs = await cursor.sort("createdAt", ASCENDING).to_list(None)
        return [_session(doc) for doc in docs]

    async def purge_expired(self, now: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"expiresAt": {"$lte": _datetime(now)}})
        return int(result.deleted_count)


class MongoAttemptCounter:
    """`login_attempts`: one document per key and fixed window, counted with an upserting $inc."""

    def __init__(self, collection: Any, available: Availability) -> None:
        self._collection = collection
        self._available = available

    @staticmethod
    def _id(key: str, window_start: float) -> str:
        # The window in the _id makes the upsert unique without relying on a secondary index.
        return f"{round(window_start * 1000)}:{key}"

    async def hit(self, key: str, window_start: float, expires_at: float) -> int:
        try:
            return await self._increment(key, window_start, expires_at)
        except DuplicateKeyError:  # two upserts raced to insert the window's document: now it exists
            return await self._increment(key, window_start, expires_at)

    async def _increment(self, key: str, window_start: float, expires_at: float) -> int:
        # No projection: FerretDB v1 refuses findAndModify with one.
        with self._available.guard():
            doc = await self._collection.find_one_and_update(
                {"_id": self._id(key, window_start)},
                {
                    "$inc": {"count": 1},
                    "$setOnInsert": {
                        "key": key,
                        "windowStart": _datetime(window_start),
                        "expiresAt": _datetime(expires_at),
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        return int(doc["count"])

    async def count(self, key: str, window_start: float) -> int:
        with self._available.guard():
            doc = await self._collection.find_one({"_id": self._id(key, window_start)})
        return int(doc["count"]) if doc else 0

    async def reset(self, key: str) -> None:
        with self._available.guard():
            await self._collection.delete_many({"key": key})

    async def purge_expired(self, now: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"expiresAt": {"$lte": _datetime(now)}})
        return int(result.deleted_count)


class MongoStorage:
    """The MongoDB backend's life cycle: indexes at open (retried in the background while unreachable), ping, purge."""

    def __init__(self, client: Any, database: str, clock: Clock, session_cache_seconds: float) -> None:
        self._db = client[database]
        self._available = Availability()
        cache = SessionCache(session_cache_seconds, clock) if session_cache_seconds > 0 else None
        self.users = MongoUserRepository(self._db["users"], self._available, self.ensure_indexes)
        self.sessions = MongoSessionRepository(self._db["sessions"], self._available, cache)
        self.attempts = MongoAttemptCounter(self._db["login_attempts"], self._available)
        self._indexes_ready = False
        self._indexes_lock = asyncio.Lock()
        self._index_retry: asyncio.Task[None] | None = None

    async def open(self) -> None:
        try:
            await self.ensure_indexes()
        except StorageUnavailable:
            log.warning("MongoDB is unreachable at start-up; creating its indexes in the background until it answers")
            self._index_retry = asyncio.create_task(self._retry_indexes())

    async def close(self) -> None:
        if self._index_retry is not None:
            self._index_retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._index_retry
            self._index_retry = None

    async def ping(self) -> None:
        with self._available.guard():
            await self._db.command("ping")

    async def purge_expired(self, now: float) -> int:
        return await self.sessions.purge_expired(now) + await self.attempts.purge_expired(now)

    async def ensure_indexes(self) -> None:
        """Create the indexes once (idempotent on the server); StorageUnavailable while it cannot be reached."""
        if self._indexes_ready:
            return
        async with self._indexes_lock:
            if self._indexes_ready:
                return
            with self._available.guard():
                # username_1 is the name Mongoose gives the tutorial's unique index: the same index, not a second one.
                await self._db["users"].create_index([("username", ASCENDING)], unique=True)
                await self._db["sessions"].create_index([("userId", ASCENDING)])
                await self._db["login_attempts"].create_index([("key", ASCENDING)])
                refused = [name for name in ("sessions", "login_attempts") if not await self._create_ttl_index(name)]
            if refused:
                log.warning(
                    "the server refuses TTL indexes (%s): expiry is enforced by every query and the periodic purge",
                    ", ".join(refused),
                )
            self._indexes_ready = True
            log.info("MongoDB indexes are in place")

    async def _create_ttl_index(self, collection: str) -> bool:
        try:
            await self._db[collection].create_index([("expiresAt", ASCENDING)], expireAfterSeconds=0)
        except OperationFailure as exc:
            if exc.code == NOT_IMPLEMENTED or "not implemented" in str(exc).lower():
                return False
            raise
        return True

    async def _retry_indexes(self) -> None:
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                await self.ensure_indexes()
                return
            except StorageUnavailable:
                delay = min(delay * 2, INDEX_RETRY_MAX_DELAY)
            except Exception:  # a refused index (e.g. duplicate usernames) needs an operator; keep trying meanwhile
                log.exception("creating the MongoDB indexes failed; will retry")
                delay = INDEX_RETRY_MAX_DELAY
