"""Signed webhooks (Standard Webhooks): each audit event, as JSON, to every endpoint that asked for its type.

Deliveries wait in a durable queue (the storage backend: shared by replicas, kept across restarts) and a sender
claims one at a time with a lease, so each attempt goes out from one replica; a failed attempt is retried with
doubling back-off. At least once: a receiver dedupes by `webhook-id`, which stays the same on every retry.

Signature: `webhook-signature: v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`, one per
listed secret (`whsec_<base64 key>`), so a receiver that knows either of two secrets accepts during a rotation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from authsvc.clock import Clock
from authsvc.config import WebhookSettings
from authsvc.events.models import Event
from authsvc.events.ports import Delivery, DeliveryRepository

log = logging.getLogger("authsvc")

LEASE_SECONDS = 60.0
Transport = Callable[[str, bytes, dict[str, str]], Awaitable[int]]  # url, body, headers -> HTTP status


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest()).decode("ascii")
        for secret in secrets
    )


def event_body(event: Event) -> bytes:
    """The Standard Webhooks payload shape: {type, timestamp, data}, data as GET /admin/events shows an event."""
    at = datetime.fromtimestamp(event.at, tz=UTC).isoformat().replace("+00:00", "Z")
    data = event.fields() | {"at": at}
    return json.dumps({"type": event.type, "timestamp": at, "data": data}, separators=(",", ":")).encode()


class Webhooks:
    def __init__(self, queue: DeliveryRepository, clock: Clock, settings: WebhookSettings) -> None:
        self._queue = queue
        self._clock = clock
        self._settings = settings

    async def enqueue(self, events: list[Event]) -> None:
        """One delivery per event and endpoint that wants its type; the id is the message's webhook-id."""
        now = self._clock.now()
        deliveries = [
            Delivery(f"msg_{event.id}_{index}", index, event_body(event).decode(), 0, now)
            for event in events
            for index, endpoint in enumerate(self._settings.endpoints)
            if "*" in endpoint.events or event.type in endpoint.events
        ]
        if deliveries:
            await self._queue.add(deliveries)

    async def send_one(self, transport: Transport, failed: Callable[[str], None]) -> bool:
        """Claim and attempt one due delivery; False when none is due."""
        now = self._clock.now()
        delivery = await self._queue.claim(now, now + LEASE_SECONDS)
        if delivery is None:
            return False
        if delivery.endpoint >= len(self._settings.endpoints):  # the endpoint left the configuration
            await self._queue.delivered(delivery.id)
            return True
        endpoint = self._settings.endpoints[delivery.endpoint]
        timestamp = int(now)
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(endpoint.secrets, delivery.id, timestamp, body),
        }
        try:
            status = await transport(endpoint.url, body, headers)
        except Exception as exc:  # the receiver is down, slow or unreachable: retried
            status, reason = 0, type(exc).__name__
        else:
            reason = f"HTTP {status}"
        if 200 <= status < 300:
            await self._queue.delivered(delivery.id)
            return True
        failed(endpoint.url)
        delay = min(self._settings.retry_initial * 2**delivery.attempts, self._settings.retry_max)
        await self._queue.failed(delivery.id, delivery.attempts + 1, now + delay)
        log.warning("webhook delivery failed; will retry", extra={"endpoint": endpoint.url, "reason": reason})
        return True


class WebhookSender:
    """The background loop: every due delivery, then a pause of send_interval."""

    def __init__(self, webhooks: Webhooks, transport: Transport, failed: Callable[[str], None], interval: float):
        self._webhooks = webhooks
        self._transport = transport
        self._failed = failed
        self._interval = interval
        self.stopped = False

    async def run_forever(self) -> None:
        while not self.stopped:
            try:
                while not self.stopped and await self._webhooks.send_one(self._transport, self._failed):
                    pass
            except Exception:  # storage outage: try again after the pause
                log.warning("webhook queue unavailable; will retry", exc_info=True)
            await asyncio.sleep(self._interval)
