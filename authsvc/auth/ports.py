"""What the auth package needs from a database: sessions and failed-attempt counters."""

from __future__ import annotations

from typing import Protocol

from authsvc.auth.models import SessionRecord


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
