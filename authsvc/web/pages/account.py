"""The portal's account page, /account: who I am, the email address, the password, the sessions, the second factors
(their forms post to /security/..., security.py) and deleting the account.

Every action calls the service the JSON route calls, with the same proof: the password, and a current code when the
session is old and an authenticator app is set up (MfaService.prove / check_recent_proof). Destructive forms sit
behind a disclosure (<details>) on the page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import hdrs, web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService, TotpEnrolment
from authsvc.auth.passkeys import PasskeyService
from authsvc.auth.service import Authenticated, AuthService
from authsvc.config import Settings
from authsvc.errors import FieldRefused, NotFound, Problem, TooManyRequests
from authsvc.mail.models import DuplicateEmail
from authsvc.mail.service import AccountMail
from authsvc.web.container import WebContainer
from authsvc.web.edge import cookies
from authsvc.web.edge.caller import caller
from authsvc.web.edge.devices import remember_device
from authsvc.web.edge.forms import FormTokens, form, form_checked, form_tokens
from authsvc.web.edge.guards import current, login_required, signed_in
from authsvc.web.edge.i18n import N_, field_problem, gettext, wait
from authsvc.web.edge.views import iso
from authsvc.web.pages.handlers import (
    FORM_EXPIRED,
    _render,
    _see_other,
    current_settings,
    password_rules,
    portal_page,
    scripted_page,
)

ACCOUNT = "/account"
NO_STORE = {"Cache-Control": "no-store"}
RECOVERY_CODE = re.compile(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}")
BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
SYSTEMS: tuple[tuple[str, str], ...] = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"))
SYSTEMS += (("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])
TO_LOGIN = f"/login?rd={ACCOUNT}"  # a signed-out browser signs in, then comes back to the account page
routes = web.RouteTableDef()


def device_name(user_agent: str | None) -> str:
    """A user agent as a person names a device: "Firefox on Linux"; the raw string is too long to read."""
    agent = user_agent or ""
    browser = next((name for token, name in BROWSERS if token in agent), None)
    system = next((name for token, name in SYSTEMS if token in agent), None)
    if browser and system:
        return gettext("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or (agent[:40] or gettext("Unknown device"))


class AccountPage:
    """The page's parts, with the services it shows; each action renders it again with how the action went."""

    def __init__(
        self,
        request: web.Request,
        me: Authenticated,
        auth: AuthService,
        mfa: MfaService,
        passkeys: PasskeyService,
        mail: AccountMail,
        tokens: FormTokens,
        settings: Settings,
    ) -> None:
        self.request, self.me, self.auth, self.mfa = request, me, auth, mfa
        self.passkeys, self.mail, self.tokens, self.settings = passkeys, mail, tokens, settings

    async def render(
        self,
        message: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        *,
        success: bool = False,
    ) -> web.Response:
        user = self.me.user
        found = await self.mfa.status(user.id)
        address = await self.mail.address_of(user.id)
        sessions = [
            {
                "handle": record.handle,
                "device": device_name(record.user_agent),
                "place": record.ip or gettext("unknown address"),
                "last_seen": iso(record.last_seen_at)[:16].replace("T", " ") + " UTC",
                "current": record.id_hash == self.me.session.id_hash,
            }
            for record in sorted(
                await self.auth.list_sessions(user.id), key=lambda record: record.last_seen_at, reverse=True
            )
        ]
        listed = [
            {"id": p.credential_id, "name": p.name, "created": iso(p.created_at)[:10]}
            for p in await self.passkeys.list(user.id)
        ]
        return _render(
            self.request,
            "account.html",
            N_("Your account"),
            message,
            status,
            headers,
            tokens=self.tokens,
            success=success,
            username=user.username,
            member_since=iso(user.created_at)[:10],
            email=address.address if address else None,
            email_verified=bool(address and address.verified),
            sessions=sessions,
            totp="totp" in found.methods,
            recovery_codes_left=found.recovery_codes_left,
            passkeys=listed,
            password_rules=password_rules(self.settings),
            next=ACCOUNT,
        )

    async def done(self, message: str) -> web.Response:
        return await self.render(message, success=True)

    async def refused(self, problem: Problem) -> web.Response:
        """The page again, saying why a change was refused (a wrong password, a missing code, throttled...)."""
        if isinstance(problem, TooManyRequests):
            message = gettext("Too many wrong passwords. Try again in %(wait)s.") % {"wait": wait(problem.retry_after)}
            return await self.render(message, 429, problem.headers)
        if isinstance(problem, FieldRefused) and set(problem.fields) & {"newPassword", "email"}:
            # Which rule the new password or the address breaks, not only that it breaks one.
            return await self.render(" ".join(map(field_problem, problem.fields.values())), problem.status)
        return await self.render(problem.detail or N_("That did not work."), problem.status)

    async def removed(self, removal: Awaitable[None], done: str) -> web.Response:
        """Run a factor's removal (it checks the password, and a code for an old session); the page says how it went."""
        try:
            await removal
        except (FieldRefused, NotFound, TooManyRequests) as problem:
            return await self.refused(problem)
        return await self.done(done)

    def enrolment(self, enrolment: TotpEnrolment, message: str | None = None, status: int = 200) -> web.Response:
        return _render(
            self.request,
            "totp_enrol.html",
            N_("Add an authenticator app"),
            message,
            status,
            NO_STORE,
            tokens=self.tokens,
            secret=enrolment.secret,
            qr_svg=enrolment.qr_svg,
            enrolment=enrolment.token,
        )

    def recovery_codes(self, codes: list[str], intro: str) -> web.Response:
        """The codes, shown this once, with a download of them as a text file."""
        return _render(
            self.request,
            "recovery_codes.html",
            N_("Recovery codes"),
            intro,
            200,
            NO_STORE,
            tokens=self.tokens,
            success=True,
            codes=codes,
        )


