"""The outbox's numbers in /metrics: mails sent and failed deliveries by kind, mails waiting."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from authsvc.metrics import Metrics


class MailMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._sent = Counter("authsvc_mails_sent", "Mails delivered, by kind.", ["kind"], registry=metrics.registry)
        self._failed = Counter(
            "authsvc_mail_delivery_failures",
            "Failed delivery attempts (retried), by kind.",
            ["kind"],
            registry=metrics.registry,
        )
        self._pending = Gauge(
            "authsvc_mails_pending", "Mails in the outbox waiting for delivery (last look).", registry=metrics.registry
        )

    def sent(self, kind: str) -> None:
        self._sent.labels(kind).inc()

    def failed(self, kind: str) -> None:
        self._failed.labels(kind).inc()

    def pending(self, count: int) -> None:
        self._pending.set(count)
