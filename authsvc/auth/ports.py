"""What the auth package needs from a database: sessions and attempt counters."""

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
    """Attempt counters shared by every replica that shares the store; the throttle's only state.

    A key names one record: a count, a gate (``until``) and a set of members, each used by some rules. A record
    lives until its expiry; an expired record reads as a new one. Every method is atomic on its own.
    """

    async def hit(self, key: str, now: float, expires_at: float) -> int:
        """Count one attempt, keep the record until at least expires_at; returns the count, this attempt included."""
        ...

    async def count(self, key: str, now: float) -> int:
        """The key's count, 0 when it has no live record."""
        ...

    async def give_back(self, key: str, now: float) -> None:
        """Take one counted attempt back (it succeeded or never ran)."""
        ...

    async def hold(self, key: str, now: float, until: float) -> float | None:
        """Pass the key's gate and close it until `until`: None when passed, else the time it opens."""
        ...

    async def add_distinct(self, key: str, member: str, now: float, expires_at: float, cap: int) -> tuple[int, bool]:
        """Add member to the key's set of at most cap members: (members now, whether this call added it)."""
        ...

    async def discard(self, key: str, member: str) -> None: ...

    async def reset(self, key: str) -> None: ...

    async def purge_expired(self, now: float) -> int: ...
