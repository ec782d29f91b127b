"""The admin directory over the memory backend's users: filtered, ordered by stored name, one page at a time."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Protocol

from authsvc.admin.models import UserQuery
from authsvc.users.models import User


class StoredUsers(Protocol):
    def everyone(self) -> Iterator[User]: ...


def matches(user: User, query: UserQuery) -> bool:
    if query.prefix is not None and not user.username.startswith(query.prefix):
        return False
    if query.group is not None and query.group not in user.groups:
        return False
    return query.state is None or user.disabled == (query.state == "disabled")


class MemoryUserDirectory:
    def __init__(self, users: StoredUsers) -> None:
        self._users = users

    async def page(self, query: UserQuery, after: str | None, limit: int) -> list[User]:
        candidates = (
            user for user in self._users.everyone() if (after is None or user.username > after) and matches(user, query)
        )
        return heapq.nsmallest(limit, candidates, key=lambda user: user.username)
