"""The portal's pages for the mailed links: forgot password, reset password, verify an address, "this was not me".

A link in a mail only shows a page (GET changes nothing: mail scanners open links); its button posts the token.
"""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.config import Settings
from authsvc.errors import FieldRefused
from authsvc.mail.service import AccountMail
from authsvc.web.container import WebContainer
from authsvc.web.edge.forms import FormTokens, read_form
from authsvc.web.edge.i18n import N_, field_problem
from authsvc.web.pages.handlers import FORM_EXPIRED, _render, password_rules, portal_page

NOT_ME_DONE = N_(
    "Every session has ended; a link to choose a new password is on its way to the address this notice went to."
)
MAIL_TOKEN = web.RequestKey("mail_token", str)
FORGOT_SENT = N_("If the account has a verified email address, a link to reset the password is on its way to it.")


def setup_mail_pages(app: web.Application) -> None:
    app.router.add_get("/forgot", forgot_page)
    app.router.add_post("/forgot", forgot)
    app.router.add_get("/reset", reset_page)
    app.router.add_post("/reset", reset)
    app.router.add_get("/verify-email", verify_page)
    app.router.add_post("/verify-email", verify)
    app.router.add_get("/not-me", not_me_page)
    app.router.add_post("/not-me", not_me)


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
    tokens: FormTokens,
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
        tokens=tokens,
        action=f"/{page}",
        token=request.query.get("token", "") if request.method == "GET" else request.get(MAIL_TOKEN, ""),
        password=page == "reset",
        password_rules=rules,
        button=buttons[page],
        dead_link=DEAD_LINKS[page] if dead else None,
    )


@portal_page
@inject
async def forgot_page(request: web.Request, tokens: FormTokens = Provide[WebContainer.form_tokens]) -> web.Response:
    return _render(request, "forgot.html", N_("Forgot your password?"), tokens=tokens)


@portal_page
@inject
async def forgot(
    request: web.Request,
    mail: AccountMail = Provide[WebContainer.account_mail],
    tokens: FormTokens = Provide[WebContainer.form_tokens],
) -> web.Response:
    fields = await read_form(request, ("account", "csrf"))
    if not tokens.valid(request, fields["csrf"]):
        return _render(request, "forgot.html", N_("Forgot your password?"), FORM_EXPIRED, 403, tokens=tokens)
    await mail.forgot_any(fields["account"], request.remote)
    return _render(request, "done.html", N_("Check your mail"), FORGOT_SENT, success=True)


async def _token_action(request: web.Request, tokens: FormTokens, page: str, *extra: str) -> dict[str, str] | None:
    fields = await read_form(request, ("token", "csrf", *extra))
    request[MAIL_TOKEN] = fields["token"]
    return fields if tokens.valid(request, fields["csrf"]) else None


@portal_page
@inject
async def reset_page(
    request: web.Request,
    tokens: FormTokens = Provide[WebContainer.form_tokens],
    settings: Settings = Provide[WebContainer.settings],
) -> web.Response:
    return _token_form(request, tokens, "reset", rules=password_rules(settings))


@portal_page
@inject
async def reset(
    request: web.Request,
    mail: AccountMail = Provide[WebContainer.account_mail],
    tokens: FormTokens = Provide[WebContainer.form_tokens],
    settings: Settings = Provide[WebContainer.settings],
) -> web.Response:
    fields = await _token_action(request, tokens, "reset", "newPassword")
    rules = password_rules(settings)
    if fields is None:
        return _token_form(request, tokens, "reset", FORM_EXPIRED, 403, rules=rules)
    try:
        await mail.reset(fields["token"], fields["newPassword"], request.remote)
    except FieldRefused as refused:
        if "token" in refused.fields:
            return _token_form(request, tokens, "reset", refused.detail, 422, dead=True)
        problems = " ".join(map(field_problem, refused.fields.values()))
        return _token_form(request, tokens, "reset", problems, 422, rules=rules)
    message = N_("Every session has ended. Sign in with the new password.")
    return _render(request, "done.html", N_("Password changed"), message, success=True)


@portal_page
@inject
async def verify_page(request: web.Request, tokens: FormTokens = Provide[WebContainer.form_tokens]) -> web.Response:
    return _token_form(request, tokens, "verify-email")


@portal_page
@inject
async def verify(
    request: web.Request,
    mail: AccountMail = Provide[WebContainer.account_mail],
    tokens: FormTokens = Provide[WebContainer.form_tokens],
) -> web.Response:
    fields = await _token_action(request, tokens, "verify-email")
    if fields is None:
        return _token_form(request, tokens, "verify-email", FORM_EXPIRED, 403)
    try:
        await mail.verify_address(fields["token"])
    except FieldRefused as refused:
        return _token_form(request, tokens, "verify-email", refused.detail, 422, dead=True)
    verified = N_("Your email address is verified.")
    return _render(request, "done.html", N_("Address verified"), verified, success=True, to_account=True)


@portal_page
@inject
async def not_me_page(request: web.Request, tokens: FormTokens = Provide[WebContainer.form_tokens]) -> web.Response:
    return _token_form(request, tokens, "not-me")


@portal_page
@inject
async def not_me(
    request: web.Request,
    mail: AccountMail = Provide[WebContainer.account_mail],
    tokens: FormTokens = Provide[WebContainer.form_tokens],
) -> web.Response:
    fields = await _token_action(request, tokens, "not-me")
    if fields is None:
        return _token_form(request, tokens, "not-me", FORM_EXPIRED, 403)
    try:
        await mail.not_me(fields["token"])
    except FieldRefused as refused:
        return _token_form(request, tokens, "not-me", refused.detail, 422, dead=True)
    return _render(request, "done.html", N_("Sessions ended"), NOT_ME_DONE, success=True)
