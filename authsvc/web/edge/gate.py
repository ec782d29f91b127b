"""The gateway's check, answered: /auth/verify and /auth/forward-auth ask who is calling and, under access_control,
whether they may reach the original request. The app's routes and the gateway's fast path call the same object.

The original request is read from the gateway's headers (X-Original-URL/-Method from nginx, X-Forwarded-Method/
-Proto/-Host/-Uri from Traefik and Caddy) only when the peer is in server.trusted_proxies, as is the client address.
With no rules and default_policy one_factor (the default) none of it is read: any live session is allowed.
"""

from __future__ import annotations

import functools
import html
from ipaddress import ip_address
from urllib.parse import quote

from aiohttp import hdrs, web

from authsvc.access.policy import AccessRules, Target, Verdict, subject_of, target_from_url, target_of
from authsvc.auth.service import Authenticated
from authsvc.config import Settings
from authsvc.errors import BadRequest, Forbidden, Unauthorized
from authsvc.mail.service import AccountMail
from authsvc.metrics import Metrics
from authsvc.users.models import User
from authsvc.web.edge.cookies import SessionCookies, SessionIds
from authsvc.web.edge.guards import SESSION_REQUIRED, SessionGuard
from authsvc.web.edge.i18n import gettext, language, reading
from authsvc.web.edge.middlewares import EDGE_HEADERS, Asked, Headed, client_address

SECOND_FACTOR_REQUIRED = "A second factor is required for this resource."
ACCESS_DENIED = "Access to this resource is denied."
DENIED_PAGE = (
    '<!doctype html><html lang="{lang}"><meta charset=utf-8><title>{title}</title>'
    '<h1>{title}</h1><p>{why}</p><p><a href="{portal}/">{account}</a></p>'
)
STEP_UP_PATH = "/login/step-up"


@functools.lru_cache(maxsize=10_000)  # a gateway asks about the same few users again and again
def header_safe(value: str) -> str:
    # New names are ASCII by rule; a legacy tutorial name may hold anything, so it is percent-encoded.
    return quote(value, safe="@._-+")


