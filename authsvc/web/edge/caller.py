"""Who is calling, worked out once per request: the client as the services see it (address, user agent, the device
its device cookie vouches for) and the sessions its cookies name.

A handler reads it with one call, ``caller(request)``; the first call makes it and keeps it under a web.RequestKey,
and each part is read from the request only when first asked for, so the gateway's fast path and the routes that
never ask pay nothing.
"""

from __future__ import annotations

from functools import cached_property

from aiohttp import hdrs, web
from multidict import MultiMapping

from authsvc.auth.service import ClientInfo
from authsvc.web.edge.cookies import SessionCookies, SessionIds
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.middlewares import client_address


class Caller:
    """Holds the request's headers and address, not the request itself (which keeps the Caller: no cycle)."""

    def __init__(self, request: web.Request, cookies: SessionCookies, devices: DeviceCookies) -> None:
        self.headers: MultiMapping[str] = request.headers
        self._ip, self._cookies, self._devices = client_address(request), cookies, devices

    @cached_property
    def client(self) -> ClientInfo:
        """Address, user agent and what the device cookie vouches for, as the services take them."""
        return ClientInfo(ip=self._ip, user_agent=self.headers.get(hdrs.USER_AGENT), device=self._devices.read(self))

    @cached_property
    def previous(self) -> SessionIds | None:
        """The session the request's cookie names (None without one, or with two): a login replaces it."""
        return self._cookies.read(self)

    @property
    def previous_id(self) -> str | None:
        return self.previous.session_id if self.previous is not None else None

    @cached_property
    def sessions(self) -> list[SessionIds]:
        """Every session a cookie of our name names: a logout ends each, a planted second one with the real one."""
        return self._cookies.read_all(self)


class Callers:
    """Makes a request's Caller; create_app keeps the one instance under CALLERS."""

    def __init__(self, cookies: SessionCookies, devices: DeviceCookies) -> None:
        self._cookies, self._devices = cookies, devices

    def of(self, request: web.Request) -> Caller:
        return Caller(request, self._cookies, self._devices)


CALLERS = web.AppKey("callers", Callers)
CALLER = web.RequestKey("caller", Caller)


def caller(request: web.Request) -> Caller:
    """The request's caller, made on the first call and kept on the request."""
    found = request.get(CALLER)
    if found is None:
        found = request[CALLER] = request.config_dict[CALLERS].of(request)
    return found
