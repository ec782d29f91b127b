"""`passkeys` (one document per credential, _id is the credential id, an index on userId) and `passkey_challenges`
(_id is the challenge; taken with find_one_and_delete, atomic on the server, so one challenge serves one ceremony
whichever replica it comes back to)."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from authsvc.auth.models import Passkey, PasskeyChallenge
from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds
from authsvc.storage.mongo.revocations import RevocationLog


def _passkey(doc: dict[str, Any]) -> Passkey:
    last_used = doc.get("lastUsedAt")
    return Passkey(
        credential_id=doc["_id"],
        user_id=doc["userId"],
        name=doc["name"],
        public_key=bytes(doc["publicKey"]),
        sign_count=int(doc["signCount"]),
        transports=tuple(doc.get("transports") or ()),
        created_at=to_seconds(doc["createdAt"]),
        last_used_at=to_seconds(last_used) if last_used is not None else None,
    )


class MongoPasskeyRepository:
    """A passkey added or removed is logged as a change of its user, as the other factors are."""

    def __init__(self, collection: Any, available: Availability, revocations: RevocationLog) -> None:
        self._collection = collection
        self._available = available
        self._revocations = revocations

    async def add(self, passkey: Passkey) -> bool:
        doc = {
            "_id": passkey.credential_id,
            "userId": passkey.user_id,
            "name": passkey.name,
            "publicKey": passkey.public_key,
            "signCount": passkey.sign_count,
            "transports": list(passkey.transports),
            "createdAt": to_datetime(passkey.created_at),
            "lastUsedAt": None,
        }
        try:
            async with self._revocations.changing_user(passkey.user_id):
                with self._available.guard():
                    await self._collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def find(self, credential_id: str) -> Passkey | None:
        with self._available.guard():
            doc = await self._collection.find_one({"_id": credential_id})
        return _passkey(doc) if doc else None

    async def list_for_user(self, user_id: str) -> list[Passkey]:
        with self._available.guard():
            docs = await self._collection.find({"userId": user_id}).sort([("createdAt", 1), ("_id", 1)]).to_list(None)
        return [_passkey(doc) for doc in docs]

    async def record_use(self, credential_id: str, seen_count: int, new_count: int, now: float) -> bool:
        with self._available.guard():
            result = await self._collection.update_one(
                {"_id": credential_id, "signCount": seen_count},
                {"$set": {"signCount": new_count, "lastUsedAt": to_datetime(now)}},
            )
        return bool(result.matched_count)

    async def delete(self, user_id: str, credential_id: str) -> bool:
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                result = await self._collection.delete_one({"_id": credential_id, "userId": user_id})
        return bool(result.deleted_count)

    async def delete_for_user(self, user_id: str) -> int:
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                result = await self._collection.delete_many({"userId": user_id})
        return int(result.deleted_count)


class MongoPasskeyChallenges:
    def __init__(self, collection: Any, available: Availability) -> None:
        self._collection = collection
        self._available = available

    async def put(self, challenge: PasskeyChallenge) -> None:
        doc = {
            "_id": challenge.challenge,
            "purpose": challenge.purpose,
            "subject": challenge.subject,
            "expiresAt": to_datetime(challenge.expires_at),
        }
        with self._available.guard():
            await self._collection.insert_one(doc)

    async def take(self, challenge: str, now: float) -> PasskeyChallenge | None:
        with self._available.guard():
            doc = await self._collection.find_one_and_delete({"_id": challenge})
        if doc is None or to_seconds(doc["expiresAt"]) <= now:
            return None
        return PasskeyChallenge(doc["_id"], doc["purpose"], doc["subject"], to_seconds(doc["expiresAt"]))

    async def purge_expired(self, now: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"expiresAt": {"$lte": to_datetime(now)}})
        return int(result.deleted_count)
