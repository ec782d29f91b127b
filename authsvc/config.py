"""The settings' schema: load config.yaml + overlay + environment, validate, fail fast naming the key."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from dependency_injector import providers
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str
    port: int = Field(ge=0, le=65535)
    max_body_bytes: int = Field(ge=1024, le=16 * 1024 * 1024)
    trusted_proxies: list[IPv4Network | IPv6Network]
    trusted_proxies_any: bool
    metrics_port: int | None = Field(ge=0, le=65535)
    gateway_port: int | None = Field(ge=0, le=65535)
    access_log: bool
    access_log_verify: bool
    drain_seconds: float = Field(ge=0, le=300)
    shutdown_timeout: float = Field(ge=0)
    workers: Annotated[int, Field(ge=1, le=256)] | Literal["auto"]
    log_format: Literal["text", "json", "auto"]
    public_url: str | None

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
    keys: list[str]
    key_file: str | None
    cookie_name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    host_prefix: bool
    secure: bool | Literal["auto"]
    idle_timeout: int = Field(gt=0)
    absolute_lifetime: int = Field(gt=0)
    renew_after: float = Field(ge=0, le=1)
    verify_renews: bool
    purge_interval: float = Field(gt=0)
    cookie_domain: str | None
    remember_me_lifetime: int = Field(ge=0)

    @field_validator("cookie_domain", mode="before")
    @classmethod
    def _domain(cls, value: Any) -> Any:
        if not value:
            return None
        domain = str(value).lower().lstrip(".")
        if not DOMAIN.fullmatch(domain) or "." not in domain:
            raise ValueError("must be a domain name such as example.com")
        return domain

    max_per_user: int = Field(ge=1, le=1000)

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
    bcrypt_cost: int = Field(ge=4, le=31)
    hash_threads: int = Field(ge=1, le=64)
    min_length: int = Field(ge=1, le=64)
    max_length: int = Field(ge=64, le=4096)
    reject_common: bool
    context_words: list[str]
    tutorial_compatible: bool
    hash_queue: int = Field(ge=0, le=10_000)


class UserSettings(Section):
    username_min_length: int = Field(ge=1)
    username_max_length: int = Field(le=256)
    self_signup: bool
    require_verified_email: bool


class ThrottleSettings(Section):
    client_max_failures: int = Field(ge=1, le=10)
    client_forget_after: int = Field(ge=60, le=30 * 86400)
    backoff_base: float = Field(gt=0, le=60)
    backoff_max: float = Field(ge=1, le=3600)
    ipv6_prefix: int = Field(ge=32, le=128)
    account_max_failures: int = Field(ge=1, le=100)  # NIST SP 800-63B 5.2.2: no more than 100
    account_window: int = Field(ge=60, le=86400)
    device_cookie_name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    device_cookie_max_age: int = Field(ge=3600, le=400 * 86400)
    address_free_names: int = Field(ge=1)
    address_window: int = Field(ge=60, le=86400)
    address_backoff_max: float = Field(ge=1, le=3600)
    signup_burst: int = Field(ge=1)
    signup_refill_seconds: float = Field(gt=0, le=86400)
    forgot_burst: int = Field(ge=1)
    forgot_refill_seconds: float = Field(gt=0, le=86400)
    reset_mail_interval: float = Field(gt=0, le=86400)
    reset_mails_per_day: int = Field(ge=1, le=100)
    passwordless_burst: int = Field(ge=1)
    passwordless_refill_seconds: float = Field(gt=0, le=3600)


class MfaSettings(Section):
    issuer: str = Field(min_length=1, max_length=64)
    pending_seconds: int = Field(ge=30, le=1800)
    pending_max_attempts: int = Field(ge=1, le=20)
    recent_auth_seconds: int = Field(ge=0)
    second_factor_at_login: bool


class WebAuthnSettings(Section):
    rp_id: str = Field(min_length=1, max_length=253)
    rp_name: str = Field(min_length=1, max_length=64)
    origins: list[str] = Field(min_length=1)
    challenge_seconds: int = Field(ge=30, le=600)
    user_verification: Literal["required", "preferred", "discouraged"]
    passwordless_max_challenges: int = Field(ge=1, le=10_000_000)

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
    allowed_origins: list[str]


class ServiceToken(Section):
    name: str
    token: str = Field(min_length=32)


class IntrospectionSettings(Section):
    enabled: bool
    tokens: list[ServiceToken]

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
    tokens: list[AdminToken]
    max_page_size: int = Field(ge=1, le=1000)

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
    retention_days: int = Field(ge=1, le=3650)
    memory_max: int = Field(ge=100, le=10_000_000)


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
    endpoints: list[WebhookEndpoint]
    retry_initial: float = Field(gt=0, le=3600)
    retry_max: float = Field(gt=0, le=86400)
    timeout: float = Field(gt=0, le=60)
    send_interval: float = Field(gt=0, le=60)


class GatewaySettings(Section):
    user_id_header: str = Field(pattern=HEADER_NAME)
    user_name_header: str = Field(pattern=HEADER_NAME)
    user_groups_header: str = Field(pattern=HEADER_NAME)
    user_email_header: str | None = Field(pattern=HEADER_NAME)


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
    default_policy: POLICIES
    networks: list[AccessNetwork]
    rules: list[AccessRule]

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
    backend: Literal["memory", "mongodb"]


class MongoSettings(Section):
    url: str
    database: str = Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")
    driver: Literal["pymongo", "motor"]
    server_selection_timeout_ms: int = Field(ge=100)
    connect_timeout_ms: int = Field(ge=100)
    socket_timeout_ms: int = Field(ge=100)
    cache_size: int = Field(ge=0, le=10_000_000)
    cache_max_age_seconds: float = Field(gt=0, le=3600)
    revocation_poll_ms: int = Field(ge=10, le=10_000)
    revocation_lag_ms: int = Field(ge=50, le=60_000)

    @model_validator(mode="after")
    def _lag_covers_polls(self) -> MongoSettings:
        # A bound of a single interval would fall back to MongoDB whenever one poll is a little late.
        if self.revocation_lag_ms < 2 * self.revocation_poll_ms:
            raise ValueError("revocation_lag_ms must be at least twice revocation_poll_ms")
        return self


class PortalSettings(Section):
    default_redirect: str
    allowed_redirect_domains: list[str]
    title: str = Field(min_length=1, max_length=60)
    logo_url: str
    primary_color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")

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
    host: str
    port: int = Field(ge=1, le=65535)
    starttls: bool
    tls: bool
    username: str | None
    password: str | None
    timeout: float = Field(gt=0, le=300)

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None


class MailSettings(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    transport: Literal["log", "smtp"]
    from_address: str = Field(alias="from", pattern=r"^[^\r\n]{3,254}$")
    smtp: SmtpSettings
    reset_token_ttl: int = Field(ge=60, le=86400)
    verify_token_ttl: int = Field(ge=60, le=30 * 86400)
    not_me_token_ttl: int = Field(ge=60, le=90 * 86400)
    send_interval: float = Field(gt=0, le=3600)
    retry_initial: float = Field(gt=0, le=3600)
    retry_max: float = Field(gt=0, le=86400)


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    audit_key: str

    @field_validator("audit_key", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class Settings(Section):
    env: Literal["development", "staging", "production"]
    server: ServerSettings
    session: SessionSettings
    passwords: PasswordSettings
    users: UserSettings
    throttle: ThrottleSettings
    mfa: MfaSettings
    webauthn: WebAuthnSettings
    csrf: CsrfSettings
    introspection: IntrospectionSettings
    admin: AdminSettings
    events: EventSettings
    webhooks: WebhookSettings
    gateway: GatewaySettings
    access_control: AccessControlSettings
    storage: StorageSettings
    mongodb: MongoSettings
    portal: PortalSettings
    mail: MailSettings
    logging: LoggingSettings

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


def deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
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
    merged = _read_yaml(base)
    env = env or environ.get("AUTHSVC_ENV")
    if env:
        overlay = base.with_name(f"config.{env}.yaml")
        if overlay.is_file():
            merged = deep_merge(merged, _read_yaml(overlay))
        merged["env"] = env
    if config_file:
        merged = deep_merge(merged, _read_yaml(Path(config_file)))
    merged = deep_merge(merged, _environment_overrides(environ))
    if overrides:
        merged = deep_merge(merged, overrides)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{key}: {message}" if key else message)
    return "invalid configuration:\n  " + "\n  ".join(lines)
