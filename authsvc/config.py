"""The settings' schema: load config.yaml + overlay + environment, validate, fail fast naming the key."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from dependency_injector import providers
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "AUTHSVC__"
DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# What production refuses below (finding 5 of issue 10): each limit is named in the refusal.
PROXY_PREFIX_MIN = {4: 8, 6: 32}
BCRYPT_COST_MIN = 10
PASSWORD_MIN_LENGTH = 8
IDLE_TIMEOUT_MAX = 24 * 3600
ABSOLUTE_LIFETIME_MAX = 30 * 24 * 3600
LOCAL_ORIGIN = re.compile(r"http://localhost(:[0-9]{1,5})?")
RECENT_AUTH_MAX = 24 * 3600
# A service token's variety (issue 30): 32 characters of one kind passed the length check. A fresh
# `openssl rand -hex 16` clears both limits (over 200,000 draws at least 8 distinct and 88 bits; fewer than 8
# distinct with probability 3.5e-8); "password" four times does not (7 distinct).
TOKEN_DISTINCT_MIN, TOKEN_BITS_MIN = 8, 80
# Registrable names under which any customer may own a sibling (a small built-in list, not the whole Public Suffix
# List): a redirect allowlist entry or cookie domain equal to one of these would trust strangers' sites.
PUBLIC_SUFFIXES = frozenset(
    """
    co.uk org.uk me.uk ltd.uk plc.uk net.uk ac.uk gov.uk sch.uk com.au net.au org.au edu.au gov.au co.nz net.nz
    org.nz co.jp ne.jp or.jp ac.jp go.jp co.kr or.kr com.br net.br org.br com.cn net.cn org.cn com.tw com.hk com.sg
    com.mx com.ar co.in net.in org.in co.za com.tr co.il com.pl co.id com.my com.ph com.vn com.ua eu.org github.io
    gitlab.io herokuapp.com appspot.com azurewebsites.net cloudfront.net amazonaws.com netlify.app vercel.app
    pages.dev workers.dev blogspot.com firebaseapp.com web.app fly.dev onrender.com
    """.split()  # noqa: SIM905 (a list to read, not to format)
)


def token_variety(token: str) -> tuple[int, float]:
    """A token's distinct characters and estimated bits: its length times the Shannon entropy of its own characters'
    frequencies."""
    return len(set(token)), -sum(n * math.log2(n / len(token)) for n in Counter(token).values())


def token_variety_problem(name: str, token: str, key: str = "introspection.tokens") -> str | None:
    """Why production refuses this service token, naming the service (never the token), or None."""
    return variety_problem(name, *token_variety(token), key)


def variety_problem(name: str, distinct: int, bits: float, key: str) -> str | None:
    """Why production refuses a token of this variety, naming its holder, or None."""
    if distinct >= TOKEN_DISTINCT_MIN and bits >= TOKEN_BITS_MIN:
        return None
    return (
        f"{key}: the token of {name} has too little variety ({distinct} distinct characters, about "
        f"{bits:.0f} bits; production needs at least {TOKEN_DISTINCT_MIN} and {TOKEN_BITS_MIN}): make one with "
        "`authsvc gen-key`"
    )


def shared_suffix(domain: str) -> bool:
    """A single label (com) or a public suffix (co.uk): a name many strangers' sites live under."""
    return "." not in domain or domain in PUBLIC_SUFFIXES


class ConfigError(Exception):
    """The configuration cannot be used; the message names every key at fault."""


class Section(BaseModel):
    # Defaults are validated too, so a float setting's default 1 is 1.0 as if config.yaml had set it.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ServerSettings(Section):
    host: str = Field(default="127.0.0.1", description="the address to listen on (`--host` overrides)")
    port: int = Field(default=8080, ge=0, le=65535, description="the port to listen on (`--port` overrides)")
    max_body_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024, description="larger bodies answer 413")
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(
        default=[],
        description="CIDRs whose X-Forwarded-For/-Proto are believed (feeds logs, throttling, Secure detection)",
    )
    trusted_proxies_any: bool = Field(
        default=False, description="allow a trusted network wider than /8 (IPv4) or /32 (IPv6) in production"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve `/metrics` on this port (of `server.host`) instead of the main one",
    )
    gateway_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description=(
            "also answer `/auth/verify`, `/auth/forward-auth` and `/healthz` on this port (of `server.host`),"
            " from a listener below aiohttp (an `asyncio.Protocol` over httptools; the same answers byte for "
            "byte, keep-alive and pipelining, no request bodies, heads over 8190 bytes a line, 100 headers or"
            " 32 KiB refused with 400; idle connections closed after 75 s, a head not complete after 10 s): "
            "point the gateway's auth request here"
        ),
    )
    access_log: bool = Field(default=True, description="one log line per request")
    access_log_verify: bool = Field(
        default=False,
        description="also for `/auth/verify` (the gateway calls it for every request and logs those itself)",
    )
    drain_seconds: float = Field(
        default=0,
        ge=0,
        le=300,
        description=(
            'seconds authsvc keeps serving after SIGTERM (`/readyz` 503 "draining", `Connection: close` on '
            "every answer) before it stops accepting; production and staging set 5"
        ),
    )
    shutdown_timeout: float = Field(default=10, ge=0, description="seconds in-flight requests get after the drain")
    workers: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] = Field(
        default=1,
        description=(
            "processes serving the same ports (SO_REUSEPORT), or `auto`: one per CPU authsvc may run on "
            "(production sets `auto`); more than 1 needs the MongoDB backend. Each worker has its own "
            "counters: with `server.metrics_port` set, worker *i* serves `/metrics` on `metrics_port + i`, so"
            " scrape each (one target per worker); `serve --workers` overrides it"
        ),
    )
    log_format: Literal["text", "json", "auto"] = Field(
        default="auto",
        description=(
            "`json` (one object a line) or `text` (for a terminal, same fields); auto = text in development, "
            "json otherwise"
        ),
    )
    public_url: str | None = Field(
        default="",
        description=(
            "the URL browsers reach authsvc at (`/auth/forward-auth` redirects to its `/login`; mailed links "
            "start with it); empty: each request's own origin. Required with `server.gateway_port` or "
            "`mail.transport: smtp`; https in production"
        ),
    )

    @model_validator(mode="after")
    def _distinct_ports(self) -> ServerSettings:
        ports = [p for p in (self.port, self.metrics_port, self.gateway_port) if p]  # 0: any free port
        if len(ports) != len(set(ports)):
            raise ValueError("port, metrics_port and gateway_port must differ")
        return self

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: Any) -> Any:
        if not value:
            return None
        url = str(value).rstrip("/")
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", url):
            raise ValueError("must be an http(s) URL such as https://auth.example.com, without query or user info")
        return url


