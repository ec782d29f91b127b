"""Prometheus metrics, in a registry of the app's own (several apps may share one test process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Histogram(
            "authsvc_http_request_duration_seconds",
            "HTTP requests by route and status, with their latency.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._logins = Counter("authsvc_logins", "Login attempts by outcome.", ["outcome"], registry=self.registry)
        self._throttled = Counter(
            "authsvc_throttled",
            "Attempts refused, by the refusing rule: 429s, and forgotten-password requests refused silently.",
            ["rule"],
            registry=self.registry,
        )
        self._forwarded_untrusted = Counter(
            "authsvc_forwarded_for_untrusted",
            "Requests with X-Forwarded-For from a peer outside server.trusted_proxies (the header was ignored).",
            registry=self.registry,
        )
        self._sessions_created = Counter("authsvc_sessions_created", "Sessions opened.", registry=self.registry)
        self._sessions_revoked = Counter(
            "authsvc_sessions_revoked", "Sessions ended before they expired.", registry=self.registry
        )
        self._access_decisions = Counter(
            "authsvc_access_decisions",
            "Gateway checks decided by access_control, by the deciding policy and rule index (default: no rule).",
            ["policy", "rule"],
            registry=self.registry,
        )
        self._access_children: dict[tuple[str, int | None], Any] = {}
        self._revocation_poll_failures = Counter(
            "authsvc_revocation_poll_failures",
            "Failed reads of the MongoDB backend's revocations log.",
            registry=self.registry,
        )

    def access_decision(self, policy: str, rule: int | None) -> None:
        key = (policy, rule)
        child = self._access_children.get(key)
        if child is None:
            label = "default" if rule is None else str(rule)
            child = self._access_children[key] = self._access_decisions.labels(policy, label)
        child.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._request_children.get(key)
        if child is None:  # labels() takes a lock and builds a key every call: look each child up once
            child = self._request_children[key] = self._requests.labels(method, route, str(status))
        child.observe(seconds)

    def login(self, outcome: str) -> None:
        self._logins.labels(outcome).inc()

    def throttled(self, rule: str) -> None:
        self._throttled.labels(rule).inc()

    def forwarded_untrusted(self) -> None:
        self._forwarded_untrusted.inc()

    def sessions_created(self, count: int = 1) -> None:
        self._sessions_created.inc(count)

    def sessions_revoked(self, count: int = 1) -> None:
        if count:
            self._sessions_revoked.inc(count)

    def replica_cache(self, reading_database: Callable[[], bool]) -> None:
        """The MongoDB backend's per-replica cache: whether it is bypassed (its revocation log cannot be followed)."""
        fallback = Gauge(
            "authsvc_cache_fallback",
            "1 while this replica cannot follow the revocations log and reads MongoDB on every request, else 0.",
            registry=self.registry,
        )
        fallback.set_function(lambda: float(reading_database()))

    def revocation_poll_failed(self) -> None:
        self._revocation_poll_failures.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
