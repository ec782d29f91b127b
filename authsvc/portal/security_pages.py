"""The portal's Security page: the signed-in user's second factors. Enrol an authenticator app (its QR code inline,
then the recovery codes once), remove it, add and remove passkeys. Adding a factor asks the same proof as removing
one: the password, and a code when the session is old and an authenticator app is set up.

The pages reuse MfaService and PasskeyService as the JSON routes do; adding a passkey is the one step that needs
the browser's WebAuthn API, so its button runs passkeys.js against the JSON routes (with the password typed here).
"""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.devices import DeviceCookies
from authsvc.auth.guards import SessionGuard, client_info
from authsvc.auth.mfa import MfaService, TotpEnrolment
from authsvc.auth.passkeys import PasskeyService
from authsvc.auth.service import Authenticated
from authsvc.auth.views import iso
from authsvc.containers import Container
from authsvc.errors import Conflict, FieldRefused, NotFound, Problem, TooManyRequests
from authsvc.mail.service import AccountMail
from authsvc.portal.forms import FormTokens, read_form
from authsvc.portal.handlers import FORM_EXPIRED, _render, _see_other, scripted_page

SECURITY = "/security"
NO_STORE = {"Cache-Control": "no-store"}


def setup_security_pages(app: web.Application) -> None:
    app.router.add_get(SECURITY, security_page)
    app.router.add_post(f"{SECURITY}/totp", begin_totp)
    app.router.add_post(f"{SECURITY}/totp/confirm", confirm_totp)
    app.router.add_post(f"{SECURITY}/totp/remove", remove_totp)
    app.router.add_post(f"{SECURITY}/passkeys/remove", remove_passkey)