class GatewayCheck:
    def __init__(
        self,
        guard: SessionGuard,
        cookies: SessionCookies,
        settings: Settings,
        rules: AccessRules,
        mail: AccountMail,
        metrics: Metrics,
    ) -> None:
        self._guard = guard
        self._cookies = cookies
        self._settings = settings
        self._rules = rules
        self._mail = mail
        self._metrics = metrics
        self._trusted = settings.server.trusted_proxies
        # Whether a peer address is a trusted proxy, parsed once per address (a gateway is a handful of them).
        self._trusted_peer = functools.lru_cache(maxsize=1024)(self._is_trusted_peer)
        self._touch = settings.session.verify_renews
        # Every identity header, empty, on an anonymous bypass: a gateway that copies them (Caddy 2.6's copy_headers
        # writes its placeholder for a missing one) then overwrites whatever the client sent with nothing.
        gateway = settings.gateway
        names = (
            gateway.user_id_header,
            gateway.user_name_header,
            gateway.user_groups_header,
            gateway.user_email_header,
        )
        self._nobody = {name: "" for name in names if name}
        # The identity's header lines by what they say, for the gateway listener (answer_headed): a gateway asks
        # about the same users again and again. None when a configured name is one the Edge or the writer sets.
        reserved = EDGE_HEADERS | {"content-length", "date", "connection", "set-cookie"}
        self._identity_lines = (
            None
            if any(name.lower() in reserved for name in names if name)
            else functools.lru_cache(maxsize=10_000)(self._lines)
        )

    async def verify(self, request: web.Request) -> web.Response:
        """nginx auth_request, Traefik ForwardAuth, Envoy ext_authz: 200 with who, else 401 or 403."""
        return await self._renewing(request, *await self.answer(request, browser=False))

    async def forward_auth(self, request: web.Request) -> web.Response:
        """Like verify, but a browser is sent to the portal (to sign in, or for a second factor) or shown a page."""
        return await self._renewing(request, *await self.answer(request, browser=self.browser(request)))

    @staticmethod
    def browser(request: Asked) -> bool:
        """Whether forward-auth's caller is a browser, to be sent somewhere rather than told 401 or 403."""
        return "text/html" in request.headers.get(hdrs.ACCEPT, "")

    async def _renewing(self, request: web.Request, response: web.Response, renew: SessionIds | None) -> web.Response:
        if renew is not None:
            await self._cookies.renew(request, renew)  # written on the way out, by aiohttp-session or the fast path
        return response

    async def answer(self, request: Asked, browser: bool) -> tuple[web.Response, SessionIds | None]:
        """The check's answer (or its Problem, raised), and the session's ids when its cookie is to be re-issued
        with that answer; both ports render it."""
        outcome, renew = await self._decide(request, browser)
        if isinstance(outcome, User):
            return await self._identity(outcome), renew
        return outcome, renew

    async def answer_headed(self, request: Asked, browser: bool) -> tuple[web.Response | Headed, SessionIds | None]:
        """answer(), for the gateway listener: the 200 for a signed-in user whose cookie is not re-issued comes as
        header lines, which render to the bytes answer()'s response would (gateway_listener.render_headed)."""
        outcome, renew = await self._decide(request, browser)
        if isinstance(outcome, User):
            if renew is None and self._identity_lines is not None:
                address = await self._address(outcome)
                return self._identity_lines(outcome.id, outcome.username, outcome.groups, address), None
            return await self._identity(outcome), renew
        return outcome, renew

    async def _decide(self, request: Asked, browser: bool) -> tuple[web.Response | User, SessionIds | None]:
        """The signed-in user to name in a 200, or the answer itself, and the ids of a cookie to re-issue."""
        policy = self._rules.current
        if policy.trivial:  # the hot path of the default configuration: any live session
            authenticated, renew = await self._guard.check(request, touch=self._touch)
            if authenticated is not None:
                return authenticated.user, renew
            if browser:
                return self._to_portal(request, "/login"), None
            raise Unauthorized(SESSION_REQUIRED)
        target = self.original_request(request)
        settled, decision = policy.before_session(target)
        authenticated, renew = None, None
        if settled is None:
            authenticated, renew = await self._guard.check(request, touch=self._touch)
            if authenticated is None:
                settled = Verdict.SIGN_IN
            else:
                user = authenticated.user
                subject = subject_of(user.username, user.groups)
                two_factors = authenticated.session.two_factors
                settled, decision = policy.with_session(target, decision, subject, two_factors)
        self._metrics.access_decision(decision.policy, decision.rule)
        if settled is Verdict.ALLOW:
            if authenticated is None:
                return web.Response(headers=self._nobody), None
            return authenticated.user, renew
        if settled is Verdict.DENY:
            if browser:
                return self._denied_page(request), renew
            raise Forbidden(ACCESS_DENIED)
        if browser:
            page = "/login" if settled is Verdict.SIGN_IN else STEP_UP_PATH
            return self._to_portal(request, page), renew
        raise Unauthorized(SESSION_REQUIRED if settled is Verdict.SIGN_IN else SECOND_FACTOR_REQUIRED)

    def _is_trusted_peer(self, address: str) -> bool:
        try:
            peer = ip_address(address.partition("%")[0])
        except ValueError:
            return False
        return any(peer in network for network in self._trusted)

    def _from_trusted_proxy(self, request: Asked) -> bool:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return peer is not None and self._trusted_peer(peer[0])

    def original_request(self, request: Asked) -> Target | None:
        """The request the gateway asks about, from a trusted proxy's headers; None when it did not say."""
        if not self._from_trusted_proxy(request):
            return None
        headers, ip = request.headers, client_address(request)
        if (url := headers.get("X-Original-URL")) is not None:
            target = target_from_url(url, headers.get("X-Original-Method", request.method), ip)
            if target is None:
                raise BadRequest("X-Original-URL must be an absolute http(s) URL.")
            return target
        host = headers.get("X-Forwarded-Host")
        if host is None:
            return None
        uri = headers.get("X-Forwarded-Uri", "/")
        if not uri.startswith("/"):
            raise BadRequest("X-Forwarded-Uri must be a path starting with /.")
        return target_of(host, uri, headers.get("X-Forwarded-Method", request.method), ip)

    async def _identity(self, user: User) -> web.Response:
        address = await self._address(user)
        return web.Response(headers=self._identity_headers(user.id, user.username, user.groups, address))

    async def _address(self, user: User) -> str | None:
        """The verified address the email header names, read only when that header is configured."""
        return await self._mail.verified_address(user.id) if self._settings.gateway.user_email_header else None

    def _identity_headers(
        self, user_id: str, username: str, groups: tuple[str, ...], address: str | None
    ) -> dict[str, str]:
        gateway = self._settings.gateway
        headers = {
            gateway.user_id_header: user_id,
            gateway.user_name_header: header_safe(username),
            gateway.user_groups_header: ",".join(groups),  # names are header-safe by rule
        }
        if gateway.user_email_header:
            headers[gateway.user_email_header] = header_safe(address) if address else ""
        return headers

    def _lines(self, user_id: str, username: str, groups: tuple[str, ...], address: str | None) -> Headed:
        headers = self._identity_headers(user_id, username, groups, address)
        return Headed("".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode())

    def needs_step_up(self, request: web.Request, me: Authenticated, rd: str | None) -> bool:
        """Whether the rules want a second factor this session lacks to open rd: the portal's sign-in page sends such
        a browser on to the step-up page (nginx sends every 401 there, step-up or not)."""
        if rd is None or me.session.two_factors:
            return False
        target = Target.from_url(rd, "GET", client_address(request))
        policy = self._rules.current
        settled, first = policy.before_session(target)
        if settled is not None:
            return False
        subject = subject_of(me.user.username, me.user.groups)
        return policy.with_session(target, first, subject, two_factors=False)[0] is Verdict.STEP_UP

    def _portal(self, request: Asked) -> str:
        return self._settings.server.public_url or f"{request.scheme}://{request.host}"

    def _to_portal(self, request: Asked, page: str) -> web.Response:
        original = self.original_url(request)
        location = f"{self._portal(request)}{page}" + (f"?rd={quote(original, safe='')}" if original else "")
        return web.Response(status=302, headers={hdrs.LOCATION: location})

    def original_url(self, request: Asked) -> str | None:
        """The URL the browser asked the gateway for, from a trusted proxy only (the portal decides whether it
        may send the browser back there)."""
        if not self._from_trusted_proxy(request):
            return None
        headers = request.headers
        if (url := headers.get("X-Original-URL")) is not None:
            return url if Target.from_url(url, "GET", None) is not None else None
        proto = headers.get("X-Forwarded-Proto", request.scheme).lower()
        host, uri = headers.get("X-Forwarded-Host"), headers.get("X-Forwarded-Uri", "/")
        if proto not in ("http", "https") or not host or not uri.startswith("/"):
            return None
        return f"{proto}://{host}{uri}"

    def _denied_page(self, request: Asked) -> web.Response:
        """A short page in the reader's language (the gateway passes the browser's Accept-Language on)."""
        lang = language(request)
        with reading(lang):
            page = DENIED_PAGE.format(
                lang=lang,
                title=html.escape(gettext("Access denied")),
                why=html.escape(gettext("Your account may not open this page.")),
                account=html.escape(gettext("Your account")),
                portal=html.escape(self._portal(request), quote=True),
            )
        response = web.Response(status=403, text=page, content_type="text/html")
        response.headers[hdrs.CONTENT_LANGUAGE] = lang
        response.headers[hdrs.VARY] = "Accept-Language"
        return response


GATE = web.AppKey("gateway_check", GatewayCheck)  # create_app puts the container's check here


def gate(request: web.Request) -> GatewayCheck:
    """The app's gateway check: the routed /auth/verify and /auth/forward-auth answer through it, as the fast path."""
    return request.config_dict[GATE]
