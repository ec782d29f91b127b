"""The portal's pages for the mailed links: forgot password, reset password, verify an address, "this was not me".

A link in a mail only shows a page (GET changes nothing: mail scanners open links); its button posts the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.errors import FieldRefused
from authsvc.mail.service import AccountMail
from authsvc.web.container import WebContainer
from authsvc.web.edge.forms import form, form_checked, form_tokens
from authsvc.web.edge.i18n import N_, field_problem
from authsvc.web.pages.handlers import FORM_EXPIRED, _render, current_settings, password_rules, portal_page

NOT_ME_DONE = N_(
    "Every session has ended; a link to choose a new password is on its way to the address this notice went to."
)
FORGOT_SENT = N_("If the account has a verified email address, a link to reset the password is on its way to it.")

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.Response]]


# A dead or used link's page offers the way to a new one instead of the form.
DEAD_LINKS = {
    "reset": {
        "text": N_("Reset links work once, for a limited time."),
        "href": "/forgot",
        "label": N_("Mail me a new link"),
    },
    "verify-email": {
        "text": N_("Verification links work once, for a limited time. Your account page sends a new one."),
        "href": "/account",
        "label": N_("Send a new link from my account"),
    },
    "not-me": {
        "text": N_("This link was used already or is too old. If someone else has your password, reset it now."),
        "href": "/forgot",
        "label": N_("Reset my password"),
    },
}


def _token_form(
    request: web.Request,
    page: str,
    message: str | None = None,
    status: int = 200,
    *,
    dead: bool = False,
    rules: str | None = None,
) -> web.Response:
    titles = {
        "reset": N_("Choose a new password"),
        "verify-email": N_("Verify your email address"),
        "not-me": N_("Not me"),
    }
    buttons = {"reset": N_("Set the password"), "verify-email": N_("Verify"), "not-me": N_("End every session")}
    return _render(
        request,
        "mail_link.html",
        titles[page],
        message,
        status,
        tokens=form_tokens(request),
        action=f"/{page}",
        token=request.query.get("token", "") if request.method == "GET" else form(request)["token"],
        password=page == "reset",
        password_rules=rules,
        button=buttons[page],
        dead_link=DEAD_LINKS[page] if dead else None,
    )


@routes.get("/forgot")
@portal_page
async def forgot_page(request: web.Request) -> web.Response:
    return _render(request, "forgot.html", N_("Forgot your password?"), tokens=form_tokens(request))


async def _forgot_expired(request: web.Request, fields: dict[str, str]) -> web.Response:
    title = N_("Forgot your password?")
    return _render(request, "forgot.html", title, FORM_EXPIRED, 403, tokens=form_tokens(request))


@routes.post("/forgot")
@portal_page
@form_checked(("account",), expired=_forgot_expired)
@inject
async def forgot(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    await mail.forgot_any(form(request)["account"], request.remote)
    return _render(request, "done.html", N_("Check your mail"), FORGOT_SENT, success=True)


def _rules() -> str:
    return password_rules(current_settings())


def token_form(page: str, *extra: str) -> Callable[[Handler], Handler]:
    """A mailed link's form: its token and fields read, the form token checked; a stale form shows the page again
    (with the link's token) saying so."""

    async def expired(request: web.Request, fields: dict[str, str]) -> web.Response:
        return _token_form(request, page, FORM_EXPIRED, 403, rules=_rules() if page == "reset" else None)

    return form_checked(("token", *extra), expired=expired)


@routes.get("/reset")
@portal_page
async def reset_page(request: web.Request) -> web.Response:
    return _token_form(request, "reset", rules=_rules())


@routes.post("/reset")
@portal_page
@token_form("reset", "newPassword")
@inject
async def reset(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    fields, rules = form(request), _rules()
    try:
        await mail.reset(fields["token"], fields["newPassword"], request.remote)
    except FieldRefused as refused:
        if "token" in refused.fields:
            return _token_form(request, "reset", refused.detail, 422, dead=True)
        problems = " ".join(map(field_problem, refused.fields.values()))
        return _token_form(request, "reset", problems, 422, rules=rules)
    message = N_("Every session has ended. Sign in with the new password.")
    return _render(request, "done.html", N_("Password changed"), message, success=True)


@routes.get("/verify-email")
@portal_page
async def verify_page(request: web.Request) -> web.Response:
    return _token_form(request, "verify-email")


@routes.post("/verify-email")
@portal_page
@token_form("verify-email")
@inject
async def verify(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    try:
        await mail.verify_address(form(request)["token"])
    except FieldRefused as refused:
        return _token_form(request, "verify-email", refused.detail, 422, dead=True)
    verified = N_("Your email address is verified.")
    return _render(request, "done.html", N_("Address verified"), verified, success=True, to_account=True)


@routes.get("/not-me")
@portal_page
async def not_me_page(request: web.Request) -> web.Response:
    return _token_form(request, "not-me")


@routes.post("/not-me")
@portal_page
@token_form("not-me")
@inject
async def not_me(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    try:
        await mail.not_me(form(request)["token"])
    except FieldRefused as refused:
        return _token_form(request, "not-me", refused.detail, 422, dead=True)
    return _render(request, "done.html", N_("Sessions ended"), NOT_ME_DONE, success=True)
