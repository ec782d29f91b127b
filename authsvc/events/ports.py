"""What the audit trail needs from a database: an append-only log, read in pages, dropped past its retention."""

from __future__ import annotations

from typing import Protocol

from authsvc.events.models import Event, EventQuery


class EventRepository(Protocol):
    async def append(self, events: list[Event]) -> None: ...

    async def page(self, query: EventQuery, after: str | None, limit: int) -> list[Event]:
        """At most `limit` matching events with ids after `after` (None: from the oldest kept), oldest first."""
        ...

    async def purge_before(self, at: float) -> int:
        """Drop the events recorded before `at`; returns how many."""
        ...
