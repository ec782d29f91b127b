"""The web's container: the HTTP edge's parts on top of the domain container's services.

As python-dependency-injector's decoupled-packages example gives each package its part of the container, the domain
container (authsvc/containers.py: settings -> storage -> services) knows nothing of HTTP, and this one adds what only
the web uses (the cookie facades, the form tokens, the session guard, the gateway check, a login's HTTP end) and wires
the handlers' Provide[...] markers. It extends the domain container, so one instance holds both.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from authsvc.config import Settings
from authsvc.containers import Container
from authsvc.web.edge.caller import Callers
from authsvc.web.edge.cookies import SessionCookies
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.forms import FormTokens
from authsvc.web.edge.gate import GatewayCheck
from authsvc.web.edge.guards import SessionGuard
from authsvc.web.edge.logins import LoginEdge
from authsvc.web.edge.pending_cookie import PasskeyChallengeCookie, PendingLoginCookie


class WebContainer(Container):
    wiring_config = containers.WiringConfiguration(
        modules=[
            "authsvc.web.api.users",
            "authsvc.web.api.auth",
            "authsvc.web.api.mfa",
            "authsvc.web.api.passkeys",
            "authsvc.web.api.ops.handlers",
            "authsvc.web.pages.handlers",
            "authsvc.web.api.mail",
            "authsvc.web.pages.mail",
            "authsvc.web.pages.step_up",
            "authsvc.web.pages.security",
            "authsvc.web.pages.account",
        ]
    )

    # Cookies: sealed with the session keys (rotation works)
    session_cookies = providers.Singleton(
        SessionCookies, keys=Container.session_keys, settings=Container.settings.provided.session
    )
    form_tokens = providers.Singleton(
        FormTokens, keys=Container.session_keys, settings=Container.settings.provided.session
    )
    device_cookies = providers.Singleton(
        DeviceCookies,
        keys=Container.session_keys,
        session=Container.settings.provided.session,
        throttle=Container.settings.provided.throttle,
    )
    pending_login_cookie = providers.Singleton(PendingLoginCookie, settings=Container.settings.provided.session)
    passkey_challenge_cookie = providers.Singleton(
        PasskeyChallengeCookie,
        settings=Container.settings.provided.session,
        lifetime=Container.settings.provided.webauthn.challenge_seconds,
    )
    # Who is calling, made once per request from the cookies (web/edge/caller.py)
    callers = providers.Singleton(Callers, cookies=session_cookies, devices=device_cookies)
    session_guard = providers.Singleton(SessionGuard, auth=Container.auth_service, cookies=session_cookies)
    # The gateway's check: the session guard and the access rules
    gateway_check = providers.Singleton(
        GatewayCheck,
        guard=session_guard,
        cookies=session_cookies,
        settings=Container.settings,
        rules=Container.access_rules,
        mail=Container.account_mail,
        metrics=Container.metrics,
    )
    # A login's HTTP end (the JSON routes and the portal's pages render the flow's outcome; this writes its cookies)
    login_edge = providers.Singleton(LoginEdge, pending=pending_login_cookie, challenge=passkey_challenge_cookie)


def create_container(settings: Settings) -> WebContainer:
    return WebContainer(settings=providers.Object(settings))
