"""`events`: the audit trail, append-only; `_id` is the event id, which sorts as its time."""

from __future__ import annotations

from typing import Any

from authsvc.events.models import Event, EventQuery
from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds


def _document(event: Event) -> dict[str, Any]:
    fields = event.fields() | {"at": to_datetime(event.at)}
    return {"_id": fields.pop("id"), **fields}


def _event(doc: dict[str, Any]) -> Event:
    return Event(
        id=doc["_id"],
        at=to_seconds(doc["at"]),
        type=doc["type"],
        actor=doc["actor"],
        user_id=doc.get("userId"),
        ip=doc.get("ip"),
        user_agent=doc.get("userAgent"),
        request_id=doc.get("requestId"),
        outcome=doc["outcome"],
        details=dict(doc.get("details") or {}),
    )


class MongoEventLog:
    def __init__(self, collection: Any, available: Availability) -> None:
        self._collection = collection
        self._available = available

    async def append(self, events: list[Event]) -> None:
        with self._available.guard():
            await self._collection.insert_many([_document(event) for event in events], ordered=True)

    async def page(self, query: EventQuery, after: str | None, limit: int) -> list[Event]:
        selector: dict[str, Any] = {}
        if after is not None:
            selector["_id"] = {"$gt": after}
        if query.user_id is not None:
            selector["userId"] = query.user_id
        if query.type is not None:
            selector["type"] = query.type
        at: dict[str, Any] = {}
        if query.since is not None:
            at["$gte"] = to_datetime(query.since)
        if query.until is not None:
            at["$lt"] = to_datetime(query.until)
        if at:
            selector["at"] = at
        with self._available.guard():
            docs = await self._collection.find(selector).sort("_id", 1).limit(limit).to_list(None)
        return [_event(doc) for doc in docs]

    async def purge_before(self, at: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"at": {"$lt": to_datetime(at)}})
        return int(result.deleted_count)
