"""Reading the audit trail, for the admin API: filters, cursors, a page-size cap."""

from __future__ import annotations

from dataclasses import dataclass

from authsvc.config import AdminSettings
from authsvc.errors import BadRequest
from authsvc.events.models import Event, EventQuery
from authsvc.events.trail import AuditTrail

DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]
    next_cursor: str | None


class AuditReader:
    def __init__(self, trail: AuditTrail, settings: AdminSettings) -> None:
        self._trail = trail
        self._max = settings.max_page_size

    async def page(self, query: EventQuery, cursor: str | None = None, limit: int | None = None) -> EventPage:
        """Events oldest first; next_cursor is the last one's id while more may follow, None on the last page."""
        limit = min(DEFAULT_PAGE_SIZE, self._max) if limit is None else limit
        if not 1 <= limit <= self._max:
            raise BadRequest(
                f"limit must be 1 to {self._max}.",
                errors=[{"pointer": "#/limit", "detail": f"limit must be 1 to {self._max}"}],
            )
        events = await self._trail.page(query, cursor, limit + 1)
        more = len(events) > limit
        events = events[:limit]
        return EventPage(events, events[-1].id if more else None)
