"""The users every login path sees: a disabled user is no user to them.

Logins by name, the second step of a pending login, passkeys (passwordless too), reset links and every session
check look users up through this view, so a disabled user is refused wherever a login could end: by name the same
401 after the same (dummy) bcrypt work as an unknown user or a wrong password, a live session as if it had ended.
The admin service alone reads the stored users directly.
"""

from __future__ import annotations

from authsvc.users.models import User
from authsvc.users.ports import UserRepository


def _enabled(user: User | None) -> User | None:
    return None if user is None or user.disabled else user


class EnabledUsers(UserRepository):
    def __init__(self, stored: UserRepository) -> None:
        self._stored = stored

    async def create(self, username: str, password_hash: str, now: float) -> User:
        return await self._stored.create(username, password_hash, now)

    async def find_by_username(self, username: str) -> User | None:
        return _enabled(await self._stored.find_by_username(username))

    async def canonical_name_taken(self, canonical: str) -> bool:
        return await self._stored.canonical_name_taken(canonical)  # a disabled user's name stays taken

    async def find_by_id(self, user_id: str) -> User | None:
        return _enabled(await self._stored.find_by_id(user_id))

    async def update_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        return await self._stored.update_password_hash(user_id, password_hash, now)

    async def bump_generation(self, user_id: str, now: float) -> int | None:
        return await self._stored.bump_generation(user_id, now)

    async def set_groups(self, user_id: str, groups: tuple[str, ...], now: float) -> bool:
        return await self._stored.set_groups(user_id, groups, now)

    async def delete(self, user_id: str) -> bool:
        return await self._stored.delete(user_id)

    async def set_disabled(self, user_id: str, disabled: bool, now: float) -> bool:
        return await self._stored.set_disabled(user_id, disabled, now)
