"""The access-rule table (issue 25): access_control blocks, users with groups, and what each request gets.

AUTHELIA is the example of Authelia's access_control documentation, pasted unchanged but for its last rule
(`{user}.example.com`, per-user domains, which authsvc refuses at start-up). Used by tests/unit/test_access_policy.py
(the rules alone) and tests/contract/test_access_table.py (the users and their groups stored in each backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authsvc.access.policy import AccessPolicy, Subject, Target

AUTHELIA: dict[str, Any] = {
    "default_policy": "deny",
    "networks": [
        {"name": "internal", "networks": ["10.10.0.0/16", "192.168.2.0/24"]},
        {"name": "VPN", "networks": "10.9.0.0/16"},
    ],
    "rules": [
        {"domain": "public.example.com", "policy": "bypass"},
        {"domain": "*.example.com", "policy": "bypass", "methods": ["OPTIONS"]},
        {
            "domain": "secure.example.com",
            "policy": "one_factor",
            "networks": ["internal", "VPN", "192.168.1.0/24", "10.0.0.1"],
        },
        {"domain": ["secure.example.com", "private.example.com"], "policy": "two_factor"},
        {"domain": "singlefactor.example.com", "policy": "one_factor"},
        {"domain": "mx2.mail.example.com", "subject": "group:admins", "policy": "deny"},
        {"domain": "*.example.com", "subject": ["group:admins", "group:moderators"], "policy": "two_factor"},
        {
            "domain": "dev.example.com",
            "resources": ["^/groups/dev/.*$"],
            "subject": "group:dev",
            "policy": "two_factor",
        },
        {
            "domain": "dev.example.com",
            "resources": ["^/users/john/.*$"],
            "subject": [["group:dev", "user:john"], "group:admins"],
            "policy": "two_factor",
        },
    ],
}

OURS: dict[str, Any] = {
    "default_policy": "one_factor",
    "networks": [{"name": "lan", "networks": ["192.168.0.0/16", "fd00::/8"]}],
    "rules": [
        {"domain": "health.apps.test", "resources": ["^/healthz$"], "policy": "bypass"},
        {
            "domain": "*.apps.test",
            "networks": ["lan"],
            "methods": ["GET", "HEAD"],
            "resources": ["^/static/"],
            "policy": "bypass",
        },
        {"domain": "admin.apps.test", "subject": "group:admins", "policy": "two_factor"},
        {"domain": "admin.apps.test", "policy": "deny"},
        {
            "domain_regex": r"^(grafana|prometheus)\.apps\.test$",
            "subject": [["group:ops", "group:oncall"], "user:root"],
            "policy": "one_factor",
        },
        {"domain_regex": r"^(grafana|prometheus)\.apps\.test$", "policy": "deny"},
        {
            "domain": "wiki.apps.test",
            "resources": ["[?&]edit=1(&|$)"],
            "methods": ["POST", "PUT"],
            "policy": "two_factor",
        },
        {"domain": "docs.apps.test", "subject": "group:staff", "policy": "two_factor"},  # a subject above a bypass
        {"domain": "docs.apps.test", "policy": "bypass"},
        {"domain": "v6.apps.test", "networks": ["2001:db8::/32"], "policy": "bypass"},
        {"domain": "v6.apps.test", "policy": "deny"},
    ],
}

ONLY_TWO_FACTOR: dict[str, Any] = {"default_policy": "two_factor", "networks": [], "rules": []}
ONLY_BYPASS: dict[str, Any] = {"default_policy": "bypass", "networks": [], "rules": []}
ONLY_DENY: dict[str, Any] = {"default_policy": "deny", "networks": [], "rules": []}

BLOCKS = {
    "authelia": AUTHELIA,
    "ours": OURS,
    "two_factor": ONLY_TWO_FACTOR,
    "bypass": ONLY_BYPASS,
    "deny": ONLY_DENY,
}

# username -> groups; stored in the backend under test by the contract table.
USERS: dict[str, tuple[str, ...]] = {
    "john": ("dev",),
    "sam": ("dev",),
    "harry": (),
    "bob": ("admins",),
    "alice": ("moderators",),
    "olga": ("ops",),
    "oscar": ("oncall",),
    "otto": ("oncall", "ops"),
    "root": (),
    "stella": ("staff",),
}

EXTERNAL = "203.0.113.5"


@dataclass(frozen=True)
class Case:
    block: str
    url: str | None  # None: no trusted gateway described the original request
    user: str | None  # None: anonymous
    expected: str  # allow | sign_in | step_up | deny
    rule: int | None  # the deciding rule's index; None: default_policy
    method: str = "GET"
    ip: str | None = EXTERNAL
    two_factors: bool = False

    @property
    def id(self) -> str:
        who = self.user or "anonymous"
        factors = "2fa" if self.two_factors else "1fa"
        return f"{self.block}-{self.method}-{self.url}-{self.ip}-{who}-{factors}"


A, OWN = "authelia", "ours"
CASES = [
    # Authelia's documented example.
    Case(A, "https://public.example.com/", None, "allow", 0),
    Case(A, "https://public.example.com/", "john", "allow", 0),
    Case(A, "https://PUBLIC.example.com:8443/x?y=1", None, "allow", 0),
    Case(A, "https://app.example.com/", None, "allow", 1, method="OPTIONS"),
    Case(A, "https://a.b.example.com/x", None, "allow", 1, method="OPTIONS"),
    Case(A, "https://app.example.com/", None, "sign_in", 6),
    Case(A, "https://app.example.com/", "harry", "deny", None),
    Case(A, "https://app.example.com/", "bob", "allow", 6, two_factors=True),
    Case(A, "https://app.example.com/", "bob", "step_up", 6),
    Case(A, "https://app.example.com/", "alice", "allow", 6, two_factors=True),
    Case(A, "https://secure.example.com/", None, "sign_in", 2, ip="10.10.5.5"),
    Case(A, "https://secure.example.com/", "harry", "allow", 2, ip="10.10.5.5"),
    Case(A, "https://secure.example.com/", "harry", "allow", 2, ip="192.168.2.9"),
    Case(A, "https://secure.example.com/", "harry", "allow", 2, ip="10.9.1.1"),
    Case(A, "https://secure.example.com/", "harry", "allow", 2, ip="192.168.1.7"),
    Case(A, "https://secure.example.com/", "harry", "allow", 2, ip="10.0.0.1"),
    Case(A, "https://secure.example.com/", "harry", "step_up", 3, ip="10.0.0.2"),
    Case(A, "https://secure.example.com/", "harry", "allow", 3, two_factors=True),
    Case(A, "https://secure.example.com/", None, "sign_in", 3),
    Case(A, "https://secure.example.com/", "harry", "step_up", 3, ip=None),
    Case(A, "https://private.example.com/", "harry", "step_up", 3),
    Case(A, "https://private.example.com/", "harry", "allow", 3, two_factors=True),
    Case(A, "https://singlefactor.example.com/", "harry", "allow", 4),
    Case(A, "https://singlefactor.example.com/", None, "sign_in", 4),
    Case(A, "https://mx2.mail.example.com/", "bob", "deny", 5, two_factors=True),
    Case(A, "https://mx2.mail.example.com/", None, "sign_in", 5),
    Case(A, "https://mx2.mail.example.com/", "alice", "allow", 6, two_factors=True),
    Case(A, "https://mx2.mail.example.com/", "harry", "deny", None, two_factors=True),
    Case(A, "https://dev.example.com/groups/dev/page", "john", "allow", 7, two_factors=True),
    Case(A, "https://dev.example.com/groups/dev/page", "john", "step_up", 7),
    Case(A, "https://dev.example.com/groups/dev", "john", "deny", None, two_factors=True),
    Case(A, "https://dev.example.com/users/john/x", "sam", "deny", None, two_factors=True),
    Case(A, "https://dev.example.com/users/john/x", "john", "allow", 8, two_factors=True),
    Case(A, "https://dev.example.com/users/john/x", "bob", "allow", 6, two_factors=True),
    Case(A, "https://dev.example.com/groups/dev/", None, "sign_in", 6),
    Case(A, "https://dev.example.com/groups/dev/x", "harry", "deny", None, two_factors=True),
    Case(A, "https://example.com/", None, "deny", None),  # *.example.com is not example.com
    Case(A, "https://example.com/", None, "deny", None, method="OPTIONS"),
    Case(A, "https://other.org/", None, "deny", None),
    Case(A, "https://other.org/", "bob", "deny", None, two_factors=True),
    Case(A, None, None, "deny", None),
    # Ours: resources with a query, methods, named and IPv6 networks, domain_regex, OR of ANDs, subject above bypass.
    Case(OWN, "https://health.apps.test/healthz", None, "allow", 0),
    Case(OWN, "https://health.apps.test/healthz?x=1", None, "sign_in", None),
    Case(OWN, "https://x.apps.test/static/app.js", None, "allow", 1, ip="192.168.1.4"),
    Case(OWN, "https://x.apps.test/static/app.js", None, "allow", 1, ip="fd00::5"),
    Case(OWN, "https://x.apps.test/static/app.js", None, "allow", 1, method="HEAD", ip="192.168.1.4"),
    Case(OWN, "https://x.apps.test/static/app.js", None, "sign_in", None, method="POST", ip="192.168.1.4"),
    Case(OWN, "https://x.apps.test/static/app.js", None, "sign_in", None),
    Case(OWN, "https://x.apps.test/app/static/", None, "sign_in", None, ip="192.168.1.4"),
    Case(OWN, "https://x.apps.test/anything", "harry", "allow", None),
    Case(OWN, "https://admin.apps.test/", None, "sign_in", 2),
    Case(OWN, "https://admin.apps.test/", "bob", "allow", 2, two_factors=True),
    Case(OWN, "https://admin.apps.test/", "bob", "step_up", 2),
    Case(OWN, "https://admin.apps.test/", "harry", "deny", 3, two_factors=True),
    Case(OWN, "https://grafana.apps.test/", "otto", "allow", 4),
    Case(OWN, "https://grafana.apps.test/", "olga", "deny", 5),
    Case(OWN, "https://prometheus.apps.test/", "oscar", "deny", 5),
    Case(OWN, "https://prometheus.apps.test/", "root", "allow", 4),
    Case(OWN, "https://GRAFANA.apps.test/", None, "sign_in", 4),
    Case(OWN, "https://loki.apps.test/", "harry", "allow", None),
    Case(OWN, "https://wiki.apps.test/page?edit=1", "harry", "step_up", 6, method="POST"),
    Case(OWN, "https://wiki.apps.test/page?a=b&edit=1", "harry", "allow", 6, method="PUT", two_factors=True),
    Case(OWN, "https://wiki.apps.test/page?edit=1", "harry", "allow", None),
    Case(OWN, "https://wiki.apps.test/page?edit=10", "harry", "allow", None, method="POST"),
    Case(OWN, "https://docs.apps.test/", None, "sign_in", 7),
    Case(OWN, "https://docs.apps.test/", "harry", "allow", 8),
    Case(OWN, "https://docs.apps.test/", "stella", "step_up", 7),
    Case(OWN, "https://docs.apps.test/", "stella", "allow", 7, two_factors=True),
    Case(OWN, "https://v6.apps.test/", None, "allow", 9, ip="2001:db8::1"),
    Case(OWN, "https://v6.apps.test/", None, "deny", 10, ip="192.0.2.1"),
    Case(OWN, "https://v6.apps.test/", None, "deny", 10, ip=None),
    Case(OWN, None, None, "sign_in", None),
    Case(OWN, None, "bob", "allow", None),
    # default_policy alone.
    Case("two_factor", "https://any.test/", "harry", "step_up", None),
    Case("two_factor", "https://any.test/", "harry", "allow", None, two_factors=True),
    Case("two_factor", "https://any.test/", None, "sign_in", None),
    Case("bypass", "https://any.test/", None, "allow", None),
    Case("deny", "https://any.test/", "bob", "deny", None, two_factors=True),
]


def subject_of(username: str, groups: tuple[str, ...]) -> Subject:
    return Subject(username, frozenset(groups))


def verdict(policy: AccessPolicy, case: Case, subject: Subject | None) -> tuple[str, int | None]:
    """What the gateway check answers: the request alone first, then (signed in) with the user."""
    target = Target.from_url(case.url, case.method, case.ip) if case.url is not None else None
    settled, first = policy.before_session(target)
    if settled is not None:
        return settled.value, first.rule
    if subject is None:
        return "sign_in", first.rule
    answer, decision = policy.with_session(target, first, subject, case.two_factors)
    return answer.value, decision.rule
