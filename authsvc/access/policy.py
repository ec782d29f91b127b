"""access_control compiled once: who may reach what, decided per request without HTTP (like Authelia's
internal/authorization).

Semantics are Authelia's: the rules are tried in order and the first whose every given criterion matches decides;
none matches: default_policy. domain and domain_regex together match when either does.

An anonymous request (no session) is matched with its subject criteria left open, as Authelia does: the first rule
that matches the request otherwise decides when it names no subject (bypass lets it through, deny refuses it,
one_factor and two_factor send it to sign in); when it names a subject the caller is sent to sign in and, once
signed in, the rules are tried again with the user, from that rule on (the earlier ones missed on the request alone,
so they miss for any user). A subject rule above a bypass rule therefore asks everyone to sign in first.

The domain index: rules are looked up by exact domain, then by each *. suffix of the host, then the domain_regex
rules are tried; the candidates of a host are kept (bounded), so 100 rules cost a dictionary look-up per request.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from authsvc.config import AccessControlSettings, AccessRule

Network = IPv4Network | IPv6Network
HOSTS_KEPT = 10_000  # distinct hosts whose candidate rules are kept; a gateway serves a handful


class Policy(enum.StrEnum):  # a str: the decision counter's label as it is
    BYPASS = "bypass"
    ONE_FACTOR = "one_factor"
    TWO_FACTOR = "two_factor"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Target:
    """The original request as the gateway describes it: host without port, path with query, method, client."""

    domain: str
    resource: str
    method: str
    ip: IPv4Address | IPv6Address | None
    # Hashed once: a target is a key of the verdict caches on every check, and an address hashes in Python.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.domain, self.resource, self.method, self.ip)))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def of(cls, domain: str, resource: str, method: str, ip: str | None) -> Target:
        return cls(_host(domain), resource, method.upper(), _address(ip) if ip else None)

    @classmethod
    def from_url(cls, url: str, method: str, ip: str | None) -> Target | None:
        """From an absolute http(s) URL (nginx's X-Original-URL, check-policy's --url); None when it is not one.
        Split by hand: urllib's urlsplit costs more than the whole rule walk."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            return None
        rest = rest.partition("#")[0]
        cut = len(rest)
        for mark in ("/", "?"):
            found = rest.find(mark)
            if found != -1 and found < cut:
                cut = found
        authority, resource = rest[:cut], rest[cut:]
        host = authority.rpartition("@")[2]
        if not host or any(c in host for c in " \t\\"):
            return None
        if not resource.startswith("/"):
            resource = "/" + resource
        return cls.of(host, resource, method, ip)


@functools.lru_cache(maxsize=4096)  # a gateway's clients and hosts repeat: parse each once
def _address(ip: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(ip)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _host(domain: str) -> str:
    host = domain.strip().lower().rstrip(".")
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True, slots=True)
class Subject:
    username: str
    groups: frozenset[str]

    def has(self, item: str) -> bool:
        kind, _, name = item.partition(":")
        return name == self.username if kind == "user" else name in self.groups


class Verdict(enum.Enum):
    ALLOW = "allow"
    SIGN_IN = "sign_in"  # 401, or a browser sent to the portal
    STEP_UP = "step_up"  # signed in with one factor where two are required
    DENY = "deny"


@functools.lru_cache(maxsize=4096)  # a gateway asks about the same few users again and again
def subject_of(username: str, groups: tuple[str, ...]) -> Subject:
    return Subject(username, frozenset(groups))


@functools.lru_cache(maxsize=4096)  # and about the same few original requests: each parsed once
def target_of(domain: str, resource: str, method: str, ip: str | None) -> Target:
    return Target.of(domain, resource, method, ip)


@functools.lru_cache(maxsize=4096)
def target_from_url(url: str, method: str, ip: str | None) -> Target | None:
    return Target.from_url(url, method, ip)


@dataclass(frozen=True, slots=True)
class Decision:
    policy: Policy
    rule: int | None  # the index of the deciding rule; None: default_policy
    needs_subject: bool = False  # anonymous, and the deciding rule names a subject: sign in, then decide again


