"""Issue 30, item 5: what production (and `authsvc check-config --env production`) refuses, each refusal naming the
key and its limit, and what it still accepts at the limit (tests/e2e/test_findings_process.py runs a few through the
real command line)."""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet

from authsvc.config import ConfigError, load_settings, token_variety_problem

KEY = Fernet.generate_key().decode()


def production(**extra: str) -> dict[str, str]:
    return {
        "AUTHSVC__SESSION__KEYS": KEY,
        "AUTHSVC__INTROSPECTION__TOKENS": "billing:" + secrets.token_urlsafe(32),
        "AUTHSVC__LOGGING__AUDIT_KEY": secrets.token_urlsafe(32),
        "AUTHSVC__SERVER__PUBLIC_URL": "https://auth.example.com",
        **extra,
    }


def refusal(environ: dict[str, str], env: str | None = "production") -> str:
    with pytest.raises(ConfigError) as refused:
        load_settings(env=env, environ=environ)
    return str(refused.value)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AUTHSVC__SERVER__PUBLIC_URL": ""}, ["server.public_url", "https"]),
        ({"AUTHSVC__SERVER__PUBLIC_URL": "http://auth.example.com"}, ["server.public_url", "https"]),
        ({"AUTHSVC__SERVER__PUBLIC_URL": "http://localhost.example.com"}, ["server.public_url", "https"]),
        ({"AUTHSVC__SESSION__REMEMBER_ME_LIFETIME": "315360000"}, ["session.remember_me_lifetime", "2592000"]),
        ({"AUTHSVC__SESSION__REMEMBER_ME_LIFETIME": "2592001"}, ["session.remember_me_lifetime", "2592000"]),
        ({"AUTHSVC__PORTAL__ALLOWED_REDIRECT_DOMAINS": "[com]"}, ["portal.allowed_redirect_domains", "two labels"]),
        ({"AUTHSVC__PORTAL__ALLOWED_REDIRECT_DOMAINS": "[co.uk]"}, ["portal.allowed_redirect_domains", "co.uk"]),
        (
            {"AUTHSVC__PORTAL__ALLOWED_REDIRECT_DOMAINS": "[example.com, github.io]"},
            ["portal.allowed_redirect_domains: github.io"],
        ),
        (
            {"AUTHSVC__SESSION__HOST_PREFIX": "false", "AUTHSVC__SESSION__COOKIE_DOMAIN": "co.uk"},
            ["session.cookie_domain", "portal.allowed_redirect_domains: co.uk"],
        ),
        (
            {"AUTHSVC__MAIL__SMTP__STARTTLS": "false", "AUTHSVC__MAIL__SMTP__USERNAME": "mailer"},
            ["mail.smtp.username", "TLS", "mail.smtp.starttls"],
        ),
        (
            {"AUTHSVC__MAIL__SMTP__STARTTLS": "false", "AUTHSVC__MAIL__SMTP__PASSWORD": "secret"},
            ["mail.smtp.username", "TLS"],
        ),
        ({"AUTHSVC__MFA__RECENT_AUTH_SECONDS": "315360000"}, ["mfa.recent_auth_seconds", "86400"]),
        ({"AUTHSVC__MFA__RECENT_AUTH_SECONDS": "86401"}, ["mfa.recent_auth_seconds", "86400"]),
        (
            {"AUTHSVC__INTROSPECTION__TOKENS": "billing:" + "t" * 32},
            ["introspection.tokens", "billing", "1 distinct", "at least 8"],
        ),
        (
            {"AUTHSVC__INTROSPECTION__TOKENS": "billing:" + "password" * 4},
            ["introspection.tokens", "7 distinct", "80"],
        ),
        (
            {"AUTHSVC__INTROSPECTION__TOKENS": "billing:" + "abcdefgh" + "a" * 56},
            ["introspection.tokens", "8 distinct characters, about 52 bits"],
        ),
    ],
)
def test_production_refuses_naming_the_key_and_the_limit(environ: dict[str, str], named: list[str]) -> None:
    message = refusal(production(**environ))
    for text in named:
        assert text in message


def test_a_weak_service_token_is_never_quoted_in_the_refusal() -> None:
    message = refusal(production(AUTHSVC__INTROSPECTION__TOKENS="billing:" + "password" * 4))
    assert "password" not in message


