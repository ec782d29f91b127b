"""The account page's second-factor forms: enrol an authenticator app (its QR code inline, then the recovery codes
once), remove it, remove a passkey. Adding a factor asks the same proof as removing one: the password, and a code
when the session is old and an authenticator app is set up. /security itself is now the account page (/account).

The forms reuse MfaService and PasskeyService as the JSON routes do; adding a passkey is the one step that needs
the browser's WebAuthn API, so its button runs passkeys.js against the JSON routes (with the password typed here).
"""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.errors import Conflict, FieldRefused, TooManyRequests
from authsvc.web.container import WebContainer
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.forms import read_form
from authsvc.web.edge.guards import client_info
from authsvc.web.edge.i18n import N_
from authsvc.web.pages.account import ACCOUNT, open_account, to_login
from authsvc.web.pages.handlers import FORM_EXPIRED, WRONG_CODE_AGAIN, _see_other, portal_page, scripted_page

SECURITY = "/security"


def setup_security_pages(app: web.Application) -> None:
    app.router.add_get(SECURITY, security_page)
    app.router.add_post(f"{SECURITY}/totp", begin_totp)
    app.router.add_post(f"{SECURITY}/totp/confirm", confirm_totp)
    app.router.add_post(f"{SECURITY}/totp/remove", remove_totp)
    app.router.add_post(f"{SECURITY}/passkeys/remove", remove_passkey)


@portal_page
async def security_page(request: web.Request) -> web.Response:
    """The old address of the second factors' page: they are on the account page now."""
    return _see_other(ACCOUNT)


@scripted_page
@inject
async def begin_totp(
    request: web.Request, devices: DeviceCookies = Provide[WebContainer.device_cookies]
) -> web.Response:
    fields = await read_form(request, ("password", "csrf"))
    page = await open_account(request)
    if page is None:
        return to_login()
    if not page.tokens.valid(request, fields["csrf"]):
        return await page.render(FORM_EXPIRED, 403)
    try:
        return page.enrolment(await page.mfa.begin_totp(page.me, fields["password"], client_info(request, devices)))
    except (Conflict, FieldRefused, TooManyRequests) as problem:
        return await page.refused(problem)


@scripted_page
async def confirm_totp(request: web.Request) -> web.Response:
    fields = await read_form(request, ("code", "enrolment", "csrf"))
    page = await open_account(request)
    if page is None:
        return to_login()
    try:  # shown again only to whoever holds this session's enrolment token, given out after the password
        pending = await page.mfa.pending_totp(page.me, fields["enrolment"])
    except Conflict:
        return await page.render(N_("No authenticator app is waiting to be confirmed."), 409)
    except FieldRefused as stale:
        return await page.refused(stale)
    if not page.tokens.valid(request, fields["csrf"]):
        return page.enrolment(pending, FORM_EXPIRED, 403)
    try:
        codes = await page.mfa.confirm_totp(page.me, fields["enrolment"], fields["code"].strip())
    except FieldRefused:
        return page.enrolment(pending, WRONG_CODE_AGAIN, 422)
    except Conflict as conflict:
        return await page.refused(conflict)
    return page.recovery_codes(codes, N_("The authenticator app is set up."))


@scripted_page
@inject
async def remove_totp(
    request: web.Request, devices: DeviceCookies = Provide[WebContainer.device_cookies]
) -> web.Response:
    fields = await read_form(request, ("password", "csrf"), ("code",))
    page = await open_account(request)
    if page is None:
        return to_login()
    if not page.tokens.valid(request, fields["csrf"]):
        return await page.render(FORM_EXPIRED, 403)
    client = client_info(request, devices)
    removal = page.mfa.remove_totp(page.me, fields["password"], fields.get("code") or None, client)
    done = N_("The authenticator app was removed; every other session has ended.")
    return await page.removed(removal, done)


@scripted_page
@inject
async def remove_passkey(
    request: web.Request, devices: DeviceCookies = Provide[WebContainer.device_cookies]
) -> web.Response:
    fields = await read_form(request, ("id", "password", "csrf"), ("code",))
    page = await open_account(request)
    if page is None:
        return to_login()
    if not page.tokens.valid(request, fields["csrf"]):
        return await page.render(FORM_EXPIRED, 403)
    client = client_info(request, devices)
    removal = page.mfa.remove_passkey(page.me, fields["id"], fields["password"], fields.get("code") or None, client)
    done = N_("The passkey was removed; every other session has ended.")
    return await page.removed(removal, done)