class CompiledRule:
    def __init__(self, index: int, rule: AccessRule, networks: dict[str, list[Network]]) -> None:
        self.index = index
        self.policy = Policy(rule.policy)
        self.domains = frozenset(d for d in rule.domain if not d.startswith("*."))
        self.suffixes = frozenset(d[1:] for d in rule.domain if d.startswith("*."))  # ".example.com"
        self.domain_regexes = tuple(re.compile(p, re.IGNORECASE) for p in rule.domain_regex)
        self.resources = tuple(re.compile(p) for p in rule.resources)
        self.methods = frozenset(rule.methods)
        self.networks = tuple(n for entry in rule.networks for n in networks.get(entry) or [ip_network(entry, False)])
        # (version, network address, mask) as integers: a containment test of ipaddress's objects costs microseconds
        self._networks = tuple((n.version, int(n.network_address), int(n.netmask)) for n in self.networks)
        self.subject = tuple(tuple(alternative) for alternative in rule.subject)
        # What the rule decides, made once: for a known caller, and for an anonymous one
        self.decision = Decision(self.policy, index)
        self.anonymous_decision = Decision(self.policy, index, needs_subject=bool(self.subject))
        # (is a user, name) per item, split once
        self._subject = tuple(
            tuple((item.startswith("user:"), item.partition(":")[2]) for item in alternative)
            for alternative in rule.subject
        )

    def matches_domain(self, domain: str) -> bool:
        return (
            domain in self.domains
            or any(domain.endswith(suffix) for suffix in self.suffixes)
            or any(regex.search(domain) for regex in self.domain_regexes)
        )

    def matches_resource(self, resource: str) -> bool:
        return not self.resources or any(regex.search(resource) for regex in self.resources)

    def matches_method(self, method: str) -> bool:
        return not self.methods or method in self.methods

    def matches_network(self, ip: IPv4Address | IPv6Address | None) -> bool:
        if not self._networks:
            return True
        if ip is None:
            return False
        version, value = ip.version, int(ip)
        return any(version == v and value & mask == network for v, network, mask in self._networks)

    def matches_request(self, target: Target) -> bool:
        """Every criterion but the domain (the index chose it) and the subject."""
        return (
            self.matches_resource(target.resource)
            and self.matches_method(target.method)
            and (self.matches_network(target.ip))
        )

    def matches_subject(self, subject: Subject) -> bool:
        if not self._subject:
            return True
        username, groups = subject.username, subject.groups
        for both in self._subject:
            if all(name == username if is_user else name in groups for is_user, name in both):
                return True
        return False

    def explain(self, target: Target, subject: Subject | None) -> dict[str, bool | None]:
        """Each criterion the rule has -> matched (None: a subject, for an anonymous caller); for check-policy."""
        criteria: dict[str, bool | None] = {}
        if self.domains or self.suffixes or self.domain_regexes:
            criteria["domain"] = self.matches_domain(target.domain)
        if self.resources:
            criteria["resources"] = self.matches_resource(target.resource)
        if self.methods:
            criteria["methods"] = self.matches_method(target.method)
        if self.networks:
            criteria["networks"] = self.matches_network(target.ip)
        if self.subject:
            criteria["subject"] = None if subject is None else self.matches_subject(subject)
        return criteria


