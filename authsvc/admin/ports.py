"""What the admin service needs from a database beyond the users package's port."""

from __future__ import annotations

from typing import Protocol

from authsvc.admin.models import UserQuery
from authsvc.users.models import User


class UserDirectory(Protocol):
    async def page(self, query: UserQuery, after: str | None, limit: int) -> list[User]:
        """At most `limit` users matching the query whose stored name sorts after `after` (None: from the start),
        in the order of their stored names (code point order, which is MongoDB's binary order of UTF-8)."""
        ...
