"""The step-up page: a signed-in browser whose session has one factor, sent here by the gateway check because a
two_factor access rule covers the page it asked for (rd). It asks for the second factor only, rotates the session
id, and sends the browser back to rd; a user with no second factor is offered enrolment first."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.factors import TOTP
from authsvc.auth.mfa import MfaService
from authsvc.auth.service import Authenticated, AuthService
from authsvc.errors import Conflict, FieldRefused, TooManyRequests
from authsvc.web.container import WebContainer
from authsvc.web.edge.caller import caller
from authsvc.web.edge.cookies import SessionIds, start_session
from authsvc.web.edge.forms import FormTokens, form_tokens, read_form
from authsvc.web.edge.gate import STEP_UP_PATH
from authsvc.web.edge.guards import signed_in
from authsvc.web.edge.i18n import N_, gettext, wait
from authsvc.web.pages.handlers import (
    FORM_EXPIRED,
    WRONG_CODE_AGAIN,
    _allowed,
    _render,
    _see_other,
    current_settings,
    portal_page,
)

routes = web.RouteTableDef()


async def _page(
    request: web.Request,
    me: Authenticated,
    auth: AuthService,
    tokens: FormTokens,
    rd: str | None,
    message: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    methods = (await auth.second_factors(me.user.id))[1]
    return _render(
        request,
        "step_up.html",
        N_("Second factor"),
        message,
        status,
        headers,
        tokens=tokens,
        rd=rd,
        username=me.user.username,
        totp=TOTP in methods,
    )


@routes.get(STEP_UP_PATH)
@portal_page
@inject
async def step_up_page(
    request: web.Request,
    auth: AuthService = Provide[WebContainer.auth_service],
) -> web.Response:
    settings = current_settings()
    tokens = form_tokens(request)
    rd = _allowed(request, settings, request.query.get("rd"))
    me = await signed_in(request)
    if me is None:
        return _see_other("/login" + (f"?rd={quote(rd, safe='')}" if rd else ""))
    if me.session.two_factors:
        return _see_other(rd or settings.portal.default_redirect)
    return await _page(request, me, auth, tokens, rd)


@routes.post(STEP_UP_PATH)
@portal_page
@inject
async def step_up(
    request: web.Request,
    auth: AuthService = Provide[WebContainer.auth_service],
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    settings = current_settings()
    tokens = form_tokens(request)
    fields = await read_form(request, ("code", "csrf"), ("rd",))
    rd = _allowed(request, settings, fields.get("rd"))
    me = await signed_in(request)
    if me is None:
        return _see_other("/login")
    if not tokens.valid(request, fields["csrf"]):
        return await _page(request, me, auth, tokens, rd, FORM_EXPIRED, 403)
    try:
        session_id = await mfa.step_up(me, fields["code"].strip(), caller(request).client)
    except TooManyRequests as throttled:
        message = gettext("Too many failed attempts. Try again in %(wait)s.") % {"wait": wait(throttled.retry_after)}
        return await _page(request, me, auth, tokens, rd, message, 429, throttled.headers)
    except Conflict:
        return await _page(request, me, auth, tokens, rd, N_("Set up a second factor first."), 409)
    except FieldRefused:
        return await _page(request, me, auth, tokens, rd, WRONG_CODE_AGAIN, 401)
    await start_session(request, SessionIds(session_id, me.user.id))
    return _see_other(rd or settings.portal.default_redirect)
