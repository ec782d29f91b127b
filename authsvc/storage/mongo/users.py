"""`users` in the shape the tutorial's Mongoose model writes: _id, username, password, createdAt, updatedAt, __v.

Plus `usernameKey`, normalize_username(username), which sign-up queries so that no new name can shadow one the
tutorial's app stored un-normalised (a fullwidth letter kept as typed). Mongoose ignores the extra field; documents
without it (the tutorial's app may still be writing them) get it before each sign-up's check, found by its index.

And `revocationGeneration` (User.generation), absent until the user's first revocation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from authsvc.errors import DuplicateUsername
from authsvc.storage.mongo.cache import ReplicaCache
from authsvc.storage.mongo.client import Availability, to_datetime, to_seconds
from authsvc.storage.mongo.revocations import RevocationLog
from authsvc.users.models import User, next_generation, normalize_username

log = logging.getLogger("authsvc.storage")

OBJECT_ID = re.compile(r"[0-9a-f]{24}")
LOGGED_PROBLEMS_MAX = 1000


def _user(doc: dict[str, Any]) -> User | None:
    """The user a document describes, or None when its shape is not one we wrote or the tutorial's Mongoose did."""
    # The NestJS tutorial's documents: Mongoose's timestamps may be missing on hand-made ones.
    object_id, username, password = doc.get("_id"), doc.get("username"), doc.get("password")
    if not isinstance(object_id, ObjectId | str) or not isinstance(username, str) or not isinstance(password, str):
        return None
    generation = doc.get("revocationGeneration", 0)
    if not isinstance(generation, int) or isinstance(generation, bool):
        return None
    created = doc.get("createdAt") or (object_id.generation_time if isinstance(object_id, ObjectId) else None)
    updated = doc.get("updatedAt") or created
    if not isinstance(created, datetime) or not isinstance(updated, datetime):
        return None
    try:
        created_at, updated_at = to_seconds(created), to_seconds(updated)
    except (OverflowError, OSError, ValueError):
        return None
    groups = doc.get("groups", [])  # absent on the tutorial's documents: no groups
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        return None
    return User(
        id=str(object_id),
        username=username,
        password_hash=password,
        created_at=created_at,
        updated_at=updated_at,
        generation=generation,
        groups=tuple(groups),
        disabled=doc.get("disabled") is True,
    )


def _object_id(user_id: str) -> ObjectId | None:
    return ObjectId(user_id) if OBJECT_ID.fullmatch(user_id) else None


