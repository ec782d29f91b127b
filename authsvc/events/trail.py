"""The audit trail: the services' audit lines, stored as events.

Every service already says what happened, in the same call as the change, on the `authsvc.audit` logger (an event
type, the subject user, the client address, counts, keyed account pseudonyms; never a secret, since tests pin that
for every line). The trail is one logging handler on that logger that turns each line into an Event, with the
request id and the caller's address and user agent of the request it belongs to, and a background writer that
appends them to the event log in order. Only named detail fields are copied, so nothing a line might carry beyond
them reaches storage.

Crash window: events wait in memory for at most one writer pass (they are written as soon as the loop is free);
an unreachable database keeps them waiting, up to MAX_PENDING, and they are written once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from authsvc.clock import Clock
from authsvc.config import EventSettings
from authsvc.events.context import request_context
from authsvc.events.models import Event, EventIds, EventQuery, Outcome
from authsvc.events.ports import EventRepository
from authsvc.events.webhooks import Webhooks
from authsvc.logs import request_id_var

log = logging.getLogger("authsvc")

AUDIT_LOGGER = "authsvc.audit"
DETAIL_KEYS = ("count", "account", "service", "sent", "method", "route", "status")  # the last three: admin.call
FAILED = ("failure", "throttled", "refused")  # a type ending in one of these records a refusal
OUTCOMES = ("success", "failure")  # a line may say its outcome instead (admin.call: by the answer's status)
MAX_PENDING = 100_000
PURGE_EVERY = 3600.0


def outcome_of(event_type: str) -> Outcome:
    return "failure" if event_type.rsplit(".", 1)[-1].endswith(FAILED) else "success"


class _TrailHandler(logging.Handler):
    def __init__(self, trail: AuditTrail) -> None:
        super().__init__(logging.INFO)
        self._trail = trail

    def emit(self, record: logging.LogRecord) -> None:
        self._trail.capture(record)


class AuditTrail:
    def __init__(self, repository: EventRepository, clock: Clock, settings: EventSettings, webhooks: Webhooks) -> None:
        self._repository = repository
        self._webhooks = webhooks
        self._clock = clock
        self._retention = settings.retention_days * 86400.0
        self._pending: deque[Event] = deque(maxlen=MAX_PENDING)
        self._ids = EventIds()
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self.handler = _TrailHandler(self)
        self.stopped = False

    def capture(self, record: logging.LogRecord) -> None:
        """An audit line becomes an event, queued for the writer (a logging handler cannot await)."""
        event_type = getattr(record, "event", None)
        if not isinstance(event_type, str):
            return
        context = request_context.get()
        user_id = getattr(record, "user_id", None)
        actor = getattr(record, "actor", None)
        if not isinstance(actor, str):
            actor = "cli" if context is None else context.actor or ("user" if user_id else "anonymous")
        details = {key: value for key in DETAIL_KEYS if isinstance(value := getattr(record, key, None), str | int)}
        ip = getattr(record, "ip", None)
        now = self._clock.now()
        self._pending.append(
            Event(
                id=self._ids.next(now),
                at=now,
                type=event_type,
                actor=actor,
                user_id=user_id if isinstance(user_id, str) else None,
                ip=ip if isinstance(ip, str) else (context.ip if context else None),
                user_agent=context.user_agent[:256] if context and context.user_agent else None,
                request_id=request_id_var.get(),
                outcome=outcome
                if (outcome := getattr(record, "outcome", None)) in OUTCOMES
                else outcome_of(event_type),
                details=details,
            )
        )
        self._wake.set()

    async def flush(self) -> None:
        """Write every queued event; on a storage error they stay queued for the next pass."""
        async with self._writing:
            batch = list(self._pending)
            if not batch:
                return
            await self._repository.append(batch)
            await self._webhooks.enqueue(batch)  # a crash between the two loses deliveries, never sends a phantom
            for _ in batch:
                self._pending.popleft()

    async def run_forever(self) -> None:
        purged_at = 0.0
        while not self.stopped:
            with contextlib.suppress(TimeoutError):  # a pass every 5 s retries what an outage left waiting
                await asyncio.wait_for(self._wake.wait(), timeout=5)
            self._wake.clear()
            try:
                await self.flush()
                if (now := self._clock.now()) - purged_at >= PURGE_EVERY:
                    await self._repository.purge_before(now - self._retention)
                    purged_at = now
            except Exception:  # an outage must not end the writer: the events wait
                log.warning("audit events could not be written; will retry", exc_info=True)

    async def page(self, query: EventQuery, after: str | None, limit: int) -> list[Event]:
        await self.flush()  # what this process recorded a moment ago is readable at once
        return await self._repository.page(query, after, limit)

    def attach(self) -> None:
        audit = logging.getLogger(AUDIT_LOGGER)
        if not audit.isEnabledFor(logging.INFO):
            audit.setLevel(logging.INFO)  # the trail records every decision whatever logging.level says
        audit.addHandler(self.handler)

    def detach(self) -> None:
        logging.getLogger(AUDIT_LOGGER).removeHandler(self.handler)
