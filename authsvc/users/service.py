"""Users: sign-up and look-up rules. Knows nothing of HTTP."""

from __future__ import annotations

import logging

from authsvc.auth.passwords import PasswordHasher, PasswordPolicy
from authsvc.clock import Clock
from authsvc.errors import DuplicateUsername, UnprocessableContent
from authsvc.storage.ports import UserRepository
from authsvc.users.models import User, normalize_username, username_problem

audit = logging.getLogger("authsvc.audit")


class UsersService:
    def __init__(
        self,
        repository: UserRepository,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        clock: Clock,
        username_min_length: int,
        username_max_length: int,
    ) -> None:
        self._repository = repository
        self._hasher = hasher
        self._policy = policy
        self._clock = clock
        self._username_min = username_min_length
        self._username_max = username_max_length

    async def signup(self, username: str, password: str) -> User:
        """Register a user; raises UnprocessableContent for a policy failure, DuplicateUsername when taken."""
        username = normalize_username(username)
        errors = []
        if problem := username_problem(username, self._username_min, self._username_max):
            errors.append({"pointer": "#/username", "detail": f"username {problem}"})
        if problem := self._policy.problem(password, username):
            errors.append({"pointer": "#/password", "detail": f"password {problem}"})
        if errors:
            raise UnprocessableContent("The sign-up data breaks the input rules.", errors=errors)
        if await self._repository.find_by_username(username) is not None:
            raise DuplicateUsername()  # spare the bcrypt work; the unique index still decides races
        password_hash = await self._hasher.hash(password)
        user = await self._repository.create(username, password_hash, self._clock.now())
        audit.info("user signed up", extra={"event": "signup", "user_id": user.id})
        return user

    async def get(self, user_id: str) -> User | None:
        return await self._repository.find_by_id(user_id)
