"""The MongoDB backend: users, sessions, failed-login counters, second factors and passkeys shared by every replica.

client.py connects and maps outages to 503s; users.py, sessions.py, attempts.py, factors.py and passkeys.py are the
repositories; indexes.py creates what they query by. MongoStorage owns the client: opened with the backend, closed
with it.
"""

from __future__ import annotations

from typing import Any

from authsvc.clock import Clock
from authsvc.config import MongoSettings
from authsvc.storage.mongo.attempts import MongoAttemptCounter
from authsvc.storage.mongo.client import Availability, connect, disconnect
from authsvc.storage.mongo.factors import MongoSecondFactorRepository
from authsvc.storage.mongo.indexes import Indexes
from authsvc.storage.mongo.mail import MailIndexes, MongoEmailAddresses, MongoMailTokens, MongoOutbox
from authsvc.storage.mongo.passkeys import MongoPasskeyChallenges, MongoPasskeyRepository
from authsvc.storage.mongo.sessions import MongoSessionRepository, SessionCache
from authsvc.storage.mongo.users import MongoUserRepository

__all__ = ["MongoStorage"]


class MongoStorage:
    """The MongoDB backend's life cycle: its client, indexes at open, ping, purge, close."""

    def __init__(self, settings: MongoSettings, clock: Clock, client: Any = None) -> None:
        self._client = client if client is not None else connect(settings)
        self._db = self._client[settings.database]
        self._available = Availability()
        self.indexes = Indexes(self._db, self._available)
        cache = SessionCache(settings.session_cache_seconds, clock) if settings.session_cache_seconds > 0 else None
        self.users = MongoUserRepository(self._db["users"], self._available, self.indexes.ensure)
        self.sessions = MongoSessionRepository(self._db["sessions"], self._available, cache)
        self.attempts = MongoAttemptCounter(self._db["login_attempts"], self._available)
        mail_indexes = MailIndexes(self._db, self._available)
        self.outbox = MongoOutbox(self._db["outbox"], self._available, mail_indexes)
        self.mail_tokens = MongoMailTokens(self._db["mail_tokens"], self._available, mail_indexes)
        self.email_addresses = MongoEmailAddresses(self._db["email_addresses"], self._available, mail_indexes)
        self.second_factors = MongoSecondFactorRepository(self._db["second_factors"], self._available)
        self.passkeys = MongoPasskeyRepository(self._db["passkeys"], self._available)
        self.passkey_challenges = MongoPasskeyChallenges(self._db["passkey_challenges"], self._available)

    async def open(self) -> None:
        await self.indexes.ensure_or_retry()

    async def close(self) -> None:
        await self.indexes.stop()
        await disconnect(self._client)

    async def ping(self) -> None:
        with self._available.guard():
            await self._db.command("ping")

    async def purge_expired(self, now: float) -> int:
        purged = await self.sessions.purge_expired(now) + await self.attempts.purge_expired(now)
        purged += await self.passkey_challenges.purge_expired(now)
        return purged + await self.mail_tokens.purge_expired(now)
