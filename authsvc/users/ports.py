"""What the users package needs from a database (every storage backend implements it), and the account's notices and
address, which the mail package serves."""

from __future__ import annotations

from typing import Literal, Protocol

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


PasswordChange = Literal["changed", "reset"]  # by its owner (who gave the old one), with a mailed reset link
FactorChange = Literal[
    "totp_added", "totp_removed", "passkey_added", "passkey_removed", "recovery_codes_replaced", "all_removed"
]


class Notices(Protocol):
    """What the account's owner is told of a change to the account; the mail package mails it to the verified
    address, with a "this was not me" link. A service calls it in the same call as the change, after the change
    landed (deadline.follow_up: a notice that cannot be sent is skipped and logged, never an error for a change that
    happened)."""

    async def password_changed(self, user: User, how: PasswordChange) -> None: ...

    async def second_factor_changed(self, user: User, change: FactorChange, added_at: float | None = None) -> None:
        """added_at: when the factor was added (an addition: the "this was not me" link removes it and any later)."""
        ...


class AddressBook(Protocol):
    """The account's email address, kept and verified by the mail package."""

    def check_address(self, address: str) -> str:
        """The address as given, or FieldRefused when it is not one (no storage read)."""
        ...

    async def check_free(self, address: str, user_id: str | None = None) -> None:
        """FieldRefused for an address that is not one, DuplicateEmail when another account holds it."""
        ...

    async def set_address(self, user: User, address: str) -> None:
        """The address, unverified: a verification link goes to it, and the previous verified address is told."""
        ...
