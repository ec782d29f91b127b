"""The audit trail in memory: a bounded ring, the oldest event out first."""

from __future__ import annotations

import bisect
from collections import deque

from authsvc.events.models import Event, EventQuery


class MemoryEventLog:
    def __init__(self, max_events: int) -> None:
        self._events: deque[Event] = deque(maxlen=max_events)

    async def append(self, events: list[Event]) -> None:
        self._events.extend(events)

    async def page(self, query: EventQuery, after: str | None, limit: int) -> list[Event]:
        events = list(self._events)
        start = 0 if after is None else bisect.bisect_right([event.id for event in events], after)
        found: list[Event] = []
        for event in events[start:]:
            if query.matches(event):
                found.append(event)
                if len(found) == limit:
                    break
        return found

    async def purge_before(self, at: float) -> int:
        purged = 0
        while self._events and self._events[0].at < at:
            self._events.popleft()
            purged += 1
        return purged
