"""Configuration: layers merge in order, the schema names the key at fault, production refuses unsafe settings."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from authsvc.config import ConfigError, load_settings

KEY = Fernet.generate_key().decode()
TOKENS = "billing:" + secrets.token_urlsafe(32)
PUBLIC_URL = "https://auth.example.com"
AUDIT_KEY = secrets.token_urlsafe(32)


def test_defaults_are_development_on_memory() -> None:
    settings = load_settings(environ={})
    assert settings.env == "development" and settings.storage.backend == "memory"
    assert settings.session.secure is False  # auto: off only in development
    assert settings.passwords.bcrypt_cost == 12 and settings.server.max_body_bytes == 65536


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "text"),  # auto: a terminal's format in development
        (
            {
                "AUTHSVC_ENV": "staging",
                "AUTHSVC__STORAGE__BACKEND": "memory",
                "AUTHSVC__SERVER__PUBLIC_URL": PUBLIC_URL,
            },
            "json",
        ),
        ({"AUTHSVC__SERVER__LOG_FORMAT": "json"}, "json"),
    ],
)
def test_log_format_auto_is_text_only_in_development(environ: dict[str, str], expected: str) -> None:
    assert load_settings(environ=environ).server.log_format == expected


def test_log_format_names_the_key_when_unknown() -> None:
    with pytest.raises(ConfigError, match=r"server\.log_format"):
        load_settings(environ={"AUTHSVC__SERVER__LOG_FORMAT": "xml"})


def test_throttle_defaults_are_the_documented_model() -> None:
    throttle = load_settings(environ={}).throttle
    assert (throttle.client_max_failures, throttle.backoff_base, throttle.backoff_max) == (10, 1, 900)
    assert (throttle.ipv6_prefix, throttle.account_max_failures, throttle.account_window) == (64, 100, 3600)
    assert (throttle.address_free_names, throttle.address_window) == (50, 900)


def test_env_variable_overrides_one_key() -> None:
    settings = load_settings(environ={"AUTHSVC__SESSION__IDLE_TIMEOUT": "900", "AUTHSVC__SERVER__ACCESS_LOG": "false"})
    assert settings.session.idle_timeout == 900 and settings.server.access_log is False


def test_interpolated_secrets_come_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSVC_SESSION_KEY", f"{KEY}, {KEY}")  # ${AUTHSVC_SESSION_KEY:} in config.yaml
    assert load_settings(environ={}).session.keys == [KEY, KEY]


def test_config_file_merges_over_defaults(tmp_path: Path) -> None:
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("session:\n  cookie_name: app_session\n")
    settings = load_settings(overlay, environ={})
    assert settings.session.cookie_name == "app_session" and settings.session.idle_timeout == 1800


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AUTHSVC__SESSION__IDLE_TIMEOUT": "-5"}, "session.idle_timeout"),
        ({"AUTHSVC__STORAGE__BACKEND": "redis"}, "storage.backend"),
        ({"AUTHSVC__SESSION__UNKNOWN": "1"}, "session.unknown"),
        ({"AUTHSVC__THROTTLE__ACCOUNT_MAX_FAILURES": "500"}, "throttle.account_max_failures"),
        ({"AUTHSVC__THROTTLE__ACCOUNT_MAX_FAILURES": "101"}, "throttle.account_max_failures"),  # NIST: at most 100
        ({"AUTHSVC__THROTTLE__CLIENT_MAX_FAILURES": "11"}, "throttle.client_max_failures"),
        ({"AUTHSVC__THROTTLE__DEVICE_COOKIE_NAME": "sid"}, "throttle.device_cookie_name"),
        ({"AUTHSVC__THROTTLE__IP_MAX_FAILURES": "10"}, "throttle.ip_max_failures"),  # the old model's key is gone
        ({"AUTHSVC__THROTTLE__SIGNUP_MAX_PER_ADDRESS": "20"}, "throttle.signup_max_per_address"),  # now a bucket
        ({"AUTHSVC__THROTTLE__SIGNUP_WINDOW": "600"}, "throttle.signup_window"),
        ({"AUTHSVC__THROTTLE__SIGNUP_REFILL_SECONDS": "0"}, "throttle.signup_refill_seconds"),
        ({"AUTHSVC__THROTTLE__RESET_MAILS_PER_DAY": "0"}, "throttle.reset_mails_per_day"),
        ({"AUTHSVC__WEBAUTHN__PASSWORDLESS_MAX_CHALLENGES": "0"}, "webauthn.passwordless_max_challenges"),
        ({"AUTHSVC__PASSWORDS__HASH_QUEUE": "-1"}, "passwords.hash_queue"),
        ({"AUTHSVC__SESSION__ABSOLUTE_LIFETIME": "60"}, "session.absolute_lifetime"),
        ({"AUTHSVC__INTROSPECTION__TOKENS": "nameonly"}, "introspection.tokens"),
        ({"AUTHSVC__INTROSPECTION__TOKENS": "svc:short"}, "introspection.tokens"),
    ],
)
def test_invalid_setting_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings(environ=environ)


def production(**extra: str) -> dict[str, str]:
    return {
        "AUTHSVC__SESSION__KEYS": KEY,
        "AUTHSVC__INTROSPECTION__TOKENS": TOKENS,
        "AUTHSVC__LOGGING__AUDIT_KEY": AUDIT_KEY,
        "AUTHSVC__SERVER__PUBLIC_URL": PUBLIC_URL,
        **extra,
    }


def test_production_overlay_is_safe_and_starts_with_secrets() -> None:
    settings = load_settings(env="production", environ=production())
    assert settings.session.secure is True and settings.session.host_prefix is True
    assert settings.storage.backend == "mongodb"


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"AUTHSVC__SESSION__KEYS": ""}, "session.keys"),
        ({"AUTHSVC__SESSION__SECURE": "false", "AUTHSVC__SESSION__HOST_PREFIX": "false"}, "session.secure"),
        ({"AUTHSVC__STORAGE__BACKEND": "memory"}, "storage.backend"),
        ({"AUTHSVC__INTROSPECTION__TOKENS": ""}, "introspection.tokens"),
        ({"AUTHSVC__MAIL__TRANSPORT": "log"}, "mail.transport"),
    ],
)
def test_production_refuses_unsafe_setting(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(env="production", environ=production(**environ))


def test_production_allows_disabled_introspection_without_tokens() -> None:
    environ = production(AUTHSVC__INTROSPECTION__TOKENS="", AUTHSVC__INTROSPECTION__ENABLED="false")
    assert load_settings(env="production", environ=environ).introspection.enabled is False


def test_production_allows_the_tutorial_compatible_migration_mode() -> None:
    assert load_settings(env="production", environ=production()).passwords.tutorial_compatible is False
    environ = production(AUTHSVC__PASSWORDS__TUTORIAL_COMPATIBLE="true")
    assert load_settings(env="production", environ=environ).passwords.tutorial_compatible is True


def test_unreadable_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path / "missing.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("session: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, environ={})


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"session": {"cookie_domain": "example.com", "host_prefix": True, "secure": True}}, "session.cookie_domain"),
        ({"session": {"cookie_domain": "not a domain"}}, "session.cookie_domain"),
        ({"session": {"remember_me_lifetime": 60}}, "session.remember_me_lifetime"),
        ({"server": {"public_url": "javascript:alert(1)"}}, "server.public_url"),
        ({"server": {"public_url": "https://user@auth.example.com"}}, "server.public_url"),
        ({"portal": {"default_redirect": "//evil.example"}}, "portal.default_redirect"),
        ({"portal": {"default_redirect": "javascript:alert(1)"}}, "portal.default_redirect"),
        ({"portal": {"allowed_redirect_domains": ["evil.example/"]}}, "portal.allowed_redirect_domains"),
        ({"portal": {"logo_url": "https://cdn.example/logo.svg"}}, "portal.logo_url"),
        ({"portal": {"logo_url": "//cdn.example/logo.svg"}}, "portal.logo_url"),
        ({"portal": {"logo_url": '/logo.svg" onerror="x'}}, "portal.logo_url"),
        ({"portal": {"primary_color": "red; background: url(x)"}}, "portal.primary_color"),
        ({"portal": {"title": ""}}, "portal.title"),
    ],
)
def test_portal_settings_are_checked(overrides: dict[str, dict[str, object]], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(environ={}, overrides=overrides)


def test_redirect_allowlist_follows_the_cookie_domain_unless_set() -> None:
    shared = load_settings(environ={}, overrides={"session": {"cookie_domain": ".Example.com"}})
    assert shared.session.cookie_domain == "example.com"
    assert shared.portal.allowed_redirect_domains == ["example.com"]
    own = {"session": {"cookie_domain": "example.com"}, "portal": {"allowed_redirect_domains": ["apps.example.com"]}}
    assert load_settings(environ={}, overrides=own).portal.allowed_redirect_domains == ["apps.example.com"]
    defaults = load_settings(environ={})
    assert defaults.session.cookie_domain is None and defaults.server.public_url is None
    assert defaults.users.self_signup is True and defaults.portal.default_redirect == "/account"


def test_production_refuses_plain_http_passkey_origins_except_localhost() -> None:
    with pytest.raises(
        ConfigError, match=r"webauthn\.origins: production needs https origins, not http://a\.localhost"
    ):
        load_settings(env="production", environ=production(AUTHSVC__WEBAUTHN__ORIGINS='["http://a.localhost"]'))
    environ = production(
        AUTHSVC__WEBAUTHN__RP_ID="example.com", AUTHSVC__WEBAUTHN__ORIGINS='["https://auth.example.com"]'
    )
    assert load_settings(env="production", environ=environ).webauthn.origins == ["https://auth.example.com"]


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"AUTHSVC__WEBAUTHN__RP_ID": "127.0.0.1"}, "webauthn.rp_id"),
        ({"AUTHSVC__WEBAUTHN__ORIGINS": '["https://evil.example"]'}, "is not localhost or one of its subdomains"),
        ({"AUTHSVC__WEBAUTHN__ORIGINS": '["http://localhost:8080/login"]'}, "without a path"),
        ({"AUTHSVC__WEBAUTHN__ORIGINS": "[]"}, "webauthn.origins"),
    ],
)
def test_passkey_settings_name_what_is_wrong(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_settings(environ=environ)


def test_drain_is_off_in_development_and_a_few_seconds_behind_a_gateway() -> None:
    assert load_settings(environ={}).server.drain_seconds == 0
    assert load_settings(env="staging", environ=production()).server.drain_seconds == 5
    assert load_settings(env="production", environ=production()).server.drain_seconds == 5


def test_layers_win_in_order_config_yaml_overlay_file_environment_overrides(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("server:\n  drain_seconds: 7\nsession:\n  cookie_name: from_file\n")
    environ = {"AUTHSVC__SESSION__COOKIE_NAME": "from_env", "AUTHSVC__STORAGE__BACKEND": "memory", **production()}
    layered = load_settings(mine, env="staging", environ=environ, overrides={"session": {"cookie_name": "mine"}})
    assert (layered.env, layered.server.drain_seconds, layered.session.cookie_name) == ("staging", 7, "mine")
    assert load_settings(mine, env="staging", environ=environ).session.cookie_name == "from_env"
    staging = load_settings(env="staging", environ=environ)
    assert (staging.server.drain_seconds, staging.session.host_prefix) == (5, True)  # the overlay over config.yaml
