"""`login_attempts`: one document per key and fixed window, counted with an upserting $inc."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from authsvc.storage.mongo.client import Availability, to_datetime


class MongoAttemptCounter:
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
                        "windowStart": to_datetime(window_start),
                        "expiresAt": to_datetime(expires_at),
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
            result = await self._collection.delete_many({"expiresAt": {"$lte": to_datetime(now)}})
        return int(result.deleted_count)
