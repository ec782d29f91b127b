"""What the auth package needs from a database: sessions, second factors and passkeys."""

from __future__ import annotations

from typing import Protocol

from authsvc.auth.models import Passkey, PasskeyChallenge, SecondFactors, SessionRecord


class SessionRepository(Protocol):
    async def create(self, record: SessionRecord) -> None: ...

    async def get(self, id_hash: str, now: float) -> SessionRecord | None:
        """The live record, or None when it is unknown or expired."""
        ...

    async def touch(self, id_hash: str, last_seen_at: float, expires_at: float, seen_before: float) -> bool:
        """Renew, only if the stored last_seen_at is before seen_before: one write per renew window, whoever races."""
        ...

    async def delete(self, id_hash: str) -> bool: ...

    async def delete_for_user(self, user_id: str, keep_id_hash: str | None = None) -> int:
        """Revoke every session of a user, except keep_id_hash when given; returns how many."""
        ...

    async def list_for_user(self, user_id: str, now: float) -> list[SessionRecord]: ...

    async def purge_expired(self, now: float) -> int: ...


class SecondFactorRepository(Protocol):
    """Second factors per user; the single-use rules are atomic here, so replicas sharing the store agree."""

    async def get(self, user_id: str) -> SecondFactors | None: ...

    async def begin_totp(self, user_id: str, sealed_secret: str, now: float) -> bool:
        """Store a pending TOTP secret (replacing a pending one); False when a confirmed one exists."""
        ...

    async def confirm_totp(self, user_id: str, step: int, recovery_code_hashes: list[str], now: float) -> bool:
        """Confirm the pending secret (at now) with the step of a code checked against it; False when it was not
        pending."""
        ...

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        """Record step as used when it is later than the last used one; False otherwise (a replay)."""
        ...

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Remove one recovery code; False when it was not there (unknown or used)."""
        ...

    async def replace_recovery_codes(self, user_id: str, recovery_code_hashes: list[str]) -> bool:
        """Put a new set of recovery codes in place of every old one; False when no TOTP is confirmed."""
        ...

    async def delete(self, user_id: str) -> bool: ...


class PasskeyRepository(Protocol):
    """WebAuthn credentials, found by their credential id (an index) or by user."""

    async def add(self, passkey: Passkey) -> bool:
        """Store a new credential; False when its credential id is registered already (to anyone)."""
        ...

    async def find(self, credential_id: str) -> Passkey | None: ...

    async def list_for_user(self, user_id: str) -> list[Passkey]:
        """Oldest first."""
        ...

    async def record_use(self, credential_id: str, seen_count: int, new_count: int, now: float) -> bool:
        """Store new_count if the stored counter is still seen_count (compare and set); False when another use came
        first, so two replicas never both accept one counter value."""
        ...

    async def delete(self, user_id: str, credential_id: str) -> bool: ...

    async def delete_for_user(self, user_id: str) -> int: ...


class PasskeyChallengeRepository(Protocol):
    """Ceremony challenges, shared by replicas; each is taken at most once."""

    async def put(self, challenge: PasskeyChallenge) -> None: ...

    async def take(self, challenge: str, now: float) -> PasskeyChallenge | None:
        """Remove and return the live challenge; None when unknown, taken already or expired (atomic)."""
        ...

    async def purge_expired(self, now: float) -> int: ...
