"""A login's HTTP end, for both skins: what a login reads from the request and what its outcome writes.

The login flow (authsvc/login/) decides; the JSON routes and the portal's pages each render its outcome (a body, a
page, a redirect) and hand the response here for the cookies: a SignedIn gets the new session's cookie and a fresh
device cookie, and no waiting login or passkey challenge is left behind; a SecondFactorNeeded gets the cookie of the
waiting login, which its second step brings back.
"""

from __future__ import annotations

from aiohttp import web

from authsvc.auth.service import ClientInfo
from authsvc.config import Settings
from authsvc.login.outcomes import SecondFactorNeeded, SignedIn
from authsvc.web.edge.caller import caller
from authsvc.web.edge.cookie_header import cookie_header, cookie_values
from authsvc.web.edge.cookies import SessionIds, start_session
from authsvc.web.edge.devices import remember_device
from authsvc.web.edge.forms import FormTokens
from authsvc.web.edge.pending_cookie import PasskeyChallengeCookie, PendingLoginCookie


class LoginEdge:
    def __init__(self, pending: PendingLoginCookie, challenge: PasskeyChallengeCookie) -> None:
        self._pending, self._challenge = pending, challenge

    # What a login reads

    def client(self, request: web.Request) -> ClientInfo:
        """Who is signing in, as the flow sees it: address, user agent, and what the device cookie vouches for."""
        return caller(request).client

    def previous_id(self, request: web.Request) -> str | None:
        """The session the browser's cookie names: the login replaces it."""
        return caller(request).previous_id

    def pending(self, request: web.Request) -> str | None:
        """The waiting login's token (None: none, or more than one)."""
        return self._pending.read(request)

    def nonce(self, request: web.Request) -> str | None:
        """The nonce of the passwordless challenge this browser asked for (None: none, or more than one)."""
        return self._challenge.read(request)

    # What an outcome writes

    async def answer(
        self, request: web.Request, response: web.StreamResponse, outcome: SignedIn | SecondFactorNeeded
    ) -> web.StreamResponse:
        """The skin's rendering of the outcome, with the outcome's cookies."""
        if isinstance(outcome, SecondFactorNeeded):
            self._pending.start(response, outcome)
            return response
        await start_session(request, SessionIds(outcome.session_id, outcome.user.id))
        remember_device(request, outcome.user)  # the login is complete only now
        header = cookie_header(request)
        if cookie_values(header, self._challenge.name):
            self._challenge.clear(response)
        if cookie_values(header, self._pending.name):
            self._pending.clear(response)
        return response

    async def stepped_up(self, request: web.Request, outcome: SignedIn) -> None:
        """A signed-in session's new id after its step-up, in its cookie."""
        await start_session(request, SessionIds(outcome.session_id, outcome.user.id))

    def clear_pending(self, response: web.StreamResponse) -> None:
        self._pending.clear(response)

    def new_nonce(self) -> str:
        """What a passwordless challenge is bound to: the browser that asked, by a nonce in its cookie."""
        return self._challenge.new_nonce()

    def start_challenge(self, response: web.StreamResponse, nonce: str) -> None:
        self._challenge.start(response, nonce)


class LoginPages:
    """What the portal's sign-in pages need besides the flow: the login's edge, the form tokens and the settings the
    pages render with."""

    def __init__(self, login: LoginEdge, tokens: FormTokens, settings: Settings) -> None:
        self.login, self.tokens, self.settings = login, tokens, settings


# The login's edge, which handlers reach through the request (services reach them through @inject): create_app
# puts the container's here.
LOGIN_EDGE = web.AppKey("login_edge", LoginEdge)


def login_edge(request: web.Request) -> LoginEdge:
    return request.config_dict[LOGIN_EDGE]
