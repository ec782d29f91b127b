"""The portal's forms: their CSRF token and their bodies.

The token is a signed double submit (OWASP): a random nonce in a host-only, HttpOnly, SameSite=Strict cookie, and
in the form HMAC(key, nonce). A page on a sibling subdomain that can plant cookies for the parent domain still
cannot make a matching pair without the key. It backs up the Origin check every POST already passes.

A page's form handler says ``@form_checked(fields, expired=...)``: the form is read (400/415 as read_form), its token
checked, and a stale or foreign one answered by the page's own `expired` answer, before the handler runs; the
handler reads the fields with ``form(request)``. No page checks the token by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from authsvc.config import SessionSettings
from authsvc.errors import BadRequest, UnsupportedMediaType
from authsvc.web.edge.bodies import FORM_TYPES
from authsvc.web.edge.cookie_header import Cookie
from authsvc.web.edge.guards import wraps

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])
Expired = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

TOKEN_LIFETIME = 3600  # seconds a form may stay open
NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class FormTokens:
    def __init__(self, keys: list[bytes], settings: SessionSettings) -> None:
        # A key of its own, derived from the first session key: a form token is never a session cookie.
        self._key = hashlib.sha256(b"authsvc portal form token\x00" + keys[0]).digest()
        # Host-only, and __Host- whenever it is Secure; Strict: only this site's own pages post it back.
        self.cookie = Cookie(
            f"{settings.cookie_name}-csrf",
            secure=bool(settings.secure),
            samesite="Strict",
            max_age=TOKEN_LIFETIME,
            host_prefix=bool(settings.secure),
        )
        self.cookie_name = self.cookie.name

    def _sign(self, nonce: str) -> str:
        digest = hmac.new(self._key, nonce.encode("ascii", "replace"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def token(self, request: web.Request, response: web.StreamResponse) -> str:
        """The form's token; (re)sets the nonce cookie, so a form shown now stays valid for TOKEN_LIFETIME."""
        nonce = self.cookie.read(request)
        if not nonce or not NONCE.fullmatch(nonce):
            nonce = secrets.token_urlsafe(32)
        self.cookie.set(response, nonce)
        return self._sign(nonce)

    def valid(self, request: web.Request, token: str | None) -> bool:
        nonce = self.cookie.read(request)
        if not nonce or not token:
            return False
        return hmac.compare_digest(self._sign(nonce).encode("ascii"), token.encode("utf-8", "replace"))


async def read_form(request: web.Request, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, str]:
    """A form with exactly these fields (optional ones may be absent), each once and a string; else 400/415."""
    if request.content_type not in FORM_TYPES:
        raise UnsupportedMediaType("Send the form as application/x-www-form-urlencoded.")
    try:
        form = await request.post()
    except (ValueError, HttpProcessingError):  # e.g. a multipart part with a malformed header
        raise BadRequest("The body is not a valid form.") from None
    names = list(form.keys())
    if len(form) != len(set(names)):
        raise BadRequest("A form field appears more than once.")
    missing = [name for name in required if name not in form]
    unexpected = [name for name in names if name not in required + optional]
    if missing or unexpected:
        raise BadRequest("The form does not have the expected fields.")
    fields: dict[str, str] = {}
    for name in names:
        value = form[name]
        if not isinstance(value, str):
            raise BadRequest("Form fields must be text, not files.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("Form fields must be valid Unicode text.") from None
        fields[name] = value
    return fields


FORM_TOKENS = web.AppKey("form_tokens", FormTokens)  # create_app puts the container's form tokens here
FORM = web.RequestKey("form", dict[str, str])


def form_tokens(request: web.Request) -> FormTokens:
    """The app's form tokens, for a page that shows a form."""
    return request.config_dict[FORM_TOKENS]


def form(request: web.Request) -> dict[str, str]:
    """The fields of a @form_checked route's form (its csrf field included)."""
    return request[FORM]


def form_checked(required: tuple[str, ...], optional: tuple[str, ...] = (), *, expired: Expired) -> Callable[[H], H]:
    """The route takes a portal form with these fields and the form token: read first (400/415 otherwise), then the
    token checked; a form that expired or came from elsewhere gets expired(request, fields), never the handler."""

    def check(handler: H) -> H:
        async def checked(request: web.Request) -> web.StreamResponse:
            fields = request[FORM] = await read_form(request, (*required, "csrf"), optional)
            if not form_tokens(request).valid(request, fields["csrf"]):
                return await expired(request, fields)
            return await handler(request)

        return wraps(checked, handler)

    return check
