"""The webhook queue in memory (one process; lost at exit)."""

from __future__ import annotations

import dataclasses

from authsvc.events.ports import Delivery


class MemoryDeliveries:
    def __init__(self) -> None:
        self._due: dict[str, Delivery] = {}

    async def add(self, deliveries: list[Delivery]) -> None:
        self._due.update((delivery.id, delivery) for delivery in deliveries)

    async def claim(self, now: float, lease_until: float) -> Delivery | None:
        due = [d for d in self._due.values() if d.next_at <= now]
        if not due:
            return None
        delivery = min(due, key=lambda d: (d.next_at, d.id))
        self._due[delivery.id] = dataclasses.replace(delivery, next_at=lease_until)
        return delivery

    async def delivered(self, delivery_id: str) -> None:
        self._due.pop(delivery_id, None)

    async def failed(self, delivery_id: str, attempts: int, next_at: float) -> None:
        if (delivery := self._due.get(delivery_id)) is not None:
            self._due[delivery_id] = dataclasses.replace(delivery, attempts=attempts, next_at=next_at)

    async def pending(self) -> int:
        return len(self._due)
