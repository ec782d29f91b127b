"""`login_attempts`: one document per key, `{_id: key, count, until, members, expiresAt}` (a token bucket's: `{_id,
until, expiresAt}`), changed only by atomic single-document updates (upserts with $inc, $max, $addToSet, $pull),
which FerretDB and MongoDB both run.

An expired document that the purge has not reached yet must read as a new one. Every upsert matches live documents
only (`expiresAt > now`), so on an expired one it collides with the _id it would insert (E11000): the expired
document is then deleted and the upsert runs again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds

T = TypeVar("T")
UPSERT_TRIES = 3  # an expired document, then a concurrent insert: a third try always matches


class MongoAttemptCounter:
    def __init__(self, collection: Any, available: Availability) -> None:
        self._collection = collection
        self._available = available

    @staticmethod
    def _live(key: str, now: float) -> dict[str, Any]:
        return {"_id": key, "expiresAt": {"$gt": to_datetime(now)}}

    async def _upsert(self, key: str, now: float, attempt: Callable[[], Awaitable[T]]) -> T:
        for _ in range(UPSERT_TRIES - 1):
            try:
                with self._available.guard():
                    return await attempt()
            except DuplicateKeyError:
                with self._available.guard():
                    await self._collection.delete_one({"_id": key, "expiresAt": {"$lte": to_datetime(now)}})
        with self._available.guard():
            return await attempt()

    async def hit(self, key: str, now: float, expires_at: float) -> int:
        async def increment() -> int:
            # No projection: FerretDB v1 refuses findAndModify with one.
            doc = await self._collection.find_one_and_update(
                self._live(key, now),
                {"$inc": {"count": 1}, "$max": {"expiresAt": to_datetime(expires_at)}, "$setOnInsert": {"until": 0.0}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            return int(doc["count"])

        return await self._upsert(key, now, increment)

    async def count(self, key: str, now: float) -> int:
        with self._available.guard():
            doc = await self._collection.find_one(self._live(key, now))
        return int(doc.get("count", 0)) if doc else 0

    async def give_back(self, key: str, now: float) -> None:
        with self._available.guard():
            await self._collection.update_one({**self._live(key, now), "count": {"$gt": 0}}, {"$inc": {"count": -1}})

    async def hold(self, key: str, now: float, until: float) -> float | None:
        async def close_gate() -> float | None:
            try:
                await self._collection.update_one(
                    {**self._live(key, now), "until": {"$lte": now}},
                    {"$set": {"until": until}, "$max": {"expiresAt": to_datetime(until)}, "$setOnInsert": {"count": 0}},
                    upsert=True,
                )
            except DuplicateKeyError:
                doc = await self._collection.find_one({"_id": key})
                if doc is None or to_seconds(doc["expiresAt"]) <= now or float(doc.get("until", 0.0)) <= now:
                    raise  # expired, or it opened meanwhile: _upsert tries again
                return float(doc["until"])
            return None

        return await self._upsert(key, now, close_gate)

    async def add_distinct(self, key: str, member: str, now: float, expires_at: float, cap: int) -> tuple[int, bool]:
        async def add() -> tuple[int, bool]:
            try:
                before = await self._collection.find_one_and_update(
                    # A full set does not match: the upsert collides instead of growing the document past cap.
                    {**self._live(key, now), f"members.{cap - 1}": {"$exists": False}},
                    {
                        "$addToSet": {"members": member},
                        "$max": {"expiresAt": to_datetime(expires_at)},
                        "$setOnInsert": {"until": 0.0, "count": 0},
                    },
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
            except DuplicateKeyError:
                doc = await self._collection.find_one({"_id": key})
                if doc is None or to_seconds(doc["expiresAt"]) <= now:
                    raise  # expired: _upsert deletes it and tries again
                return len(doc.get("members", [])), False
            if before is None:
                return 1, True
            members = before.get("members", [])
            added = member not in members
            return len(members) + added, added

        return await self._upsert(key, now, add)

    async def take_token(self, key: str, now: float, burst: int, interval: float) -> float | None:
        # A bucket is one number, `until` (full again then), moved by two conditional single-document updates, so
        # no read-modify-write can lose a take: a full (or absent) bucket is set to now + interval, a partly drained
        # one that still has a token gains interval ($inc). No transaction and no update pipeline, which FerretDB
        # lacks; a race between the two forms only sends one round again.
        tolerance = (burst - 1) * interval
        for _ in range(UPSERT_TRIES):
            with self._available.guard():
                try:
                    await self._collection.update_one(
                        {"_id": key, "until": {"$lte": now}},
                        {"$set": {"until": now + interval}, "$max": {"expiresAt": to_datetime(now + interval)}},
                        upsert=True,
                    )
                    return None
                except DuplicateKeyError:
                    pass  # drained below full: the other form
                taken = await self._collection.update_one(
                    {"_id": key, "until": {"$gt": now, "$lte": now + tolerance}},
                    {"$inc": {"until": interval}, "$max": {"expiresAt": to_datetime(now + tolerance + interval)}},
                )
                if taken.modified_count:
                    return None
                doc = await self._collection.find_one({"_id": key})
            if doc is not None and float(doc.get("until", 0.0)) > now + tolerance:
                return float(doc["until"]) - tolerance
        return now + interval  # still racing after every try: refuse rather than count nothing

    async def return_token(self, key: str, now: float, interval: float) -> None:
        with self._available.guard():
            await self._collection.update_one({"_id": key, "until": {"$gt": now}}, {"$inc": {"until": -interval}})

    async def discard(self, key: str, member: str) -> None:
        with self._available.guard():
            await self._collection.update_one({"_id": key}, {"$pull": {"members": member}})

    async def reset(self, key: str) -> None:
        with self._available.guard():
            await self._collection.delete_one({"_id": key})

    async def purge_expired(self, now: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"expiresAt": {"$lte": to_datetime(now)}})
        return int(result.deleted_count)
