"""The MongoDB backend's part for mail: `outbox`, `mail_tokens` (sha256 of each token) and `email_addresses`.

Times are stored as seconds since the epoch: nothing here relies on a TTL index (FerretDB may refuse one); expired
tokens are refused by every query and removed by the periodic purge.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from authsvc.mail.models import DuplicateEmail, EmailAddress, MailToken, QueuedMail
from authsvc.storage.mongo.client import Availability


class MailIndexes:
    """The mail collections' indexes, created once, before the first write that needs them."""

    def __init__(self, db: Any, available: Availability) -> None:
        self._db = db
        self._available = available
        self._ready = False
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            with self._available.guard():
                await self._db["email_addresses"].create_index([("key", ASCENDING)], unique=True)
                await self._db["mail_tokens"].create_index([("userId", ASCENDING), ("purpose", ASCENDING)])
                await self._db["outbox"].create_index([("deliveredAt", ASCENDING), ("nextAttemptAt", ASCENDING)])
            self._ready = True


def _mail(doc: dict[str, Any]) -> QueuedMail:
    return QueuedMail(
        id=doc["_id"],
        to=doc["to"],
        kind=doc["kind"],
        subject=doc["subject"],
        body=doc.get("body", ""),  # none in a mail queued before bodies were sealed: it cannot be opened
        created_at=doc["createdAt"],
        next_attempt_at=doc["nextAttemptAt"],
        attempts=doc["attempts"],
        delivered_at=doc.get("deliveredAt"),
        last_error=doc.get("lastError"),
    )


class MongoOutbox:
    def __init__(self, collection: Any, available: Availability, indexes: MailIndexes) -> None:
        self._collection = collection
        self._available = available
        self._indexes = indexes

    async def add(self, mail: QueuedMail) -> None:
        await self._indexes.ensure()
        doc = {
            "_id": mail.id,
            "to": mail.to,
            "kind": mail.kind,
            "subject": mail.subject,
            "body": mail.body,
            "createdAt": mail.created_at,
            "nextAttemptAt": mail.next_attempt_at,
            "attempts": mail.attempts,
            "deliveredAt": None,
            "lastError": None,
        }
        with self._available.guard():
            await self._collection.insert_one(doc)

    async def claim(self, now: float, lease_until: float) -> QueuedMail | None:
        with self._available.guard():
            doc = await self._collection.find_one_and_update(
                {"deliveredAt": None, "nextAttemptAt": {"$lte": now}},
                {"$set": {"nextAttemptAt": lease_until}},
                sort=[("nextAttemptAt", ASCENDING), ("createdAt", ASCENDING)],
                return_document=ReturnDocument.BEFORE,
            )
        return _mail(doc) if doc else None

    async def delivered(self, mail_id: str, now: float) -> None:
        with self._available.guard():
            await self._collection.update_one(
                {"_id": mail_id}, {"$set": {"deliveredAt": now, "body": "", "lastError": None}}
            )

    async def failed(self, mail_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        with self._available.guard():
            await self._collection.update_one(
                {"_id": mail_id},
                {"$set": {"attempts": attempts, "nextAttemptAt": next_attempt_at, "lastError": error}},
            )

    async def get(self, mail_id: str) -> QueuedMail | None:
        with self._available.guard():
            doc = await self._collection.find_one({"_id": mail_id})
        return _mail(doc) if doc else None

    async def pending(self) -> int:
        with self._available.guard():
            return int(await self._collection.count_documents({"deliveredAt": None}))


def _token(doc: dict[str, Any]) -> MailToken:
    return MailToken(
        id_hash=doc["_id"],
        user_id=doc["userId"],
        purpose=doc["purpose"],
        stamp=doc["stamp"],
        created_at=doc["createdAt"],
        expires_at=doc["expiresAt"],
    )


class MongoMailTokens:
    def __init__(self, collection: Any, available: Availability, indexes: MailIndexes) -> None:
        self._collection = collection
        self._available = available
        self._indexes = indexes

    async def add(self, token: MailToken) -> None:
        await self._indexes.ensure()
        doc = {
            "_id": token.id_hash,
            "userId": token.user_id,
            "purpose": token.purpose,
            "stamp": token.stamp,
            "createdAt": token.created_at,
            "expiresAt": token.expires_at,
        }
        with self._available.guard():
            await self._collection.insert_one(doc)

    async def get(self, id_hash: str, purpose: str, now: float) -> MailToken | None:
        with self._available.guard():
            doc = await self._collection.find_one({"_id": id_hash, "purpose": purpose, "expiresAt": {"$gt": now}})
        return _token(doc) if doc else None

    async def take(self, id_hash: str, purpose: str, now: float) -> MailToken | None:
        with self._available.guard():
            doc = await self._collection.find_one_and_delete(
                {"_id": id_hash, "purpose": purpose, "expiresAt": {"$gt": now}}
            )
        return _token(doc) if doc else None

    async def delete_for_user(self, user_id: str, purpose: str) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"userId": user_id, "purpose": purpose})
        return int(result.deleted_count)

    async def purge_expired(self, now: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"expiresAt": {"$lte": now}})
        return int(result.deleted_count)


def _address(doc: dict[str, Any]) -> EmailAddress:
    return EmailAddress(user_id=doc["_id"], address=doc["address"], key=doc["key"], verified=doc["verified"])


class MongoEmailAddresses:
    def __init__(self, collection: Any, available: Availability, indexes: MailIndexes) -> None:
        self._collection = collection
        self._available = available
        self._indexes = indexes

    async def set(self, address: EmailAddress) -> None:
        await self._indexes.ensure()  # the unique index on key decides races
        doc = {"address": address.address, "key": address.key, "verified": address.verified}
        try:
            with self._available.guard():
                await self._collection.replace_one({"_id": address.user_id}, doc, upsert=True)
        except DuplicateKeyError:
            raise DuplicateEmail() from None

    async def get(self, user_id: str) -> EmailAddress | None:
        with self._available.guard():
            doc = await self._collection.find_one({"_id": user_id})
        return _address(doc) if doc else None

    async def find_by_key(self, key: str) -> EmailAddress | None:
        with self._available.guard():
            doc = await self._collection.find_one({"key": key})
        return _address(doc) if doc else None

    async def mark_verified(self, user_id: str, key: str) -> bool:
        with self._available.guard():
            result = await self._collection.update_one({"_id": user_id, "key": key}, {"$set": {"verified": True}})
        return bool(result.matched_count)

    async def delete(self, user_id: str) -> bool:
        with self._available.guard():
            result = await self._collection.delete_one({"_id": user_id})
        return bool(result.deleted_count)
