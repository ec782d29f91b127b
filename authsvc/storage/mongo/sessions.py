"""`sessions`: _id is the session id's hash; every read checks expiresAt itself, TTL index or not."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from authsvc.auth.models import SessionRecord
from authsvc.storage.mongo.cache import ReplicaCache
from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds
from authsvc.storage.mongo.revocations import RevocationLog


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
        "factors": list(record.factors),
        "provenAt": to_datetime(record.proven_at) if record.proven_at is not None else None,
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
        factors=tuple(doc.get("factors") or ()),  # none recorded (written before issue 25): one factor at most
        proven_at=to_seconds(doc["provenAt"]) if doc.get("provenAt") else None,
    )


class MongoSessionRepository:
    """Looked-up sessions are kept in the replica's cache; every deletion is logged for the other replicas."""

    def __init__(
        self, collection: Any, available: Availability, cache: ReplicaCache | None, revocations: RevocationLog
    ) -> None:
        self._collection = collection
        self._available = available
        self._cache = cache
        self._revocations = revocations
        self._touching: set[str] = set()

    async def create(self, record: SessionRecord) -> None:
        with self._available.guard():
            await self._collection.insert_one(_session_doc(record))

    async def get(self, id_hash: str, now: float) -> SessionRecord | None:
        if self._cache is None:
            return await self._find(id_hash, now)
        cached = self._cache.session(id_hash)
        if cached is not None and cached.live(now):
            return cached
        ticket = self._cache.ticket()
        record = await self._find(id_hash, now)
        if record is not None:
            self._cache.keep_session(record, ticket)
        return record

    async def _find(self, id_hash: str, now: float) -> SessionRecord | None:
        with self._available.guard():
            # By _id alone, expiry checked here: the same answer, and FerretDB's SQLite backend scans otherwise.
            doc = await self._collection.find_one({"_id": id_hash})
        record = _session(doc) if doc else None
        return record if record is not None and record.live(now) else None

    async def touch(self, id_hash: str, last_seen_at: float, expires_at: float, seen_before: float) -> bool:
        if id_hash in self._touching:  # a concurrent request of this replica is renewing it already
            return False
        self._touching.add(id_hash)
        try:
            with self._available.guard():
                # Conditional: of the replicas (and requests) that find it due, one writes per renew window.
                result = await self._collection.update_one(
                    {"_id": id_hash, "lastSeenAt": {"$lt": to_datetime(seen_before)}},
                    {"$set": {"lastSeenAt": to_datetime(last_seen_at), "expiresAt": to_datetime(expires_at)}},
                )
        finally:
            self._touching.discard(id_hash)
            if self._cache is not None:
                self._cache.evict_session(id_hash)  # the next look-up reads what was written, here or elsewhere
        return bool(result.modified_count)

    async def delete(self, id_hash: str) -> bool:
        # Logged even when nothing was deleted: a retry after a failed log write still reaches the other replicas.
        async with self._revocations.ending_session(id_hash):
            with self._available.guard():
                result = await self._collection.delete_one({"_id": id_hash})
        return bool(result.deleted_count)

    async def delete_for_user(self, user_id: str, keep_id_hash: str | None = None) -> int:
        query: dict[str, Any] = {"userId": user_id}
        if keep_id_hash is not None:
            query["_id"] = {"$ne": keep_id_hash}
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                result = await self._collection.delete_many(query)
        return int(result.deleted_count)

    async def list_for_user(self, user_id: str, now: float) -> list[SessionRecord]:
        with self._available.guard():
            cursor = self._collection.find({"userId": user_id, "expiresAt": {"$gt": to_datetime(now)}})
            docs = await cursor.sort("createdAt", ASCENDING).to_list(None)
        return [_session(doc) for doc in docs]

    async def purge_expired(self, now: float) -> int:
        # No log entry: a cached copy expires no later than the document (touch only moves expiresAt forward).
        with self._available.guard():
            result = await self._collection.delete_many({"expiresAt": {"$lte": to_datetime(now)}})
        return int(result.deleted_count)
