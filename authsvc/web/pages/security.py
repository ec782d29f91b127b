"""The account page's second-factor forms: enrol an authenticator app (its QR code inline, then the recovery codes
once), remove it, remove a passkey. Adding a factor asks the same proof as removing one: the password, and a code
when the session is old and an authenticator app is set up. /security itself is now the account page (/account).

The forms reuse MfaService and PasskeyService as the JSON routes do; adding a passkey is the one step that needs
the browser's WebAuthn API, so its button runs passkeys.js against the JSON routes (with the password typed here).
"""

from __future__ import annotations

from aiohttp import web

from authsvc.errors import Conflict, FieldRefused, TooManyRequests
from authsvc.web.edge.caller import caller
from authsvc.web.edge.forms import form, form_checked
from authsvc.web.edge.guards import login_required, signed_in
from authsvc.web.edge.i18n import N_
from authsvc.web.pages.account import ACCOUNT, TO_LOGIN, account, account_form, to_login
from authsvc.web.pages.handlers import FORM_EXPIRED, WRONG_CODE_AGAIN, _see_other, portal_page, scripted_page

SECURITY = "/security"
routes = web.RouteTableDef()


@routes.get(SECURITY)
@portal_page
async def security_page(request: web.Request) -> web.Response:
    """The old address of the second factors' page: they are on the account page now."""
    return _see_other(ACCOUNT)


@routes.post(f"{SECURITY}/totp")
@scripted_page
@account_form(("password",))
async def begin_totp(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    try:
        return page.enrolment(await page.mfa.begin_totp(page.me, fields["password"], caller(request).client))
    except (Conflict, FieldRefused, TooManyRequests) as problem:
        return await page.refused(problem)


async def _confirm_expired(request: web.Request, fields: dict[str, str]) -> web.Response:
    """A stale confirmation form shows the enrolment again, to whoever holds this session's enrolment token."""
    if await signed_in(request) is None:
        return to_login()
    page = account(request)
    try:
        pending = await page.mfa.pending_totp(page.me, fields["enrolment"])
    except Conflict:
        return await page.render(N_("No authenticator app is waiting to be confirmed."), 409)
    except FieldRefused as stale:
        return await page.refused(stale)
    return page.enrolment(pending, FORM_EXPIRED, 403)


@routes.post(f"{SECURITY}/totp/confirm")
@scripted_page
@form_checked(("code", "enrolment"), expired=_confirm_expired)
@login_required(redirect=TO_LOGIN)
async def confirm_totp(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    try:  # shown again only to whoever holds this session's enrolment token, given out after the password
        pending = await page.mfa.pending_totp(page.me, fields["enrolment"])
    except Conflict:
        return await page.render(N_("No authenticator app is waiting to be confirmed."), 409)
    except FieldRefused as stale:
        return await page.refused(stale)
    try:
        codes = await page.mfa.confirm_totp(page.me, fields["enrolment"], fields["code"].strip())
    except FieldRefused:
        return page.enrolment(pending, WRONG_CODE_AGAIN, 422)
    except Conflict as conflict:
        return await page.refused(conflict)
    return page.recovery_codes(codes, N_("The authenticator app is set up."))


@routes.post(f"{SECURITY}/totp/remove")
@scripted_page
@account_form(("password",), ("code",))
async def remove_totp(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    client = caller(request).client
    removal = page.mfa.remove_totp(page.me, fields["password"], fields.get("code") or None, client)
    done = N_("The authenticator app was removed; every other session has ended.")
    return await page.removed(removal, done)


@routes.post(f"{SECURITY}/passkeys/remove")
@scripted_page
@account_form(("id", "password"), ("code",))
async def remove_passkey(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    client = caller(request).client
    removal = page.mfa.remove_passkey(page.me, fields["id"], fields["password"], fields.get("code") or None, client)
    done = N_("The passkey was removed; every other session has ended.")
    return await page.removed(removal, done)
