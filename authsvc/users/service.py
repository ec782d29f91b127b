"""Users: sign-up and look-up rules. Knows nothing of HTTP."""

from __future__ import annotations

import logging

from authsvc.auth.throttle import LoginThrottle
from authsvc.clock import Clock
from authsvc.config import UserSettings
from authsvc.errors import DuplicateUsername, FieldRefused
from authsvc.users.models import User, normalize_username, username_problem
from authsvc.users.passwords import PasswordHasher, PasswordPolicy
from authsvc.users.ports import UserRepository

audit = logging.getLogger("authsvc.audit")


class UsersService:
    def __init__(
        self,
        repository: UserRepository,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        clock: Clock,
        settings: UserSettings,
        throttle: LoginThrottle,
    ) -> None:
        self._repository = repository
        self._hasher = hasher
        self._policy = policy
        self._clock = clock
        self._settings = settings
        self._throttle = throttle

    async def signup(self, username: str, password: str, ip: str | None = None) -> User:
        """Register a user; raises FieldRefused for a policy failure, DuplicateUsername when taken, TooManyRequests
        past the sign-ups allowed from this client."""
        username = normalize_username(username)
        refused = {}
        if problem := username_problem(
            username, self._settings.username_min_length, self._settings.username_max_length
        ):
            refused["username"] = f"username {problem}"
        if problem := self._policy.problem(password, username):
            refused["password"] = f"password {problem}"
        if refused:
            raise FieldRefused("The sign-up data breaks the input rules.", refused)
        if await self._repository.find_by_username(username) is not None:
            raise DuplicateUsername()  # spare the bcrypt work; the unique index still decides races
        attempt = await self._throttle.begin_signup(ip)
        password_hash = await self._hasher.hash(password)
        user = await self._repository.create(username, password_hash, self._clock.now())
        await attempt.succeeded()
        audit.info("user signed up", extra={"event": "signup", "user_id": user.id})
        return user
