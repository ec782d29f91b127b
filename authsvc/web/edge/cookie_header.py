"""authsvc's cookies, read and written one way: the one Cookie header parser and the one cookie helper behind the
five cookies (session, device, pending login, passkey challenge, form token).

Every Cookie header line counts, joined with "; ": a client that sends `Cookie: sid=A` and `Cookie: sid=B` as two
lines sends two session cookies, as if it had sent `sid=A; sid=B` (aiohttp's request.cookies reads the first line
only, so a second cookie there went unseen). Two cookies of one name are none: a planted second one (from a sibling
domain or plain HTTP) makes the request go without it rather than choosing between them.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from aiohttp import hdrs, web
from multidict import MultiMapping

EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


class HasHeaders(Protocol):
    """A request as far as its cookies go: aiohttp's, or the gateway listener's."""

    @property
    def headers(self) -> MultiMapping[str]: ...


def cookie_header(request: HasHeaders) -> str | None:
    """Every Cookie header line of the request, joined with "; " (RFC 9113 8.2.3 does so for HTTP/2's split
    lines); aiohttp's request.cookies reads only the first."""
    lines = request.headers.getall(hdrs.COOKIE, None)
    return "; ".join(lines) if lines else None  # one line: join returns that very string


def cookie_values(header: str | None, name: str) -> list[str]:
    """Every value of the cookie `name` in a Cookie header: a split instead of a full parse of every cookie (10 us)."""
    if not header:
        return []
    values = []
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            values.append(value.strip().strip('"'))
    return values


def only_cookie(request: HasHeaders, name: str) -> str | None:
    """The cookie's value, or None when there is none or more than one."""
    values = cookie_values(cookie_header(request), name)
    return values[0] if len(values) == 1 else None


class Cookie:
    """One of authsvc's cookies: its name (`__Host-` prefixed when asked), its attributes (Path=/, HttpOnly, always),
    and the one way each is read, set and cleared."""

    def __init__(
        self,
        name: str,
        *,
        secure: bool,
        samesite: Literal["Strict", "Lax"],
        max_age: int | None = None,
        host_prefix: bool = False,
        domain: str | None = None,
    ) -> None:
        self.name = f"__Host-{name}" if host_prefix else name
        self.max_age = max_age
        self.params: dict[str, Any] = {"domain": domain, "path": "/", "secure": secure, "httponly": True}
        self.params["samesite"] = samesite

    def read(self, request: HasHeaders) -> str | None:
        """Its value, or None when the request sends none or two."""
        return only_cookie(request, self.name)

    def values(self, request: HasHeaders) -> list[str]:
        """Every value of it the request sends."""
        return cookie_values(cookie_header(request), self.name)

    def set(self, response: web.StreamResponse, value: str, max_age: int | None = None) -> None:
        given = {"max_age": max_age if max_age is not None else self.max_age}
        response.set_cookie(self.name, value, **{**self.params, **given})

    def clear(self, response: web.StreamResponse) -> None:
        # aiohttp's del_cookie drops Secure/SameSite, and browsers ignore a __Host- deletion without Secure.
        response.set_cookie(self.name, "", **{**self.params, "max_age": 0, "expires": EXPIRED})
