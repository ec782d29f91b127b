"""The one Cookie header parser: every cookie authsvc reads (session, device, pending login, passkey challenge, form
token) is found here.

Every Cookie header line counts, joined with "; ": a client that sends `Cookie: sid=A` and `Cookie: sid=B` as two
lines sends two session cookies, as if it had sent `sid=A; sid=B` (aiohttp's request.cookies reads the first line
only, so a second cookie there went unseen).
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import hdrs, web
from multidict import MultiMapping


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


def only_cookie(request: web.Request, name: str) -> str | None:
    """The cookie's value, or None when there is none or more than one: a planted second one (from a sibling domain
    or plain HTTP) makes the request go without it rather than choosing between them."""
    values = cookie_values(cookie_header(request), name)
    return values[0] if len(values) == 1 else None