class AccessPolicy:
    """access_control, compiled; decide() answers per request."""

    def __init__(self, settings: AccessControlSettings) -> None:
        self.default = Policy(settings.default_policy)
        self._default = Decision(self.default, None)
        networks = {named.name: list(named.networks) for named in settings.networks}
        self.rules = tuple(CompiledRule(index, rule, networks) for index, rule in enumerate(settings.rules))
        # True when there is nothing to decide: every request needs a session, any session will do (the hot path).
        self.trivial = not self.rules and self.default is Policy.ONE_FACTOR
        self._exact: dict[str, list[int]] = {}
        self._suffix: dict[str, list[int]] = {}
        self._regex: list[int] = []
        for rule in self.rules:
            for domain in rule.domains:
                self._exact.setdefault(domain, []).append(rule.index)
            for suffix in rule.suffixes:
                self._suffix.setdefault(suffix, []).append(rule.index)
            if rule.domain_regexes:
                self._regex.append(rule.index)
        self._candidates: dict[str, tuple[CompiledRule, ...]] = {}
        # The answers for the requests a gateway repeats, bounded like the candidates: target -> before_session,
        # (target, subject, two factors) -> with_session's verdict.
        self._before: dict[Target | None, tuple[Verdict | None, Decision]] = {}
        self._with: dict[tuple[Target | None, Subject, bool], tuple[Verdict, Decision]] = {}

    def candidates(self, domain: str) -> tuple[CompiledRule, ...]:
        """The rules whose domain criterion matches this host, in order."""
        found = self._candidates.get(domain)
        if found is None:
            indexes = set(self._exact.get(domain, ()))
            dot = domain.find(".")
            while dot != -1:  # a.b.example.com -> .b.example.com, .example.com, .com
                indexes.update(self._suffix.get(domain[dot:], ()))
                dot = domain.find(".", dot + 1)
            indexes.update(i for i in self._regex if self.rules[i].matches_domain(domain))
            found = tuple(self.rules[i] for i in sorted(indexes))
            if len(self._candidates) >= HOSTS_KEPT:
                self._candidates.clear()
            self._candidates[domain] = found
        return found

    def decide(self, target: Target | None, subject: Subject | None, after: int = -1) -> Decision:
        """The policy for this request and caller (None: anonymous). target None: the original request is unknown
        (no trusted gateway said it), so only default_policy applies. after: skip rules up to this index."""
        if target is None:
            return self._default
        for rule in self.candidates(target.domain):
            if rule.index <= after or not rule.matches_request(target):
                continue
            if subject is None:
                return rule.anonymous_decision
            if rule.matches_subject(subject):
                return rule.decision
        return self._default

    def before_session(self, target: Target | None) -> tuple[Verdict | None, Decision]:
        """What the request alone decides: ALLOW (bypass) or DENY without a session, else None: a session is needed."""
        found = self._before.get(target)
        if found is None:
            found = self._before_session(target)
            if len(self._before) >= HOSTS_KEPT:
                self._before.clear()
            self._before[target] = found
        return found

    def _before_session(self, target: Target | None) -> tuple[Verdict | None, Decision]:
        decision = self.decide(target, None)
        if decision.policy is Policy.BYPASS:
            return Verdict.ALLOW, decision
        if decision.policy is Policy.DENY and not decision.needs_subject:
            return Verdict.DENY, decision
        return None, decision

    def with_session(
        self, target: Target | None, first: Decision, subject: Subject, two_factors: bool
    ) -> tuple[Verdict, Decision]:
        """The verdict for a signed-in caller, given before_session's decision (target's) and how the session was
        proven."""
        key = (target, subject, two_factors)
        found = self._with.get(key)
        if found is None:
            found = self._with_session(target, first, subject, two_factors)
            if len(self._with) >= HOSTS_KEPT:
                self._with.clear()
            self._with[key] = found
        return found

    def _with_session(
        self, target: Target | None, first: Decision, subject: Subject, two_factors: bool
    ) -> tuple[Verdict, Decision]:
        decision = first
        if first.needs_subject and first.rule is not None:
            decision = self.decide(target, subject, after=first.rule - 1)
        if decision.policy is Policy.DENY:
            return Verdict.DENY, decision
        if decision.policy is Policy.TWO_FACTOR and not two_factors:
            return Verdict.STEP_UP, decision
        return Verdict.ALLOW, decision

    def explain(self, target: Target, subject: Subject | None) -> Iterable[tuple[CompiledRule, dict[str, bool | None]]]:
        for rule in self.rules:
            yield rule, rule.explain(target, subject)


class AccessRules:
    """The policy in force. replace() swaps it whole (a reload on SIGHUP): a check sees the old or the new one."""

    def __init__(self, settings: AccessControlSettings) -> None:
        self.current = AccessPolicy(settings)

    def replace(self, settings: AccessControlSettings) -> AccessPolicy:
        self.current = AccessPolicy(settings)  # compiled before the swap: a bad block never half-replaces
        return self.current
