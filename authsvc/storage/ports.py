"""A storage backend: the repositories of every package, and one life cycle."""

from __future__ import annotations

from typing import Protocol

from authsvc.admin.ports import UserDirectory
from authsvc.auth.ports import (
    PasskeyChallengeRepository,
    PasskeyRepository,
    SecondFactorRepository,
    SessionRepository,
)
from authsvc.mail.ports import EmailAddressRepository, MailTokenRepository, OutboxRepository
from authsvc.throttle.ports import AttemptCounter
from authsvc.users.ports import UserRepository


class Storage(Protocol):
    users: UserRepository
    sessions: SessionRepository
    attempts: AttemptCounter
    outbox: OutboxRepository
    mail_tokens: MailTokenRepository
    email_addresses: EmailAddressRepository
    second_factors: SecondFactorRepository
    passkeys: PasskeyRepository
    passkey_challenges: PasskeyChallengeRepository
    directory: UserDirectory

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StorageUnavailable when the backend cannot answer."""
        ...

    def readiness(self) -> dict[str, str]:
        """What /readyz adds about this backend beyond answering, e.g. whether its cache is in use."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Drop expired sessions, counters, tokens and challenges; returns how many."""
        ...
