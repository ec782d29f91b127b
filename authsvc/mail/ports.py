"""What the mail package needs from a database; every storage backend implements it."""

from __future__ import annotations

from typing import Protocol

from authsvc.mail.models import EmailAddress, Letter, MailToken, QueuedMail


class OutboxRepository(Protocol):
    async def add(self, mail: QueuedMail) -> None: ...

    async def claim(self, now: float, lease_until: float) -> QueuedMail | None:
        """One undelivered mail due by now, atomically put off until lease_until so no other sender takes it."""
        ...

    async def delivered(self, mail_id: str, now: float) -> None:
        """Mark it delivered and erase its body (the links in it carry tokens)."""
        ...

    async def failed(self, mail_id: str, attempts: int, next_attempt_at: float, error: str) -> None: ...

    async def get(self, mail_id: str) -> QueuedMail | None: ...

    async def pending(self) -> int:
        """How many mails wait for delivery."""
        ...


class MailTokenRepository(Protocol):
    async def add(self, token: MailToken) -> None: ...

    async def get(self, id_hash: str, purpose: str, now: float) -> MailToken | None:
        """The live token with this hash and purpose."""
        ...

    async def take(self, id_hash: str, purpose: str, now: float) -> MailToken | None:
        """Delete and return the live token: of two concurrent takes, one gets it."""
        ...

    async def delete_for_user(self, user_id: str, purpose: str) -> int: ...

    async def purge_expired(self, now: float) -> int: ...


class EmailAddressRepository(Protocol):
    async def set(self, address: EmailAddress) -> None:
        """Give the user this address (replacing any other); raises DuplicateEmail when its key is another's."""
        ...

    async def get(self, user_id: str) -> EmailAddress | None: ...

    async def find_by_key(self, key: str) -> EmailAddress | None: ...

    async def mark_verified(self, user_id: str, key: str) -> bool: ...

    async def delete(self, user_id: str) -> bool: ...


class MailTransport(Protocol):
    async def send(self, mail: Letter) -> None:
        """Deliver, or raise: the sender retries later."""
        ...
