"""This replica's copies of the sessions and users it has looked up, and whether they may be served now.

They may be served only while the revocations log is followed (revocations.py): the last successful poll started at
most revocation_lag_ms ago. Every eviction bumps a generation: a look-up in flight meanwhile may have read what was
just deleted, so its answer is kept only if no eviction happened since it started (its ticket).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from authsvc.auth.models import SessionRecord
from authsvc.clock import Clock
from authsvc.users.models import User

T = TypeVar("T")
SESSION, USER = "session", "user"  # what a revocation names: one session (by its hash), or a user and their sessions


class _Lru(Generic[T]):
    """At most `size` entries, the least recently used dropped first; each entry served for at most max_age."""

    def __init__(self, size: int, max_age: float, clock: Clock) -> None:
        self._size = size
        self._max_age = max_age
        self._clock = clock
        self.entries: OrderedDict[str, tuple[T, float]] = OrderedDict()

    def get(self, key: str, now: float) -> T | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        value, fetched_at = entry
        if now - fetched_at >= self._max_age:
            return None  # left for the re-read to replace or the LRU to push out, which keeps the index right
        self.entries.move_to_end(key)
        return value

    def put(self, key: str, value: T) -> T | None:
        """Keep value; returns the value it pushed out, if any."""
        self.entries[key] = (value, self._clock.now())
        self.entries.move_to_end(key)
        if len(self.entries) > self._size:
            return self.entries.popitem(last=False)[1][0]
        return None


class ReplicaCache:
    def __init__(self, size: int, max_age: float, lag: float, clock: Clock) -> None:
        self._clock = clock
        self._lag = lag
        self._sessions: _Lru[SessionRecord] = _Lru(size, max_age, clock)
        self._users: _Lru[User] = _Lru(size, max_age, clock)
        self._sessions_of: dict[str, set[str]] = {}  # user id -> cached session hashes, for a user's revocation
        self._confirmed_at: float | None = None  # when the last successful poll of the log started
        self.generation = 0

    def usable(self, now: float | None = None) -> bool:
        """Whether every revocation older than revocation_lag_ms has reached this replica."""
        confirmed_at = self._confirmed_at
        return confirmed_at is not None and (self._clock.now() if now is None else now) - confirmed_at <= self._lag

    def ticket(self) -> int | None:
        """Taken before a look-up: None when its answer must not be kept."""
        return self.generation if self.usable() else None

    def session(self, id_hash: str) -> SessionRecord | None:
        now = self._clock.now()
        return self._sessions.get(id_hash, now) if self.usable(now) else None

    def user(self, user_id: str) -> User | None:
        now = self._clock.now()
        return self._users.get(user_id, now) if self.usable(now) else None

    def keep_session(self, record: SessionRecord, ticket: int | None) -> None:
        if ticket is None or ticket != self.generation:
            return
        pushed_out = self._sessions.put(record.id_hash, record)
        self._sessions_of.setdefault(record.user_id, set()).add(record.id_hash)
        if pushed_out is not None:
            self._forget_session(pushed_out)

    def keep_user(self, user: User, ticket: int | None) -> None:
        if ticket is not None and ticket == self.generation:
            self._users.put(user.id, user)

    def evict(self, kind: str, key: str) -> None:
        if kind == SESSION:
            self.evict_session(key)
        else:
            self.evict_user(key)

    def evict_session(self, id_hash: str) -> None:
        self.generation += 1
        entry = self._sessions.entries.pop(id_hash, None)
        if entry is not None:
            self._forget_session(entry[0])

    def evict_user(self, user_id: str) -> None:
        """The user and every session of theirs."""
        self.generation += 1
        self._users.entries.pop(user_id, None)
        for id_hash in self._sessions_of.pop(user_id, ()):
            self._sessions.entries.pop(id_hash, None)

    def _forget_session(self, record: SessionRecord) -> None:
        hashes = self._sessions_of.get(record.user_id)
        if hashes is not None:
            hashes.discard(record.id_hash)
            if not hashes:
                del self._sessions_of[record.user_id]

    def clear(self) -> None:
        self.generation += 1
        self._sessions.entries.clear()
        self._users.entries.clear()
        self._sessions_of.clear()

    def confirmed(self, poll_started_at: float) -> None:
        """A poll that started then has succeeded: serve again, after a clear if the log was not followed meanwhile."""
        if self._confirmed_at is None or poll_started_at - self._confirmed_at > self._lag:
            self.clear()
        self._confirmed_at = poll_started_at

    def lost(self) -> None:
        """The log cannot be followed: read MongoDB on every request until a poll succeeds."""
        self._confirmed_at = None
        self.clear()
