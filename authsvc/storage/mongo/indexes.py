"""The indexes every collection needs, created once and idempotently; retried in the background while unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import OperationFailure

from authsvc.errors import StorageUnavailable
from authsvc.storage.mongo.client import Availability
from authsvc.storage.mongo.revocations import RETENTION_SECONDS

log = logging.getLogger("authsvc.storage")

INDEX_RETRY_MAX_DELAY = 10.0
NOT_IMPLEMENTED = 238  # FerretDB v1's answer to a TTL index


class Indexes:
    def __init__(self, db: Any, available: Availability) -> None:
        self._db = db
        self._available = available
        self._ready = False
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None
        self._stopping = False

    async def ensure(self) -> None:
        """Create the indexes once (idempotent on the server); StorageUnavailable while it cannot be reached."""
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            with self._available.guard():
                # username_1 is the name Mongoose gives the tutorial's unique index: the same index, not a second one.
                await self._db["users"].create_index([("username", ASCENDING)], unique=True)
                # Not unique: the tutorial's app may have stored two names that normalise alike.
                await self._db["users"].create_index([("usernameKey", ASCENDING)])
                # The admin listing's group filter: a group's members already in the listing's order (stored name).
                await self._db["users"].create_index([("groups", ASCENDING), ("username", ASCENDING)])
                await self._db["sessions"].create_index([("userId", ASCENDING)])
                await self._db["passkeys"].create_index([("userId", ASCENDING)])
                expiring = ("sessions", "login_attempts", "passkey_challenges")
                refused = [name for name in expiring if not await self._create_ttl_index(name)]
                # Polled by `at`; where TTL works the same index also drops old entries.
                if not await self._create_ttl_index("revocations", "at", RETENTION_SECONDS):
                    await self._db["revocations"].create_index([("at", ASCENDING)])
                    refused.append("revocations")
            if refused:
                log.warning(
                    "the server refuses TTL indexes (%s): expiry is enforced by every query and the periodic purge",
                    ", ".join(refused),
                )
            self._ready = True
            log.info("MongoDB indexes are in place")

    async def ensure_or_retry(self) -> None:
        """At start-up: create them now, or keep trying in the background while the server is unreachable."""
        try:
            await self.ensure()
        except StorageUnavailable:
            log.warning("MongoDB is unreachable at start-up; creating its indexes in the background until it answers")
            self._retry = asyncio.create_task(self._retry_forever())

    async def stop(self) -> None:
        if self._retry is not None:
            self._stopping = True  # the driver may turn the cancellation into an error, which the loop takes
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
            self._retry = None

    async def _create_ttl_index(self, collection: str, field: str = "expiresAt", after: int = 0) -> bool:
        try:
            await self._db[collection].create_index([(field, ASCENDING)], expireAfterSeconds=after)
        except OperationFailure as exc:
            if exc.code == NOT_IMPLEMENTED or "not implemented" in str(exc).lower():
                return False
            raise
        return True

    async def _retry_forever(self) -> None:
        delay = 0.5
        while not self._stopping:
            await asyncio.sleep(delay)
            try:
                await self.ensure()
                return
            except StorageUnavailable:
                delay = min(delay * 2, INDEX_RETRY_MAX_DELAY)
            except Exception:  # a refused index (e.g. duplicate usernames) needs an operator; keep trying meanwhile
                log.exception("creating the MongoDB indexes failed; will retry")
                delay = INDEX_RETRY_MAX_DELAY
