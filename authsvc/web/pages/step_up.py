"""The step-up page: a signed-in browser whose session has one factor, sent here by the gateway check because a
two_factor access rule covers the page it asked for (rd). It asks for the second factor only, rotates the session
id, and sends the browser back to rd; a user with no second factor is offered enrolment first."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.factors import TOTP
from authsvc.auth.mfa import CodeRefused
from authsvc.auth.service import Authenticated
from authsvc.errors import TooManyRequests
from authsvc.login.flow import LoginFlow
from authsvc.login.outcomes import NoSecondFactor
from authsvc.login.strategies import CodeProof
from authsvc.web.container import WebContainer
from authsvc.web.edge.forms import form, form_checked
from authsvc.web.edge.gate import STEP_UP_PATH
from authsvc.web.edge.guards import current, login_required, signed_in
from authsvc.web.edge.i18n import N_, gettext, wait
from authsvc.web.edge.logins import LoginPages
from authsvc.web.pages.handlers import (
    FORM_EXPIRED,
    WRONG_CODE_AGAIN,
    _allowed,
    _render,
    _see_other,
    login_pages,
    portal_page,
)

routes = web.RouteTableDef()


async def _page(
    request: web.Request,
    me: Authenticated,
    flow: LoginFlow,
    pages: LoginPages,
    rd: str | None,
    message: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    methods = await flow.methods(me.user.id)
    return _render(
        request,
        "step_up.html",
        N_("Second factor"),
        message,
        status,
        headers,
        tokens=pages.tokens,
        rd=rd,
        username=me.user.username,
        totp=TOTP in methods,
    )


def _sign_in_first(request: web.Request) -> str:
    """The sign-in page, which brings the browser back here with the rd it came with (when that one is allowed)."""
    rd = _allowed(request, login_pages(request).settings, request.query.get("rd"))
    return "/login" + (f"?rd={quote(rd, safe='')}" if rd else "")


@routes.get(STEP_UP_PATH)
@portal_page
@login_required(redirect=_sign_in_first)
@inject
async def step_up_page(request: web.Request, flow: LoginFlow = Provide[WebContainer.login_flow]) -> web.Response:
    pages, me = login_pages(request), current(request)
    rd = _allowed(request, pages.settings, request.query.get("rd"))
    if me.session.two_factors:
        return _see_other(rd or pages.settings.portal.default_redirect)
    return await _page(request, me, flow, pages, rd)


@inject
async def _step_up_expired(
    request: web.Request, fields: dict[str, str], flow: LoginFlow = Provide[WebContainer.login_flow]
) -> web.Response:
    pages = login_pages(request)
    me = await signed_in(request)
    if me is None:
        return _see_other("/login")
    return await _page(request, me, flow, pages, _allowed(request, pages.settings, fields.get("rd")), FORM_EXPIRED, 403)


@routes.post(STEP_UP_PATH)
@portal_page
@form_checked(("code",), ("rd",), expired=_step_up_expired)
@login_required(redirect="/login")
@inject
async def step_up(request: web.Request, flow: LoginFlow = Provide[WebContainer.login_flow]) -> web.Response:
    pages, fields, me = login_pages(request), form(request), current(request)
    rd = _allowed(request, pages.settings, fields.get("rd"))
    try:
        stepped_up = await flow.step_up(me, CodeProof(fields["code"].strip()), pages.login.client(request))
    except TooManyRequests as throttled:
        message = gettext("Too many failed attempts. Try again in %(wait)s.") % {"wait": wait(throttled.retry_after)}
        return await _page(request, me, flow, pages, rd, message, 429, throttled.headers)
    except NoSecondFactor:
        return await _page(request, me, flow, pages, rd, N_("Set up a second factor first."), 409)
    except CodeRefused:
        return await _page(request, me, flow, pages, rd, WRONG_CODE_AGAIN, 401)
    await pages.login.stepped_up(request, stepped_up)
    return _see_other(rd or pages.settings.portal.default_redirect)
