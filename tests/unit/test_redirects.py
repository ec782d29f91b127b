"""The portal's return-to rule: rd stays inside the allowlist, whatever shape a hostile value takes."""

from __future__ import annotations

import pytest

from authsvc.web.pages.redirects import normalize_origin, safe_redirect

OWN = {"https://auth.example.com"}
DOMAINS = ["example.com"]


def allowed(rd: str, *, https_only: bool = True, own: set[str] = OWN) -> str | None:
    return safe_redirect(rd, own_origins=own, allowed_domains=DOMAINS, https_only=https_only)


@pytest.mark.parametrize(
    "rd",
    [
        "/",
        "/app/report?page=2&sort=name",
        "/app/a%20b",
        "https://auth.example.com/login",
        "https://example.com/",
        "https://app1.example.com/",
        "https://deep.app2.example.com:8443/x?y=1#frag",
        "https://APP1.Example.COM/upper",
        "https://xn--bcher-kva.example.com/",  # a real IDN subdomain, as browsers send it
    ],
)
def test_allowed_targets_are_kept(rd: str) -> None:
    assert allowed(rd) == rd


HOSTILE = [
    # other hosts, look-alikes and suffix tricks
    "https://evil.com/",
    "https://example.com.evil.com/",
    "https://evilexample.com/",
    "https://example.co/",
    "https://example.com@evil.com/",
    "https://user:pass@app1.example.com/",  # user info, even on an allowed host
    "https://evil.com#@example.com",
    "https://evil.com?.example.com",
    "https://evil.com\\.example.com",
    "https://evil.com/.example.com",
    # scheme-relative, backslashes and their encodings
    "//evil.com",
    "///evil.com",
    "////evil.com/",
    "/\\evil.com",
    "\\\\evil.com",
    "/%2Fevil.com",
    "/%2f%2fevil.com",
    "/%5Cevil.com",
    "/%255Cevil.com",  # double-encoded backslash
    "/%252F/evil.com",  # double-encoded slash
    "https:/evil.com",
    "https:evil.com",
    "https:///evil.com",
    "http:\\\\evil.com",
    # schemes that are not http(s)
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "javascript://example.com/%0Aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://app1.example.com/",
    # plain http outside development
    "http://app1.example.com/",
    # control characters, whitespace, encoded ones
    " https://app1.example.com/",
    "https://app1.example.com/\r\nSet-Cookie: x=1",
    "/app%0d%0aSet-Cookie:x=1",
    "/app%00",
    "\t//evil.com",
    "/\t/evil.com",
    "/%09/evil.com",
    "https://app1.example.com/%7f",
    # IDN and Unicode tricks: look-alike letters, full-width and ideographic dots, right-to-left marks
    "https://ex\u0430mple.com/",  # Cyrillic a
    "https://app1.example\uff0ecom/",
    "https://app1.example\u3002com/",
    "https://evil.com\u2044example.com/",
    "https://\u202eexample.com/",
    "/\u2215\u2215evil.com",
    # hosts in disguise
    "https://app1%2eexample.com/",
    "https://evil.com%2f.example.com/",
    "https://example.com./",
    "https://.example.com/",
    "https://[::1]/",
    "https://app1.example.com:99999/",
    "https://app1.example.com:port/",
    "https://app_1.example.com/",
    # not absolute URLs or absolute paths
    "evil.com",
    "app/report",
    "",
    "https://app1.example.com/" + "a" * 2100,
]


@pytest.mark.parametrize("rd", HOSTILE)
def test_hostile_targets_fall_back(rd: str) -> None:
    assert allowed(rd) is None


@pytest.mark.parametrize("rd", [rd for rd in HOSTILE if rd != "http://app1.example.com/"])  # development's http
def test_hostile_targets_fall_back_in_development_too(rd: str) -> None:
    assert allowed(rd, https_only=False) is None


def test_development_allows_plain_http_on_allowed_hosts_and_own_origin() -> None:
    own = {normalize_origin("http://127.0.0.1:8080")}
    assert allowed("http://app1.example.com/", https_only=False) == "http://app1.example.com/"
    assert allowed("http://127.0.0.1:8080/app", https_only=False, own=own) == "http://127.0.0.1:8080/app"
    assert allowed("http://127.0.0.1:8081/app", https_only=False, own=own) is None


def test_own_origin_is_exact_without_allowed_domains() -> None:
    own = {normalize_origin("https://auth.example.org:443")}
    assert own == {"https://auth.example.org"}
    assert safe_redirect("https://auth.example.org/x", own_origins=own, allowed_domains=[], https_only=True)
    assert not safe_redirect("https://app.example.org/x", own_origins=own, allowed_domains=[], https_only=True)
    assert not safe_redirect("https://auth.example.org:8443/", own_origins=own, allowed_domains=[], https_only=True)
