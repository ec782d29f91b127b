"""The login portal: server-rendered sign-in, sign-out and sign-up pages for browsers behind a gateway.

The pages post ordinary forms (the one script, passkeys.js, only runs the passkey buttons) and reuse what the JSON
routes use: the login flow and its HTTP end (web/edge/logins.py), so a portal login makes exactly the session cookie
POST /users/login makes. Errors on these routes are HTML pages, never problem+json; the pages carry their own
Content-Security-Policy (one stylesheet; script-src 'self' only on the pages with a passkey button).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from dependency_injector.wiring import Provide, inject

from authsvc.auth.factors import TOTP, WEBAUTHN
from authsvc.auth.service import AuthService
from authsvc.config import PortalSettings, Settings
from authsvc.errors import (
    DuplicateUsername,
    FieldRefused,
    Forbidden,
    NotFound,
    Problem,
    StorageUnavailable,
    TooManyRequests,
)
from authsvc.login.flow import LoginFlow
from authsvc.login.outcomes import (
    INVALID_CREDENTIALS,
    EmailNotVerified,
    InvalidCredentials,
    LoginRefused,
    SecondFactorNeeded,
    SignedIn,
    WrongCode,
)
from authsvc.login.strategies import CodeProof, PasswordProof
from authsvc.mail.models import DuplicateEmail
from authsvc.users.service import SIGNUP_CLOSED, UsersService
from authsvc.web.container import WebContainer
from authsvc.web.edge.caller import caller
from authsvc.web.edge.cookies import end_session
from authsvc.web.edge.forms import FormTokens, form, form_checked, form_tokens
from authsvc.web.edge.gate import STEP_UP_PATH, gate
from authsvc.web.edge.guards import current, login_required, signed_in, wraps
from authsvc.web.edge.i18n import N_, field_problem, gettext, language, localize, ngettext, reading, wait
from authsvc.web.edge.logins import LoginPages, login_edge
from authsvc.web.pages.redirects import normalize_origin, safe_redirect

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])

PORTAL_PAGE = "__authsvc_portal_page__"
SCRIPTED_PAGE = "__authsvc_scripted_page__"
STATIC = Path(__file__).resolve().parent / "static"
# The API's policy is default-src 'none'; a page needs its stylesheet, and nothing else: no script, no frames.
PAGE_POLICY = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
# The pages with a passkey button load the one same-origin script, passkeys.js; no inline script anywhere.
SCRIPTED_PAGE_POLICY = PAGE_POLICY.replace("script-src 'none'", "script-src 'self'")
STYLESHEET = web.AppKey("portal_stylesheet", bytes)
DEFAULT_PRIMARY = b"#1d4ed8"  # style.css's primary colour, replaced by portal.primary_color
FORM_EXPIRED = N_("The form expired or did not come from this page. Please try again.")
SIGNED_UP_NOT_IN = N_("Your account is ready, but signing you in failed for now. Please sign in in a moment.")
SIGNED_UP_VERIFY = N_("Your account is ready. Open the link we mailed to your address to verify it, then sign in.")
WRONG_CODE_AGAIN = N_("That code is not valid. Please try again.")
routes = web.RouteTableDef()


def portal_page(handler: H) -> H:
    """The route answers a browser: HTML errors and the pages' Content-Security-Policy."""
    setattr(handler, PORTAL_PAGE, True)
    return handler


def scripted_page(handler: H) -> H:
    """A portal page that loads passkeys.js: script-src 'self' for it alone."""
    setattr(handler, SCRIPTED_PAGE, True)
    return portal_page(handler)


def is_portal_page(handler: object) -> bool:
    return bool(getattr(handler, PORTAL_PAGE, False))


def _is_page(request: web.Request) -> bool:
    return is_portal_page(request.match_info.handler)


