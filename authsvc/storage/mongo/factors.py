"""`second_factors`: one document per user (_id is the user id); single use is a conditional update, atomic on the
server, so two replicas never both accept one code."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from authsvc.auth.models import SecondFactors
from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds
from authsvc.storage.mongo.revocations import RevocationLog


def _factors(doc: dict[str, Any]) -> SecondFactors:
    return SecondFactors(
        user_id=doc["_id"],
        totp_secret=doc["totpSecret"],
        totp_confirmed=bool(doc["totpConfirmed"]),
        last_used_step=int(doc["lastUsedStep"]),
        recovery_code_hashes=tuple(doc.get("recoveryCodes") or ()),
        created_at=to_seconds(doc["createdAt"]),
        confirmed_at=to_seconds(doc["confirmedAt"]) if doc.get("confirmedAt") else None,
    )


class MongoSecondFactorRepository:
    """A factor confirmed or removed is logged as a change of its user: caches of the user's state go everywhere."""

    def __init__(self, collection: Any, available: Availability, revocations: RevocationLog) -> None:
        self._collection = collection
        self._available = available
        self._revocations = revocations

    async def get(self, user_id: str) -> SecondFactors | None:
        with self._available.guard():
            doc = await self._collection.find_one({"_id": user_id})
        return _factors(doc) if doc else None

    async def begin_totp(self, user_id: str, sealed_secret: str, now: float) -> bool:
        doc = {
            "totpSecret": sealed_secret,
            "totpConfirmed": False,
            "lastUsedStep": -1,
            "recoveryCodes": [],
            "createdAt": to_datetime(now),
        }
        try:
            with self._available.guard():
                # Replaces a pending document; a confirmed one does not match, and the upsert's insert then collides.
                await self._collection.replace_one({"_id": user_id, "totpConfirmed": False}, doc, upsert=True)
        except DuplicateKeyError:
            return False
        return True

    async def confirm_totp(self, user_id: str, step: int, recovery_code_hashes: list[str], now: float) -> bool:
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                result = await self._collection.update_one(
                    {"_id": user_id, "totpConfirmed": False},
                    {
                        "$set": {
                            "totpConfirmed": True,
                            "lastUsedStep": step,
                            "recoveryCodes": recovery_code_hashes,
                            "confirmedAt": to_datetime(now),
                        }
                    },
                )
        return bool(result.modified_count)

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        with self._available.guard():
            result = await self._collection.update_one(
                {"_id": user_id, "totpConfirmed": True, "lastUsedStep": {"$lt": step}},
                {"$set": {"lastUsedStep": step}},
            )
        return bool(result.modified_count)

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        with self._available.guard():
            result = await self._collection.update_one(
                {"_id": user_id, "totpConfirmed": True, "recoveryCodes": code_hash},
                {"$pull": {"recoveryCodes": code_hash}},
            )
        return bool(result.modified_count)

    async def replace_recovery_codes(self, user_id: str, recovery_code_hashes: list[str]) -> bool:
        with self._available.guard():
            result = await self._collection.update_one(
                {"_id": user_id, "totpConfirmed": True}, {"$set": {"recoveryCodes": recovery_code_hashes}}
            )
        return bool(result.matched_count)

    async def delete(self, user_id: str) -> bool:
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                result = await self._collection.delete_one({"_id": user_id})
        return bool(result.deleted_count)
