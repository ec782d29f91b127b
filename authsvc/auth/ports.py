"""What the auth package needs from a database: sessions, failed-attempt counters and second factors."""

from __future__ import annotations

from typing import Protocol

from authsvc.auth.models import SecondFactors, SessionRecord


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


class SecondFactorRepository(Protocol):
    """Second factors per user; the single-use rules are atomic here, so replicas sharing the store agree."""

    async def get(self, user_id: str) -> SecondFactors | None: ...

    async def begin_totp(self, user_id: str, sealed_secret: str, now: float) -> bool:
        """Store a pending TOTP secret (replacing a pending one); False when a confirmed one exists."""
        ...

    async def confirm_totp(self, user_id: str, step: int, recovery_code_hashes: list[str]) -> bool:
        """Confirm the pending secret with the step of a code checked against it; False when it was not pending."""
        ...

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        """Record step as used when it is later than the last used one; False otherwise (a replay)."""
        ...

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Remove one recovery code; False when it was not there (unknown or used)."""
        ...

    async def delete(self, user_id: str) -> bool: ...
