"""For services behind authsvc: session introspection with a short cache, and trusting the gateway's user headers.

Imports nothing but aiohttp and the standard library, so a service can use this module without authsvc's server
dependencies being exercised (it is installed with the same distribution).

- IntrospectionClient asks `POST /internal/sessions/introspect` whether a session cookie value is live, and whose.
- gateway_user_middleware believes X-Auth-User-Id / X-Auth-User-Name only from the gateway's own addresses.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = [
    "GATEWAY_USER",
    "INACTIVE",
    "IntrospectionClient",
    "IntrospectionError",
    "IntrospectionResult",
    "IntrospectionUnauthorized",
    "IntrospectionUnavailable",
    "User",
    "gateway_user_middleware",
]

INTROSPECT_PATH = "/internal/sessions/introspect"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class IntrospectionResult:
    """authsvc's answer: `user`, `sid` (the session's public handle), `iat` and `exp` (Unix seconds) when active."""

    active: bool
    user: User | None = None
    sid: str | None = None
    iat: int | None = None
    exp: int | None = None


INACTIVE = IntrospectionResult(active=False)


class IntrospectionError(Exception):
    """authsvc answered something this client does not understand (introspection disabled: 404)."""


class IntrospectionUnauthorized(IntrospectionError):
    """authsvc refused the service token (401): it is wrong, or not configured in `introspection.tokens`."""


class IntrospectionUnavailable(IntrospectionError):
    """authsvc could not be asked: unreachable, too slow, or a 5xx answer (its storage is down, say)."""


class IntrospectionClient:
    """Asks authsvc whether a session cookie value is live; one aiohttp session reused, positive answers cached.

    A live answer is kept for at most `cache_seconds` (0: no cache) and never past the session's `exp`; an inactive
    answer is never kept, so a login is seen at once, and a logout within `cache_seconds`. At most `max_entries`
    answers are kept, the least recently used going first. The cache is keyed by sha256 of the cookie value, and no
    cookie value is ever logged or put in an exception.

        async with IntrospectionClient("http://authsvc:8080", token) as client:
            result = await client.introspect(cookie_value)
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        cache_seconds: float = 5.0,
        timeout: float = 2.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if cache_seconds < 0 or timeout <= 0 or max_entries < 1:
            raise ValueError("cache_seconds must be >= 0, timeout > 0 and max_entries >= 1")
        self._url = base_url.rstrip("/") + INTROSPECT_PATH
        self._headers = {"Authorization": f"Bearer {token}"}
        self._cache_seconds = cache_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_entries = max_entries
        self._clock = clock
        # sha256(cookie value) -> (cached at, good until, answer)
        self._cache: OrderedDict[bytes, tuple[float, float, IntrospectionResult]] = OrderedDict()
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> IntrospectionClient:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._cache.clear()

    async def introspect(self, cookie_value: str) -> IntrospectionResult:
        """The session behind this cookie value; raises IntrospectionUnauthorized or IntrospectionUnavailable."""
        if not cookie_value:
            return INACTIVE
        key = hashlib.sha256(cookie_value.encode("utf-8", "surrogateescape")).digest()
        if (cached := self._cached(key)) is not None:
            return cached
        result = await self._ask(cookie_value)
        self._keep(key, result)
        return result

    def _cached(self, key: bytes) -> IntrospectionResult | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        cached_at, good_until, result = entry
        now = self._clock()
        if not cached_at <= now < good_until:  # expired, or the clock went back
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return result

    def _keep(self, key: bytes, result: IntrospectionResult) -> None:
        if not result.active or self._cache_seconds <= 0 or result.exp is None:
            return
        now = self._clock()
        good_until = min(now + self._cache_seconds, float(result.exp))
        if good_until <= now:
            return
        self._cache[key] = (now, good_until, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)

    async def _ask(self, cookie_value: str) -> IntrospectionResult:
        if self._http is None:
            raise RuntimeError("use IntrospectionClient as `async with IntrospectionClient(...) as client:`")
        try:
            async with self._http.post(self._url, json={"session": cookie_value}, headers=self._headers) as response:
                if response.status == 401:
                    raise IntrospectionUnauthorized("authsvc refused the service token (401)")
                if response.status >= 500:
                    raise IntrospectionUnavailable(f"authsvc answered {response.status}")
                if response.status != 200:
                    raise IntrospectionError(f"authsvc answered {response.status} to introspection")
                body = await response.json(content_type=None)  # a body that is not JSON raises ValueError
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise IntrospectionUnavailable(f"authsvc cannot be reached: {type(exc).__name__}") from exc
        except ValueError as exc:  # not JSON
            raise IntrospectionError("authsvc's introspection answer is not JSON") from exc
        return _result(body)


def _result(body: Any) -> IntrospectionResult:
    try:
        if body["active"] is not True:
            return INACTIVE
        user = body["user"]
        return IntrospectionResult(
            active=True,
            user=User(id=str(user["userId"]), name=str(user["userName"])),
            sid=str(body["sid"]),
            iat=int(body["iat"]),
            exp=int(body["exp"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IntrospectionError("authsvc's introspection answer lacks a field") from exc


GATEWAY_USER = web.RequestKey("authsvc.gateway_user", User)
Network = IPv4Network | IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def gateway_user_middleware(
    trusted_networks: Iterable[str | Network],
    user_id_header: str = "X-Auth-User-Id",
    user_name_header: str = "X-Auth-User-Name",
) -> Middleware:
    """Put the gateway's user on the request as `request.get(GATEWAY_USER)` (a User, or None).

    The headers are believed only when the peer itself (the TCP connection, never X-Forwarded-For) is in
    `trusted_networks`, the gateway's addresses. From any other peer they are removed from the request before the
    handler sees it, so no handler can read a client's forged user id by mistake.
    """
    networks = [ip_network(network) for network in trusted_networks]
    headers = (user_id_header, user_name_header)

    def trusted(request: web.Request) -> bool:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if not peer or not isinstance(peer, tuple | list):
            return False  # a Unix socket, or a closed connection
        try:
            address: IPv4Address | IPv6Address = ip_address(peer[0])
        except ValueError:
            return False
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in networks)

    @web.middleware
    async def gateway_user(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not trusted(request):
            if any(name in request.headers for name in headers):
                stripped = request.headers.copy()
                for name in headers:
                    stripped.popall(name, None)
                request = request.clone(headers=stripped)
            return await handler(request)
        if user_id := request.headers.get(user_id_header):
            request[GATEWAY_USER] = User(id=user_id, name=request.headers.get(user_name_header, ""))
        return await handler(request)

    return gateway_user
