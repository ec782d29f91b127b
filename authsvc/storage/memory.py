"""The embedded in-memory backend: the development default, one process, gone on restart."""

from __future__ import annotations

import dataclasses
import secrets

from authsvc.auth.models import SecondFactors, SessionRecord
from authsvc.errors import DuplicateUsername
from authsvc.users.models import User, normalize_username


class MemoryUserRepository:
    def __init__(self) -> None:
        self._by_id: dict[str, User] = {}
        self._id_by_name: dict[str, str] = {}
        self._ids_by_canonical: dict[str, set[str]] = {}

    async def create(self, username: str, password_hash: str, now: float) -> User:
        # No await between the check and the write: the event loop makes this atomic.
        if username in self._id_by_name:
            raise DuplicateUsername()
        user = User(secrets.token_hex(12), username, password_hash, now, now)
        self._by_id[user.id] = user
        self._id_by_name[username] = user.id
        self._ids_by_canonical.setdefault(normalize_username(username), set()).add(user.id)
        return user

    async def find_by_username(self, username: str) -> User | None:
        user_id = self._id_by_name.get(username)
        return self._by_id.get(user_id) if user_id else None

    async def canonical_name_taken(self, canonical: str) -> bool:
        return bool(self._ids_by_canonical.get(canonical))

    async def find_by_id(self, user_id: str) -> User | None:
        return self._by_id.get(user_id)

    async def update_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        user = self._by_id.get(user_id)
        if user is None:
            return False
        self._by_id[user_id] = dataclasses.replace(user, password_hash=password_hash, updated_at=now)
        return True

    async def delete(self, user_id: str) -> bool:
        user = self._by_id.pop(user_id, None)
        if user is None:
            return False
        del self._id_by_name[user.username]
        self._ids_by_canonical[normalize_username(user.username)].discard(user_id)
        return True


class MemorySessionRepository:
    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._by_user: dict[str, set[str]] = {}

    async def create(self, record: SessionRecord) -> None:
        self._records[record.id_hash] = record
        self._by_user.setdefault(record.user_id, set()).add(record.id_hash)

    async def get(self, id_hash: str, now: float) -> SessionRecord | None:
        record = self._records.get(id_hash)
        if record is None or not record.live(now):
            return None
        return record

    async def touch(self, id_hash: str, last_seen_at: float, expires_at: float) -> None:
        record = self._records.get(id_hash)
        if record is not None:
            self._records[id_hash] = dataclasses.replace(record, last_seen_at=last_seen_at, expires_at=expires_at)

    async def delete(self, id_hash: str) -> bool:
        record = self._records.pop(id_hash, None)
        if record is None:
            return False
        self._by_user.get(record.user_id, set()).discard(id_hash)
        return True

    async def delete_for_user(self, user_id: str, keep_id_hash: str | None = None) -> int:
        doomed = [h for h in self._by_user.get(user_id, ()) if h != keep_id_hash]
        for id_hash in doomed:
            await self.delete(id_hash)
        return len(doomed)

    async def list_for_user(self, user_id: str, now: float) -> list[SessionRecord]:
        records = (self._records[h] for h in self._by_user.get(user_id, ()))
        return sorted((r for r in records if r.live(now)), key=lambda r: r.created_at)

    async def purge_expired(self, now: float) -> int:
        expired = [h for h, r in self._records.items() if not r.live(now)]
        for id_hash in expired:
            await self.delete(id_hash)
        return len(expired)


class MemoryAttemptCounter:
    def __init__(self) -> None:
        self._counts: dict[str, tuple[float, int, float]] = {}  # key -> (window start, count, expires at)

    async def hit(self, key: str, window_start: float, expires_at: float) -> int:
        start, count, _ = self._counts.get(key, (window_start, 0, expires_at))
        count = count + 1 if start == window_start else 1
        self._counts[key] = (window_start, count, expires_at)
        return count

    async def count(self, key: str, window_start: float) -> int:
        start, count, _ = self._counts.get(key, (window_start, 0, 0.0))
        return count if start == window_start else 0

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)

    async def purge_expired(self, now: float) -> int:
        expired = [key for key, (_, _, expires_at) in self._counts.items() if expires_at <= now]
        for key in expired:
            del self._counts[key]
        return len(expired)


class MemorySecondFactorRepository:
    """No await between a check and its write: the event loop makes each method atomic."""

    def __init__(self) -> None:
        self._by_user: dict[str, SecondFactors] = {}

    async def get(self, user_id: str) -> SecondFactors | None:
        return self._by_user.get(user_id)

    async def begin_totp(self, user_id: str, sealed_secret: str, now: float) -> bool:
        existing = self._by_user.get(user_id)
        if existing is not None and existing.totp_confirmed:
            return False
        self._by_user[user_id] = SecondFactors(user_id, sealed_secret, False, -1, (), now)
        return True

    async def confirm_totp(self, user_id: str, step: int, recovery_code_hashes: list[str]) -> bool:
        existing = self._by_user.get(user_id)
        if existing is None or existing.totp_confirmed:
            return False
        self._by_user[user_id] = dataclasses.replace(
            existing, totp_confirmed=True, last_used_step=step, recovery_code_hashes=tuple(recovery_code_hashes)
        )
        return True

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        existing = self._by_user.get(user_id)
        if existing is None or not existing.totp_confirmed or existing.last_used_step >= step:
            return False
        self._by_user[user_id] = dataclasses.replace(existing, last_used_step=step)
        return True

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        existing = self._by_user.get(user_id)
        if existing is None or not existing.totp_confirmed or code_hash not in existing.recovery_code_hashes:
            return False
        left = tuple(h for h in existing.recovery_code_hashes if h != code_hash)
        self._by_user[user_id] = dataclasses.replace(existing, recovery_code_hashes=left)
        return True

    async def delete(self, user_id: str) -> bool:
        return self._by_user.pop(user_id, None) is not None


class MemoryStorage:
    def __init__(self) -> None:
        self.users = MemoryUserRepository()
        self.sessions = MemorySessionRepository()
        self.attempts = MemoryAttemptCounter()
        self.second_factors = MemorySecondFactorRepository()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def purge_expired(self, now: float) -> int:
        return await self.sessions.purge_expired(now) + await self.attempts.purge_expired(now)