class MongoUserRepository:
    """Users looked up by id are kept in the replica's cache; every change is logged for the other replicas."""

    def __init__(
        self,
        collection: Any,
        available: Availability,
        ensure_indexes: Callable[[], Awaitable[None]],
        cache: ReplicaCache | None,
        revocations: RevocationLog,
    ) -> None:
        self._collection = collection
        self._available = available
        self._ensure_indexes = ensure_indexes
        self._cache = cache
        self._revocations = revocations
        self._logged_problems: set[str] = set()

    def _map(self, doc: dict[str, Any] | None) -> User | None:
        """The user, or None for no document or one of unexpected shape (no match: never a 500), logged once."""
        if doc is None:
            return None
        user = _user(doc)
        if user is None:
            problem_id = repr(doc.get("_id"))[:64]
            if problem_id not in self._logged_problems and len(self._logged_problems) < LOGGED_PROBLEMS_MAX:
                self._logged_problems.add(problem_id)
                log.error(
                    "data problem: a users document of unexpected shape is treated as no user",
                    extra={"event": "data.problem", "collection": "users", "document_id": problem_id},
                )
        return user

    async def create(self, username: str, password_hash: str, now: float) -> User:
        await self._ensure_indexes()  # the unique index decides races: never insert without it
        created = to_datetime(now)
        doc = {
            "username": username,
            "usernameKey": normalize_username(username),
            "password": password_hash,
            "createdAt": created,
            "updatedAt": created,
            "__v": 0,
        }
        try:
            with self._available.guard():
                result = await self._collection.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateUsername() from None
        return User(str(result.inserted_id), username, password_hash, to_seconds(created), to_seconds(created))

    async def find_by_username(self, username: str) -> User | None:
        with self._available.guard():
            doc = await self._collection.find_one({"username": username})
        return self._map(doc)

    async def canonical_name_taken(self, canonical: str) -> bool:
        await self._ensure_indexes()
        await self._add_missing_keys()
        with self._available.guard():
            doc = await self._collection.find_one({"usernameKey": canonical}, {"_id": 1})
        return doc is not None

    async def _add_missing_keys(self) -> None:
        """usernameKey for the documents written without it; usually none, found through the index."""
        with self._available.guard():
            docs = await self._collection.find({"usernameKey": None}, {"username": 1}).to_list(None)
            if docs:
                await self._collection.bulk_write(
                    [
                        UpdateOne(
                            {"_id": doc["_id"], "usernameKey": None},
                            {"$set": {"usernameKey": normalize_username(doc["username"])}},
                        )
                        for doc in docs
                    ],
                    ordered=False,
                )

    async def find_by_id(self, user_id: str) -> User | None:
        if self._cache is not None and (cached := self._cache.user(user_id)) is not None:
            return cached  # only ids that were valid ObjectIds are ever cached
        object_id = _object_id(user_id)
        if object_id is None:
            return None
        ticket = self._cache.ticket() if self._cache is not None else None
        with self._available.guard():
            doc = await self._collection.find_one({"_id": object_id})
        user = self._map(doc)
        if user is not None and self._cache is not None:
            self._cache.keep_user(user, ticket)
        return user

    async def update_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        object_id = _object_id(user_id)
        if object_id is None:
            return False
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                result = await self._collection.update_one(
                    {"_id": object_id}, {"$set": {"password": password_hash, "updatedAt": to_datetime(now)}}
                )
        return bool(result.matched_count)

    async def bump_generation(self, user_id: str, now: float) -> int | None:
        object_id = _object_id(user_id)
        if object_id is None:
            return None
        at_now = next_generation(0, now)
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                # Two atomic steps, no update pipeline (FerretDB has none): up to now when below it, else one up.
                doc = await self._collection.find_one_and_update(
                    {"_id": object_id, "revocationGeneration": {"$not": {"$gte": at_now}}},
                    {"$set": {"revocationGeneration": at_now}},
                    return_document=ReturnDocument.AFTER,
                )
                if doc is None:
                    doc = await self._collection.find_one_and_update(
                        {"_id": object_id},
                        {"$inc": {"revocationGeneration": 1}},
                        return_document=ReturnDocument.AFTER,
                    )
        return int(doc["revocationGeneration"]) if doc is not None else None

    async def set_groups(self, user_id: str, groups: tuple[str, ...], now: float) -> bool:
        object_id = _object_id(user_id)
        if object_id is None:
            return False
        async with self._revocations.changing_user(user_id):  # the other replicas drop their copy of the user
            with self._available.guard():
                result = await self._collection.update_one(
                    {"_id": object_id}, {"$set": {"groups": list(groups), "updatedAt": to_datetime(now)}}
                )
        return bool(result.matched_count)

    async def set_disabled(self, user_id: str, disabled: bool, now: float) -> bool:
        object_id = _object_id(user_id)
        if object_id is None:
            return False
        async with self._revocations.changing_user(user_id):  # every replica drops its copy of the user
            with self._available.guard():
                result = await self._collection.update_one(
                    {"_id": object_id}, {"$set": {"disabled": disabled, "updatedAt": to_datetime(now)}}
                )
        return bool(result.matched_count)

    async def delete(self, user_id: str) -> bool:
        object_id = _object_id(user_id)
        if object_id is None:
            return False
        async with self._revocations.changing_user(user_id):
            with self._available.guard():
                result = await self._collection.delete_one({"_id": object_id})
        return bool(result.deleted_count)
