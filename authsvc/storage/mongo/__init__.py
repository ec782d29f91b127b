"""The MongoDB backend: users, sessions, failed-login counters, second factors and passkeys shared by every replica.

client.py connects and maps outages to 503s; users.py, sessions.py, attempts.py, factors.py and passkeys.py are the
repositories; indexes.py creates what they query by. cache.py keeps this replica's copies of sessions and users,
which revocations.py keeps honest: the adapters log every revocation, and each replica follows the log. MongoStorage
owns the client and the follower: started with the backend, stopped with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from authsvc.clock import Clock
from authsvc.config import MongoSettings
from authsvc.metrics import Metrics
from authsvc.storage.mongo.attempts import MongoAttemptCounter
from authsvc.storage.mongo.cache import ReplicaCache
from authsvc.storage.mongo.client import Availability, connect, disconnect
from authsvc.storage.mongo.directory import MongoUserDirectory
from authsvc.storage.mongo.events import MongoEventLog
from authsvc.storage.mongo.factors import MongoSecondFactorRepository
from authsvc.storage.mongo.indexes import Indexes
from authsvc.storage.mongo.mail import MailIndexes, MongoEmailAddresses, MongoMailTokens, MongoOutbox
from authsvc.storage.mongo.passkeys import MongoPasskeyChallenges, MongoPasskeyRepository
from authsvc.storage.mongo.revocations import RevocationFollower, RevocationLog
from authsvc.storage.mongo.sessions import MongoSessionRepository
from authsvc.storage.mongo.users import MongoUserRepository
from authsvc.storage.mongo.webhooks import MongoDeliveries

__all__ = ["MongoStorage"]


class MongoStorage:
    """The MongoDB backend's life cycle: its client, indexes at open, ping, purge, close."""

    def __init__(self, settings: MongoSettings, clock: Clock, metrics: Metrics, client: Any = None) -> None:
        self._client = client if client is not None else connect(settings)
        self._db = self._client[settings.database]
        self._available = Availability()
        self.indexes = Indexes(self._db, self._available)
        self._cache: ReplicaCache | None = None
        self._follower: RevocationFollower | None = None
        self._following: asyncio.Task[None] | None = None
        if settings.cache_size > 0:
            lag, interval = settings.revocation_lag_ms / 1000, settings.revocation_poll_ms / 1000
            self._cache = ReplicaCache(settings.cache_size, settings.cache_max_age_seconds, lag, clock)
            self._follower = RevocationFollower(
                self._db["revocations"], self._available, self._cache, clock, interval, metrics
            )
            cache = self._cache
            metrics.replica_cache(lambda: not cache.usable())
        self.revocations = RevocationLog(self._db["revocations"], self._available, self._cache)
        self.users = MongoUserRepository(
            self._db["users"], self._available, self.indexes.ensure, self._cache, self.revocations
        )
        self.events = MongoEventLog(self._db["events"], self._available)
        self.webhook_deliveries = MongoDeliveries(self._db["webhook_deliveries"], self._available)
        self.directory = MongoUserDirectory(self._db["users"], self._available)
        self.sessions = MongoSessionRepository(self._db["sessions"], self._available, self._cache, self.revocations)
        self.attempts = MongoAttemptCounter(self._db["login_attempts"], self._available)
        mail_indexes = MailIndexes(self._db, self._available)
        self.outbox = MongoOutbox(self._db["outbox"], self._available, mail_indexes)
        self.mail_tokens = MongoMailTokens(self._db["mail_tokens"], self._available, mail_indexes)
        self.email_addresses = MongoEmailAddresses(self._db["email_addresses"], self._available, mail_indexes)
        self.second_factors = MongoSecondFactorRepository(self._db["second_factors"], self._available, self.revocations)
        self.passkeys = MongoPasskeyRepository(self._db["passkeys"], self._available, self.revocations)
        self.passkey_challenges = MongoPasskeyChallenges(self._db["passkey_challenges"], self._available)

    async def open(self) -> None:
        await self.indexes.ensure_or_retry()
        if self._follower is not None:
            await self._follower.poll_or_fall_back()  # the cache serves from the first request on when it can
            self._following = asyncio.create_task(self._follower.run_forever())

    async def close(self) -> None:
        if self._following is not None and self._follower is not None:
            self._follower.stopped = True
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
            self._following = None
        await self.indexes.stop()
        await disconnect(self._client)

    def readiness(self) -> dict[str, str]:
        if self._cache is None:
            return {"cache": "off: every request reads MongoDB"}
        if self._cache.usable():
            return {"cache": "following the revocations log"}
        return {"cache": "reading MongoDB on every request: the revocations log cannot be followed now"}

    async def ping(self) -> None:
        with self._available.guard():
            await self._db.command("ping")

    async def purge_expired(self, now: float) -> int:
        purged = await self.sessions.purge_expired(now) + await self.attempts.purge_expired(now)
        purged += await self.passkey_challenges.purge_expired(now)
        return purged + await self.mail_tokens.purge_expired(now) + await self.revocations.purge(now)
