"""What the users package needs from a database; every storage backend implements it."""

from __future__ import annotations

from typing import Protocol

from authsvc.users.models import User


class UserRepository(Protocol):
    async def create(self, username: str, password_hash: str, now: float) -> User:
        """Store a new user; raises DuplicateUsername when the name is taken."""
        ...

    async def find_by_username(self, username: str) -> User | None:
        """The user whose stored name is exactly this."""
        ...

    async def canonical_name_taken(self, canonical: str) -> bool:
        """Whether a stored name normalises to this (normalize_username), names the tutorial's app wrote included."""
        ...

    async def find_by_id(self, user_id: str) -> User | None: ...

    async def update_password_hash(self, user_id: str, password_hash: str, now: float) -> bool: ...

    async def bump_generation(self, user_id: str, now: float) -> int | None:
        """Move the user's revocation generation on (next_generation, atomic: concurrent bumps each move it);
        the new value, or None when there is no such user."""

    async def set_groups(self, user_id: str, groups: tuple[str, ...], now: float) -> bool:
        """Replace the user's groups; False when there is no such user. The next check sees them (every replica's
        within mongodb.revocation_lag_ms)."""
        ...

    async def delete(self, user_id: str) -> bool: ...

    async def set_disabled(self, user_id: str, disabled: bool, now: float) -> bool:
        """Disable or enable the user; False when there is no such user."""
        ...
