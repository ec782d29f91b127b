"""What the audit trail needs from a database: an append-only log, read in pages, dropped past its retention."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook message to one endpoint (its index in webhooks.endpoints), due at next_at."""

    id: str
    endpoint: int
    body: str
    attempts: int
    next_at: float


class DeliveryRepository(Protocol):
    async def add(self, deliveries: list[Delivery]) -> None: ...

    async def claim(self, now: float, lease_until: float) -> Delivery | None:
        """Take the earliest due delivery and push it to lease_until (atomic: one replica gets it)."""
        ...

    async def delivered(self, delivery_id: str) -> None: ...

    async def failed(self, delivery_id: str, attempts: int, next_at: float) -> None: ...

    async def pending(self) -> int: ...
