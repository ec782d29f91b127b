"""Failed-login throttling per account and per client IP, counted in the shared storage backend."""

from __future__ import annotations

import math

from authsvc.auth.ports import AttemptCounter
from authsvc.clock import Clock
from authsvc.config import ThrottleSettings
from authsvc.errors import TooManyRequests


class LoginThrottle:
    """Fixed windows: after N failures in a window, that key answers 429 until the window ends."""

    def __init__(self, counter: AttemptCounter, clock: Clock, settings: ThrottleSettings) -> None:
        self._counter = counter
        self._clock = clock
        self._settings = settings

    def _limits(self, username: str, ip: str | None) -> list[tuple[str, int, int]]:
        limits = [(f"user:{username}", self._settings.account_max_failures, self._settings.account_window)]
        if ip:
            limits.append((f"ip:{ip}", self._settings.ip_max_failures, self._settings.ip_window))
        return limits

    async def check(self, username: str, ip: str | None) -> None:
        """Raise TooManyRequests while the account or the address is over its limit."""
        now = self._clock.now()
        for key, limit, window in self._limits(username, ip):
            start = math.floor(now / window) * window
            if await self._counter.count(key, start) >= limit:
                raise TooManyRequests(
                    "Too many failed logins; try again later.", retry_after=math.ceil(start + window - now)
                )

    async def failed(self, username: str, ip: str | None) -> None:
        now = self._clock.now()
        for key, _, window in self._limits(username, ip):
            start = math.floor(now / window) * window
            await self._counter.hit(key, start, start + window)

    async def succeeded(self, username: str) -> None:
        await self._counter.reset(f"user:{username}")