class SessionSettings(Section):
    keys: list[str] = Field(
        default=[],
        description="Fernet keys, comma separated, first encrypts; `authsvc gen-key` makes one",
        json_schema_extra={"env": "AUTHSVC_SESSION_KEY"},
    )
    key_file: str | None = Field(
        default=None,
        description="or a file with one key per line",
        json_schema_extra={"env": "AUTHSVC_SESSION_KEY_FILE"},
    )
    cookie_name: str = Field(default="sid", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a generic name")
    host_prefix: bool = Field(default=False, description="name the cookie `__Host-<name>` (needs Secure)")
    secure: bool | Literal["auto"] = Field(
        default="auto", description="Secure cookies; auto = on except in development"
    )
    idle_timeout: int = Field(default=1800, gt=0, description="seconds of inactivity that end a session")
    absolute_lifetime: int = Field(default=43200, gt=0, description="seconds after login that end a session")
    renew_after: float = Field(
        default=0.1, ge=0, le=1, description="share of the idle window after which activity renews it"
    )
    verify_renews: bool = Field(default=False, description="whether `/auth/verify` counts as activity")
    purge_interval: float = Field(
        default=60, gt=0, description="seconds between purges of expired sessions and counters"
    )
    cookie_domain: str | None = Field(
        default="",
        description="the cookie's Domain (one login for every app under it); empty: host-only; not with `host_prefix`",
    )
    remember_me_lifetime: int = Field(
        default=0,
        ge=0,
        description=(
            'seconds a "keep me signed in" session lives instead of `absolute_lifetime`; 0: no such box; '
            "production: at most 30 days"
        ),
    )

    @field_validator("cookie_domain", mode="before")
    @classmethod
    def _domain(cls, value: Any) -> Any:
        if not value:
            return None
        domain = str(value).lower().lstrip(".")
        if not DOMAIN.fullmatch(domain) or "." not in domain:
            raise ValueError("must be a domain name such as example.com")
        return domain

    max_per_user: int = Field(
        default=50, ge=1, le=1000, description="live sessions per user; a login beyond it ends the least recently used"
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("key_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None


class PasswordSettings(Section):
    bcrypt_cost: int = Field(default=12, ge=4, le=31, description="bcrypt cost; other costs are upgraded at login")
    hash_threads: int = Field(default=2, ge=1, le=64, description="threads running bcrypt (it releases the GIL)")
    min_length: int = Field(default=8, ge=1, le=64, description="characters (code points) a password needs at least")
    max_length: int = Field(
        default=1024, ge=64, le=4096, description="characters a password may have at most; longer answers 422"
    )
    reject_common: bool = Field(default=True, description="refuse the 30,000 most common passwords")
    context_words: list[str] = Field(
        default=["authsvc"], description="words a password must not contain (your organisation's and product's names)"
    )
    tutorial_compatible: bool = Field(
        default=False,
        description=(
            "side by side with the tutorial's app: upgrade no hash, store new ones as node bcrypt does, "
            "refuse new passwords over 72 UTF-8 bytes (see below)"
        ),
    )
    hash_queue: int = Field(
        default=16, ge=0, le=10_000, description="hashes that may wait for a thread; beyond that 503 with `Retry-After`"
    )


class UserSettings(Section):
    username_min_length: int = Field(
        default=3, ge=1, description="characters a user name needs at least, after normalisation"
    )
    username_max_length: int = Field(
        default=64, le=256, description="characters a user name may have at most, after normalisation"
    )
    self_signup: bool = Field(
        default=True,
        description="anyone may sign up; false: `/users/signup` and `/signup` answer 403, use `authsvc create-user`",
    )
    require_verified_email: bool = Field(
        default=False, description="refuse logins (403) until the user has verified an email address"
    )


class ThrottleSettings(Section):
    client_max_failures: int = Field(
        default=10, ge=1, le=10, description="failures of one client on one account before the back-off (at most 10)"
    )
    client_forget_after: int = Field(
        default=86400,
        ge=60,
        le=30 * 86400,
        description="seconds after its last attempt a client's count on an account is forgotten (a quiet day)",
    )
    backoff_base: float = Field(
        default=1,
        gt=0,
        le=60,
        description="seconds a client waits once past `client_max_failures`, doubling per further failure",
    )
    backoff_max: float = Field(default=900, ge=1, le=3600, description="the ceiling of that back-off, in seconds")
    ipv6_prefix: int = Field(
        default=64, ge=32, le=128, description="an IPv6 client counts as its network of this prefix length (its /64)"
    )
    # NIST SP 800-63B 5.2.2: no more than 100.
    account_max_failures: int = Field(
        default=100,
        ge=1,
        le=100,
        description="failures per account per window before unknown devices get 429 (at most 100)",
    )
    account_window: int = Field(default=3600, ge=60, le=86400, description="seconds of that window")
    device_cookie_name: str = Field(
        default="did",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the device cookie that lets a known browser skip that lock",
    )
    device_cookie_max_age: int = Field(
        default=15552000, ge=3600, le=400 * 86400, description="seconds the device cookie lives (180 days)"
    )
    address_free_names: int = Field(
        default=50, ge=1, description="distinct failing names per address and window that pass untouched"
    )
    address_window: int = Field(default=900, ge=60, le=86400, description="seconds of that window")
    address_backoff_max: float = Field(
        default=60,
        ge=1,
        le=3600,
        description="past them the address's unknown devices are slowed, doubling up to this many seconds",
    )
    signup_burst: int = Field(default=20, ge=1, description="sign-ups a client may make at once (a token bucket)")
    signup_refill_seconds: float = Field(default=60, gt=0, le=86400, description="then one more per this many seconds")
    forgot_burst: int = Field(default=10, ge=1, description="forgotten-password requests a client may make at once")
    forgot_refill_seconds: float = Field(default=360, gt=0, le=86400, description="then one more per this many seconds")
    reset_mail_interval: float = Field(
        default=300, gt=0, le=86400, description="seconds between two reset mails of one account"
    )
    reset_mails_per_day: int = Field(
        default=5, ge=1, le=100, description="reset mails of one account in a row, then one per 24 h / this"
    )
    passwordless_burst: int = Field(
        default=20, ge=1, description="passwordless challenges a client may ask for at once"
    )
    passwordless_refill_seconds: float = Field(
        default=3, gt=0, le=3600, description="then one more per this many seconds"
    )


class MfaSettings(Section):
    issuer: str = Field(
        default="authsvc",
        min_length=1,
        max_length=64,
        description="the name authenticator apps show beside the account",
    )
    pending_seconds: int = Field(
        default=300, ge=30, le=1800, description="seconds a login with the right password waits for its second factor"
    )
    pending_max_attempts: int = Field(
        default=5, ge=1, le=20, description="wrong codes that end a pending login (each also counts as a failed login)"
    )
    recent_auth_seconds: int = Field(
        default=600,
        ge=0,
        description=(
            "a session older than this sends a code too (when enrolled) to change the password or remove a factor"
        ),
    )
    second_factor_at_login: bool = Field(
        default=True,
        description=(
            "false: a password alone opens a one-factor session even for a user with a second factor; a "
            "`two_factor` access rule then asks for it on the step-up page (refused when no rule nor "
            "`default_policy` is `two_factor`)"
        ),
    )


class WebAuthnSettings(Section):
    rp_id: str = Field(
        default="localhost",
        min_length=1,
        max_length=253,
        description=(
            "the relying party id passkeys are bound to: the site's domain or a parent of it, never an IP address"
        ),
    )
    rp_name: str = Field(
        default="authsvc", min_length=1, max_length=64, description="the name browsers show when a passkey is created"
    )
    origins: list[str] = Field(
        default=["http://localhost:8080"],
        min_length=1,
        description=(
            "origins a passkey ceremony may run on (rp_id or its subdomains); production refuses non-https ones"
        ),
    )
    challenge_seconds: int = Field(
        default=120, ge=30, le=600, description="seconds a passkey challenge stays valid; each is used once"
    )
    user_verification: Literal["required", "preferred", "discouraged"] = Field(
        default="preferred",
        description=(
            "required, preferred or discouraged, for registration and the second factor; passwordless always "
            "requires it"
        ),
    )
    passwordless_max_challenges: int = Field(
        default=10000,
        ge=1,
        le=10_000_000,
        description=(
            "live passwordless challenges the store holds at most (half at once, the rest over a challenge's "
            "lifetime); past it the options answer 503 with `Retry-After`"
        ),
    )

    @field_validator("rp_id")
    @classmethod
    def _rp_id(cls, value: str) -> str:
        # A relying party id is a registrable domain (or localhost), never an IP address, never with a port.
        if not DOMAIN.fullmatch(value) or re.fullmatch(r"[0-9.]+", value):
            raise ValueError("must be a domain name such as example.com or localhost (not an IP address, no port)")
        return value

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} must be scheme://host[:port] in lower case, without a path")
        return value

    @model_validator(mode="after")
    def _origins_under_rp_id(self) -> WebAuthnSettings:
        for origin in self.origins:
            host = origin.split("://", 1)[1].split(":", 1)[0]
            if host != self.rp_id and not host.endswith("." + self.rp_id):
                raise ValueError(f"origin {origin} is not {self.rp_id} or one of its subdomains (webauthn.rp_id)")
        return self

    def production_problems(self) -> list[str]:
        # http://localhost is a secure context only on the machine itself (the compose demo); any other host is not.
        insecure = [o for o in self.origins if not o.startswith("https://") and not LOCAL_ORIGIN.fullmatch(o)]
        return [f"webauthn.origins: production needs https origins, not {', '.join(insecure)}"] if insecure else []


class CsrfSettings(Section):
    allowed_origins: list[str] = Field(default=[], description="extra origins allowed to send state-changing requests")


class ServiceToken(Section):
    name: str
    token: str = Field(min_length=32)


class IntrospectionSettings(Section):
    enabled: bool = Field(default=True, description="serve `/internal/sessions/introspect`")
    tokens: list[ServiceToken] = Field(
        default=[],
        description=(
            "`name:token` pairs (tokens >= 32 characters; in production at least 8 distinct characters and 80"
            " bits: `authsvc gen-key` prints one)"
        ),
        json_schema_extra={"env": "AUTHSVC_INTROSPECTION_TOKENS"},
    )

    @field_validator("tokens", mode="before")
    @classmethod
    def _parse_pairs(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            value = [p.strip() for p in value.split(",") if p.strip()]
        pairs = []
        for item in value:
            if isinstance(item, str):
                name, sep, token = item.partition(":")
                if not sep:
                    raise ValueError("each token must be written name:token")
                item = {"name": name, "token": token}
            pairs.append(item)
        return pairs


HEADER_NAME = r"^[A-Za-z0-9-]{1,64}$"


ADMIN_SCOPES = ("users:read", "users:write", "sessions:write", "events:read")
AdminScope = Literal["users:read", "users:write", "sessions:write", "events:read"]


ADMIN_TOKEN_MIN_LENGTH = 32


@dataclass(frozen=True, slots=True)
class TokenDigest:
    """What the settings keep of an admin token: its sha256 and its variety (for production's weakness check), never
    the token itself, which is hashed while the configuration is read and goes with the raw YAML."""

    sha256: str = field(repr=False)  # hex
    distinct: int
    bits: float

    @classmethod
    def of(cls, token: str) -> TokenDigest:
        return cls(hashlib.sha256(token.encode("utf-8")).hexdigest(), *token_variety(token))


def _hash_token(value: Any) -> Any:
    if isinstance(value, TokenDigest):
        return value  # validated settings validated again
    if not isinstance(value, str):
        raise ValueError("must be a string")  # a mapping would pass for a digest the weakness check never saw
    if len(value) < ADMIN_TOKEN_MIN_LENGTH:
        raise ValueError(f"must be at least {ADMIN_TOKEN_MIN_LENGTH} characters")
    return TokenDigest.of(value)


class AdminToken(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    token: Annotated[TokenDigest, BeforeValidator(_hash_token)]  # written as the token, kept as its digest
    scopes: list[AdminScope] = Field(min_length=1)


class AdminSettings(Section):
    tokens: list[AdminToken] = Field(
        default=[],
        description=(
            "admin API tokens, `{name, token, scopes}` each (scopes: `users:read`, `users:write`, "
            "`sessions:write`, `events:read`; tokens >= 32 characters, in production as varied as service "
            "tokens; only their sha256 is kept once loaded); empty: `/admin/` is not served"
        ),
    )
    max_page_size: int = Field(
        default=200, ge=1, le=1000, description="most users or events in one page of the admin API"
    )

    @field_validator("tokens", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None or value == "" else value

    @field_validator("tokens")
    @classmethod
    def _distinct_names(cls, value: list[AdminToken]) -> list[AdminToken]:
        names = [token.name for token in value]
        if len(names) != len(set(names)):
            raise ValueError("each admin token needs a name of its own (the audit trail names the caller by it)")
        return value


class EventSettings(Section):
    retention_days: int = Field(
        default=90, ge=1, le=3650, description="days an audit event is kept (`GET /admin/events`)"
    )
    memory_max: int = Field(
        default=10000, ge=100, le=10_000_000, description="audit events the memory backend keeps (the oldest go first)"
    )


class WebhookEndpoint(Section):
    url: str = Field(pattern=r"^https?://[A-Za-z0-9.:\[\]-]+(/[^\s]*)?$")
    secrets: list[str] = Field(min_length=1, max_length=2)
    events: list[str] = Field(min_length=1)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        for secret in value:
            try:
                key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except ValueError:
                key = b""
            if not secret.startswith("whsec_") or len(key) < 24:
                raise ValueError("each secret is whsec_ and the base64 of at least 24 random bytes")
        return value


class WebhookSettings(Section):
    endpoints: list[WebhookEndpoint] = Field(
        default=[],
        description=(
            "receivers of the audit events: `{url, secrets, events}` each (`whsec_` secrets, two while "
            "rotating; event types or `*`)"
        ),
    )
    retry_initial: float = Field(
        default=5,
        gt=0,
        le=3600,
        description="seconds before the first retry of a failed delivery, doubling at each failure",
    )
    retry_max: float = Field(default=3600, gt=0, le=86400, description="the ceiling of that delay, in seconds")
    timeout: float = Field(default=10, gt=0, le=60, description="seconds a receiver has to answer 2xx")
    send_interval: float = Field(default=1, gt=0, le=60, description="seconds between looks at the delivery queue")


class GatewaySettings(Section):
    user_id_header: str = Field(
        default="X-Auth-User-Id",
        pattern=HEADER_NAME,
        description="the header an allowed `/auth/verify` or `/auth/forward-auth` answer names the user's id in",
    )
    user_name_header: str = Field(
        default="X-Auth-User-Name",
        pattern=HEADER_NAME,
        description="the header it names the user in (Authelia: `Remote-User`)",
    )
    user_groups_header: str = Field(
        default="X-Auth-User-Groups",
        pattern=HEADER_NAME,
        description="the header it lists the user's groups in, comma-separated (Authelia: `Remote-Groups`)",
    )
    user_email_header: str | None = Field(
        default=None,
        pattern=HEADER_NAME,
        description=(
            "the header it carries the verified address in (costs a read per check; Authelia: "
            "`Remote-Email`); null: not sent"
        ),
    )


POLICIES = Literal["bypass", "one_factor", "two_factor", "deny"]
METHODS = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]
SUBJECT = re.compile(r"(user|group):.+")
WILDCARD_DOMAIN = re.compile(r"\*\.(" + DOMAIN.pattern + ")")


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _compiled(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return patterns


class AccessNetwork(Section):
    name: str = Field(min_length=1, max_length=64)
    networks: list[IPv4Network | IPv6Network] = Field(min_length=1)

    @field_validator("networks", mode="before")
    @classmethod
    def _many(cls, value: Any) -> Any:
        return _one_or_many(value)


class AccessRule(Section):
    """One of access_control.rules, as Authelia writes it: every criterion given must match; policy is the answer."""

    domain: list[str] = []
    domain_regex: list[str] = []
    resources: list[str] = []
    methods: list[METHODS] = []
    networks: list[str] = []
    subject: list[list[str]] = []
    policy: POLICIES

    @field_validator("domain", "domain_regex", "resources", "networks", mode="before")
    @classmethod
    def _many(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("domain")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        domains = [domain.lower() for domain in value]
        if bad := [d for d in domains if not (DOMAIN.fullmatch(d) or WILDCARD_DOMAIN.fullmatch(d))]:
            raise ValueError(f"{bad[0]!r} is neither a domain nor a *. wildcard of one (use domain_regex for more)")
        return domains

    @field_validator("domain_regex", "resources")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        return _compiled(value)

    @field_validator("domain_regex")
    @classmethod
    def _no_per_user_domains(cls, value: list[str]) -> list[str]:
        # Authelia reads (?P<User>...) as "the signed-in user's name"; matched as a plain group it would let anyone in.
        for pattern in value:
            if {"User", "Group"} & set(re.compile(pattern).groupindex):
                raise ValueError(
                    f"{pattern!r}: the named groups User and Group (Authelia's per-user domains) are not supported"
                )
        return value

    @field_validator("subject", mode="before")
    @classmethod
    def _subjects(cls, value: Any) -> Any:
        # Authelia's three spellings: "user:x", ["user:x", "group:y"] (either), [["user:x", "group:y"]] (both).
        if isinstance(value, str):
            return [[value]]
        if isinstance(value, list):
            return [[item] if isinstance(item, str) else item for item in value]
        return value

    @field_validator("subject")
    @classmethod
    def _subject_names(cls, value: list[list[str]]) -> list[list[str]]:
        for alternative in value:
            if not alternative:
                raise ValueError("an empty list of subjects would match everyone")
            if bad := [item for item in alternative if not SUBJECT.fullmatch(item)]:
                raise ValueError(f"{bad[0]!r} is neither user:NAME nor group:NAME")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> AccessRule:
        if not self.domain and not self.domain_regex:
            raise ValueError("a rule needs domain or domain_regex (as in Authelia)")
        if self.policy == "bypass" and self.subject:
            raise ValueError("subject: a bypass rule cannot have a subject (nobody is signed in to match it)")
        return self


class AccessControlSettings(Section):
    default_policy: POLICIES = Field(
        default="one_factor",
        description=(
            "the answer when no rule matches: `bypass`, `one_factor`, `two_factor` or `deny` (see [Access "
            "control](#access-control))"
        ),
    )
    networks: list[AccessNetwork] = Field(
        default=[], description="named lists of CIDRs for the rules: `[{name: internal, networks: [10.0.0.0/8]}]`"
    )
    rules: list[AccessRule] = Field(
        default=[], description="ordered rules, Authelia's spelling; the first that matches decides"
    )

    @field_validator("networks", "rules", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _known_networks(self) -> AccessControlSettings:
        names = [network.name for network in self.networks]
        if len(names) != len(set(names)):
            raise ValueError("networks: each name may be defined once")
        problems = []
        for index, rule in enumerate(self.rules):
            for entry in rule.networks:
                if entry not in names and not _is_network(entry):
                    problems.append(
                        f"rules.{index}.networks: {entry!r} is neither a CIDR nor a name in access_control.networks"
                    )
        if problems:
            raise ValueError("\n  ".join(problems))
        return self


def _is_network(value: str) -> bool:
    try:
        ip_network(value, strict=False)
    except ValueError:
        return False
    return True


class StorageSettings(Section):
    backend: Literal["memory", "mongodb"] = Field(default="memory", description="memory or mongodb")


class MongoSettings(Section):
    url: str = Field(
        default="mongodb://127.0.0.1:27017", description="connection string", json_schema_extra={"env": "MONGODB_URL"}
    )
    database: str = Field(default="authsvc", pattern=r"^[A-Za-z0-9_-]{1,63}$", description="database name")
    driver: Literal["pymongo", "motor"] = Field(default="pymongo", description="pymongo (`AsyncMongoClient`) or motor")
    server_selection_timeout_ms: int = Field(
        default=2000, ge=100, description="how long a request waits for an unreachable server before 503"
    )
    connect_timeout_ms: int = Field(default=2000, ge=100, description="the driver's connect timeout")
    socket_timeout_ms: int = Field(default=5000, ge=100, description="the driver's socket timeout")
    cache_size: int = Field(
        default=100000,
        ge=0,
        le=10_000_000,
        description="sessions (and as many users) each replica keeps in memory, LRU; 0: every request asks MongoDB",
    )
    cache_max_age_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="a cached entry is re-read after this long even if no revocation named it",
    )
    revocation_poll_ms: int = Field(
        default=200, ge=10, le=10_000, description="how often each replica reads the `revocations` collection"
    )
    revocation_lag_ms: int = Field(
        default=1000,
        ge=50,
        le=60_000,
        description=(
            "a revocation through another replica takes effect within this; a replica that cannot follow "
            "reads MongoDB on every request"
        ),
    )

    @model_validator(mode="after")
    def _lag_covers_polls(self) -> MongoSettings:
        # A bound of a single interval would fall back to MongoDB whenever one poll is a little late.
        if self.revocation_lag_ms < 2 * self.revocation_poll_ms:
            raise ValueError("revocation_lag_ms must be at least twice revocation_poll_ms")
        return self


class PortalSettings(Section):
    default_redirect: str = Field(
        default="/account",
        description="where a portal login lands when `rd` is missing or not allowed (the account page)",
    )
    allowed_redirect_domains: list[str] = Field(
        default=[],
        description=(
            "hosts (and subdomains) `rd` may name besides the portal's origin; empty: "
            "`session.cookie_domain`; production refuses one label (`com`) or a public suffix (`co.uk`)"
        ),
    )
    title: str = Field(default="authsvc", min_length=1, max_length=60, description="the name on the portal's pages")
    logo_url: str = Field(
        default="",
        description=(
            "a logo above every page: a path on the portal's origin (no other site: the pages' CSP), empty for none"
        ),
    )
    primary_color: str = Field(
        default="#1d4ed8",
        pattern=r"^#[0-9a-fA-F]{6}$",
        description="buttons and links, `#rrggbb` (written into the stylesheet)",
    )

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str) -> str:
        # Same origin only: the pages' policy (default-src 'self') would block another site's image anyway.
        if value and (not re.fullmatch(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*", value) or value.startswith("//")):
            raise ValueError("must be a path on the portal's origin such as /static/logo.svg, or empty")
        return value

    @field_validator("default_redirect")
    @classmethod
    def _redirect(cls, value: str) -> str:
        if not re.fullmatch(r"(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)?/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*", value) or (
            value.startswith("//")
        ):
            raise ValueError("must be a path such as /login or an http(s) URL")
        return value

    @field_validator("allowed_redirect_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        domains = [domain.lower().lstrip(".") for domain in value]
        if bad := [domain for domain in domains if not DOMAIN.fullmatch(domain)]:
            raise ValueError(f"not domain names: {', '.join(bad)}")
        return domains


class SmtpSettings(Section):
    host: str = Field(default="localhost", description="the SMTP relay's host")
    port: int = Field(default=25, ge=1, le=65535, description="the SMTP relay's port")
    starttls: bool = Field(default=False, description="upgrade the connection with STARTTLS (port 587); not with `tls`")
    tls: bool = Field(default=False, description="connect with implicit TLS (port 465); not with `starttls`")
    username: str | None = Field(
        default=None,
        description="SMTP login; empty: none; production sends it only with `starttls` or `tls`",
        json_schema_extra={"env": "AUTHSVC_SMTP_USERNAME"},
    )
    password: str | None = Field(
        default=None,
        description="its password, from the environment",
        json_schema_extra={"env": "AUTHSVC_SMTP_PASSWORD"},
    )
    timeout: float = Field(default=10, gt=0, le=300, description="seconds for connecting and each SMTP command")

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None


class MailSettings(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, populate_by_name=True)

    transport: Literal["log", "smtp"] = Field(
        default="log",
        description=(
            "`log` (development: each mail, link and token included, goes to the log) or `smtp`; production "
            "refuses `log`"
        ),
    )
    from_address: str = Field(
        default="authsvc <no-reply@localhost>", alias="from", pattern=r"^[^\r\n]{3,254}$", description="the From header"
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="the SMTP relay")
    reset_token_ttl: int = Field(default=1800, ge=60, le=86400, description="seconds a password-reset link lives")
    verify_token_ttl: int = Field(
        default=86400, ge=60, le=30 * 86400, description="seconds an email-verification link lives"
    )
    not_me_token_ttl: int = Field(
        default=604800, ge=60, le=90 * 86400, description='seconds a notification\'s "this was not me" link lives'
    )
    send_interval: float = Field(default=5, gt=0, le=3600, description="seconds between looks at the outbox")
    retry_initial: float = Field(
        default=10,
        gt=0,
        le=3600,
        description=(
            "seconds before the first retry of a failed delivery, doubled at each failure; mails are never dropped"
        ),
    )
    retry_max: float = Field(default=3600, gt=0, le=86400, description="the cap of that delay, in seconds")


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="logs on stderr, in `server.log_format`"
    )
    audit_key: str = Field(
        default="",
        description="HMAC key: failed/throttled logins name the account as a keyed hash; required in production",
        json_schema_extra={"env": "AUTHSVC_AUDIT_KEY"},
    )

    @field_validator("audit_key", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class Settings(BaseSettings):
    """The whole configuration: Settings() is the schema's defaults, load_settings() merges the layers over them."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=True)

    env: Literal["development", "staging", "production"] = Field(
        default="development",
        description="development, staging or production",
        json_schema_extra={"env": "AUTHSVC_ENV"},
    )
    server: ServerSettings = Field(
        default_factory=ServerSettings, description="the listeners, proxies, workers and logs"
    )
    session: SessionSettings = Field(
        default_factory=SessionSettings, description="the session cookie and its lifetimes"
    )
    passwords: PasswordSettings = Field(default_factory=PasswordSettings, description="password hashing and rules")
    users: UserSettings = Field(default_factory=UserSettings, description="user names and sign-up")
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings, description="the attempt rules (SECURITY.md)")
    mfa: MfaSettings = Field(default_factory=MfaSettings, description="the second factor")
    webauthn: WebAuthnSettings = Field(default_factory=WebAuthnSettings, description="passkeys")
    csrf: CsrfSettings = Field(default_factory=CsrfSettings, description="the cross-site request check")
    introspection: IntrospectionSettings = Field(
        default_factory=IntrospectionSettings, description="session introspection for services"
    )
    admin: AdminSettings = Field(default_factory=AdminSettings, description="the admin API")
    events: EventSettings = Field(default_factory=EventSettings, description="the audit trail")
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings, description="audit events sent to receivers")
    gateway: GatewaySettings = Field(default_factory=GatewaySettings, description="the headers answered to the gateway")
    access_control: AccessControlSettings = Field(
        default_factory=AccessControlSettings, description="who may reach what behind the gateway"
    )
    storage: StorageSettings = Field(default_factory=StorageSettings, description="the storage backend")
    mongodb: MongoSettings = Field(default_factory=MongoSettings, description="the MongoDB backend")
    portal: PortalSettings = Field(default_factory=PortalSettings, description="the login portal's pages")
    mail: MailSettings = Field(default_factory=MailSettings, description="outgoing mail")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="logs")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what the caller gives: the environment and the files are read by load_settings, as named layers.
        return (init_settings,)

    @model_validator(mode="after")
    def _resolve_and_refuse_unsafe(self) -> Settings:
        session = self.session
        if session.secure == "auto":
            session = session.model_copy(update={"secure": self.env != "development"})
            object.__setattr__(self, "session", session)
        if self.server.log_format == "auto":
            server = self.server.model_copy(update={"log_format": "text" if self.env == "development" else "json"})
            object.__setattr__(self, "server", server)
        problems = []
        if session.absolute_lifetime < session.idle_timeout:
            problems.append("session.absolute_lifetime: must not be shorter than session.idle_timeout")
        if session.host_prefix and not session.secure:
            problems.append("session.host_prefix: the __Host- prefix needs session.secure: true")
        if session.host_prefix and session.cookie_domain:
            problems.append("session.cookie_domain: a __Host- cookie has no Domain; turn session.host_prefix off")
        if 0 < session.remember_me_lifetime < session.idle_timeout:
            problems.append("session.remember_me_lifetime: must be 0 (off) or at least session.idle_timeout")
        if session.cookie_domain and not self.portal.allowed_redirect_domains:
            # One login for every app under the cookie's domain: the portal may send the browser back to any.
            portal = self.portal.model_copy(update={"allowed_redirect_domains": [session.cookie_domain]})
            object.__setattr__(self, "portal", portal)
        if self.throttle.device_cookie_name == session.cookie_name:
            problems.append("throttle.device_cookie_name: must differ from session.cookie_name")
        if self.users.username_min_length > self.users.username_max_length:
            problems.append("users.username_min_length: must not exceed users.username_max_length")
        if self.env == "production":
            if not session.keys and not session.key_file:
                problems.append(
                    "session.keys: production needs a session key (AUTHSVC_SESSION_KEY or session.key_file)"
                )
            if not session.secure:
                problems.append("session.secure: production needs Secure cookies")
            if self.storage.backend == "memory":
                problems.append("storage.backend: production cannot run on the memory backend")
            if self.introspection.enabled and not self.introspection.tokens:
                problems.append("introspection.tokens: production needs service tokens while introspection is enabled")
            problems += self._production_weaknesses()
            problems += self.webauthn.production_problems()
        if self.mail.smtp.tls and self.mail.smtp.starttls:
            problems.append("mail.smtp.tls: choose implicit TLS or STARTTLS, not both")
        if self.env == "production" and self.mail.transport == "log":
            problems.append("mail.transport: production cannot write mails (and their links) to the log; use smtp")
        problems += self._public_url_problems()
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def _public_url_problems(self) -> list[str]:
        """Mailed links and the forward-auth redirect start with server.public_url; without it they would point at
        the listener (http://0.0.0.0:8080/..., or the gateway listener, which has no /login)."""
        url = self.server.public_url
        if self.env == "production":
            if not url:
                return ["server.public_url: production needs the https URL browsers reach authsvc at"]
            if not url.startswith("https://") and not LOCAL_ORIGIN.fullmatch(url):
                return [f"server.public_url: production needs an https URL, not {url}"]
            return []
        needed_by = [
            *(["server.gateway_port"] if self.server.gateway_port is not None else []),
            *(["mail.transport: smtp"] if self.mail.transport == "smtp" else []),
        ]
        if needed_by and not url:
            return [f"server.public_url: required with {' and '.join(needed_by)} (the URL browsers reach authsvc at)"]
        return []

    @model_validator(mode="after")
    def _second_factor_asked_somewhere(self) -> Settings:
        # Otherwise a user with a second factor would never be asked for it again.
        access = self.access_control
        if not self.mfa.second_factor_at_login and "two_factor" not in (
            access.default_policy,
            *(rule.policy for rule in access.rules),
        ):
            raise ValueError(
                "mfa.second_factor_at_login: false asks for the second factor only where access_control wants "
                "two_factor, and no rule nor default_policy does"
            )
        return self

    def _production_weaknesses(self) -> list[str]:
        """Settings that are valid but too weak for production, each named with its limit."""
        problems = []
        for network in self.server.trusted_proxies:
            widest = PROXY_PREFIX_MIN[network.version]
            if network.prefixlen < widest and not self.server.trusted_proxies_any:
                problems.append(
                    f"server.trusted_proxies: {network} is wider than a /{widest}; name your gateway's networks "
                    "(or set server.trusted_proxies_any: true if every address really is a proxy)"
                )
        passwords, session = self.passwords, self.session
        if passwords.bcrypt_cost < BCRYPT_COST_MIN:
            problems.append(f"passwords.bcrypt_cost: production needs at least {BCRYPT_COST_MIN}")
        if passwords.min_length < PASSWORD_MIN_LENGTH:
            problems.append(f"passwords.min_length: production needs at least {PASSWORD_MIN_LENGTH} (ASVS 6.2.1)")
        if not passwords.reject_common:
            problems.append("passwords.reject_common: production must refuse common passwords (ASVS 6.2.4)")
        if session.idle_timeout > IDLE_TIMEOUT_MAX:
            problems.append(f"session.idle_timeout: production allows at most {IDLE_TIMEOUT_MAX} seconds (24 h)")
        if session.absolute_lifetime > ABSOLUTE_LIFETIME_MAX:
            problems.append(
                f"session.absolute_lifetime: production allows at most {ABSOLUTE_LIFETIME_MAX} seconds (30 days)"
            )
        if session.remember_me_lifetime > ABSOLUTE_LIFETIME_MAX:
            problems.append(
                f"session.remember_me_lifetime: production allows at most {ABSOLUTE_LIFETIME_MAX} seconds (30 days), "
                "as for session.absolute_lifetime"
            )
        if session.cookie_domain and shared_suffix(session.cookie_domain):
            problems.append(f"session.cookie_domain: {session.cookie_domain} is a public suffix; name your own domain")
        if shared := [domain for domain in self.portal.allowed_redirect_domains if shared_suffix(domain)]:
            problems.append(
                f"portal.allowed_redirect_domains: {', '.join(shared)}: production needs domains of at least two "
                "labels that are not a public suffix (such as co.uk): strangers own sites under those"
            )
        smtp = self.mail.smtp
        if (smtp.username or smtp.password) and not (smtp.starttls or smtp.tls):
            problems.append(
                "mail.smtp.username: production sends SMTP credentials only over TLS "
                "(set mail.smtp.starttls or mail.smtp.tls)"
            )
        if self.mfa.recent_auth_seconds > RECENT_AUTH_MAX:
            problems.append(f"mfa.recent_auth_seconds: production allows at most {RECENT_AUTH_MAX} seconds (24 h)")
        if self.introspection.enabled:
            weak = (token_variety_problem(service.name, service.token) for service in self.introspection.tokens)
            problems += [problem for problem in weak if problem]
        weak_admin = (
            variety_problem(t.name, t.token.distinct, t.token.bits, "admin.tokens") for t in self.admin.tokens
        )
        problems += [problem for problem in weak_admin if problem]
        for origin in self.csrf.allowed_origins:
            if not origin.lower().startswith("https://"):
                problems.append(f"csrf.allowed_origins: {origin!r} is not an https:// origin (nor may it be null)")
        if not self.logging.audit_key:
            problems.append("logging.audit_key: production needs a key for the audit log (AUTHSVC_AUDIT_KEY)")
        return problems


SETTINGS_TABLE_HEAD = "| key | default | meaning |\n|---|---|---|"


def setting_rows(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """Every setting in the schema's order as (key, default as config.yaml writes it, description): what the
    README's table and config.yaml are checked against."""
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)  # mail.from: a Python keyword, so an alias
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_rows(annotation, key + ".")
            continue
        default = info.get_default(call_default_factory=True)
        extra = info.json_schema_extra
        if isinstance(extra, dict) and isinstance(env := extra.get("env"), str):
            # A secret, or a value a deployment sets, read from its own variable by config.yaml's ${VAR:default}.
            written = f"${{{env}:{_written(default) if default else ''}}}"
        else:
            written = _written(default)
        yield key, written, info.description or ""


def _written(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def settings_table() -> str:
    """The README's configuration table, one row per setting (`make settings-table` writes it)."""
    rows = (
        f"| `{key}` | {f'`{default}`' if default else ''} | {meaning} |" for key, default, meaning in setting_rows()
    )
    return "\n".join([SETTINGS_TABLE_HEAD, *rows])


class _Layer(PydanticBaseSettingsSource):
    """One layer of settings as written (a YAML file, the AUTHSVC__ variables, the caller's overrides): pydantic-
    settings merges the layers, later ones winning key by key, and validates the result. Its own sources do not fit:
    an AUTHSVC__ value is YAML (`[a, b]`, `false`, `null`), an unknown AUTHSVC__ key must fail naming it, and the
    files take ${VAR:default} (dependency-injector's loader)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(Settings)
        self.values = dict(values)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field.alias or field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values


def deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """overlay over base, key by key, as the layers merge (tests compose their overrides with it)."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    # dependency-injector's loader does the ${VAR:default} interpolation.
    layer = providers.Configuration(strict=True)
    try:
        layer.from_yaml(path, required=True)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    value = layer()
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: must be a mapping of settings")
    return value


def _environment_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return overrides


def default_config_path() -> Path:
    """config.yaml in $AUTHSVC_CONFIG_DIR, else in the working directory, else beside the package."""
    configured = os.environ.get("AUTHSVC_CONFIG_DIR")
    candidates = [Path(configured)] if configured else [Path.cwd(), Path(__file__).resolve().parent.parent]
    for directory in candidates:
        if (directory / "config.yaml").is_file():
            return directory / "config.yaml"
    raise ConfigError("config.yaml not found (set AUTHSVC_CONFIG_DIR to the folder that holds it)")


def load_settings(
    config_file: str | Path | None = None,
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """config.yaml, then config.<env>.yaml, then config_file, then AUTHSVC__ variables, then overrides."""
    environ = os.environ if environ is None else environ
    base = default_config_path()
    layers = [_Layer(_read_yaml(base))]
    env = env or environ.get("AUTHSVC_ENV")
    if env:
        overlay = base.with_name(f"config.{env}.yaml")
        if overlay.is_file():
            layers.append(_Layer(_read_yaml(overlay)))
        layers.append(_Layer({"env": env}))
    if config_file:
        layers.append(_Layer(_read_yaml(Path(config_file))))
    layers.append(_Layer(_environment_overrides(environ)))
    if overrides:
        layers.append(_Layer(overrides))
    try:
        return Settings(_build_sources=(tuple(reversed(layers)), {}))  # the first source wins
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{key}: {message}" if key else message)
    return "invalid configuration:\n  " + "\n  ".join(lines)
