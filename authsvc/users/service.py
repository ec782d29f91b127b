"""Users: sign-up and look-up rules. Knows nothing of HTTP."""

from __future__ import annotations

import logging

from authsvc.clock import Clock
from authsvc.config import UserSettings
from authsvc.deadline import follow_up
from authsvc.errors import DuplicateUsername, FieldRefused, Forbidden
from authsvc.throttle.rules import LoginThrottle
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User, group_problem, normalize_username, tutorial_username, username_problem
from authsvc.users.passwords import PasswordHasher, PasswordPolicy
from authsvc.users.ports import AddressBook, UserRepository

audit = logging.getLogger("authsvc.audit")

SIGNUP_CLOSED = "Sign-up is closed; an administrator creates accounts."


class UsersService:
    def __init__(
        self,
        repository: UserRepository,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        clock: Clock,
        settings: UserSettings,
        throttle: LoginThrottle,
        addresses: AddressBook,
    ) -> None:
        self._repository = repository
        self._hasher = hasher
        self._policy = policy
        self._clock = clock
        self._settings = settings
        self._throttle = throttle
        self._addresses = addresses

    async def signup(
        self,
        username: str,
        password: str,
        ip: str | None = None,
        *,
        by_administrator: bool = False,
        email: str | None = None,
    ) -> User:
        """Register a user; raises FieldRefused for a policy failure, DuplicateUsername when taken, TooManyRequests
        past the sign-ups allowed from this client, Forbidden when users.self_signup is off and an administrator is
        not the one asking.

        Taken means: another user's name normalises to the same, or the tutorial's app stored this name as typed.

        An email address is refused (FieldRefused, DuplicateEmail) before the user exists, and given to the account
        (a verification link mailed to it) after: the user's insert decides, so an outage then leaves the account
        without the address, logged, never an error for an account that was made (docs/scaling.md).
        """
        if not (self._settings.self_signup or by_administrator):
            raise Forbidden(SIGNUP_CLOSED)
        if email is not None:
            await self._addresses.check_free(email)
        typed, username = username, normalize_username(username)
        refused = {}
        if problem := username_problem(
            username, self._settings.username_min_length, self._settings.username_max_length
        ):
            refused["username"] = f"username {problem}"
        if problem := self._policy.problem(password, username):
            refused["password"] = f"password {problem}"
        if refused:
            raise FieldRefused("The sign-up data breaks the input rules.", refused)
        if await self._name_taken(typed, username):
            raise DuplicateUsername()  # spare the bcrypt work; the unique index still decides races
        attempt = await self._throttle.begin_signup(ip)
        try:
            password_hash = await self._hasher.hash(password)
            user = await self._repository.create(username, password_hash, self._clock.now())
        except BaseException:
            await attempt.abandoned()  # no account made: the client's sign-up is given back
            raise
        audit.info("user signed up", extra={"event": "signup", "user_id": user.id})
        if email is not None:
            await follow_up("the address of a new account", self._addresses.set_address(user, email), user_id=user.id)
        return user

    async def _name_taken(self, typed: str, canonical: str) -> bool:
        if await self._repository.canonical_name_taken(canonical):
            return True
        tutorial_form = tutorial_username(typed)  # normalises elsewhere only for rare letters (U+03F9)
        return tutorial_form != canonical and await self._repository.find_by_username(tutorial_form) is not None

    async def find(self, username: str) -> User | None:
        """The user a typed name means (an administrator's look-up)."""
        return await find_by_typed_name(self._repository, username)

    async def set_groups(self, username: str, groups: list[str]) -> User | None:
        """Replace a user's groups (an administrator's change); None when there is no such user, FieldRefused for a
        name that cannot be a group. The access rules see the change on the user's next check."""
        if problem := group_problem(groups):
            raise FieldRefused("The groups break the input rules.", {"groups": problem})
        user = await find_by_typed_name(self._repository, username)
        if user is None or not await self.store_groups(user.id, groups):
            return None
        return await self._repository.find_by_id(user.id)

    async def store_groups(self, user_id: str, groups: list[str], actor: str | None = None) -> bool:
        """Replace the groups of the user with this id, disabled or not, names already checked by group_problem;
        False when there is no such user. The one user.groups event, for the command line and the admin API alike
        (actor: the admin token's `admin:<name>`; None: whoever the trail sees asking)."""
        stored = tuple(sorted(set(groups)))
        if not await self._repository.set_groups(user_id, stored, self._clock.now()):
            return False
        extra = {"event": "user.groups", "user_id": user_id, **({"actor": actor} if actor else {})}
        audit.info("groups set by an administrator", extra=extra)
        return True
