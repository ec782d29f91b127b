"""What the admin service answers: pages of users, one account in full, and the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from authsvc.users.models import User

State = Literal["active", "disabled"]


@dataclass(frozen=True, slots=True)
class AdminCaller:
    """The holder of an admin token: its name (the audit trail's actor) and what it may do."""

    name: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class UserQuery:
    """Which users a listing wants: a stored-name prefix, a state, a group the user is in."""

    prefix: str | None = None
    state: State | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[User]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Account:
    """One user as an operator sees it."""

    user: User
    email: str | None
    email_verified: bool
    second_factors: list[str]
    sessions: int