@pytest.mark.parametrize(
    "environ",
    [
        {"AUTHSVC__SERVER__PUBLIC_URL": "https://auth.example.com/sso"},
        {"AUTHSVC__SERVER__PUBLIC_URL": "http://localhost:8000"},  # the compose demo: a secure context locally
        {"AUTHSVC__SESSION__REMEMBER_ME_LIFETIME": "2592000", "AUTHSVC__SESSION__ABSOLUTE_LIFETIME": "2592000"},
        {"AUTHSVC__PORTAL__ALLOWED_REDIRECT_DOMAINS": "[example.com, example.co.uk, apps.github.io]"},
        {"AUTHSVC__MAIL__SMTP__USERNAME": "mailer", "AUTHSVC__MAIL__SMTP__PASSWORD": "secret"},  # STARTTLS: on
        {
            "AUTHSVC__MAIL__SMTP__STARTTLS": "false",
            "AUTHSVC__MAIL__SMTP__TLS": "true",
            "AUTHSVC__MAIL__SMTP__USERNAME": "mailer",
        },
        {"AUTHSVC__MAIL__SMTP__STARTTLS": "false"},  # a relay that takes no credentials
        {"AUTHSVC__MFA__RECENT_AUTH_SECONDS": "86400"},
        {"AUTHSVC__INTROSPECTION__TOKENS": "billing:" + secrets.token_hex(16)},
        {"AUTHSVC__INTROSPECTION__TOKENS": "billing:" + Fernet.generate_key().decode()},  # what gen-key prints
        {"AUTHSVC__INTROSPECTION__TOKENS": "billing:" + "t" * 32, "AUTHSVC__INTROSPECTION__ENABLED": "false"},
    ],
)
def test_production_accepts_settings_at_the_limits(environ: dict[str, str]) -> None:
    load_settings(env="production", environ=production(**environ))


@pytest.mark.parametrize(
    "make",
    [
        lambda draw: draw.randbytes(16).hex(),  # openssl rand -hex 16
        lambda draw: base64.urlsafe_b64encode(draw.randbytes(24)).decode(),  # secrets.token_urlsafe(24)
        lambda draw: base64.urlsafe_b64encode(draw.randbytes(32)).decode(),  # authsvc gen-key
    ],
    ids=["hex-16-bytes", "urlsafe-24-bytes", "gen-key"],
)
def test_every_freshly_generated_token_passes_the_variety_check(make: Callable[[random.Random], str]) -> None:
    # 20,000 seeded draws each (no flake): 32 hex characters, the shortest, stays clear of both limits. Exactly, a
    # uniform 32-character hex token has fewer than 8 distinct characters with probability 3.5e-8.
    draw = random.Random(30)
    assert [token for token in (make(draw) for _ in range(20_000)) if token_variety_problem("svc", token)] == []


@pytest.mark.parametrize("env", [None, "staging"])
def test_a_gateway_listener_needs_public_url_in_every_environment(env: str | None) -> None:
    # Without it, forward-auth on the gateway port would send browsers to that listener, which has no /login.
    environ = {"AUTHSVC__SESSION__KEYS": KEY, "AUTHSVC__SERVER__GATEWAY_PORT": "9091"}
    if env == "staging":
        environ["AUTHSVC__MAIL__TRANSPORT"] = "log"
    assert "server.public_url: required with server.gateway_port" in refusal(environ, env)
    environ["AUTHSVC__SERVER__PUBLIC_URL"] = "http://127.0.0.1:8080"
    assert load_settings(env=env, environ=environ).server.public_url == "http://127.0.0.1:8080"


def test_mail_over_smtp_needs_public_url_in_every_environment() -> None:
    # Without it, mailed links were built from server.host and server.port: http://0.0.0.0:8080/reset?token=...
    environ = {"AUTHSVC__SESSION__KEYS": KEY}
    assert "server.public_url: required with mail.transport: smtp" in refusal(environ, "staging")
    assert "server.public_url: required with mail.transport: smtp" in refusal(
        {"AUTHSVC__MAIL__TRANSPORT": "smtp"}, None
    )
    assert load_settings(environ={}).server.public_url is None  # development, mail to the log: links on 127.0.0.1


def test_development_keeps_its_latitude_for_the_production_guards() -> None:
    settings = load_settings(
        environ={
            "AUTHSVC__SESSION__REMEMBER_ME_LIFETIME": "315360000",
            "AUTHSVC__PORTAL__ALLOWED_REDIRECT_DOMAINS": "[localhost]",
            "AUTHSVC__MFA__RECENT_AUTH_SECONDS": "315360000",
            "AUTHSVC__INTROSPECTION__TOKENS": "dev:" + "t" * 32,
        }
    )
    assert settings.portal.allowed_redirect_domains == ["localhost"]
