"""The storage ports every backend implements; services depend on these, never on a backend."""

from __future__ import annotations

from typing import Protocol

from authsvc.auth.models import SessionRecord
from authsvc.users.models import User


class UserRepository(Protocol):
    async def create(self, username: str, password_hash: str, now: float) -> User:
        """Store a new user; raises DuplicateUsername when the name is taken."""
        ...

    async def find_by_username(self, username: str) -> User | None: ...

    async def find_by_id(self, user_id: str) -> User | None: ...

    async def update_password_hash(self, user_id: str, password_hash: str, now: float) -> bool: ...

    async def delete(self, user_id: str) -> bool: ...


class SessionRepository(Protocol):
    async def create(self, record: SessionRecord) -> None: ...

    async def get(self, id_hash: str, now: float) -> SessionRecord | None:
        """The live record, or None when it is unknown or expired."""
        ...

    async def touch(self, id_hash: str, last_seen_at: float, expires_at: float) -> None: ...

    async def delete(self, id_hash: str) -> bool: ...

    async def delete_for_user(self, user_id: str, keep_id_hash: str | None = None) -> int:
        """Revoke every session of a user, except keep_id_hash when given; returns how many."""
        ...

    async def list_for_user(self, user_id: str, now: float) -> list[SessionRecord]: ...

    async def purge_expired(self, now: float) -> int: ...


class AttemptCounter(Protocol):
    """Failed-attempt counts in fixed windows, shared by every replica that shares the store."""

    async def hit(self, key: str, window_start: float, expires_at: float) -> int:
        """Count one attempt for key in the window that starts at window_start; returns the count."""
        ...

    async def count(self, key: str, window_start: float) -> int: ...

    async def reset(self, key: str) -> None: ...

    async def purge_expired(self, now: float) -> int: ...


class Storage(Protocol):
    """One backend: its repositories, and its life cycle."""

    users: UserRepository
    sessions: SessionRepository
    attempts: AttemptCounter

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StorageUnavailable when the backend cannot answer."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Drop expired sessions and counters; returns how many."""
        ...
