"""The memory backend's part for mail: outbox, mailed tokens and email addresses."""

from __future__ import annotations

import dataclasses

from authsvc.mail.models import DuplicateEmail, EmailAddress, MailToken, QueuedMail


class MemoryOutbox:
    def __init__(self) -> None:
        self._mails: dict[str, QueuedMail] = {}

    async def add(self, mail: QueuedMail) -> None:
        self._mails[mail.id] = mail

    async def claim(self, now: float, lease_until: float) -> QueuedMail | None:
        due = [m for m in self._mails.values() if m.delivered_at is None and m.next_attempt_at <= now]
        if not due:
            return None
        mail = min(due, key=lambda m: (m.next_attempt_at, m.created_at))
        self._mails[mail.id] = dataclasses.replace(mail, next_attempt_at=lease_until)
        return mail

    async def delivered(self, mail_id: str, now: float) -> None:
        if (mail := self._mails.get(mail_id)) is not None:
            self._mails[mail_id] = dataclasses.replace(mail, delivered_at=now, body="", last_error=None)

    async def failed(self, mail_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        if (mail := self._mails.get(mail_id)) is not None:
            self._mails[mail_id] = dataclasses.replace(
                mail, attempts=attempts, next_attempt_at=next_attempt_at, last_error=error
            )

    async def get(self, mail_id: str) -> QueuedMail | None:
        return self._mails.get(mail_id)

    async def pending(self) -> int:
        return sum(1 for m in self._mails.values() if m.delivered_at is None)


class MemoryMailTokens:
    def __init__(self) -> None:
        self._tokens: dict[str, MailToken] = {}

    async def add(self, token: MailToken) -> None:
        self._tokens[token.id_hash] = token

    async def get(self, id_hash: str, purpose: str, now: float) -> MailToken | None:
        token = self._tokens.get(id_hash)
        if token is None or token.purpose != purpose or token.expires_at <= now:
            return None
        return token

    async def take(self, id_hash: str, purpose: str, now: float) -> MailToken | None:
        token = await self.get(id_hash, purpose, now)
        if token is not None:
            del self._tokens[id_hash]
        return token

    async def delete_for_user(self, user_id: str, purpose: str) -> int:
        doomed = [h for h, t in self._tokens.items() if t.user_id == user_id and t.purpose == purpose]
        for id_hash in doomed:
            del self._tokens[id_hash]
        return len(doomed)

    async def purge_expired(self, now: float) -> int:
        expired = [h for h, t in self._tokens.items() if t.expires_at <= now]
        for id_hash in expired:
            del self._tokens[id_hash]
        return len(expired)


class MemoryEmailAddresses:
    def __init__(self) -> None:
        self._by_user: dict[str, EmailAddress] = {}
        self._user_by_key: dict[str, str] = {}

    async def set(self, address: EmailAddress) -> None:
        holder = self._user_by_key.get(address.key)
        if holder is not None and holder != address.user_id:
            raise DuplicateEmail()
        await self.delete(address.user_id)
        self._by_user[address.user_id] = address
        self._user_by_key[address.key] = address.user_id

    async def get(self, user_id: str) -> EmailAddress | None:
        return self._by_user.get(user_id)

    async def find_by_key(self, key: str) -> EmailAddress | None:
        user_id = self._user_by_key.get(key)
        return self._by_user.get(user_id) if user_id else None

    async def mark_verified(self, user_id: str, key: str) -> bool:
        address = self._by_user.get(user_id)
        if address is None or address.key != key:
            return False
        self._by_user[user_id] = dataclasses.replace(address, verified=True)
        return True

    async def delete(self, user_id: str) -> bool:
        address = self._by_user.pop(user_id, None)
        if address is None:
            return False
        self._user_by_key.pop(address.key, None)
        return True