def setup_portal(app: web.Application, settings: PortalSettings) -> None:
    """The pages' templates, their gettext and the stylesheet in the portal's colour (the routes are `routes`)."""
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("authsvc.web.pages"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.filters["query_value"] = lambda value: quote(str(value), safe="")
    environment.globals.update(portal_title=settings.title, logo_url=settings.logo_url)
    app[STYLESHEET] = _static("style.css").replace(DEFAULT_PRIMARY, settings.primary_color.lower().encode("ascii"))


def page_errors_middleware() -> Middleware:
    """Inside the problem+json middleware: a portal route's error (CSRF refusal, bad form, outage) becomes a page."""

    @web.middleware
    async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _is_page(request):
            return await handler(request)
        with reading(language(request)):  # what the handler says, it says in the reader's language
            try:
                return await handler(request)
            except Problem as problem:
                return _render(request, "error.html", problem.title, problem.detail, problem.status, problem.headers)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                return _render(request, "error.html", exc.reason, None, exc.status)

    return page_errors


def page_headers_middleware() -> Middleware:
    """Outside the edge middleware, which gives every answer the API's headers: the pages' own policy."""

    @web.middleware
    async def page_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if _is_page(request):
            scripted = getattr(request.match_info.handler, SCRIPTED_PAGE, False)
            response.headers[hdrs.CONTENT_SECURITY_POLICY] = SCRIPTED_PAGE_POLICY if scripted else PAGE_POLICY
            # The API sends no Referer at all; a page's form POST must keep its Origin (no-referrer makes it null).
            response.headers[hdrs.REFERRER_POLICY] = "same-origin"
            if response.content_type in ("text/css", "text/javascript"):
                response.headers[hdrs.CACHE_CONTROL] = "public, max-age=3600"
        return response

    return page_headers


def _render(
    request: web.Request,
    template: str,
    title: str,
    message: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    tokens: FormTokens | None = None,
    success: bool = False,
    **context: Any,
) -> web.Response:
    """A page; its message says what went wrong, or with success=True what went right (each styled its own way)."""
    response = web.Response(status=status, headers=headers, content_type="text/html", charset="utf-8")
    if tokens is not None:
        context["csrf"] = tokens.token(request, response)
    lang = language(request)
    with reading(lang):  # the title and message as the catalogue has them (a service's text included)
        context.update(title=localize(title), message=localize(message) if message else message, success=success)
        response.text = aiohttp_jinja2.render_string(template, request, {**context, "lang": lang})
    response.headers[hdrs.CONTENT_LANGUAGE] = lang
    response.headers[hdrs.VARY] = "Accept-Language"
    return response


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={hdrs.LOCATION: location})


def _allowed(request: web.Request, settings: Settings, rd: str | None) -> str | None:
    own = {normalize_origin(f"{request.scheme}://{request.host}")}
    if settings.server.public_url:
        own.add(normalize_origin(settings.server.public_url))
    return safe_redirect(
        rd,
        own_origins=own,
        allowed_domains=settings.portal.allowed_redirect_domains,
        https_only=settings.env != "development",
    )


@inject
def current_settings(settings: Settings = Provide[WebContainer.settings]) -> Settings:
    """The settings the pages read (the redirect rules, the portal's and the sign-up's), injected here once."""
    return settings


def login_pages(request: web.Request) -> LoginPages:
    """What the sign-in pages render with: the login's edge, and the form tokens and settings every page uses."""
    return LoginPages(login_edge(request), form_tokens(request), current_settings())


def password_rules(settings: Settings) -> str:
    """The hint under a new password's field, in the reader's language."""
    return gettext("At least %(min)s characters; not a common password.") % {"min": settings.passwords.min_length}


