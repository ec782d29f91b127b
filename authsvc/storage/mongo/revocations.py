"""`revocations`: how every replica learns that a session ended or a user changed, wherever it happened.

An entry is {_id: ObjectId, kind: "session" | "user", key: the session id's hash (as `sessions` keys it) or the user
id, at: the server's clock ($currentDate, so replicas' clocks do not matter)}. The adapters write one right after
the write it announces has been acknowledged: a replica that reads the entry and then MongoDB sees the change.

Each replica polls for entries stamped at or after (newest stamp seen - OVERLAP): entries from different writers
commit out of stamp order, so the window is re-read and de-duplicated by _id. One whose commit lags its stamp by more
than OVERLAP is missed by a replica that moved on; cache_max_age_seconds bounds that case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING

from authsvc.clock import Clock
from authsvc.metrics import Metrics
from authsvc.storage.mongo.cache import SESSION, USER, ReplicaCache
from authsvc.storage.mongo.client import Availability, to_datetime

log = logging.getLogger("authsvc.storage")

OVERLAP = timedelta(seconds=5)
RETENTION_SECONDS = 600  # far beyond OVERLAP: a replica that falls behind clears its cache rather than catch up


class RevocationLog:
    """The writing side: this replica's copies go at once, the other replicas' within revocation_lag_ms."""

    def __init__(self, collection: Any, available: Availability, cache: ReplicaCache | None) -> None:
        self._collection = collection
        self._available = available
        self._cache = cache

    def ending_session(self, id_hash: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Around a write that ends a session."""
        return self._announcing(SESSION, id_hash)

    def changing_user(self, user_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Around a write that ends a user's sessions or changes what a look-up of the user answers."""
        return self._announcing(USER, user_id)

    @contextlib.asynccontextmanager
    async def _announcing(self, kind: str, key: str) -> AsyncIterator[None]:
        """Evicted here once the write is done (or failed), then logged for the other replicas."""
        try:
            yield
        finally:
            if self._cache is not None:
                self._cache.evict(kind, key)
        await self._append(kind, key)

    async def _append(self, kind: str, key: str) -> None:
        with self._available.guard():
            # An upsert, because only an update can stamp the server's time.
            await self._collection.update_one(
                {"_id": ObjectId()}, {"$currentDate": {"at": True}, "$setOnInsert": {"kind": kind, "key": key}}, True
            )

    async def purge(self, now: float) -> int:
        with self._available.guard():
            result = await self._collection.delete_many({"at": {"$lt": to_datetime(now - RETENTION_SECONDS)}})
        return int(result.deleted_count)


class RevocationFollower:
    """The reading side: polls the log, evicts what it names, and tells the cache whether it may serve."""

    def __init__(
        self,
        collection: Any,
        available: Availability,
        cache: ReplicaCache,
        clock: Clock,
        interval: float,
        metrics: Metrics,
    ) -> None:
        self._collection = collection
        self._available = available
        self._cache = cache
        self._clock = clock
        self._interval = interval
        self._metrics = metrics
        self._polled = False
        self._failing = False
        self.stopped = False
        self._newest: datetime | None = None  # the newest stamp seen
        self._seen: dict[ObjectId, datetime] = {}  # entries already applied, within OVERLAP of _newest

    async def poll(self) -> None:
        started = self._clock.now()
        first = not self._polled
        with self._available.guard():
            if first:  # the cache starts empty (confirmed() clears it): only where to read from next matters
                cursor = self._collection.find({}, {"at": 1}).sort("at", DESCENDING).limit(1)
            else:
                since = {} if self._newest is None else {"at": {"$gte": self._newest - OVERLAP}}
                cursor = self._collection.find(since, {"kind": 1, "key": 1, "at": 1})
            docs = await cursor.to_list(None)
        for doc in docs:
            at = doc["at"]
            self._newest = at if self._newest is None else max(self._newest, at)
            if doc["_id"] in self._seen:
                continue
            self._seen[doc["_id"]] = at
            if first:
                continue
            self._cache.evict(str(doc.get("kind")), str(doc.get("key")))
        if self._newest is not None:
            horizon = self._newest - OVERLAP
            self._seen = {_id: at for _id, at in self._seen.items() if at >= horizon}
        self._polled = True
        self._cache.confirmed(started)

    async def poll_or_fall_back(self) -> None:
        try:
            await self.poll()
        except Exception as exc:  # whatever the cause, this replica no longer knows what was revoked
            self._cache.lost()
            self._metrics.revocation_poll_failed()
            if not self._failing:
                log.warning(
                    "cannot follow the revocations log; reading MongoDB on every request: %s: %.200s",
                    type(exc).__name__,
                    exc,
                )
            self._failing = True
        else:
            if self._failing:
                log.info("following the revocations log again; this replica's cache is back in use")
            self._failing = False

    async def run_forever(self) -> None:
        while not self.stopped:  # the driver may turn a cancellation into an error, which poll_or_fall_back takes
            await asyncio.sleep(self._interval)
            await self.poll_or_fall_back()
