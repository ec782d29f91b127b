"""The one part of webhooks that talks to the network: a POST with aiohttp's client, a timeout, no redirects."""

from __future__ import annotations

import aiohttp
from prometheus_client import Counter

from authsvc.metrics import Metrics


class HttpPoster:
    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            return response.status


class WebhookMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._failed = Counter(
            "authsvc_webhook_delivery_failures",
            "Failed webhook delivery attempts (retried), by endpoint URL.",
            ["endpoint"],
            registry=metrics.registry,
        )

    def failed(self, endpoint: str) -> None:
        self._failed.labels(endpoint).inc()
