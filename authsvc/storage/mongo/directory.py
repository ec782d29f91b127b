"""The admin directory over `users`: a range on the unique `username` index, sorted by it, one page at a time (a
group filter reads the `groups` + `username` index, in the same order)."""

from __future__ import annotations

import re
from typing import Any

from authsvc.admin.models import UserQuery
from authsvc.storage.mongo.client import Availability
from authsvc.storage.mongo.users import _user
from authsvc.users.models import User


class MongoUserDirectory:
    def __init__(self, collection: Any, available: Availability) -> None:
        self._collection = collection
        self._available = available

    async def page(self, query: UserQuery, after: str | None, limit: int) -> list[User]:
        name: dict[str, Any] = {}
        if after is not None:
            name["$gt"] = after
        if query.prefix is not None:
            name["$regex"] = "^" + re.escape(query.prefix)
        selector: dict[str, Any] = {"username": name} if name else {}
        if query.state is not None:
            selector["disabled"] = True if query.state == "disabled" else {"$ne": True}
        if query.group is not None:
            selector["groups"] = query.group  # an element of the array: the multikey groups_1_username_1 index
        with self._available.guard():
            docs = await self._collection.find(selector).sort("username", 1).limit(limit).to_list(None)
        return [user for user in map(_user, docs) if user is not None]