class LoginForm:
    """The sign-in page, with what it needs from the settings."""

    def __init__(self, request: web.Request, settings: Settings, tokens: FormTokens) -> None:
        self.request, self.settings, self.tokens = request, settings, tokens

    def render(
        self,
        rd: str | None,
        message: str | None = None,
        status: int = 200,
        username: str = "",
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        return _render(
            self.request,
            "login.html",
            N_("Sign in"),
            message,
            status,
            headers,
            tokens=self.tokens,
            rd=(allowed := _allowed(self.request, self.settings, rd)),
            next=allowed or self.settings.portal.default_redirect,
            username=username,
            remember_me=self.settings.session.remember_me_lifetime > 0,
            self_signup=self.settings.users.self_signup,
        )


@routes.get("/login")
@scripted_page
async def login_page(request: web.Request) -> web.Response:
    settings, rd, tokens = current_settings(), request.query.get("rd"), form_tokens(request)
    authenticated = await signed_in(request)
    continue_to = _allowed(request, settings, rd)
    if authenticated is not None and gate(request).needs_step_up(request, authenticated, continue_to):
        return _see_other(f"{STEP_UP_PATH}?rd={quote(continue_to or '', safe='')}")
    if authenticated is not None and continue_to is None:
        return _see_other("/account")  # signed in already, nowhere to return to: the account page, not a dead end
    if authenticated is not None:
        return _render(
            request,
            "signed_in.html",
            N_("Signed in"),
            tokens=tokens,
            username=authenticated.user.username,
            continue_to=continue_to,
        )
    return LoginForm(request, settings, tokens).render(rd)


async def _answer(
    request: web.Request, pages: LoginPages, rd: str | None, outcome: SignedIn | SecondFactorNeeded
) -> web.StreamResponse:
    """A login's outcome as the portal shows it: signed in, on to rd (or the default); else the second step's page."""
    if isinstance(outcome, SecondFactorNeeded):
        return await pages.login.answer(request, _code_page(request, pages, rd, outcome.methods), outcome)
    landing = _see_other(_allowed(request, pages.settings, rd) or pages.settings.portal.default_redirect)
    return await pages.login.answer(request, landing, outcome)


def _throttled(throttled: TooManyRequests) -> str:
    return gettext("Too many failed sign-ins. Try again in %(wait)s.") % {"wait": wait(throttled.retry_after)}


async def _login_expired(request: web.Request, fields: dict[str, str]) -> web.Response:
    pages = login_pages(request)
    return LoginForm(request, pages.settings, pages.tokens).render(fields.get("rd"), FORM_EXPIRED, 403)


@routes.post("/login")
@scripted_page
@form_checked(("username", "password"), ("rd", "remember"), expired=_login_expired)
@inject
async def login(request: web.Request, flow: LoginFlow = Provide[WebContainer.login_flow]) -> web.StreamResponse:
    pages, fields = login_pages(request), form(request)
    rd, form_page, edge = fields.get("rd"), LoginForm(request, pages.settings, pages.tokens), pages.login
    proof, remember = PasswordProof(fields["username"], fields["password"]), fields.get("remember") == "on"
    try:
        outcome = await flow.login(proof, edge.client(request), edge.previous_id(request), remember=remember)
    except EmailNotVerified as unverified:
        return form_page.render(rd, unverified.detail, 403, fields["username"])
    except InvalidCredentials:
        return form_page.render(rd, INVALID_CREDENTIALS, 401, fields["username"])
    except TooManyRequests as throttled:
        return form_page.render(rd, _throttled(throttled), 429, fields["username"], throttled.headers)
    return await _answer(request, pages, rd, outcome)


def _code_page(
    request: web.Request,
    pages: LoginPages,
    rd: str | None,
    methods: list[str],
    message: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The second step of a sign-in: the code form, and the passkey button when the user has a passkey."""
    rd = _allowed(request, pages.settings, rd)
    return _render(
        request,
        "login_code.html",
        N_("Second factor"),
        message,
        status,
        headers,
        tokens=pages.tokens,
        rd=rd,
        totp=TOTP in methods,
        passkey=WEBAUTHN in methods,
        next=rd or pages.settings.portal.default_redirect,
    )


@inject
async def _code_expired(
    request: web.Request, fields: dict[str, str], flow: LoginFlow = Provide[WebContainer.login_flow]
) -> web.Response:
    pages = login_pages(request)
    methods = await flow.pending_methods(pages.login.pending(request))
    return _code_page(request, pages, fields.get("rd"), methods, FORM_EXPIRED, 403)


@routes.post("/login/mfa")
@scripted_page
@form_checked(("code",), ("rd",), expired=_code_expired)
@inject
async def login_code(request: web.Request, flow: LoginFlow = Provide[WebContainer.login_flow]) -> web.StreamResponse:
    pages, fields = login_pages(request), form(request)
    rd, edge = fields.get("rd"), pages.login
    methods = await flow.pending_methods(edge.pending(request))
    proof, client = CodeProof(fields["code"]), edge.client(request)
    try:
        outcome = await flow.second_step(edge.pending(request), proof, client, edge.previous_id(request))
    except EmailNotVerified as unverified:
        response = LoginForm(request, pages.settings, pages.tokens).render(rd, unverified.detail, 403)
        edge.clear_pending(response)
        return response
    except TooManyRequests as throttled:
        return _code_page(request, pages, rd, methods, _throttled(throttled), 429, throttled.headers)
    except WrongCode:
        return _code_page(request, pages, rd, methods, WRONG_CODE_AGAIN, 401)
    except LoginRefused:  # no waiting login (expired, used, out of tries), or revoked since the password
        expired = N_("Your sign-in expired. Please sign in again.")
        return LoginForm(request, pages.settings, pages.tokens).render(rd, expired, 401)
    return await _answer(request, pages, rd, outcome)


@routes.get("/logout")
@portal_page
@login_required(redirect="/login")
async def logout_page(request: web.Request) -> web.Response:
    username = current(request).user.username
    return _render(request, "logout.html", N_("Sign out"), tokens=form_tokens(request), username=username)


async def _logout_expired(request: web.Request, fields: dict[str, str]) -> web.Response:
    tokens = form_tokens(request)
    return _render(request, "logout.html", N_("Sign out"), FORM_EXPIRED, 403, tokens=tokens, username=None)


@routes.post("/logout")
@portal_page
@form_checked((), expired=_logout_expired)
@inject
async def logout(request: web.Request, auth: AuthService = Provide[WebContainer.auth_service]) -> web.Response:
    for ids in caller(request).sessions:  # as the JSON logout: a planted second cookie ends with the real one
        await auth.logout(ids.session_id)
    await end_session(request)
    return _see_other("/login")


class SignupForm:
    def __init__(self, request: web.Request, settings: Settings, tokens: FormTokens) -> None:
        self.request, self.settings, self.tokens = request, settings, tokens

    def render(
        self,
        rd: str | None,
        message: str | None = None,
        status: int = 200,
        username: str = "",
        problems: dict[str, str] | None = None,
        email: str = "",
    ) -> web.Response:
        users = self.settings.users
        return _render(
            self.request,
            "signup.html",
            N_("Create an account"),
            message,
            status,
            tokens=self.tokens,
            rd=_allowed(self.request, self.settings, rd),
            username=username,
            email=email,
            email_required=users.require_verified_email,
            problems={name: field_problem(why) for name, why in (problems or {}).items()},
            username_lengths={"min": users.username_min_length, "max": users.username_max_length},
            password_rules=password_rules(self.settings),
        )


def signup_open(handler: H) -> H:
    """The route answers 403 while users.self_signup is off, before it reads anything."""

    async def open_only(request: web.Request) -> web.StreamResponse:
        if not current_settings().users.self_signup:
            raise Forbidden(SIGNUP_CLOSED)
        return await handler(request)

    return wraps(open_only, handler)


@routes.get("/signup")
@portal_page
@signup_open
async def signup_page(request: web.Request) -> web.Response:
    return SignupForm(request, current_settings(), form_tokens(request)).render(request.query.get("rd"))


async def _signup_expired(request: web.Request, fields: dict[str, str]) -> web.Response:
    email = fields.get("email", "").strip()
    signup_form = SignupForm(request, current_settings(), form_tokens(request))
    return signup_form.render(fields.get("rd"), FORM_EXPIRED, 403, fields["username"], email=email)


@routes.post("/signup")
@portal_page
@signup_open
@form_checked(("username", "password"), ("rd", "email"), expired=_signup_expired)
@inject
async def signup(
    request: web.Request,
    users: UsersService = Provide[WebContainer.users_service],
    flow: LoginFlow = Provide[WebContainer.login_flow],
) -> web.StreamResponse:
    pages = login_pages(request)
    settings, tokens, fields = pages.settings, pages.tokens, form(request)
    rd, form_page = fields.get("rd"), SignupForm(request, settings, tokens)
    username, email = fields["username"], fields.get("email", "").strip()
    try:
        if not email and settings.users.require_verified_email:
            raise FieldRefused(
                N_("An email address is required."), {"email": N_("Enter the address we may mail a link to.")}
            )
        user = await users.signup(username, fields["password"], request.remote, email=email or None)
    except FieldRefused as refused:
        return form_page.render(rd, N_("Please fix the fields below."), 422, username, refused.fields, email)
    except (DuplicateUsername, DuplicateEmail) as taken:
        return form_page.render(rd, taken.detail, 409, username, email=email)
    # Signed up: signed in, through the same flow as a login (so users.require_verified_email holds here too).
    edge = pages.login
    try:
        proof = PasswordProof(user.username, fields["password"])
        outcome = await flow.login(proof, edge.client(request), edge.previous_id(request))
    except EmailNotVerified:  # the account waits for the mailed link
        return _render(request, "done.html", N_("Check your mail"), SIGNED_UP_VERIFY, 202, success=True)
    except StorageUnavailable:  # the account is made (201): only signing in failed, and the page says so
        return LoginForm(request, settings, tokens).render(rd, SIGNED_UP_NOT_IN, 201, user.username)
    return await _answer(request, pages, rd, outcome)


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    """authsvc's own origin has no home page: a browser goes to the account page (the sign-in when signed out)."""
    if "text/html" in request.headers.get(hdrs.ACCEPT, ""):
        return _see_other("/account")
    raise NotFound("No such route.")


@routes.get("/portal/style.css")
@portal_page
async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(body=request.app[STYLESHEET], content_type="text/css", charset="utf-8")


@routes.get("/portal/static/passkeys.js")
@portal_page
async def passkeys_script(request: web.Request) -> web.Response:
    return web.Response(body=_static("passkeys.js"), content_type="text/javascript", charset="utf-8")


@cache
def _static(name: str) -> bytes:
    return (STATIC / name).read_bytes()