class SecurityPage:
    """The page's parts, with the services it shows."""

    def __init__(
        self, request: web.Request, me: Authenticated, mfa: MfaService, passkeys: PasskeyService, tokens: FormTokens
    ) -> None:
        self.request, self.me, self.mfa, self.passkeys, self.tokens = request, me, mfa, passkeys, tokens

    async def render(
        self, message: str | None = None, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        found = await self.mfa.status(self.me.user.id)
        listed = [
            {"id": p.credential_id, "name": p.name, "created": iso(p.created_at)[:10]}
            for p in await self.passkeys.list(self.me.user.id)
        ]
        return _render(
            self.request,
            "security.html",
            "Security",
            message,
            status,
            headers,
            tokens=self.tokens,
            username=self.me.user.username,
            totp="totp" in found.methods,
            recovery_codes_left=found.recovery_codes_left,
            passkeys=listed,
            next=SECURITY,
        )

    async def refused(self, problem: Problem) -> web.Response:
        """The page again, saying why a change was refused (a wrong password, a missing code, throttled...)."""
        if isinstance(problem, TooManyRequests):
            return await self.render("Too many wrong passwords. Try again later.", 429, problem.headers)
        return await self.render(problem.detail or "That did not work.", problem.status)

    async def removed(self, removal: Awaitable[None], mail: AccountMail, change: str) -> web.Response:
        """Run a factor's removal (it checks the password, and a code for an old session); the page says how it went."""
        try:
            await removal
        except (FieldRefused, NotFound, TooManyRequests) as problem:
            return await self.refused(problem)
        await mail.mfa_changed(self.me.user, change)  # after the change
        return await self.render(f"Done: {change}; every other session has ended.")

    def enrolment(self, enrolment: TotpEnrolment, message: str | None = None, status: int = 200) -> web.Response:
        return _render(
            self.request,
            "totp_enrol.html",
            "Add an authenticator app",
            message,
            status,
            NO_STORE,
            tokens=self.tokens,
            secret=enrolment.secret,
            qr_svg=enrolment.qr_svg,
            enrolment=enrolment.token,
        )


async def _page(
    request: web.Request, guard: SessionGuard, mfa: MfaService, passkeys: PasskeyService, tokens: FormTokens
) -> SecurityPage | None:
    me = await guard.authenticate(request)
    return SecurityPage(request, me, mfa, passkeys, tokens) if me is not None else None


def _to_login() -> web.Response:
    return _see_other(f"/login?rd={SECURITY}")


@scripted_page
@inject
async def security_page(
    request: web.Request,
    guard: SessionGuard = Provide[Container.session_guard],
    mfa: MfaService = Provide[Container.mfa_service],
    passkeys: PasskeyService = Provide[Container.passkey_service],
    tokens: FormTokens = Provide[Container.form_tokens],
) -> web.Response:
    page = await _page(request, guard, mfa, passkeys, tokens)
    return await page.render() if page is not None else _to_login()


@scripted_page
@inject
async def begin_totp(
    request: web.Request,
    guard: SessionGuard = Provide[Container.session_guard],
    mfa: MfaService = Provide[Container.mfa_service],
    passkeys: PasskeyService = Provide[Container.passkey_service],
    tokens: FormTokens = Provide[Container.form_tokens],
    devices: DeviceCookies = Provide[Container.device_cookies],
) -> web.Response:
    fields = await read_form(request, ("password", "csrf"))
    page = await _page(request, guard, mfa, passkeys, tokens)
    if page is None:
        return _to_login()
    if not tokens.valid(request, fields["csrf"]):
        return await page.render(FORM_EXPIRED, 403)
    try:
        return page.enrolment(await mfa.begin_totp(page.me, fields["password"], client_info(request, devices)))
    except (Conflict, FieldRefused, TooManyRequests) as problem:
        return await page.refused(problem)


@scripted_page
@inject
async def confirm_totp(
    request: web.Request,
    guard: SessionGuard = Provide[Container.session_guard],
    mfa: MfaService = Provide[Container.mfa_service],
    passkeys: PasskeyService = Provide[Container.passkey_service],
    tokens: FormTokens = Provide[Container.form_tokens],
    mail: AccountMail = Provide[Container.account_mail],
) -> web.Response:
    fields = await read_form(request, ("code", "enrolment", "csrf"))
    page = await _page(request, guard, mfa, passkeys, tokens)
    if page is None:
        return _to_login()
    try:  # shown again only to whoever holds this session's enrolment token, given out after the password
        pending = await mfa.pending_totp(page.me, fields["enrolment"])
    except Conflict:
        return await page.render("No authenticator app is waiting to be confirmed.", 409)
    except FieldRefused as stale:
        return await page.refused(stale)
    if not tokens.valid(request, fields["csrf"]):
        return page.enrolment(pending, FORM_EXPIRED, 403)
    try:
        codes = await mfa.confirm_totp(page.me, fields["enrolment"], fields["code"].strip())
    except FieldRefused:
        return page.enrolment(pending, "That code is not valid. Please try again.", 422)
    except Conflict as conflict:
        return await page.refused(conflict)
    await mail.mfa_changed(page.me.user, "an authenticator app was added", added=True)  # after the change
    return _render(request, "recovery_codes.html", "Recovery codes", None, 200, NO_STORE, codes=codes)


@scripted_page
@inject
async def remove_totp(
    request: web.Request,
    guard: SessionGuard = Provide[Container.session_guard],
    mfa: MfaService = Provide[Container.mfa_service],
    passkeys: PasskeyService = Provide[Container.passkey_service],
    tokens: FormTokens = Provide[Container.form_tokens],
    devices: DeviceCookies = Provide[Container.device_cookies],
    mail: AccountMail = Provide[Container.account_mail],
) -> web.Response:
    fields = await read_form(request, ("password", "csrf"), ("code",))
    page = await _page(request, guard, mfa, passkeys, tokens)
    if page is None:
        return _to_login()
    if not tokens.valid(request, fields["csrf"]):
        return await page.render(FORM_EXPIRED, 403)
    removal = mfa.remove_totp(page.me, fields["password"], fields.get("code") or None, client_info(request, devices))
    return await page.removed(removal, mail, "the authenticator app was removed")


@scripted_page
@inject
async def remove_passkey(
    request: web.Request,
    guard: SessionGuard = Provide[Container.session_guard],
    mfa: MfaService = Provide[Container.mfa_service],
    passkeys: PasskeyService = Provide[Container.passkey_service],
    tokens: FormTokens = Provide[Container.form_tokens],
    devices: DeviceCookies = Provide[Container.device_cookies],
    mail: AccountMail = Provide[Container.account_mail],
) -> web.Response:
    fields = await read_form(request, ("id", "password", "csrf"), ("code",))
    page = await _page(request, guard, mfa, passkeys, tokens)
    if page is None:
        return _to_login()
    if not tokens.valid(request, fields["csrf"]):
        return await page.render(FORM_EXPIRED, 403)
    client = client_info(request, devices)
    removal = mfa.remove_passkey(page.me, fields["id"], fields["password"], fields.get("code") or None, client)
    return await page.removed(removal, mail, "a passkey was removed")