@inject
def account(
    request: web.Request,
    auth: AuthService = Provide[WebContainer.auth_service],
    mfa: MfaService = Provide[WebContainer.mfa_service],
    passkeys: PasskeyService = Provide[WebContainer.passkey_service],
    mail: AccountMail = Provide[WebContainer.account_mail],
) -> AccountPage:
    """The signed-in user's page, for a @login_required route (or once signed_in found the session)."""
    settings = current_settings()
    return AccountPage(request, current(request), auth, mfa, passkeys, mail, form_tokens(request), settings)


def to_login() -> web.Response:
    return _see_other(TO_LOGIN)


async def expired_form(request: web.Request, fields: dict[str, str]) -> web.Response:
    """A stale account form: signed out, to the sign-in (as any action); else the page again, saying so."""
    if await signed_in(request) is None:
        return to_login()
    return await account(request).render(FORM_EXPIRED, 403)


def account_form(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Callable[[H], H]:
    """An action of the account page: its form is read and its token checked (form_checked), then the session
    (login_required); a stale form or a signed-out browser never reaches the handler."""

    def mark(handler: H) -> H:
        return form_checked(required, optional, expired=expired_form)(login_required(redirect=TO_LOGIN)(handler))

    return mark


@routes.get(ACCOUNT)
@scripted_page
@login_required(redirect=TO_LOGIN)
async def account_page(request: web.Request) -> web.Response:
    return await account(request).render()


@routes.post(f"{ACCOUNT}/email")
@scripted_page
@account_form(("email", "password"), ("code",))
async def set_email(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    email = fields["email"].strip()
    try:
        code = fields.get("code") or None
        await page.mfa.change_address(page.me, email, fields["password"], code, caller(request).client)
    except (FieldRefused, DuplicateEmail, TooManyRequests) as problem:
        return await page.refused(problem)
    return await page.done(gettext("A link to verify %(email)s is on its way to it.") % {"email": email})


@routes.post(f"{ACCOUNT}/email/resend")
@scripted_page
@account_form(())
async def resend_verification(request: web.Request) -> web.Response:
    page = account(request)
    sent = await page.mail.resend_verification(page.me.user)
    if sent is None:
        return await page.render(
            N_("A link went out a moment ago: please wait a few minutes before asking again."), 429
        )
    if not sent:
        return await page.render(N_("There is no address waiting to be verified."), 409)
    return await page.done(N_("A new link is on its way; the one before no longer works."))


@routes.post(f"{ACCOUNT}/password")
@scripted_page
@account_form(("currentPassword", "newPassword"), ("code",))
async def change_password(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    client = caller(request).client
    current, new = fields["currentPassword"], fields["newPassword"]
    try:
        await page.mfa.check_recent_proof(page.me, current, fields.get("code") or None, client)
        changed = await page.auth.change_password(page.me, current, new, client)
    except (FieldRefused, TooManyRequests) as problem:
        return await page.refused(problem)
    remember_device(request, changed)  # this browser proved the password: still a known device under the new generation
    return await page.done(N_("Password changed; every other session has ended."))


@routes.post(f"{ACCOUNT}/sessions/end")
@scripted_page
@account_form(("id",))
async def end_session(request: web.Request) -> web.StreamResponse:
    page, fields = account(request), form(request)
    if not await page.auth.revoke_session(page.me.user.id, fields["id"]):
        return await page.render(N_("That session has ended already."), 404)
    if fields["id"] == page.me.session.handle:  # this browser's own: signed out here
        await cookies.end_session(request)
        return _see_other("/login")
    return await page.done(N_("The session has ended."))


@routes.post(f"{ACCOUNT}/sessions/end-others")
@scripted_page
@account_form(())
async def end_other_sessions(request: web.Request) -> web.Response:
    page = account(request)
    count = await page.auth.revoke_other_sessions(page.me)
    return await page.done(N_("Every other session has ended.") if count else N_("There was no other session."))


@routes.post(f"{ACCOUNT}/recovery-codes")
@scripted_page
@account_form(("password",), ("code",))
async def regenerate_recovery_codes(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    client = caller(request).client
    try:
        codes = await page.mfa.regenerate_recovery_codes(
            page.me, fields["password"], fields.get("code") or None, client
        )
    except (FieldRefused, NotFound, TooManyRequests) as problem:
        return await page.refused(problem)
    return page.recovery_codes(codes, N_("New recovery codes: the old ones no longer work."))


@routes.post(f"{ACCOUNT}/recovery-codes.txt")
@portal_page
@account_form(("codes",))
async def download_recovery_codes(request: web.Request) -> web.StreamResponse:
    """The codes just shown, as a text file: posted back by the page's form (they are stored only hashed)."""
    page, fields = account(request), form(request)
    codes = fields["codes"].split()
    if not codes or len(codes) > 32 or not all(RECOVERY_CODE.fullmatch(code) for code in codes):
        raise FieldRefused(N_("These are not recovery codes."), {"codes": "are not recovery codes"})
    text = gettext("Recovery codes for %(username)s; each signs in once in place of a code.") % {
        "username": page.me.user.username
    }
    text += "\n\n"
    return web.Response(
        text=text + "\n".join(codes) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={
            hdrs.CONTENT_DISPOSITION: 'attachment; filename="recovery-codes.txt"',
            **NO_STORE,
        },
    )


@routes.post(f"{ACCOUNT}/delete")
@scripted_page
@account_form(("password",))
async def delete_account(request: web.Request) -> web.Response:
    page, fields = account(request), form(request)
    try:
        await page.auth.delete_account(page.me, fields["password"], caller(request).client)
    except (FieldRefused, TooManyRequests) as problem:
        return await page.refused(problem)
    await cookies.end_session(request)
    gone = N_("Your account and its sessions are gone.")
    return _render(request, "done.html", N_("Account deleted"), gone, success=True)
