"""What the throttle needs from a database: attempt counters shared by every replica."""

from __future__ import annotations

from typing import Protocol


class AttemptCounter(Protocol):
    """Attempt counters shared by every replica that shares the store; the throttle's only state.

    A key names one record: a count, a gate (``until``) and a set of members, each used by some rules; a token
    bucket's key keeps only ``until``, the time its bucket is full again (GCRA's theoretical arrival time). A record
    lives until its expiry; an expired record reads as a new one. Every method is atomic on its own.
    """

    async def hit(self, key: str, now: float, expires_at: float) -> int:
        """Count one attempt, keep the record until at least expires_at; returns the count, this attempt included."""
        ...

    async def count(self, key: str, now: float) -> int:
        """The key's count, 0 when it has no live record."""
        ...

    async def give_back(self, key: str, now: float) -> None:
        """Take one counted attempt back (it succeeded or never ran)."""
        ...

    async def hold(self, key: str, now: float, until: float) -> float | None:
        """Pass the key's gate and close it until `until`: None when passed, else the time it opens."""
        ...

    async def add_distinct(self, key: str, member: str, now: float, expires_at: float, cap: int) -> tuple[int, bool]:
        """Add member to the key's set of at most cap members: (members now, whether this call added it)."""
        ...

    async def discard(self, key: str, member: str) -> None: ...

    async def take_token(self, key: str, now: float, burst: int, interval: float) -> float | None:
        """Take one token from the key's bucket, which holds at most burst and regains one every interval seconds:
        None when taken, else the time the next one will be there (having taken nothing, so a flood that keeps
        asking does not push that time further)."""
        ...

    async def return_token(self, key: str, now: float, interval: float) -> None:
        """Put a taken token back (what it was taken for never happened)."""
        ...

    async def reset(self, key: str) -> None: ...

    async def purge_expired(self, now: float) -> int: ...
