"""`webhook_deliveries`: the webhook queue every replica shares; a claim is one atomic find-and-update."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from authsvc.events.ports import Delivery
from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds


class MongoDeliveries:
    def __init__(self, collection: Any, available: Availability) -> None:
        self._collection = collection
        self._available = available

    async def add(self, deliveries: list[Delivery]) -> None:
        docs = [
            {
                "_id": d.id,
                "endpoint": d.endpoint,
                "body": d.body,
                "attempts": d.attempts,
                "nextAt": to_datetime(d.next_at),
            }
            for d in deliveries
        ]
        try:
            with self._available.guard():
                await self._collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:  # a retried batch: what is there already stays as it is
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise

    async def claim(self, now: float, lease_until: float) -> Delivery | None:
        with self._available.guard():
            doc = await self._collection.find_one_and_update(
                {"nextAt": {"$lte": to_datetime(now)}},
                {"$set": {"nextAt": to_datetime(lease_until)}},
                sort=[("nextAt", 1), ("_id", 1)],
                return_document=ReturnDocument.BEFORE,
            )
        if doc is None:
            return None
        return Delivery(doc["_id"], doc["endpoint"], doc["body"], doc["attempts"], to_seconds(doc["nextAt"]))

    async def delivered(self, delivery_id: str) -> None:
        with self._available.guard():
            await self._collection.delete_one({"_id": delivery_id})

    async def failed(self, delivery_id: str, attempts: int, next_at: float) -> None:
        with self._available.guard():
            await self._collection.update_one(
                {"_id": delivery_id}, {"$set": {"attempts": attempts, "nextAt": to_datetime(next_at)}}
            )

    async def pending(self) -> int:
        with self._available.guard():
            return int(await self._collection.count_documents({}))
