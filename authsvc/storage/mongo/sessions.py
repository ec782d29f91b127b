"""`sessions`: _id is the session id's hash; every read checks expiresAt itself, TTL index or not."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pymongo import ASCENDING

from authsvc.auth.models import SessionRecord
from authsvc.clock import Clock
from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds

SESSION_CACHE_SIZE = 10_000


def _session_doc(record: SessionRecord) -> dict[str, Any]:
    return {
        "_id": record.id_hash,
        "userId": record.user_id,
        "createdAt": to_datetime(record.created_at),
        "lastSeenAt": to_datetime(record.last_seen_at),
        "expiresAt": to_datetime(record.expires_at),
        "absoluteExpiresAt": to_datetime(record.absolute_expires_at),
        "ip": record.ip,
        "userAgent": record.user_agent,
    }


def _session(doc: dict[str, Any]) -> SessionRecord:
    return SessionRecord(
        id_hash=doc["_id"],
        user_id=doc["userId"],
        created_at=to_seconds(doc["createdAt"]),
        last_seen_at=to_seconds(doc["lastSeenAt"]),
        expires_at=to_seconds(doc["expiresAt"]),
        absolute_expires_at=to_seconds(doc["absoluteExpiresAt"]),
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
                {"$set": {"lastSeenAt": to_datetime(last_seen_at), "expiresAt": to_datetime(expires_at)}},
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
            cursor = self._collection.find({"userId": user_id, "expiresAt": {"$gt": to_datetime(now)}})
            docs = await cursor.sort("createdAt", ASCENDING).to_list(None)
        return [_session(doc) for doc in docs]

    async def purge_expired(self, now: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"expiresAt": {"$lte": to_datetime(now)}})
        return int(result.deleted_count)
